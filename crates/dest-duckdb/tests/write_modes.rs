//! Every write mode driven through the same sync (snapshot, deltas, a full reload in which some
//! ids are gone and a column widens, deltas again), ending in "destination equals source".
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;
use spillway_core::{Destination, StreamId, StreamMode, WriteMode};
use spillway_dest_duckdb::DuckDbDestination;
use tempfile::TempDir;

/// One revision: `(id, ts, deleted, x, y)`.
type Row = (String, i64, bool, Option<f64>, Option<String>);

/// One revision to write: `(id, ts, deleted, x, y)`.
type Put<'a> = (&'a str, i64, bool, Option<f64>, Option<&'a str>);

/// The source: its documents, and the revisions delivered since the last truncate.
#[derive(Default)]
struct Source {
    /// Live documents: id → (ts, x, y).
    docs: BTreeMap<String, (i64, Option<f64>, Option<String>)>,
    /// Revisions written since the last truncate, in order.
    history: Vec<Row>,
}

impl Source {
    /// The live documents as rows.
    fn rows(&self) -> Vec<Row> {
        self.docs
            .iter()
            .map(|(id, (ts, x, y))| (id.clone(), *ts, false, *x, y.clone()))
            .collect()
    }
}

/// Writes `revs` (`(id, ts, deleted, x, y)`) as one batch and applies them to the source.
/// `wide`: `x` is a float column and `y` a text column; otherwise `x` is an int column only.
async fn put(
    dest: &mut DuckDbDestination,
    src: &mut Source,
    s: &StreamId,
    revs: &[Put<'_>],
    wide: bool,
) {
    let r: Vec<Rev<'_>> = revs.iter().map(|r| (r.0, r.1, r.2)).collect();
    let cols = if wide {
        vec![
            float("x", revs.iter().map(|r| r.3).collect()),
            text("y", revs.iter().map(|r| r.4).collect()),
        ]
    } else {
        vec![int(
            "x",
            revs.iter().map(|r| r.3.map(|v| v as i64)).collect(),
        )]
    };
    dest.write(&batch(s, &r, cols)).await.unwrap();
    for (id, ts, deleted, x, y) in revs {
        if *deleted {
            src.docs.remove(*id);
        } else {
            src.docs
                .insert(id.to_string(), (*ts, *x, y.map(str::to_string)));
        }
        src.history
            .push((id.to_string(), *ts, *deleted, *x, y.map(str::to_string)));
    }
}

/// The rows of `table` by `(_id, _ts)`; `_deleted` false when the table has none.
fn table_rows(dest: &mut DuckDbDestination, table: &str) -> Vec<Row> {
    let sql = format!(
        "SELECT * FROM \"{}\" ORDER BY _id, _ts",
        table.replace('"', "\"\"")
    );
    dest.query_json(&sql)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["_id"].as_str().unwrap().to_string(),
                r["_ts"].as_i64().unwrap(),
                r.get("_deleted").and_then(Value::as_bool).unwrap_or(false),
                r.get("x").and_then(Value::as_f64),
                r.get("y").and_then(Value::as_str).map(str::to_string),
            )
        })
        .collect()
}

/// `(id, ts, deleted)` of rows, for short assertions.
fn keys(rows: &[Row]) -> Vec<(&str, i64, bool)> {
    rows.iter().map(|r| (r.0.as_str(), r.1, r.2)).collect()
}

