//! A stream's write mode changed on an existing table: refused with a message that says what
//! the table has, what the mode needs and how to fix it; invalid combinations refused at open.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use spillway_core::{Destination, ErrorKind, StreamId, StreamMode, WriteMode};
use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};

async fn make(mode: StreamMode) -> (tempfile::TempDir, DuckDbConfig) {
    let (dir, cfg, mut dest) = open_with(all(mode));
    let s = StreamId::root("users");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    dest.finish().await.unwrap();
    (dir, cfg)
}

async fn refused(made: StreamMode, now: StreamMode, has: &str, needs: &str) {
    let (_dir, cfg) = make(made).await;
    let mut dest = DuckDbDestination::open(&cfg.clone().with_modes(all(now))).unwrap();
    let s = StreamId::root("users");
    let e = dest
        .write(&batch(
            &s,
            &[("b", 2, false)],
            vec![int("x", vec![Some(2)])],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    for part in [
        "\"users\"",
        has,
        needs,
        now.mode.name(),
        "DROP TABLE \"users\"",
    ] {
        assert!(e.message.contains(part), "{part:?} missing from: {e}");
    }
    let e = dest.truncate(&s).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    dest.rollback().await.unwrap();
    // Nothing changed.
    let mut dest = DuckDbDestination::open(&cfg).unwrap();
    assert_eq!(dest.row_count("users").unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_table_in_append_mode() {
    refused(
        StreamMode::default(),
        StreamMode::new(WriteMode::Append),
        "no _deleted column and key (_id)",
        "a _deleted column and key (_id, _ts)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn append_table_in_upsert_mode() {
    refused(
        StreamMode::new(WriteMode::Append),
        StreamMode::default(),
        "a _deleted column and key (_id, _ts)",
        "no _deleted column and key (_id)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_delete_changes() {
    refused(
        StreamMode::soft_delete(),
        StreamMode::new(WriteMode::Replace),
        "a _deleted column and key (_id)",
        "no _deleted column",
    )
    .await;
    refused(
        StreamMode::new(WriteMode::Append),
        StreamMode::soft_delete(),
        "key (_id, _ts)",
        "soft_delete = true",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn compatible_modes_share_a_table() {
    // upsert, replace and overwrite-delete-stale tables have the same shape.
    let (_dir, cfg) = make(StreamMode::default()).await;
    for mode in [
        WriteMode::Replace,
        WriteMode::OverwriteDeleteStale,
        WriteMode::Upsert,
    ] {
        let mut dest =
            DuckDbDestination::open(&cfg.clone().with_modes(all(StreamMode::new(mode)))).unwrap();
        let s = StreamId::root("users");
        dest.write(&batch(
            &s,
            &[("b", 2, false)],
            vec![int("x", vec![Some(2)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        dest.finish().await.unwrap();
        assert_eq!(dest.row_count("users").unwrap(), 2, "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_copy_left_by_another_mode_is_refused() {
    let (_dir, cfg, mut dest) = open_with(all(StreamMode::new(WriteMode::Replace)));
    let s = StreamId::root("users");
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    drop(dest);
    let mut dest =
        DuckDbDestination::open(&cfg.clone().with_modes(all(StreamMode::default()))).unwrap();
    let e = dest
        .write(&batch(
            &s,
            &[("b", 2, false)],
            vec![int("x", vec![Some(2)])],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(
        e.message.contains("_spillway_reload_users") && e.message.contains("upsert"),
        "{e}"
    );
    let e = dest.finish().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(dest.tables().unwrap().is_empty());
}

#[test]
fn invalid_modes_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let bad = StreamMode {
        mode: WriteMode::Append,
        soft_delete: true,
    };
    let cfg = DuckDbConfig::new(dir.path().join("x.duckdb"))
        .with_modes(all(StreamMode::default()).with_stream("events", bad));
    let Err(e) = DuckDbDestination::open(&cfg) else {
        panic!("opened with append + soft_delete")
    };
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(
        e.message.contains("\"events\"") && e.message.contains("soft_delete"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_made_before_write_modes_are_upsert_tables() {
    // The DDL of earlier versions: a column-level primary key.
    let (_dir, cfg, mut dest) = open();
    dest.query_json(
        "CREATE TABLE users (_id VARCHAR PRIMARY KEY, _creationTime DOUBLE, _ts BIGINT, x BIGINT)",
    )
    .unwrap();
    let s = StreamId::root("users");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    drop(dest);
    let append = all(StreamMode::new(WriteMode::Append));
    let mut dest = DuckDbDestination::open(&cfg.with_modes(append)).unwrap();
    let e = dest
        .write(&batch(
            &s,
            &[("b", 2, false)],
            vec![int("x", vec![Some(2)])],
        ))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("no _deleted column and key (_id)"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn append_tables_made_with_a_primary_key_stay_append_tables() {
    // The DDL of versions that kept the key as a constraint instead of a comment.
    let (_dir, cfg, mut dest) = open();
    dest.query_json(
        "CREATE TABLE events (_id VARCHAR NOT NULL, _creationTime DOUBLE, _ts BIGINT, \
         _deleted BOOLEAN NOT NULL, x BIGINT, PRIMARY KEY (_id, _ts))",
    )
    .unwrap();
    drop(dest);
    let s = StreamId::root("events");
    let mut soft =
        DuckDbDestination::open(&cfg.clone().with_modes(all(StreamMode::soft_delete()))).unwrap();
    let e = soft
        .write(&batch(
            &s,
            &[("a", 1, false)],
            vec![int("x", vec![Some(1)])],
        ))
        .await
        .unwrap_err();
    assert!(e.message.contains("key (_id, _ts)"), "{e}");
    drop(soft);
    let mut append =
        DuckDbDestination::open(&cfg.with_modes(all(StreamMode::new(WriteMode::Append)))).unwrap();
    for ts in [1, 2] {
        append
            .write(&batch(
                &s,
                &[("a", ts, false)],
                vec![int("x", vec![Some(ts)])],
            ))
            .await
            .unwrap();
    }
    append.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(append.row_count("events").unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_survives_a_rebuild_and_a_reopen() {
    let append = all(StreamMode::new(WriteMode::Append));
    let (_dir, cfg, mut dest) = open_with(append);
    let s = StreamId::root("events");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    // Text after integers widens the column to JSON: the table is rebuilt.
    dest.write(&batch(
        &s,
        &[("a", 2, false)],
        vec![text("x", vec![Some("two")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(columns(&mut dest, "events")[4].1, "JSON");
    assert_eq!(
        comment(&mut dest, "events").as_deref(),
        Some("spillway: key (_id, _ts)")
    );
    drop(dest);
    let mut soft =
        DuckDbDestination::open(&cfg.with_modes(all(StreamMode::soft_delete()))).unwrap();
    let e = soft
        .write(&batch(
            &s,
            &[("b", 3, false)],
            vec![int("x", vec![Some(3)])],
        ))
        .await
        .unwrap_err();
    assert!(e.message.contains("key (_id, _ts)"), "{e}");
}
