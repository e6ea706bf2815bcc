//! Upserts, tombstones, the `_ts` guard, revisions within and across batches, truncation.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::{Value, json};
use spillway_core::{Destination, StreamId};
use spillway_dest_postgres::PostgresDestination;

async fn ids_and_x(dest: &mut PostgresDestination, table: &str) -> Vec<(String, i64, Value)> {
    rows(dest, table)
        .await
        .into_iter()
        .map(|r| {
            (
                r["_id"].as_str().unwrap().to_string(),
                r["_ts"].as_i64().unwrap(),
                r.get("x").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_delete_and_ts_guard() {
    let (_schema, _cfg, mut dest) = open().await;
    let s = StreamId::root("users");
    dest.write(&batch(
        &s,
        &[("a", 10, false), ("b", 10, false)],
        vec![int("x", vec![Some(1), Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(dest.tables().await.unwrap(), vec!["users"]);

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
    assert_eq!(dest.row_count("users").await.unwrap(), 2);
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
    // A tombstone of a document never seen is a no-op.
    dest.write(&batch(&s, &[("zz", 40, true)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();

    assert_eq!(
        ids_and_x(&mut dest, "users").await,
        vec![("a".into(), 20, json!(3))]
    );
    let r = &rows(&mut dest, "users").await[0];
    assert_eq!(r["_creationTime"], json!(0.02));

    // Across transactions too: an older revision after a commit changes nothing.
    dest.write(&batch(
        &s,
        &[("a", 19, false)],
        vec![int("x", vec![Some(7)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(&s, &[("a", 19, true)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(
        ids_and_x(&mut dest, "users").await,
        vec![("a".into(), 20, json!(3))]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_revisions_in_one_batch() {
    let (_schema, _cfg, mut dest) = open().await;
    let s = StreamId::root("t");
    // A committed row that the batch deletes, then re-creates.
    dest.write(&batch(
        &s,
        &[("e", 1, false)],
        vec![int("x", vec![Some(0)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(0)).await.unwrap();
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
            // two revisions with one _ts: the later in the batch wins
            ("f", 5, false),
            ("f", 5, false),
            // delete then re-create a committed row
            ("e", 2, true),
            ("e", 3, false),
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
                Some(50),
                Some(51),
                None,
                Some(33),
            ],
        )],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(
        ids_and_x(&mut dest, "t").await,
        vec![
            ("a".into(), 3, json!(3)),
            ("b".into(), 3, json!(30)),
            ("e".into(), 3, json!(33)),
            ("f".into(), 5, json!(51))
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_then_reinsert_same_key() {
    let (_schema, cfg, mut dest) = open().await;
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
        ids_and_x(&mut dest, "t").await,
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
    assert_eq!(dest.row_count("t").await.unwrap(), 2);
    dest.write(&batch(
        &s,
        &[("a", 6, false)],
        vec![int("x", vec![Some(6)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(4)).await.unwrap();
    assert_eq!(
        ids_and_x(&mut dest, "t").await[0],
        ("a".into(), 6, json!(6))
    );

    // Delete, then a schema change, then re-insert, in one transaction.
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
    let r = rows(&mut dest, "t").await;
    assert_eq!(r[0]["_id"], json!("a"));
    assert_eq!(r[0]["x"], json!(null));
    assert_eq!(r[0]["y"], json!("new"));
    assert_eq!(r[1]["x"], json!(0.5));

    // The primary key still holds after the widening and a reconnect.
    drop(dest);
    let mut dest = connect(&cfg).await;
    dest.write(&batch(
        &s,
        &[("a", 9, false)],
        vec![int("x", vec![Some(9)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(6)).await.unwrap();
    assert_eq!(dest.row_count("t").await.unwrap(), 3);
    assert_eq!(rows(&mut dest, "t").await[0]["x"], json!(9.0));
    let dup = dest
        .query_json(&format!(
            "INSERT INTO {} (_id, _ts) VALUES ('a', 1)",
            dest.table_ref("t")
        ))
        .await;
    assert!(dup.is_err(), "primary key lost: {dup:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_replaces_the_whole_row() {
    // A Convex revision is the whole document: a field missing from it (and so from every row
    // of its batch) is gone, not left at its old value.
    let (_schema, _cfg, mut dest) = open().await;
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[("a", 1, false), ("c", 1, false)],
        vec![
            int("x", vec![Some(1), Some(1)]),
            text("y", vec![Some("y1"), Some("c1")]),
        ],
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
    // A null in a column the batch has replaces the old value too.
    dest.write(&batch(
        &s,
        &[("c", 2, false)],
        vec![int("x", vec![Some(2)]), text("y", vec![None])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    let r = rows(&mut dest, "t").await;
    assert_eq!(r[0]["x"], json!(null));
    assert_eq!(r[0]["y"], json!("y2"));
    assert_eq!(r[0]["_creationTime"], json!(0.002));
    assert_eq!(r[1]["x"], json!(null));
    assert_eq!(r[1]["y"], json!("yb"));
    assert_eq!(r[2]["x"], json!(2));
    assert_eq!(r[2]["y"], json!(null));
}

#[tokio::test(flavor = "multi_thread")]
async fn truncate() {
    let (_schema, _cfg, mut dest) = open().await;
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
    assert_eq!(dest.row_count("t").await.unwrap(), 2);

    // Truncate then rollback keeps the rows; other connections never see the truncation.
    dest.truncate(&s).await.unwrap();
    assert_eq!(dest.row_count("t").await.unwrap(), 0);
    let other = client().await;
    let n: i64 = other
        .query_one(
            &format!("SELECT count(*) FROM {}", dest.table_ref("t")),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    dest.rollback().await.unwrap();
    assert_eq!(dest.row_count("t").await.unwrap(), 2);

    // Truncate then reload (re-snapshot), with the same keys and older timestamps.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("b", 0, false)],
        vec![int("x", vec![Some(20)])],
    ))
    .await
    .unwrap();
    // ... and a widening after the truncate.
    dest.write(&batch(
        &s,
        &[("c", 0, false)],
        vec![text("x", vec![Some("s")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    let r = rows(&mut dest, "t").await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["x"], json!(20));
    assert_eq!(r[1]["x"], json!("s"));
}

#[tokio::test(flavor = "multi_thread")]
async fn component_tables_and_odd_names() {
    let (_schema, cfg, mut dest) = open().await;
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
        vec![
            int("we\"ird col", vec![Some(2)]),
            // Postgres keeps the case of quoted names: two columns.
            int("Name", vec![Some(3)]),
            int("name", vec![Some(4)]),
        ],
    ))
    .await
    .unwrap();
    // Same table name in another case: another table.
    dest.write(&batch(&StreamId::root("Users"), &[("a", 1, false)], vec![]))
        .await
        .unwrap();
    dest.write(&batch(&StreamId::root("users"), &[("b", 1, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(
        dest.tables().await.unwrap(),
        vec!["Users", "a/b/we\"ird name", "users", "waitlist/entries"]
    );
    assert_eq!(dest.row_count("waitlist/entries").await.unwrap(), 1);
    let r = &rows(&mut dest, "a/b/we\"ird name").await[0];
    assert_eq!(r["we\"ird col"], json!(2));
    assert_eq!(r["Name"], json!(3));
    assert_eq!(r["name"], json!(4));
    let name = dest.name();
    assert!(name.starts_with("postgres:"), "{name}");
    assert!(
        name.ends_with(&format!("(schema {})", cfg.schema)),
        "{name}"
    );
    assert_eq!(
        dest.table_ref("a\"b"),
        format!("\"{}\".\"a\"\"b\"", cfg.schema)
    );
    dest.check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn large_batches() {
    let (_schema, _cfg, mut dest) = open().await;
    let s = StreamId::root("big");
    let n = 50_000usize;
    let ids: Vec<String> = (0..n).map(|i| format!("id{i:06}")).collect();
    let revs: Vec<_> = ids.iter().map(|id| (id.as_str(), 1, false)).collect();
    let long = "x".repeat(1000);
    dest.write(&batch(
        &s,
        &revs,
        vec![
            int("i", (0..n as i64).map(Some).collect()),
            text(
                "s",
                (0..n)
                    .map(|i| (i % 7 != 0).then_some(long.as_str()))
                    .collect(),
            ),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(dest.row_count("big").await.unwrap(), n as u64);
    // Every other document deleted in one batch.
    let dels: Vec<_> = ids
        .iter()
        .step_by(2)
        .map(|id| (id.as_str(), 2, true))
        .collect();
    dest.write(&batch(&s, &dels, vec![])).await.unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(dest.row_count("big").await.unwrap(), n as u64 / 2);
    let sum = dest
        .query_json(&format!(
            "SELECT sum(i)::bigint AS s, count(s) AS c FROM {}",
            dest.table_ref("big")
        ))
        .await
        .unwrap();
    let odd_sum: i64 = (0..n as i64).filter(|i| i % 2 == 1).sum();
    assert_eq!(sum[0]["s"], json!(odd_sum));
    let with_s = (0..n).filter(|i| i % 2 == 1 && i % 7 != 0).count();
    assert_eq!(sum[0]["c"], json!(with_s));
}
