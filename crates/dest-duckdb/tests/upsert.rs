//! Upserts, tombstones, the `_ts` guard, revisions within a batch, truncation, transactions.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::json;
use spillway_core::{Destination, ErrorKind, StreamId};
use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};

fn ids_and_x(dest: &mut DuckDbDestination, table: &str) -> Vec<(String, i64, serde_json::Value)> {
    rows(dest, table)
        .into_iter()
        .map(|r| {
            (
                r["_id"].as_str().unwrap().to_string(),
                r["_ts"].as_i64().unwrap(),
                r.get("x").cloned().unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_delete_and_ts_guard() {
    let (_dir, _cfg, mut dest) = open();
    let s = StreamId::root("users");
    dest.write(&batch(
        &s,
        &[("a", 10, false), ("b", 10, false)],
        vec![int("x", vec![Some(1), Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(dest.tables().unwrap(), vec!["users"]);

    // A newer revision updates; an older one (replay) is ignored.
    dest.write(&batch(
        &s,
        &[("a", 20, false)],
        vec![int("x", vec![Some(3)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &s,
        &[("a", 15, false)],
        vec![int("x", vec![Some(99)])],
    ))
    .await
    .unwrap();
    // A tombstone older than the row is ignored; a newer one deletes.
    dest.write(&batch(&s, &[("b", 5, true)], vec![nulls("x", 1)]))
        .await
        .unwrap();
    assert_eq!(dest.row_count("users").unwrap(), 2);
    dest.write(&batch(&s, &[("b", 30, true)], vec![]))
        .await
        .unwrap();
    // Replaying the same revision is idempotent.
    dest.write(&batch(
        &s,
        &[("a", 20, false)],
        vec![int("x", vec![Some(3)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();

    assert_eq!(
        ids_and_x(&mut dest, "users"),
        vec![("a".into(), 20, json!(3))]
    );
    let r = &rows(&mut dest, "users")[0];
    assert_eq!(r["_creationTime"], json!(0.02));
}

#[tokio::test(flavor = "multi_thread")]
async fn several_revisions_in_one_batch() {
    let (_dir, _cfg, mut dest) = open();
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[
            ("a", 1, false),
            ("a", 3, false),
            ("a", 2, false),
            // insert, delete, insert
            ("b", 1, false),
            ("b", 2, true),
            ("b", 3, false),
            // insert, delete
            ("c", 1, false),
            ("c", 2, true),
            // delete of a missing row
            ("d", 1, true),
        ],
        vec![int(
            "x",
            vec![
                Some(1),
                Some(3),
                Some(2),
                Some(10),
                None,
                Some(30),
                Some(5),
                None,
                None,
            ],
        )],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(
        ids_and_x(&mut dest, "t"),
        vec![("a".into(), 3, json!(3)), ("b".into(), 3, json!(30))]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_then_reinsert_same_key() {
    let (_dir, _cfg, mut dest) = open();
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[("a", 1, false), ("b", 1, false)],
        vec![int("x", vec![Some(1), Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();

    // Committed row deleted and re-inserted in one transaction, across two batches.
    dest.write(&batch(&s, &[("a", 2, true)], vec![]))
        .await
        .unwrap();
    dest.write(&batch(
        &s,
        &[("a", 3, false)],
        vec![int("x", vec![Some(3)])],
    ))
    .await
    .unwrap();
    // Same again for a row that was updated first.
    dest.write(&batch(
        &s,
        &[("b", 2, false)],
        vec![int("x", vec![Some(2)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(&s, &[("b", 3, true)], vec![]))
        .await
        .unwrap();
    dest.write(&batch(
        &s,
        &[("b", 4, false)],
        vec![int("x", vec![Some(4)])],
    ))
    .await
    .unwrap();
    // A row born, deleted and reborn inside the transaction.
    dest.write(&batch(
        &s,
        &[("c", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(&s, &[("c", 2, true)], vec![]))
        .await
        .unwrap();
    dest.write(&batch(
        &s,
        &[("c", 3, false)],
        vec![int("x", vec![Some(3)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(
        ids_and_x(&mut dest, "t"),
        vec![
            ("a".into(), 3, json!(3)),
            ("b".into(), 4, json!(4)),
            ("c".into(), 3, json!(3))
        ]
    );

    // Separate transactions.
    dest.write(&batch(&s, &[("a", 5, true)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 6, false)],
        vec![int("x", vec![Some(6)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    assert_eq!(ids_and_x(&mut dest, "t")[0], ("a".into(), 6, json!(6)));

    // Delete, then a schema change (table rebuild), then re-insert, in one transaction.
    dest.write(&batch(&s, &[("a", 7, true)], vec![]))
        .await
        .unwrap();
    dest.write(&batch(
        &s,
        &[("b", 7, false)],
        vec![float("x", vec![Some(0.5)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &s,
        &[("a", 8, false)],
        vec![text("y", vec![Some("new")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(5)).await.unwrap();
    let r = rows(&mut dest, "t");
    assert_eq!(r[0]["_id"], json!("a"));
    assert_eq!(r[0]["x"], json!(null));
    assert_eq!(r[0]["y"], json!("new"));
    assert_eq!(r[1]["x"], json!(0.5));

    // The key still holds after the rebuild and a reopen.
    drop(dest);
    let mut dest = DuckDbDestination::open(&_cfg).unwrap();
    dest.write(&batch(
        &s,
        &[("a", 9, false)],
        vec![int("x", vec![Some(9)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(6)).await.unwrap();
    assert_eq!(dest.row_count("t").unwrap(), 3);
    assert_eq!(rows(&mut dest, "t")[0]["x"], json!(9.0));
    assert_keyed_by_id(&mut dest, "t");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_replaces_the_whole_row() {
    // A Convex revision is the whole document: a field missing from it (and so from every row
    // of its batch) is gone, not left at its old value.
    let (_dir, _cfg, mut dest) = open();
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)]), text("y", vec![Some("y1")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 2, false), ("b", 2, false)],
        vec![text("y", vec![Some("y2"), Some("yb")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    let r = rows(&mut dest, "t");
    assert_eq!(r[0]["x"], json!(null));
    assert_eq!(r[0]["y"], json!("y2"));
    assert_eq!(r[1]["x"], json!(null));
    assert_eq!(r[1]["y"], json!("yb"));
}

#[tokio::test(flavor = "multi_thread")]
async fn truncate() {
    let (_dir, _cfg, mut dest) = open();
    let s = StreamId::root("t");
    // Truncating a table that does not exist yet is fine.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 1, false), ("b", 1, false)],
        vec![int("x", vec![Some(1), Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(dest.row_count("t").unwrap(), 2);

    // Truncate then rollback keeps the rows.
    dest.truncate(&s).await.unwrap();
    assert_eq!(dest.row_count("t").unwrap(), 0);
    dest.rollback().await.unwrap();
    assert_eq!(dest.row_count("t").unwrap(), 2);

    // Truncate then reload (re-snapshot), with the same keys and older timestamps.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("b", 0, false)],
        vec![int("x", vec![Some(20)])],
    ))
    .await
    .unwrap();
    // ... and a widening after the truncate (table rebuilt).
    dest.write(&batch(
        &s,
        &[("c", 0, false)],
        vec![text("x", vec![Some("s")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    let r = rows(&mut dest, "t");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["x"], json!(20));
    assert_eq!(r[1]["x"], json!("s"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_and_crash_leave_nothing() {
    let (_dir, cfg, mut dest) = open();
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.rollback().await.unwrap();
    assert!(dest.tables().unwrap().is_empty());
    assert_eq!(dest.load_state(&key()).await.unwrap(), None);

    // A committed baseline.
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    // The cache must follow a rollback that undid a new column.
    dest.write(&batch(
        &s,
        &[("b", 2, false)],
        vec![text("y", vec![Some("b")])],
    ))
    .await
    .unwrap();
    dest.rollback().await.unwrap();
    dest.write(&batch(
        &s,
        &[("c", 2, false)],
        vec![text("y", vec![Some("c")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(dest.row_count("t").unwrap(), 2);

    // Writes without a commit, then the process "dies".
    dest.write(&batch(
        &s,
        &[("a", 5, true), ("z", 5, false)],
        vec![nulls("x", 2)],
    ))
    .await
    .unwrap();
    dest.truncate(&StreamId::root("t")).await.unwrap();
    drop(dest);
    let mut dest = DuckDbDestination::open(&cfg).unwrap();
    assert_eq!(dest.row_count("t").unwrap(), 2);
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 2})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn component_tables() {
    let (_dir, _cfg, mut dest) = open();
    let s = StreamId::new("waitlist", "entries");
    let odd = StreamId::new("a/b", "we\"ird name");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &odd,
        &[("a", 1, false)],
        vec![int("we\"ird col", vec![Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(
        dest.tables().unwrap(),
        vec!["a/b/we\"ird name", "waitlist/entries"]
    );
    assert_eq!(dest.row_count("waitlist/entries").unwrap(), 1);
    assert_eq!(
        rows(&mut dest, "a/b/we\"ird name")[0]["we\"ird col"],
        json!(2)
    );
    assert_eq!(dest.name(), format!("duckdb:{}", _cfg.path.display()));
    dest.check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_paths_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/x.duckdb");
    let Err(e) = DuckDbDestination::open(&DuckDbConfig::new(&missing)) else {
        panic!("opened a file in a missing directory")
    };
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.contains(&missing.display().to_string()), "{e}");
    assert!(e.message.contains("directory"), "{e}");

    let garbage = dir.path().join("garbage.duckdb");
    std::fs::write(&garbage, vec![b'x'; 10_000]).unwrap();
    let Err(e) = DuckDbDestination::open(&DuckDbConfig::new(&garbage)) else {
        panic!("opened a file that is not a database")
    };
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.contains(&garbage.display().to_string()), "{e}");
    assert!(e.message.contains("not a DuckDB database"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn case_clashes_are_data_errors() {
    let (_dir, _cfg, mut dest) = open();
    let s = StreamId::root("t");
    let e = dest
        .write(&batch(
            &s,
            &[("a", 1, false)],
            vec![int("Name", vec![Some(1)]), int("name", vec![Some(2)])],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    assert!(e.message.contains("\"Name\""), "{e}");
    dest.rollback().await.unwrap();
}
