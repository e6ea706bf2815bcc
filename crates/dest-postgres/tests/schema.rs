//! New columns and the widening of existing values.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::json;
use spillway_core::{Destination, StreamId};

#[tokio::test(flavor = "multi_thread")]
async fn new_columns_and_null_only_columns() {
    let (_schema, _cfg, mut dest) = open().await;
    let st = StreamId::root("t");
    dest.write(&batch(
        &st,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)]), nulls("z", 1)],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(
        columns(&mut dest, "t").await.len(),
        4,
        "a null-only column creates no column"
    );

    dest.write(&batch(
        &st,
        &[("b", 2, false)],
        vec![nulls("z", 1), text("w", vec![Some("w")])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &st,
        &[("a", 3, false)],
        vec![int("z", vec![Some(7)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(
        columns(&mut dest, "t").await[3..].to_vec(),
        ["x bigint", "w text", "z bigint"]
    );
    assert_eq!(rows(&mut dest, "t").await[0]["z"], json!(7));

    // Once the column exists, nulls are written.
    dest.write(&batch(&st, &[("a", 4, false)], vec![nulls("z", 1)]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    let r = rows(&mut dest, "t").await;
    assert_eq!(r[0]["z"], json!(null));
    // The revision had no `x`: the whole row is replaced.
    assert_eq!(r[0]["x"], json!(null));

    // An empty batch still creates its table and columns.
    dest.write(&batch(
        &StreamId::root("empty"),
        &[],
        vec![boolean("b", vec![])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    assert_eq!(columns(&mut dest, "empty").await[3], "b boolean");
    assert_eq!(dest.row_count("empty").await.unwrap(), 0);
}

/// Widens `x` from the type of `first` to the type of `second`; checks the column type and
/// the stored text of the first row.
async fn widen(first: Col, second: Col, same_txn: bool, want_type: &str, want_text: &str) {
    let (_schema, cfg, mut dest) = open().await;
    let st = StreamId::root("w");
    let label = format!(
        "{} then {} -> {want_type}",
        first.ty.name(),
        second.ty.name()
    );
    dest.write(&batch(&st, &[("a", 1, false)], vec![first]))
        .await
        .unwrap();
    if !same_txn {
        dest.commit(&key(), &checkpoint(1)).await.unwrap();
    }
    dest.write(&batch(&st, &[("b", 2, false)], vec![second]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(
        columns(&mut dest, "w").await[3],
        format!("x {want_type}"),
        "{label}"
    );
    assert_eq!(
        stored_text(&mut dest, "w", "x", "a").await.as_deref(),
        Some(want_text),
        "{label}"
    );

    // Still a working table after a reconnect: narrower batches are cast up.
    drop(dest);
    let mut dest = connect(&cfg).await;
    dest.write(&batch(
        &st,
        &[("a", 3, false)],
        vec![int("x", vec![Some(5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(dest.row_count("w").await.unwrap(), 2, "{label}");
    assert_eq!(
        stored_text(&mut dest, "w", "x", "a").await.as_deref(),
        Some("5"),
        "{label}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn widening_converts_existing_values() {
    for same_txn in [false, true] {
        widen(
            int("x", vec![Some(3)]),
            float("x", vec![Some(0.5)]),
            same_txn,
            "double precision",
            "3",
        )
        .await;
        widen(
            int("x", vec![Some(i64::MIN)]),
            text("x", vec![Some("s")]),
            same_txn,
            "json",
            "-9223372036854775808",
        )
        .await;
        widen(
            text("x", vec![Some("a\"b\\\u{1}é")]),
            int("x", vec![Some(1)]),
            same_txn,
            "json",
            "\"a\\\"b\\\\\\u0001é\"",
        )
        .await;
        widen(
            bytes("x", vec![Some(b"\x00\xff")]),
            int("x", vec![Some(1)]),
            same_txn,
            "json",
            r#"{"$bytes":"AP8="}"#,
        )
        .await;
        widen(
            float("x", vec![Some(5.0)]),
            boolean("x", vec![Some(true)]),
            same_txn,
            "json",
            "5.0",
        )
        .await;
        widen(
            float("x", vec![Some(1e20)]),
            text("x", vec![Some("s")]),
            same_txn,
            "json",
            "1e20",
        )
        .await;
        widen(
            float("x", vec![Some(f64::NAN)]),
            text("x", vec![Some("s")]),
            same_txn,
            "json",
            r#"{"$float":"AAAAAAAA+H8="}"#,
        )
        .await;
        widen(
            float("x", vec![Some(-0.0)]),
            text("x", vec![Some("s")]),
            same_txn,
            "json",
            r#"{"$float":"AAAAAAAAAIA="}"#,
        )
        .await;
        widen(
            boolean("x", vec![Some(false)]),
            int("x", vec![Some(1)]),
            same_txn,
            "json",
            "false",
        )
        .await;
        widen(
            int("x", vec![Some(7)]),
            json("x", vec![Some("[1]")]),
            same_txn,
            "json",
            "7",
        )
        .await;
        // Int64 → Float64 → JSON in two steps.
        widen(
            float("x", vec![Some(2.5)]),
            json("x", vec![Some("{}")]),
            same_txn,
            "json",
            "2.5",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn big_integers_meeting_floats_widen_to_json() {
    // In the table: a bigint column holding 2^53 + 1 meets a float batch.
    let (_schema, _cfg, mut dest) = open().await;
    let st = StreamId::root("t");
    let big = (1_i64 << 53) + 1;
    dest.write(&batch(
        &st,
        &[("a", 1, false), ("b", 1, false)],
        vec![int("x", vec![Some(big), Some(-big)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    dest.write(&batch(
        &st,
        &[("c", 2, false)],
        vec![float("x", vec![Some(0.5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(columns(&mut dest, "t").await[3], "x json");
    let r = rows(&mut dest, "t").await;
    assert_eq!(r[0]["x"], json!(big));
    assert_eq!(r[1]["x"], json!(-big));
    assert_eq!(stored_text(&mut dest, "t", "x", "c").await.unwrap(), "0.5");

    // In the batch: a double column meets a batch holding i64::MAX.
    let st = StreamId::root("u");
    dest.write(&batch(
        &st,
        &[("a", 1, false)],
        vec![float("x", vec![Some(1.5)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &st,
        &[("b", 1, false), ("c", 1, false)],
        vec![int("x", vec![Some(i64::MAX), Some(3)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(columns(&mut dest, "u").await[3], "x json");
    assert_eq!(stored_text(&mut dest, "u", "x", "a").await.unwrap(), "1.5");
    assert_eq!(
        stored_text(&mut dest, "u", "x", "b").await.unwrap(),
        i64::MAX.to_string()
    );
    assert_eq!(stored_text(&mut dest, "u", "x", "c").await.unwrap(), "3");

    // Exactly 2^53 still fits a double.
    let st = StreamId::root("v");
    dest.write(&batch(
        &st,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1 << 53)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &st,
        &[("b", 1, false)],
        vec![float("x", vec![Some(0.5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    assert_eq!(columns(&mut dest, "v").await[3], "x double precision");
    assert_eq!(
        rows(&mut dest, "v").await[0]["x"],
        json!(9007199254740992.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn widening_many_rows_and_rollback() {
    let (_schema, _cfg, mut dest) = open().await;
    let st = StreamId::root("t");
    let n = 25_000usize; // more than one conversion page
    let ids: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
    let revs: Vec<_> = ids.iter().map(|id| (id.as_str(), 1, false)).collect();
    dest.write(&batch(
        &st,
        &revs,
        vec![float(
            "x",
            (0..n)
                .map(|i| (i % 3 != 0).then_some(i as f64 + 0.25))
                .collect(),
        )],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();

    // A widening rolled back leaves the column and its values as they were.
    dest.write(&batch(
        &st,
        &[("new", 2, false)],
        vec![text("x", vec![Some("s")])],
    ))
    .await
    .unwrap();
    assert_eq!(columns(&mut dest, "t").await[3], "x json");
    dest.rollback().await.unwrap();
    assert_eq!(columns(&mut dest, "t").await[3], "x double precision");
    assert_eq!(dest.row_count("t").await.unwrap(), n as u64);

    // Then for real.
    dest.write(&batch(
        &st,
        &[("new", 2, false)],
        vec![text("x", vec![Some("s")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    let sql = format!(
        "SELECT count(*) AS n, count(x) AS vals, \
         sum((x::text)::double precision) FILTER (WHERE _id <> 'new') AS total \
         FROM {}",
        dest.table_ref("t")
    );
    let r = &dest.query_json(&sql).await.unwrap()[0];
    let vals = (0..n).filter(|i| i % 3 != 0).count() + 1;
    let total: f64 = (0..n).filter(|i| i % 3 != 0).map(|i| i as f64 + 0.25).sum();
    assert_eq!(r["n"], json!(n + 1));
    assert_eq!(r["vals"], json!(vals));
    assert_eq!(r["total"], json!(total));
    assert_eq!(
        stored_text(&mut dest, "t", "x", "00001").await.unwrap(),
        "1.25"
    );
    assert_eq!(stored_text(&mut dest, "t", "x", "00000").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_narrower_than_the_table_are_cast_up() {
    let (_schema, _cfg, mut dest) = open().await;
    let st = StreamId::root("t");
    dest.write(&batch(
        &st,
        &[("a", 1, false)],
        vec![float("x", vec![Some(1.5)]), json("y", vec![Some("{}")])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &st,
        &[("b", 1, false)],
        vec![
            int("x", vec![Some(2)]),
            float("y", vec![Some(f64::INFINITY)]),
        ],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &st,
        &[("c", 1, false)],
        vec![int("x", vec![None]), bytes("y", vec![Some(b"\x01")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    let r = rows(&mut dest, "t").await;
    assert_eq!(r[1]["x"], json!(2.0));
    assert_eq!(r[1]["y"], json!({"$float": "AAAAAAAA8H8="}));
    assert_eq!(r[2]["y"], json!({"$bytes": "AQ=="}));
    assert_eq!(
        columns(&mut dest, "t").await[3..].to_vec(),
        ["x double precision", "y json"]
    );
}
