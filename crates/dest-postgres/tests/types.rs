//! The type mapping: every type round-trips exactly; what Postgres cannot hold fails loudly.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::json;
use spillway_core::{Destination, ErrorKind, StreamId};

#[tokio::test(flavor = "multi_thread")]
async fn every_type_round_trips() {
    let (_schema, _cfg, mut dest) = open().await;
    let st = StreamId::root("types");
    let payload_nan = f64::from_bits(0x7ff8_0000_0000_0001);
    let negative_nan = f64::from_bits(0xfff8_0000_0000_0000);
    let revs = [
        ("1", 1, false),
        ("2", 1, false),
        ("3", 1, false),
        ("4", 1, false),
        ("5", 1, false),
        ("6", 1, false),
        ("7", 1, false),
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
                    Some(1 << 53),
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
                    Some(payload_nan),
                ],
            ),
            float(
                "g",
                vec![
                    Some(f64::MIN_POSITIVE),
                    Some(f64::MAX),
                    Some(f64::MIN),
                    Some(5e-324),
                    Some(0.0),
                    Some(negative_nan),
                    Some(1e20),
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
                    None,
                ],
            ),
            text(
                "s",
                vec![
                    Some(""),
                    Some("héllo ✓ 🎉"),
                    Some("tab\tnew\nline\r\u{1}\u{7f}"),
                    Some("quote\"'\\"),
                    None,
                    Some("x"),
                    Some("日本語 العربية"),
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
                    Some(b"\\x00"),
                ],
            ),
            json(
                "j",
                vec![
                    Some(r#"{"b":[1,2.5,"x"],"a":{"z":null,"y":[[],{}]}}"#),
                    Some("5.0"),
                    Some(r#""str\u0000nul""#),
                    Some("null"),
                    None,
                    Some(r#"{"$bytes":"AP8="}"#),
                    Some("1e20"),
                ],
            ),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();

    assert_eq!(
        columns(&mut dest, "types").await,
        [
            "_id text",
            "_creationTime double precision",
            "_ts bigint",
            "i bigint",
            "f double precision",
            "g double precision",
            "b boolean",
            "s text",
            "y bytea",
            "j json"
        ]
    );
    let r = rows(&mut dest, "types").await;
    assert_eq!(r[0]["i"], json!(i64::MIN));
    assert_eq!(r[1]["i"], json!(i64::MAX));
    assert_eq!(r[4]["i"], json!(null));
    assert_eq!(r[6]["i"], json!(1_i64 << 53));
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
    assert_eq!(r[2]["s"], json!("tab\tnew\nline\r\u{1}\u{7f}"));
    assert_eq!(r[3]["s"], json!("quote\"'\\"));
    assert_eq!(r[6]["s"], json!("日本語 العربية"));
    assert_eq!(r[0]["y"], json!(""));
    assert_eq!(r[1]["y"], json!("AP8Q"));
    assert_eq!(r[2]["y"], json!(null));
    assert_eq!(r[6]["y"], json!("XHgwMA=="));
    assert_eq!(
        r[0]["j"],
        json!({"b": [1, 2.5, "x"], "a": {"z": null, "y": [[], {}]}})
    );
    assert_eq!(r[1]["j"].to_string(), "5.0");
    assert_eq!(r[2]["j"], json!("str\u{0}nul"));
    assert_eq!(r[3]["j"], json!(null));
    assert_eq!(r[4]["j"], json!(null));
    assert_eq!(r[5]["j"], json!({"$bytes": "AP8="}));
    assert_eq!(r[0]["_creationTime"], json!(0.001));
    assert_eq!(r[0]["_ts"], json!(1));

    // Doubles are stored bit for bit: every NaN payload, both zeros, the extremes.
    let bits = dest
        .query_json(&format!(
            "SELECT _id, encode(float8send(f), 'hex') AS f, encode(float8send(g), 'hex') AS g \
             FROM {} ORDER BY _id",
            dest.table_ref("types")
        ))
        .await
        .unwrap();
    let hex = |f: f64| format!("{:016x}", f.to_bits());
    let want_f = [
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(-0.0),
        Some(0.1),
        None,
        Some(payload_nan),
    ];
    let want_g = [
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        5e-324,
        0.0,
        negative_nan,
        1e20,
    ];
    for (i, row) in bits.iter().enumerate() {
        assert_eq!(row["f"], json!(want_f[i].map(hex)), "row {i}");
        assert_eq!(row["g"], json!(hex(want_g[i])), "row {i}");
    }

    // JSON is kept as written: key order, number forms, escapes.
    assert_eq!(
        stored_text(&mut dest, "types", "j", "1").await.unwrap(),
        r#"{"b":[1,2.5,"x"],"a":{"z":null,"y":[[],{}]}}"#
    );
    assert_eq!(
        stored_text(&mut dest, "types", "j", "7").await.unwrap(),
        "1e20"
    );
    assert_eq!(
        stored_text(&mut dest, "types", "j", "3").await.unwrap(),
        r#""str\u0000nul""#
    );
    // Booleans and bytes read back through SQL as themselves.
    let sql = format!(
        "SELECT count(*) AS n FROM {} WHERE b AND y = '\\x00ff10'::bytea OR (i = {} AND NOT b)",
        dest.table_ref("types"),
        i64::MAX
    );
    assert_eq!(dest.query_json(&sql).await.unwrap()[0]["n"], json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_in_text_is_a_data_error_naming_the_value() {
    let (_schema, _cfg, mut dest) = open().await;
    let st = StreamId::root("t");
    dest.write(&batch(
        &st,
        &[("a", 1, false)],
        vec![text("s", vec![Some("fine")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();

    let e = dest
        .write(&batch(
            &st,
            &[("b", 2, false), ("c", 2, false)],
            vec![text("s", vec![Some("ok"), Some("nul\u{0}byte")])],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    for part in ["\"t\"", "\"c\"", "\"s\"", "NUL"] {
        assert!(e.message.contains(part), "{part} missing from: {e}");
    }
    // The transaction can only be rolled back; the last commit stands.
    let again = dest.commit(&key(), &checkpoint(2)).await.unwrap_err();
    assert!(again.message.contains("roll back"), "{again}");
    dest.rollback().await.unwrap();
    assert_eq!(dest.row_count("t").await.unwrap(), 1);
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 1})
    );

    // NUL in an _id too; but a NUL inside a JSON value is its escape and is fine.
    let e = dest
        .write(&batch(&st, &[("x\u{0}", 3, false)], vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    assert!(e.message.contains("\"_id\""), "{e}");
    dest.rollback().await.unwrap();
    dest.write(&batch(
        &st,
        &[("d", 3, false)],
        vec![json("j", vec![Some(r#"["\u0000"]"#)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(rows(&mut dest, "t").await[1]["j"], json!(["\u{0}"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn names_postgres_would_truncate_are_refused() {
    let (_schema, _cfg, mut dest) = open().await;
    let long = "x".repeat(64);
    let e = dest
        .write(&batch(&StreamId::root(&long), &[("a", 1, false)], vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    assert!(e.message.contains("63 bytes"), "{e}");
    let e = dest
        .write(&batch(
            &StreamId::root("t"),
            &[("a", 1, false)],
            vec![int(&long, vec![Some(1)])],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
    assert!(e.message.contains(&long), "{e}");
    dest.rollback().await.unwrap();

    // 63 bytes is fine, for tables and columns.
    let ok = "y".repeat(63);
    dest.write(&batch(
        &StreamId::root(&ok),
        &[("a", 1, false)],
        vec![int(&ok, vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(rows(&mut dest, &ok).await[0][&ok], json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_json_is_a_data_error_naming_the_column() {
    let (_schema, _cfg, mut dest) = open().await;
    let e = dest
        .write(&batch(
            &StreamId::root("t"),
            &[("a", 1, false), ("b", 1, false)],
            vec![json("j", vec![Some("[1]"), Some("{not json")])],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data, "{e}");
    assert!(e.message.contains("table \"t\""), "{e}");
    assert!(e.message.contains("column j"), "{e}");
    dest.rollback().await.unwrap();
    assert!(dest.tables().await.unwrap().is_empty());
}