/// The sync every mode goes through; returns the destination and the source at the end.
async fn run(mode: StreamMode) -> (TempDir, DuckDbDestination, Source) {
    let (dir, _cfg, mut dest) = open_with(all(mode));
    let s = StreamId::root("users");
    let mut src = Source::default();
    let reloads_into_copy = mode.mode.reloads_into_copy();

    // The first sync: a snapshot (a full reload of an empty destination).
    dest.truncate(&s).await.unwrap();
    src.history.clear();
    put(
        &mut dest,
        &mut src,
        &s,
        &[
            ("a", 10, false, Some(1.0), None),
            ("b", 10, false, Some(2.0), None),
            ("c", 10, false, Some(3.0), None),
        ],
        false,
    )
    .await;
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    dest.finish().await.unwrap();

    // Deltas: an update, a tombstone, an insert.
    put(
        &mut dest,
        &mut src,
        &s,
        &[
            ("a", 20, false, Some(10.0), None),
            ("b", 20, true, None, None),
            ("d", 20, false, Some(4.0), None),
        ],
        false,
    )
    .await;
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    dest.finish().await.unwrap();

    // A full reload: `d` is deleted in the source meanwhile (its tombstone never arrives),
    // `e` is new and brings a wider `x` and a new column `y`.
    src.docs.remove("d");
    let before: Vec<Row> = table_rows(&mut dest, "users");
    dest.truncate(&s).await.unwrap();
    src.history.clear();
    put(
        &mut dest,
        &mut src,
        &s,
        &[
            ("a", 20, false, Some(10.0), None),
            ("c", 10, false, Some(3.0), None),
        ],
        false,
    )
    .await;
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    put(
        &mut dest,
        &mut src,
        &s,
        &[("e", 30, false, Some(0.5), Some("new"))],
        true,
    )
    .await;
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    assert_eq!(dest.tables().unwrap(), vec!["users"], "{mode}");
    if reloads_into_copy {
        // Readers see the old rows until finish.
        assert_eq!(table_rows(&mut dest, "users"), before, "{mode}");
        assert_eq!(dest.row_count("_spillway_reload_users").unwrap(), 3);
    }
    dest.finish().await.unwrap();
    assert_eq!(dest.tables().unwrap(), vec!["users"], "{mode}");

    // Deltas after the reload.
    put(
        &mut dest,
        &mut src,
        &s,
        &[
            ("a", 40, true, None, None),
            ("f", 40, false, Some(7.0), Some("f")),
        ],
        true,
    )
    .await;
    dest.commit(&key(), &checkpoint(5)).await.unwrap();
    dest.finish().await.unwrap();
    (dir, dest, src)
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_destination_equals_source() {
    let (_dir, mut dest, src) = run(StreamMode::new(WriteMode::Upsert)).await;
    assert_eq!(table_rows(&mut dest, "users"), src.rows());
    assert_eq!(
        keys(&src.rows()),
        vec![("c", 10, false), ("e", 30, false), ("f", 40, false)]
    );
    let cols: Vec<String> = columns(&mut dest, "users")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(cols, vec!["_id", "_creationTime", "_ts", "x", "y"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_delete_destination_equals_source() {
    let (_dir, mut dest, src) = run(StreamMode::soft_delete()).await;
    let rows = table_rows(&mut dest, "users");
    let live: Vec<Row> = rows.iter().filter(|r| !r.2).cloned().collect();
    assert_eq!(live, src.rows());
    // Tombstoned rows keep their columns and take the tombstone's `_ts`; `d`, which the
    // reload did not see, stays marked by the truncate.
    let deleted: Vec<Row> = rows.iter().filter(|r| r.2).cloned().collect();
    assert_eq!(
        keys(&deleted),
        vec![("a", 40, true), ("b", 20, true), ("d", 20, true)]
    );
    assert_eq!(deleted[0].3, Some(10.0));
    assert_eq!(deleted[1].3, Some(2.0));
    let cols = columns(&mut dest, "users");
    assert_eq!(cols[3], ("_deleted".to_string(), "BOOLEAN".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn append_destination_equals_source() {
    let (_dir, mut dest, src) = run(StreamMode::new(WriteMode::Append)).await;
    // The full history since the last truncate.
    let rows = table_rows(&mut dest, "users");
    let mut history = src.history.clone();
    history.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert_eq!(rows, history);
    assert_eq!(
        keys(&rows),
        vec![
            ("a", 20, false),
            ("a", 40, true),
            ("c", 10, false),
            ("e", 30, false),
            ("f", 40, false)
        ]
    );
    // The latest version of each `_id`, without deleted ones, is the source.
    let latest = dest
        .query_json(
            "SELECT _id FROM users QUALIFY row_number() OVER (PARTITION BY _id ORDER BY _ts DESC) = 1 \
             AND NOT _deleted ORDER BY _id",
        )
        .unwrap();
    let latest: Vec<&str> = latest.iter().map(|r| r["_id"].as_str().unwrap()).collect();
    let want: Vec<String> = src.docs.keys().cloned().collect();
    assert_eq!(latest, want);
    let mut last: BTreeMap<String, Row> = BTreeMap::new();
    for r in rows {
        last.insert(r.0.clone(), r);
    }
    let last: Vec<Row> = last.into_values().filter(|r| !r.2).collect();
    assert_eq!(last, src.rows());
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_destination_equals_source() {
    let (_dir, mut dest, src) = run(StreamMode::new(WriteMode::Replace)).await;
    assert_eq!(table_rows(&mut dest, "users"), src.rows());
    let n = dest
        .query_json("SELECT * FROM duckdb_tables() WHERE table_name LIKE '\\_spillway\\_reload%' ESCAPE '\\'")
        .unwrap();
    assert!(n.is_empty(), "reload copy left: {n:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_delete_stale_destination_equals_source() {
    let (_dir, mut dest, src) = run(StreamMode::new(WriteMode::OverwriteDeleteStale)).await;
    assert_eq!(table_rows(&mut dest, "users"), src.rows());
    let cols: Vec<(String, String)> = columns(&mut dest, "users");
    assert_eq!(cols[3], ("x".to_string(), "DOUBLE".to_string()));
    assert_eq!(cols[4], ("y".to_string(), "VARCHAR".to_string()));
}
