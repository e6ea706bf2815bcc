//! Write mode `upsert` with `soft_delete = true`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::{Value, json};
use spillway_core::{Destination, StreamId, StreamMode};
use spillway_dest_duckdb::DuckDbDestination;

fn state(dest: &mut DuckDbDestination) -> Vec<(String, i64, bool, Value, Value)> {
    dest.query_json("SELECT * FROM t ORDER BY _id")
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["_id"].as_str().unwrap().to_string(),
                r["_ts"].as_i64().unwrap(),
                r["_deleted"].as_bool().unwrap(),
                r["_creationTime"].clone(),
                r.get("x").cloned().unwrap_or(json!(null)),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tombstones_mark_rows() {
    let (_dir, _cfg, mut dest) = open_with(all(StreamMode::soft_delete()));
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[("a", 10, false), ("b", 10, false)],
        vec![int("x", vec![Some(1), Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    // A newer tombstone marks `a` and keeps its columns; an older one is ignored; a tombstone
    // of an id never seen inserts a row of NULLs.
    dest.write(&batch(
        &s,
        &[("a", 20, true), ("b", 5, true), ("n", 20, true)],
        vec![nulls("x", 3)],
    ))
    .await
    .unwrap();
    // Replayed: the same.
    dest.write(&batch(&s, &[("a", 20, true)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(
        state(&mut dest),
        vec![
            ("a".into(), 20, true, json!(0.01), json!(1)),
            ("b".into(), 10, false, json!(0.01), json!(2)),
            ("n".into(), 20, true, json!(null), json!(null)),
        ]
    );
    // A live revision brings a row back; an older live revision does not.
    dest.write(&batch(
        &s,
        &[("a", 30, false), ("n", 15, false)],
        vec![int("x", vec![Some(3), Some(9)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    let st = state(&mut dest);
    assert_eq!(st[0], ("a".into(), 30, false, json!(0.03), json!(3)));
    assert_eq!(st[2], ("n".into(), 20, true, json!(null), json!(null)));

    // Truncate marks every row; the reload brings back what it sees; rollback undoes.
    dest.truncate(&s).await.unwrap();
    assert!(state(&mut dest).iter().all(|r| r.2));
    dest.rollback().await.unwrap();
    assert!(!state(&mut dest)[0].2);
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("b", 10, false)],
        vec![int("x", vec![Some(2)])],
    ))
    .await
    .unwrap();
    // A widening after the UPDATE of the truncate, in the same transaction (table rebuilt).
    dest.write(&batch(
        &s,
        &[("c", 40, false)],
        vec![text("y", vec![Some("c")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    let live: Vec<String> = state(&mut dest)
        .into_iter()
        .filter(|r| !r.2)
        .map(|r| r.0)
        .collect();
    assert_eq!(live, vec!["b", "c"]);
    assert_eq!(dest.row_count("t").unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn mark_and_revive_in_one_transaction() {
    let (_dir, cfg, mut dest) = open_with(all(StreamMode::soft_delete()));
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    // Tombstone (UPDATE), revival (DELETE + INSERT), tombstone again, across batches; and
    // the same for a row born in this transaction.
    for (id, base) in [("a", 1), ("b", 1)] {
        dest.write(&batch(
            &s,
            &[(id, base + 1, false)],
            vec![int("x", vec![Some(2)])],
        ))
        .await
        .unwrap();
        dest.write(&batch(&s, &[(id, base + 2, true)], vec![]))
            .await
            .unwrap();
        dest.write(&batch(
            &s,
            &[(id, base + 3, false)],
            vec![int("x", vec![Some(4)])],
        ))
        .await
        .unwrap();
        dest.write(&batch(&s, &[(id, base + 4, true)], vec![]))
            .await
            .unwrap();
    }
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    drop(dest);
    let mut dest = DuckDbDestination::open(&cfg).unwrap();
    assert_eq!(
        state(&mut dest),
        vec![
            ("a".into(), 5, true, json!(0.004), json!(4)),
            ("b".into(), 5, true, json!(0.004), json!(4)),
        ]
    );
    assert_keyed_by_id(&mut dest, "t");
}
