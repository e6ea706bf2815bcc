//! Types, new columns and widening of existing values.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::json;
use spillway_core::{ColumnType, Destination, StreamId};

fn s(v: &str) -> (String, String) {
    let (a, b) = v.split_once(' ').unwrap();
    (a.to_string(), b.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_type_round_trips() {
    let (_dir, _cfg, mut dest) = open();
    let st = StreamId::root("types");
    let revs = [
        ("1", 1, false),
        ("2", 1, false),
        ("3", 1, false),
        ("4", 1, false),
        ("5", 1, false),
        ("6", 1, false),
    ];
    dest.write(&batch(
        &st,
        &revs,
        vec![
            int(
                "i",
                vec![
                    Some(i64::MIN),
                    Some(i64::MAX),
                    Some(0),
                    Some(-1),
                    None,
                    Some(42),
                ],
            ),
            float(
                "f",
                vec![
                    Some(f64::NAN),
                    Some(f64::INFINITY),
                    Some(f64::NEG_INFINITY),
                    Some(-0.0),
                    Some(0.1),
                    None,
                ],
            ),
            boolean(
                "b",
                vec![
                    Some(true),
                    Some(false),
                    None,
                    Some(true),
                    Some(false),
                    Some(true),
                ],
            ),
            text(
                "s",
                vec![
                    Some(""),
                    Some("héllo ✓ 🎉"),
                    Some("nul\u{0}byte"),
                    Some("quote\"'"),
                    None,
                    Some("x"),
                ],
            ),
            bytes(
                "y",
                vec![
                    Some(b""),
                    Some(b"\x00\xff\x10"),
                    None,
                    Some(b"abc"),
                    Some(&[0u8; 3]),
                    Some(b"z"),
                ],
            ),
            json(
                "j",
                vec![
                    Some(r#"{"a":[1,2.5,"x"]}"#),
                    Some("5.0"),
                    Some(r#""str""#),
                    Some("null"),
                    None,
                    Some(r#"{"$bytes":"AP8="}"#),
                ],
            ),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();

    assert_eq!(
        columns(&mut dest, "types"),
        [
            "_id VARCHAR",
            "_creationTime DOUBLE",
            "_ts BIGINT",
            "i BIGINT",
            "f DOUBLE",
            "b BOOLEAN",
            "s VARCHAR",
            "y BLOB",
            "j JSON"
        ]
        .map(s)
        .to_vec()
    );
    let r = rows(&mut dest, "types");
    assert_eq!(r[0]["i"], json!(i64::MIN));
    assert_eq!(r[1]["i"], json!(i64::MAX));
    assert_eq!(r[4]["i"], json!(null));
    assert_eq!(r[0]["f"], json!("NaN"));
    assert_eq!(r[1]["f"], json!("Infinity"));
    assert_eq!(r[2]["f"], json!("-Infinity"));
    assert_eq!(r[3]["f"].to_string(), "-0.0");
    assert_eq!(r[4]["f"].as_f64().unwrap().to_bits(), 0.1f64.to_bits());
    assert_eq!(r[5]["f"], json!(null));
    assert_eq!(r[0]["b"], json!(true));
    assert_eq!(r[2]["b"], json!(null));
    assert_eq!(r[0]["s"], json!(""));
    assert_eq!(r[1]["s"], json!("héllo ✓ 🎉"));
    assert_eq!(r[2]["s"], json!("nul\u{0}byte"));
    assert_eq!(r[3]["s"], json!("quote\"'"));
    assert_eq!(r[0]["y"], json!(""));
    assert_eq!(r[1]["y"], json!("AP8Q"));
    assert_eq!(r[2]["y"], json!(null));
    assert_eq!(r[0]["j"], json!({"a": [1, 2.5, "x"]}));
    assert_eq!(r[1]["j"].to_string(), "5.0");
    assert_eq!(r[2]["j"], json!("str"));
    assert_eq!(r[3]["j"], json!(null));
    assert_eq!(r[5]["j"], json!({"$bytes": "AP8="}));
    // Negative zero is stored as such, and NaN's bits survive.
    let bits = dest
        .query_json("SELECT CAST(f AS VARCHAR) AS v FROM types WHERE _id = '4'")
        .unwrap();
    assert_eq!(bits[0]["v"], json!("-0.0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn new_columns_and_null_only_columns() {
    let (_dir, _cfg, mut dest) = open();
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
        columns(&mut dest, "t").len(),
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
        columns(&mut dest, "t")[3..].to_vec(),
        ["x BIGINT", "w VARCHAR", "z BIGINT"].map(s).to_vec()
    );
    assert_eq!(rows(&mut dest, "t")[0]["z"], json!(7));

    // Once the column exists, nulls are written.
    dest.write(&batch(&st, &[("a", 4, false)], vec![nulls("z", 1)]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    let r = rows(&mut dest, "t");
    assert_eq!(r[0]["z"], json!(null));
    // The revision had no `x`: the whole row is replaced.
    assert_eq!(r[0]["x"], json!(null));
}

/// Widens `x` from the type of `first` to the type of `second`; checks the column type and
/// the stored text of the first row.
async fn widen(first: Col, second: Col, same_txn: bool, want_type: &str, want_text: &str) {
    let (_dir, cfg, mut dest) = open();
    let st = StreamId::root("w");
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
    assert_eq!(columns(&mut dest, "w")[3], s(&format!("x {want_type}")));
    assert_eq!(
        stored_text(&mut dest, "w", "x", "a").as_deref(),
        Some(want_text)
    );

    // Still a working table after a reopen: narrower batches are cast up.
    drop(dest);
    let mut dest = spillway_dest_duckdb::DuckDbDestination::open(&cfg).unwrap();
    dest.write(&batch(
        &st,
        &[("a", 3, false)],
        vec![int("x", vec![Some(5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(dest.row_count("w").unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn widening_converts_existing_values() {
    for same_txn in [false, true] {
        widen(
            int("x", vec![Some(3)]),
            float("x", vec![Some(0.5)]),
            same_txn,
            "DOUBLE",
            "3.0",
        )
        .await;
        widen(
            int("x", vec![Some(i64::MIN)]),
            text("x", vec![Some("s")]),
            same_txn,
            "JSON",
            "-9223372036854775808",
        )
        .await;
        widen(
            text("x", vec![Some("a\"b\u{0}é")]),
            int("x", vec![Some(1)]),
            same_txn,
            "JSON",
            "\"a\\\"b\\u0000é\"",
        )
        .await;
        widen(
            bytes("x", vec![Some(b"\x00\xff")]),
            int("x", vec![Some(1)]),
            same_txn,
            "JSON",
            r#"{"$bytes":"AP8="}"#,
        )
        .await;
        widen(
            float("x", vec![Some(5.0)]),
            boolean("x", vec![Some(true)]),
            same_txn,
            "JSON",
            "5.0",
        )
        .await;
        widen(
            float("x", vec![Some(f64::NAN)]),
            text("x", vec![Some("s")]),
            same_txn,
            "JSON",
            r#"{"$float":"AAAAAAAA+H8="}"#,
        )
        .await;
        widen(
            float("x", vec![Some(-0.0)]),
            text("x", vec![Some("s")]),
            same_txn,
            "JSON",
            r#"{"$float":"AAAAAAAAAIA="}"#,
        )
        .await;
        widen(
            boolean("x", vec![Some(false)]),
            int("x", vec![Some(1)]),
            same_txn,
            "JSON",
            "false",
        )
        .await;
        widen(
            int("x", vec![Some(7)]),
            json("x", vec![Some("[1]")]),
            same_txn,
            "JSON",
            "7",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_narrower_than_the_table_are_cast_up() {
    let (_dir, _cfg, mut dest) = open();
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
    let r = rows(&mut dest, "t");
    assert_eq!(r[1]["x"], json!(2.0));
    assert_eq!(r[1]["y"], json!({"$float": "AAAAAAAA8H8="}));
    assert_eq!(r[2]["y"], json!({"$bytes": "AQ=="}));
    assert_eq!(
        columns(&mut dest, "t")[3..].to_vec(),
        ["x DOUBLE", "y JSON"].map(s).to_vec()
    );
    let _ = ColumnType::Null;
}
