//! Batches buffered within a transaction and merged once: revisions across batches, widening
//! between buffered batches, truncate and rollback with buffered rows, the flush bound, append.
//! Nothing reads the tables before a commit here (a read merges the buffers first).
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::{Value, json};
use spillway_core::{Destination, StreamId, StreamMode, WriteMode};
use spillway_dest_duckdb::{BufferLimit, DuckDbDestination};

/// The default bound, one that merges after every batch, and one that appends every batch
/// that needs no merge at once.
const LIMITS: [BufferLimit; 3] = [
    BufferLimit {
        rows: 200_000,
        bytes: 32 << 20,
        append_bytes: 4 << 20,
    },
    BufferLimit {
        rows: 1,
        bytes: 1,
        append_bytes: 1,
    },
    BufferLimit {
        rows: 200_000,
        bytes: 32 << 20,
        append_bytes: 1,
    },
];

/// `(_id, _ts, _deleted or null, x, y)` of every row of `t`, by `_id` then `_ts`.
fn all_rows(dest: &mut DuckDbDestination) -> Vec<(String, i64, Value, Value, Value)> {
    dest.query_json("SELECT * FROM t ORDER BY _id, _ts")
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["_id"].as_str().unwrap().to_string(),
                r["_ts"].as_i64().unwrap(),
                r.get("_deleted").cloned().unwrap_or(json!(null)),
                r.get("x").cloned().unwrap_or(json!(null)),
                r.get("y").cloned().unwrap_or(json!(null)),
            )
        })
        .collect()
}

/// `(_id, _ts, x)` of every row of `t`, by `_id` then `_ts`.
fn id_ts_x(dest: &mut DuckDbDestination) -> Vec<(String, i64, Value)> {
    all_rows(dest)
        .into_iter()
        .map(|(id, ts, _, x, _)| (id, ts, x))
        .collect()
}

/// `(_id, _ts, x)` rows as [`id_ts_x`] returns them.
fn rows_of(rows: &[(&str, i64, i64)]) -> Vec<(String, i64, Value)> {
    rows.iter()
        .map(|(id, ts, x)| (id.to_string(), *ts, json!(x)))
        .collect()
}

/// One non-null Int64 column `x`.
fn x(v: &[i64]) -> Vec<Col> {
    vec![int("x", v.iter().map(|i| Some(*i)).collect())]
}

