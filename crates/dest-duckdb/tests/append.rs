//! Write mode `append`: every version a row; replays never duplicate.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::json;
use spillway_core::{Destination, StreamId, StreamMode, WriteMode};
use spillway_dest_duckdb::DuckDbDestination;

fn history(dest: &mut DuckDbDestination) -> Vec<(String, i64, bool, serde_json::Value)> {
    dest.query_json("SELECT * FROM t ORDER BY _id, _ts")
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["_id"].as_str().unwrap().to_string(),
                r["_ts"].as_i64().unwrap(),
                r["_deleted"].as_bool().unwrap(),
                r.get("x").cloned().unwrap_or(json!(null)),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn replays_do_not_duplicate() {
    let (_dir, cfg, mut dest) = open_with(all(StreamMode::new(WriteMode::Append)));
    let s = StreamId::root("t");
    let b1 = batch(
        &s,
        &[
            ("a", 1, false),
            ("a", 2, false),
            ("b", 1, false),
            ("a", 2, false),
        ],
        vec![int("x", vec![Some(1), Some(2), Some(10), Some(3)])],
    );
    dest.write(&b1).await.unwrap();
    // The same batch again in the same transaction.
    dest.write(&b1).await.unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    let want = vec![
        ("a".to_string(), 1, false, json!(1)),
        // Two rows with one (_id, _ts) in a batch: the last wins.
        ("a".to_string(), 2, false, json!(3)),
        ("b".to_string(), 1, false, json!(10)),
    ];
    assert_eq!(history(&mut dest), want);

    // A replay after the commit (the crash-and-rerun case), and after a reopen.
    dest.write(&b1).await.unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    drop(dest);
    let mut dest = DuckDbDestination::open(&cfg).unwrap();
    dest.write(&b1).await.unwrap();
    dest.write(&batch(&s, &[("b", 3, true)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    let mut want = want;
    want.push(("b".to_string(), 3, true, json!(null)));
    assert_eq!(history(&mut dest), want);

    // Widening keeps every version (the JSON conversion joins on (_id, _ts)).
    dest.write(&batch(
        &s,
        &[("a", 4, false)],
        vec![text("x", vec![Some("s")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    let h = history(&mut dest);
    assert_eq!(h.len(), 5);
    assert_eq!(h[0].3, json!(1));
    assert_eq!(h[1].3, json!(3));
    assert_eq!(h[2].3, json!("s"));

    // A truncate restarts the history.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 4, false)],
        vec![text("x", vec![Some("s")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    assert_eq!(
        history(&mut dest),
        vec![("a".to_string(), 4, false, json!("s"))]
    );
    assert_eq!(dest.tables().unwrap(), vec!["t"]);
}
