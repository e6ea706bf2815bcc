//! Every write mode driven through one scenario (inserts, updates, tombstones, a truncate +
//! reload where some ids are gone, a widening mid-reload, changes after the reload, a replayed
//! batch), each ending in "destination equals source"; and the errors of a mode change.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::{Value, json};
use spillway_core::{Destination, ErrorKind, StreamId, StreamMode, WriteMode, WriteModes};
use spillway_dest_postgres::PostgresDestination;

/// The source after the scenario: `(_id, _ts, x)` of every live document.
fn source() -> Vec<(String, i64, Value)> {
    vec![
        ("a".into(), 30, json!(100)),
        ("e".into(), 31, json!("five")),
        ("f".into(), 40, json!(6)),
    ]
}

/// Drives `dest` through the scenario on stream `s`, committing after every step and
/// calling `finish` at the end.
async fn scenario(dest: &mut PostgresDestination, s: &StreamId) {
    // Snapshot.
    dest.write(&batch(
        s,
        &[("a", 10, false), ("b", 10, false), ("c", 10, false)],
        vec![int("x", vec![Some(1), Some(2), Some(3)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    // Deltas: an update, a tombstone, an insert.
    dest.write(&batch(
        s,
        &[("a", 20, false), ("b", 20, true), ("d", 20, false)],
        vec![int("x", vec![Some(10), None, Some(4)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    // A full reload: b and d are gone.
    dest.truncate(s).await.unwrap();
    dest.write(&batch(
        s,
        &[("a", 30, false), ("c", 30, false)],
        vec![int("x", vec![Some(100), Some(300)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    // Mid-reload, x widens to JSON.
    dest.write(&batch(
        s,
        &[("e", 31, false)],
        vec![text("x", vec![Some("five")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    // Deltas after the reload: c deleted, f inserted; then the same batch again (a replay).
    let last = batch(
        s,
        &[("c", 40, true), ("f", 40, false)],
        vec![int("x", vec![None, Some(6)])],
    );
    dest.write(&last).await.unwrap();
    dest.commit(&key(), &checkpoint(5)).await.unwrap();
    dest.write(&last).await.unwrap();
    dest.commit(&key(), &checkpoint(6)).await.unwrap();
    dest.finish().await.unwrap();
    // Nothing pending any more: a second finish changes nothing.
    dest.finish().await.unwrap();
}

/// `(_id, _ts, x, _deleted)` of every row, ordered by `_id`, `_ts`.
async fn full(dest: &mut PostgresDestination, table: &str) -> Vec<(String, i64, Value, bool)> {
    let sql = format!(
        "SELECT * FROM {} ORDER BY _id COLLATE \"C\", _ts",
        dest.table_ref(table)
    );
    dest.query_json(&sql)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["_id"].as_str().unwrap().to_string(),
                r["_ts"].as_i64().unwrap(),
                r.get("x").cloned().unwrap_or(Value::Null),
                r.get("_deleted").and_then(Value::as_bool).unwrap_or(false),
            )
        })
        .collect()
}

/// The live documents a reader derives: the latest version per `_id`, without deleted ones.
async fn live(dest: &mut PostgresDestination, table: &str) -> Vec<(String, i64, Value)> {
    let mut latest: Vec<(String, i64, Value, bool)> = Vec::new();
    for row in full(dest, table).await {
        match latest.last_mut() {
            Some(l) if l.0 == row.0 => *l = row,
            _ => latest.push(row),
        }
    }
    latest
        .into_iter()
        .filter(|r| !r.3)
        .map(|(id, ts, x, _)| (id, ts, x))
        .collect()
}

fn rows4(v: &[(&str, i64, Value, bool)]) -> Vec<(String, i64, Value, bool)> {
    v.iter()
        .map(|(id, ts, x, d)| (id.to_string(), *ts, x.clone(), *d))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_destination_equals_source() {
    let (_schema, _cfg, mut dest) = open_with(WriteModes::default()).await;
    let s = StreamId::root("users");
    scenario(&mut dest, &s).await;
    assert_eq!(live(&mut dest, "users").await, source());
    assert_eq!(dest.row_count("users").await.unwrap(), 3);
    let cols = columns(&mut dest, "users").await;
    assert!(!cols.iter().any(|c| c.starts_with("_deleted")), "{cols:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_delete_destination_equals_source() {
    let (_schema, _cfg, mut dest) = open_with(WriteModes::all(StreamMode::soft_delete())).await;
    let s = StreamId::root("users");
    scenario(&mut dest, &s).await;
    assert_eq!(
        columns(&mut dest, "users").await[..4],
        [
            "_id text",
            "_creationTime double precision",
            "_ts bigint",
            "_deleted boolean"
        ]
    );
    // Tombstones keep the last values; the truncate marked b and d, the reload did not see
    // them again.
    assert_eq!(
        full(&mut dest, "users").await,
        rows4(&[
            ("a", 30, json!(100), false),
            ("b", 20, json!(2), true),
            ("c", 40, json!(300), true),
            ("d", 20, json!(4), true),
            ("e", 31, json!("five"), false),
            ("f", 40, json!(6), false),
        ])
    );
    assert_eq!(live(&mut dest, "users").await, source());
    // A tombstone of a document never seen inserts a row of NULLs, marked deleted.
    dest.write(&batch(&s, &[("zz", 50, true)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(7)).await.unwrap();
    let r = rows(&mut dest, "users").await;
    let zz = r.iter().find(|r| r["_id"] == json!("zz")).unwrap();
    assert_eq!(zz["_deleted"], json!(true));
    assert_eq!(zz["_ts"], json!(50));
    assert_eq!(zz["x"], Value::Null);
    assert_eq!(zz["_creationTime"], Value::Null);
    // An older tombstone (a replay) does not mark a newer row.
    dest.write(&batch(&s, &[("a", 25, true)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(8)).await.unwrap();
    assert_eq!(live(&mut dest, "users").await, source());
}

#[tokio::test(flavor = "multi_thread")]
async fn append_destination_equals_source() {
    let (_schema, _cfg, mut dest) =
        open_with(WriteModes::all(StreamMode::new(WriteMode::Append))).await;
    let s = StreamId::root("users");
    scenario(&mut dest, &s).await;
    // The history restarted at the reload; the replayed last batch added nothing.
    assert_eq!(
        full(&mut dest, "users").await,
        rows4(&[
            ("a", 30, json!(100), false),
            ("c", 30, json!(300), false),
            ("c", 40, Value::Null, true),
            ("e", 31, json!("five"), false),
            ("f", 40, json!(6), false),
        ])
    );
    assert_eq!(live(&mut dest, "users").await, source());
    let pk = dest
        .query_json(&format!(
            "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint \
             WHERE conrelid = '{}'::regclass AND contype = 'p'",
            dest.table_ref("users").replace('\'', "''")
        ))
        .await
        .unwrap();
    assert_eq!(pk[0]["d"], json!("PRIMARY KEY (_id, _ts)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn append_replay_after_commit_does_not_duplicate() {
    let (_schema, _cfg, mut dest) =
        open_with(WriteModes::all(StreamMode::new(WriteMode::Append))).await;
    let s = StreamId::root("events");
    let b = batch(
        &s,
        &[
            ("a", 1, false),
            ("a", 2, false),
            ("a", 2, false), // one (_id, _ts) twice in a batch: the last wins
            ("b", 1, false),
            ("b", 3, true),
        ],
        vec![int("x", vec![Some(1), Some(2), Some(22), Some(3), None])],
    );
    dest.write(&b).await.unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(dest.row_count("events").await.unwrap(), 4);
    // The engine replays from the last checkpoint after a crash: same rows again, and more.
    dest.write(&b).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 2, false), ("c", 4, false)],
        vec![int("x", vec![Some(99), Some(4)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(
        full(&mut dest, "events").await,
        rows4(&[
            ("a", 1, json!(1), false),
            ("a", 2, json!(22), false),
            ("b", 1, json!(3), false),
            ("b", 3, Value::Null, true),
            ("c", 4, json!(4), false),
        ])
    );
    // Widening an append table converts every version (several rows per _id).
    dest.write(&batch(
        &s,
        &[("a", 5, false)],
        vec![float("x", vec![Some(0.5)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &s,
        &[("a", 6, false)],
        vec![text("x", vec![Some("s")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(
        stored_text(&mut dest, "events", "x", "c").await.as_deref(),
        Some("4.0")
    );
    let xs: Vec<Value> = full(&mut dest, "events")
        .await
        .into_iter()
        .filter(|r| r.0 == "a")
        .map(|r| r.2)
        .collect();
    assert_eq!(xs, vec![json!(1.0), json!(22.0), json!(0.5), json!("s")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_destination_equals_source() {
    let (schema, _cfg, mut dest) =
        open_with(WriteModes::all(StreamMode::new(WriteMode::Replace))).await;
    let s = StreamId::root("users");
    scenario(&mut dest, &s).await;
    assert_eq!(live(&mut dest, "users").await, source());
    assert_eq!(reader_view(&schema.name, "users").await, source());
    assert_eq!(dest.tables().await.unwrap(), vec!["users"]);
    assert_eq!(
        reader_view(&schema.name, "_spillway_reload_users").await,
        vec![]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_delete_stale_destination_equals_source() {
    let (schema, _cfg, mut dest) = open_with(WriteModes::all(StreamMode::new(
        WriteMode::OverwriteDeleteStale,
    )))
    .await;
    let s = StreamId::root("users");
    scenario(&mut dest, &s).await;
    assert_eq!(live(&mut dest, "users").await, source());
    assert_eq!(reader_view(&schema.name, "users").await, source());
    assert_eq!(dest.tables().await.unwrap(), vec!["users"]);
    // The table was widened to the copy's JSON column.
    assert!(
        columns(&mut dest, "users")
            .await
            .contains(&"x json".to_string()),
        "{:?}",
        columns(&mut dest, "users").await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn modes_per_stream() {
    let modes = WriteModes::all(StreamMode::default())
        .with_stream("log", StreamMode::new(WriteMode::Append))
        .with_stream("flags", StreamMode::soft_delete());
    let (_schema, _cfg, mut dest) = open_with(modes).await;
    for t in ["users", "log", "flags"] {
        let s = StreamId::root(t);
        dest.write(&batch(
            &s,
            &[("a", 1, false), ("a", 2, true)],
            vec![int("x", vec![Some(1), None])],
        ))
        .await
        .unwrap();
    }
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(dest.row_count("users").await.unwrap(), 0);
    assert_eq!(dest.row_count("log").await.unwrap(), 2);
    assert_eq!(dest.row_count("flags").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mode_change_on_an_existing_table_is_a_config_error() {
    let (_schema, cfg, mut dest) = open_with(WriteModes::default()).await;
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

    // upsert table, append config.
    let append = cfg
        .clone()
        .with_modes(WriteModes::all(StreamMode::new(WriteMode::Append)));
    let mut dest = connect(&append).await;
    let e = dest
        .write(&batch(
            &s,
            &[("a", 2, false)],
            vec![int("x", vec![Some(2)])],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    for part in [
        "\"users\"",
        "primary key (_id) and no _deleted column",
        "write mode append needs primary key (_id, _ts) and a _deleted column",
        "drop the table",
        "back to upsert",
    ] {
        assert!(e.message.contains(part), "{part}: {e}");
    }
    dest.rollback().await.unwrap();
    // A truncate checks too, before deleting anything.
    let e = dest.truncate(&s).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    dest.rollback().await.unwrap();
    drop(dest);

    // upsert table, soft_delete config.
    let soft = cfg
        .clone()
        .with_modes(WriteModes::all(StreamMode::soft_delete()));
    let mut dest = connect(&soft).await;
    let e = dest
        .write(&batch(&s, &[("a", 2, true)], vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(e.message.contains("soft_delete"), "{e}");
    dest.rollback().await.unwrap();
    drop(dest);

    // An append table, replace config (its reload would swap in another shape).
    let log = StreamId::root("log");
    let mut dest = connect(&append).await;
    dest.write(&batch(&log, &[("a", 1, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    drop(dest);
    let replace = cfg.with_modes(WriteModes::all(StreamMode::new(WriteMode::Replace)));
    let mut dest = connect(&replace).await;
    let e = dest.truncate(&log).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(
        e.message.contains("\"log\"") && e.message.contains("append"),
        "{e}"
    );
    dest.rollback().await.unwrap();
    // Nothing was changed by the refused calls.
    assert_eq!(dest.row_count("users").await.unwrap(), 1);
    assert_eq!(dest.row_count("log").await.unwrap(), 1);
    assert_eq!(dest.tables().await.unwrap(), vec!["log", "users"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_mode_combinations_are_refused_at_connect() {
    let (_schema, cfg) = config();
    let bad = cfg.with_modes(WriteModes::default().with_stream(
        "users",
        StreamMode {
            mode: WriteMode::Append,
            soft_delete: true,
        },
    ));
    let Err(e) = spillway_dest_postgres::PostgresDestination::connect(&bad).await else {
        panic!("connected with an invalid mode");
    };
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(
        e.message.contains("\"users\"") && e.message.contains("soft_delete"),
        "{e}"
    );
}