/// Writes one batch of `t`: `(_id, _ts, deleted)` rows with column `x`.
async fn put(dest: &mut DuckDbDestination, revs: &[(&str, i64, bool)], xs: &[i64]) {
    dest.write(&batch(&StreamId::root("t"), revs, x(xs)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn revisions_across_batches_latest_wins() {
    for limit in LIMITS {
        let (_dir, cfg, mut dest) = open();
        dest.set_buffer_limit(limit);
        let s = StreamId::root("t");
        dest.write(&batch(
            &s,
            &[("a", 10, false), ("d", 10, false)],
            vec![int("x", vec![Some(1), Some(4)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();

        // One transaction of several batches with revisions of the same ids.
        dest.write(&batch(
            &s,
            &[("a", 20, false), ("b", 5, false), ("d", 5, true)],
            vec![int("x", vec![Some(2), Some(5), None])],
        ))
        .await
        .unwrap();
        // Older than the revision buffered before (and than `d`'s row): ignored.
        dest.write(&batch(
            &s,
            &[("a", 15, false), ("b", 6, true)],
            vec![int("x", vec![Some(99), None])],
        ))
        .await
        .unwrap();
        // Same `_ts` as the buffered revision: the later one wins.
        dest.write(&batch(
            &s,
            &[("a", 20, false), ("c", 1, false)],
            vec![int("x", vec![Some(3), Some(7)])],
        ))
        .await
        .unwrap();
        // A new column (the table widens between buffered batches) and a revision without
        // `x`: the whole row is replaced, `x` becomes NULL.
        dest.write(&batch(
            &s,
            &[("c", 2, false)],
            vec![text("y", vec![Some("hi")])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        drop(dest);

        let mut dest = DuckDbDestination::open(&cfg).unwrap();
        assert_eq!(
            all_rows(&mut dest),
            vec![
                ("a".into(), 20, json!(null), json!(3), json!(null)),
                ("c".into(), 2, json!(null), json!(null), json!("hi")),
                ("d".into(), 10, json!(null), json!(4), json!(null)),
            ],
            "{limit:?}"
        );
    }
}

/// Batches whose `_id`s strictly ascend (a snapshot's pages) are inserted straight from the
/// staging table only when the table holds no `_id` at or after their first one; otherwise
/// they merge like any other rows (no duplicate `_id`, no revision moved back in time).
#[tokio::test(flavor = "multi_thread")]
async fn ascending_ids_merge_like_any_other_rows() {
    for limit in LIMITS {
        let (_dir, _cfg, mut dest) = open();
        dest.set_buffer_limit(limit);
        let s = StreamId::root("t");
        dest.write(&batch(
            &s,
            &[("b", 10, false), ("d", 10, false)],
            x(&[1, 2]),
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();
        // Ascending, but the table holds `d`, after `c`: merged, `d` replaced once.
        dest.write(&batch(
            &s,
            &[("c", 20, false), ("d", 20, false), ("e", 20, false)],
            x(&[3, 4, 5]),
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        // Ascending across two batches and after every `_id` in the table: inserted; the
        // tombstone among them has nothing to delete.
        dest.write(&batch(&s, &[("f", 30, false), ("g", 30, true)], x(&[6, 0])))
            .await
            .unwrap();
        dest.write(&batch(&s, &[("h", 30, false)], x(&[8])))
            .await
            .unwrap();
        dest.commit(&key(), &checkpoint(3)).await.unwrap();
        // An older revision of the last `_id`, alone (so ascending): ignored, as always.
        dest.write(&batch(&s, &[("h", 1, false)], x(&[99])))
            .await
            .unwrap();
        dest.commit(&key(), &checkpoint(4)).await.unwrap();
        assert_eq!(
            id_ts_x(&mut dest),
            rows_of(&[
                ("b", 10, 1),
                ("c", 20, 3),
                ("d", 20, 4),
                ("e", 20, 5),
                ("f", 30, 6),
                ("h", 30, 8),
            ]),
            "limit {limit:?}"
        );
    }
}

/// Soft delete: a tombstone keeps the columns of the live revision batch-by-batch merges would
/// have stored before it — not of a live revision in the tombstone's own batch (a batch keeps
/// only its latest revision), nor of one older than a tombstone before it — wherever the
/// buffer bound falls.
#[tokio::test(flavor = "multi_thread")]
async fn soft_delete_tombstones_keep_what_batch_by_batch_merges_stored() {
    for limit in LIMITS {
        let (_dir, _cfg, mut dest) = open_with(all(StreamMode::soft_delete()));
        dest.set_buffer_limit(limit);
        let s = StreamId::root("t");
        let x = |v: &[Option<i64>]| vec![int("x", v.to_vec())];
        // One batch: `a` live then deleted → the batch's latest is the tombstone alone.
        dest.write(&batch(
            &s,
            &[("a", 5, false), ("a", 6, true)],
            x(&[Some(1), None]),
        ))
        .await
        .unwrap();
        // `b` deleted, then an older live revision replayed in a later batch (ignored), then
        // a newer tombstone; `c` live, deleted, then deleted again.
        dest.write(&batch(
            &s,
            &[("b", 6, true), ("c", 5, false)],
            x(&[None, Some(3)]),
        ))
        .await
        .unwrap();
        dest.write(&batch(
            &s,
            &[("b", 5, false), ("c", 6, true)],
            x(&[Some(2), None]),
        ))
        .await
        .unwrap();
        dest.write(&batch(
            &s,
            &[("b", 7, true), ("c", 7, true)],
            x(&[None, None]),
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();
        let got: Vec<(String, i64, Value, Value)> = all_rows(&mut dest)
            .into_iter()
            .map(|(id, ts, del, x, _)| (id, ts, del, x))
            .collect();
        let want = vec![
            ("a".to_string(), 6, json!(true), json!(null)),
            ("b".to_string(), 7, json!(true), json!(null)),
            ("c".to_string(), 7, json!(true), json!(3)),
        ];
        assert_eq!(got, want, "limit {limit:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn widening_between_buffered_batches_is_exact() {
    for limit in LIMITS {
        let (_dir, _cfg, mut dest) = open();
        dest.set_buffer_limit(limit);
        let s = StreamId::root("t");
        dest.write(&batch(
            &s,
            &[("a", 1, false)],
            vec![int("x", vec![Some(1)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();

        // A big integer buffered (not in the table yet), then a Float64 batch: a DOUBLE would
        // round the integer, so the column becomes JSON.
        let big = (1_i64 << 53) + 1;
        dest.write(&batch(
            &s,
            &[("b", 2, false)],
            vec![int("x", vec![Some(big)])],
        ))
        .await
        .unwrap();
        dest.write(&batch(
            &s,
            &[("c", 3, false)],
            vec![float("x", vec![Some(1.5)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();

        let x_type = columns(&mut dest, "t")
            .into_iter()
            .find(|(n, _)| n == "x")
            .unwrap()
            .1;
        assert_eq!(x_type, "JSON", "{limit:?}");
        assert_eq!(stored_text(&mut dest, "t", "x", "a").as_deref(), Some("1"));
        assert_eq!(
            stored_text(&mut dest, "t", "x", "b").as_deref(),
            Some("9007199254740993"),
            "{limit:?}"
        );
        assert_eq!(
            stored_text(&mut dest, "t", "x", "c").as_deref(),
            Some("1.5")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn truncate_after_buffered_rows() {
    for soft in [false, true] {
        let mode = if soft {
            StreamMode::soft_delete()
        } else {
            StreamMode::new(WriteMode::Upsert)
        };
        let (_dir, _cfg, mut dest) = open_with(all(mode));
        let s = StreamId::root("t");
        dest.write(&batch(
            &s,
            &[("a", 1, false)],
            vec![int("x", vec![Some(1)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();

        dest.write(&batch(
            &s,
            &[("b", 2, false)],
            vec![int("x", vec![Some(2)])],
        ))
        .await
        .unwrap();
        dest.truncate(&s).await.unwrap();
        dest.write(&batch(
            &s,
            &[("c", 3, false)],
            vec![int("x", vec![Some(3)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();

        let want = if soft {
            vec![
                ("a".into(), 1, json!(true), json!(1), json!(null)),
                ("b".into(), 2, json!(true), json!(2), json!(null)),
                ("c".into(), 3, json!(false), json!(3), json!(null)),
            ]
        } else {
            vec![("c".into(), 3, json!(null), json!(3), json!(null))]
        };
        assert_eq!(all_rows(&mut dest), want, "soft_delete = {soft}");
    }
}

/// Rows appended early ([`BufferLimit::append_bytes`]) are in the table before the commit,
/// inside the transaction: later batches of the same transaction merge against them — a newer
/// revision replaces one, an older one is ignored, a tombstone deletes one — and once the
/// table holds an `_id` at or after a batch's first one, that batch waits for the merge.
#[tokio::test(flavor = "multi_thread")]
async fn rows_appended_early_merge_with_the_rest_of_their_transaction() {
    for limit in LIMITS {
        let (_dir, _cfg, mut dest) = open();
        dest.set_buffer_limit(limit);
        put(&mut dest, &[("a", 10, false), ("b", 10, false)], &[1, 2]).await;
        dest.commit(&key(), &checkpoint(1)).await.unwrap();

        // Ascending and after every `_id`: appended at once with `append_bytes: 1`.
        put(&mut dest, &[("c", 20, false), ("d", 20, false)], &[3, 4]).await;
        put(&mut dest, &[("e", 20, false)], &[5]).await;
        // Not ascending: a newer revision of `d`, an older one of `c`.
        put(&mut dest, &[("d", 30, false), ("c", 5, false)], &[40, 99]).await;
        // Ascending, but the table holds `e` (appended early): merged, `e` deleted.
        put(&mut dest, &[("e", 25, true)], &[0]).await;
        // Ascending and after every `_id`, after a refusal in this transaction.
        put(&mut dest, &[("f", 20, false)], &[6]).await;
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        assert_eq!(
            id_ts_x(&mut dest),
            rows_of(&[
                ("a", 10, 1),
                ("b", 10, 2),
                ("c", 20, 3),
                ("d", 30, 40),
                ("f", 20, 6),
            ]),
            "limit {limit:?}"
        );
    }
}

/// After rows were appended early, a merge into the same table makes the next ascending rows
/// check the table again: the merge may have stored `_id`s after the appended ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_merge_after_rows_appended_early_is_seen_by_the_next_ones() {
    for limit in LIMITS {
        let (_dir, _cfg, mut dest) = open();
        dest.set_buffer_limit(limit);
        put(&mut dest, &[("a", 10, false)], &[1]).await;
        dest.commit(&key(), &checkpoint(1)).await.unwrap();

        // Appended early (with `append_bytes: 1`): the table now ends at `d`.
        put(&mut dest, &[("c", 20, false), ("d", 20, false)], &[3, 4]).await;
        // Not ascending: merged; stores `z`, after `d`.
        put(&mut dest, &[("z", 20, false), ("b", 20, false)], &[26, 2]).await;
        // Ascending and after `d`, but not after `z`: must merge, not append.
        put(&mut dest, &[("e", 20, false), ("z", 30, false)], &[5, 260]).await;
        // Ascending and after every `_id`.
        put(&mut dest, &[("zz", 20, false)], &[27]).await;
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        assert_eq!(
            id_ts_x(&mut dest),
            rows_of(&[
                ("a", 10, 1),
                ("b", 20, 2),
                ("c", 20, 3),
                ("d", 20, 4),
                ("e", 20, 5),
                ("z", 30, 260),
                ("zz", 20, 27),
            ]),
            "limit {limit:?}"
        );
    }
}

/// Buffered rows and rows appended early alike are gone after a rollback.
#[tokio::test(flavor = "multi_thread")]
async fn rollback_discards_buffered_rows() {
    for limit in LIMITS {
        let (_dir, _cfg, mut dest) = open();
        dest.set_buffer_limit(limit);
        let s = StreamId::root("t");
        dest.write(&batch(
            &s,
            &[("a", 1, false)],
            vec![int("x", vec![Some(1)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();

        // After every `_id`: appended at once with `append_bytes: 1`.
        dest.write(&batch(
            &s,
            &[("m", 4, false)],
            vec![int("x", vec![Some(4)])],
        ))
        .await
        .unwrap();
        dest.write(&batch(
            &s,
            &[("a", 5, false), ("b", 2, false)],
            vec![int("x", vec![Some(50), Some(2)])],
        ))
        .await
        .unwrap();
        dest.rollback().await.unwrap();
        dest.write(&batch(
            &s,
            &[("c", 3, false)],
            vec![int("x", vec![Some(3)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        assert_eq!(
            all_rows(&mut dest),
            vec![
                ("a".into(), 1, json!(null), json!(1), json!(null)),
                ("c".into(), 3, json!(null), json!(3), json!(null)),
            ],
            "limit {limit:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn append_across_batches() {
    for limit in LIMITS {
        let (_dir, _cfg, mut dest) = open_with(all(StreamMode::new(WriteMode::Append)));
        dest.set_buffer_limit(limit);
        let s = StreamId::root("t");
        let b1 = batch(
            &s,
            &[("a", 1, false), ("a", 2, false)],
            vec![int("x", vec![Some(1), Some(2)])],
        );
        dest.write(&b1).await.unwrap();
        // The same (_id, _ts) again in a later batch is skipped, as with a merge per batch;
        // within one batch the last one is kept.
        dest.write(&batch(
            &s,
            &[("a", 2, false), ("a", 3, false), ("a", 3, true)],
            vec![int("x", vec![Some(20), Some(30), None])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();
        // A replay in a later transaction adds nothing.
        dest.write(&b1).await.unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        assert_eq!(
            all_rows(&mut dest),
            vec![
                ("a".into(), 1, json!(false), json!(1), json!(null)),
                ("a".into(), 2, json!(false), json!(2), json!(null)),
                ("a".into(), 3, json!(true), json!(null), json!(null)),
            ],
            "{limit:?}"
        );
    }
}

/// Rows appended straight to the table (ascending `_id`s after every `_id` it holds) keep JSON
/// text as the merge stores it, in a component table, with NULLs for the columns a batch lacks.
#[tokio::test(flavor = "multi_thread")]
async fn rows_appended_straight_to_the_table_are_typed_like_merged_rows() {
    let (_dir, _cfg, mut dest) = open();
    let s = StreamId::new("waitlist", "entries");
    let doc = r#"{"a":[1,{"b":"é"}],"n":1.5e300}"#;
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![json("j", vec![Some(doc)]), text("t", vec![Some("x")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    // After every `_id` of the table: appended, without the column `t`.
    dest.write(&batch(
        &s,
        &[("b", 2, false)],
        vec![json("j", vec![Some(doc)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    let table = "waitlist/entries";
    assert_eq!(columns(&mut dest, table)[3], ("j".into(), "JSON".into()));
    for id in ["a", "b"] {
        assert_eq!(stored_text(&mut dest, table, "j", id).as_deref(), Some(doc));
    }
    assert_eq!(stored_text(&mut dest, table, "t", "b"), None);
    assert_keyed_by_id(&mut dest, table);
}
