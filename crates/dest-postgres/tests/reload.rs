//! Reload copies (`replace`, `overwrite-delete-stale`): readers see the old rows until
//! `finish`, a reload interrupted by a crash continues, rollback discards, copies stay hidden,
//! and `finish` refuses to sweep uncommitted writes into its transaction.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::{Value, json};
use spillway_core::{Destination, ErrorKind, StreamId, StreamMode, WriteMode, WriteModes};
use spillway_dest_postgres::PostgresDestination;

fn modes(mode: WriteMode) -> WriteModes {
    WriteModes::all(StreamMode::new(mode))
}

fn expect(v: &[(&str, i64, Value)]) -> Vec<(String, i64, Value)> {
    v.iter()
        .map(|(id, ts, x)| (id.to_string(), *ts, x.clone()))
        .collect()
}

/// A first full sync of `users`: a, b, c at ts 1 with x = 1, 2, 3, finished.
async fn first_sync(dest: &mut PostgresDestination, s: &StreamId) {
    dest.truncate(s).await.unwrap();
    dest.write(&batch(
        s,
        &[("a", 1, false), ("b", 1, false), ("c", 1, false)],
        vec![int("x", vec![Some(1), Some(2), Some(3)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    dest.finish().await.unwrap();
}

fn old_rows() -> Vec<(String, i64, Value)> {
    expect(&[("a", 1, json!(1)), ("b", 1, json!(2)), ("c", 1, json!(3))])
}

async fn readers_see_old_rows_until_finish(mode: WriteMode) {
    let (schema, _cfg, mut dest) = open_with(modes(mode)).await;
    let s = StreamId::root("users");
    first_sync(&mut dest, &s).await;
    assert_eq!(reader_view(&schema.name, "users").await, old_rows());

    // The second full sync: b is gone, a changed, d is new.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 5, false), ("c", 5, false), ("d", 5, false)],
        vec![int("x", vec![Some(10), Some(30), Some(40)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    // Committed, but readers (and `tables()`) still see the old table.
    assert_eq!(reader_view(&schema.name, "users").await, old_rows());
    assert_eq!(dest.tables().await.unwrap(), vec!["users"]);
    assert_eq!(
        reader_view(&schema.name, "_spillway_reload_users")
            .await
            .len(),
        3
    );

    dest.finish().await.unwrap();
    let new = expect(&[
        ("a", 5, json!(10)),
        ("c", 5, json!(30)),
        ("d", 5, json!(40)),
    ]);
    assert_eq!(reader_view(&schema.name, "users").await, new);
    assert_eq!(
        reader_view(&schema.name, "_spillway_reload_users").await,
        vec![]
    );
    assert_eq!(dest.tables().await.unwrap(), vec!["users"]);
    // Writes after the finish go to the table again.
    dest.write(&batch(
        &s,
        &[("e", 6, false)],
        vec![int("x", vec![Some(5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(reader_view(&schema.name, "users").await.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_readers_see_old_rows_until_finish() {
    readers_see_old_rows_until_finish(WriteMode::Replace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_delete_stale_readers_see_old_rows_until_finish() {
    readers_see_old_rows_until_finish(WriteMode::OverwriteDeleteStale).await;
}

async fn crash_mid_reload_continues(mode: WriteMode) {
    let (schema, cfg, mut dest) = open_with(modes(mode)).await;
    let s = StreamId::root("users");
    first_sync(&mut dest, &s).await;

    // The reload starts, commits a page, then the process dies with a page uncommitted.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 5, false)],
        vec![int("x", vec![Some(10)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    dest.write(&batch(
        &s,
        &[("zz", 5, false)],
        vec![int("x", vec![Some(0)])],
    ))
    .await
    .unwrap();
    drop(dest);

    // The rerun resumes from checkpoint 2 (no truncate: the reload is under way) and writes
    // the rest, with a widening.
    let mut dest = connect(&cfg).await;
    assert_eq!(dest.tables().await.unwrap(), vec!["users"]);
    assert_eq!(reader_view(&schema.name, "users").await, old_rows());
    dest.write(&batch(
        &s,
        &[("d", 6, false)],
        vec![float("x", vec![Some(4.5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(reader_view(&schema.name, "users").await, old_rows());
    dest.finish().await.unwrap();
    assert_eq!(
        reader_view(&schema.name, "users").await,
        expect(&[("a", 5, json!(10)), ("d", 6, json!(4.5))])
    );
    assert_eq!(
        columns(&mut dest, "users").await,
        [
            "_id text",
            "_creationTime double precision",
            "_ts bigint",
            "x double precision"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_crash_mid_reload_continues() {
    crash_mid_reload_continues(WriteMode::Replace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_delete_stale_crash_mid_reload_continues() {
    crash_mid_reload_continues(WriteMode::OverwriteDeleteStale).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_the_last_commit_and_finish_is_completed_by_the_next_finish() {
    let (schema, cfg, mut dest) = open_with(modes(WriteMode::Replace)).await;
    let s = StreamId::root("users");
    first_sync(&mut dest, &s).await;
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(&s, &[("n", 9, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    drop(dest);
    let mut dest = connect(&cfg).await;
    assert_eq!(reader_view(&schema.name, "users").await, old_rows());
    dest.finish().await.unwrap();
    assert_eq!(
        reader_view(&schema.name, "users").await,
        expect(&[("n", 9, Value::Null)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_discards_the_reload() {
    let (schema, _cfg, mut dest) = open_with(modes(WriteMode::Replace)).await;
    let s = StreamId::root("users");
    first_sync(&mut dest, &s).await;
    // A reload begun and rolled back leaves no copy: finish changes nothing.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(&s, &[("z", 9, false)], vec![]))
        .await
        .unwrap();
    dest.rollback().await.unwrap();
    assert_eq!(
        reader_view(&schema.name, "_spillway_reload_users").await,
        vec![]
    );
    dest.finish().await.unwrap();
    assert_eq!(reader_view(&schema.name, "users").await, old_rows());
    // A write rolled back out of a committed copy leaves the copy as committed.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(&s, &[("k", 9, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    dest.write(&batch(
        &s,
        &[("z", 9, false)],
        vec![text("y", vec![Some("s")])],
    ))
    .await
    .unwrap();
    dest.rollback().await.unwrap();
    dest.finish().await.unwrap();
    assert_eq!(
        reader_view(&schema.name, "users").await,
        expect(&[("k", 9, Value::Null)])
    );
    assert_eq!(columns(&mut dest, "users").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn finish_refuses_an_open_transaction_and_is_a_no_op_without_copies() {
    let (schema, _cfg, mut dest) = open_with(modes(WriteMode::Replace)).await;
    let s = StreamId::root("users");
    // No copy, no transaction: nothing happens.
    dest.finish().await.unwrap();
    first_sync(&mut dest, &s).await;
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(&s, &[("z", 9, false)], vec![]))
        .await
        .unwrap();
    let e = dest.finish().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal, "{e}");
    assert!(e.message.contains("transaction open"), "{e}");
    // The open transaction is untouched by the refusal: it still commits.
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(reader_view(&schema.name, "users").await, old_rows());
    dest.finish().await.unwrap();
    assert_eq!(
        reader_view(&schema.name, "users").await,
        expect(&[("z", 9, Value::Null)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_copies_are_hidden_and_tables_created_by_a_first_reload_appear_at_finish() {
    let (schema, _cfg, mut dest) = open_with(modes(WriteMode::OverwriteDeleteStale)).await;
    let s = StreamId::root("fresh");
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(dest.tables().await.unwrap(), Vec::<String>::new());
    assert_eq!(reader_view(&schema.name, "fresh").await, vec![]);
    dest.finish().await.unwrap();
    assert_eq!(dest.tables().await.unwrap(), vec!["fresh"]);
    assert_eq!(
        reader_view(&schema.name, "fresh").await,
        expect(&[("a", 1, json!(1))])
    );
    // Without a reload, overwrite-delete-stale writes are plain upserts into the table.
    dest.write(&batch(&s, &[("a", 2, true), ("b", 2, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(
        reader_view(&schema.name, "fresh").await,
        expect(&[("b", 2, Value::Null)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_copy_names_postgres_would_truncate_are_refused() {
    let (_schema, _cfg, mut dest) = open_with(modes(WriteMode::Replace)).await;
    let name = "t".repeat(47);
    let e = dest.truncate(&StreamId::root(&name)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data, "{e}");
    assert!(e.message.contains(&format!("table {name:?}")), "{e}");
    assert!(e.message.contains("63 bytes"), "{e}");
    dest.rollback().await.unwrap();
    // 46 bytes fit.
    let ok = StreamId::root("t".repeat(46));
    dest.truncate(&ok).await.unwrap();
    dest.write(&batch(&ok, &[("a", 1, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    dest.finish().await.unwrap();
    assert_eq!(dest.tables().await.unwrap(), vec!["t".repeat(46)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_delete_stale_merge_widens_both_sides_exactly() {
    let (schema, _cfg, mut dest) = open_with(modes(WriteMode::OverwriteDeleteStale)).await;
    let s = StreamId::root("users");
    // The table holds a big integer and a column the reload will not see.
    dest.write(&batch(
        &s,
        &[("a", 1, false), ("b", 1, false)],
        vec![
            int("x", vec![Some(1 << 60), Some(2)]),
            text("old", vec![Some("o"), Some("p")]),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    // The reload sees x as a float: bigint ⊔ double with a big integer is JSON.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("b", 2, false), ("c", 2, false)],
        vec![float("x", vec![Some(2.5), Some(-0.0)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    dest.finish().await.unwrap();
    assert_eq!(
        columns(&mut dest, "users").await,
        [
            "_id text",
            "_creationTime double precision",
            "_ts bigint",
            "x json",
            "old text"
        ]
    );
    assert_eq!(
        stored_text(&mut dest, "users", "x", "b").await.as_deref(),
        Some("2.5")
    );
    assert_eq!(
        stored_text(&mut dest, "users", "x", "c").await.as_deref(),
        Some(r#"{"$float":"AAAAAAAAAIA="}"#)
    );
    let r = rows(&mut dest, "users").await;
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0]["old"], Value::Null, "{r:?}");
    let _ = schema;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_left_by_an_earlier_mode_is_left_alone() {
    let (schema, cfg, mut dest) = open_with(modes(WriteMode::Replace)).await;
    let s = StreamId::root("users");
    first_sync(&mut dest, &s).await;
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(&s, &[("n", 9, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    drop(dest);
    // The stream is now configured as upsert: writes go to the table, finish keeps the copy.
    let mut dest = connect(&cfg.with_modes(modes(WriteMode::Upsert))).await;
    dest.write(&batch(&s, &[("u", 10, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    dest.finish().await.unwrap();
    let mut want = old_rows();
    want.push(("u".into(), 10, Value::Null));
    assert_eq!(reader_view(&schema.name, "users").await, want);
    assert_eq!(
        reader_view(&schema.name, "_spillway_reload_users").await,
        expect(&[("n", 9, Value::Null)])
    );
    assert_eq!(dest.tables().await.unwrap(), vec!["users"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_finish_rolls_back_every_swap() {
    let (schema, _cfg, mut dest) = open_with(modes(WriteMode::Replace)).await;
    let (a, b) = (StreamId::root("a"), StreamId::root("b"));
    first_sync(&mut dest, &a).await;
    first_sync(&mut dest, &b).await;
    for s in [&a, &b] {
        dest.truncate(s).await.unwrap();
        dest.write(&batch(s, &[("n", 9, false)], vec![]))
            .await
            .unwrap();
    }
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    // A view on `b` makes dropping it fail, after `a` was swapped in the same transaction.
    let admin = client().await;
    let view = format!("\"{}\".\"b_view\"", schema.name);
    admin
        .batch_execute(&format!(
            "CREATE VIEW {view} AS SELECT * FROM \"{}\".\"b\"",
            schema.name
        ))
        .await
        .unwrap();
    let e = dest.finish().await.unwrap_err();
    assert!(e.message.contains("\"b\""), "{e}");
    for t in ["a", "b"] {
        assert_eq!(reader_view(&schema.name, t).await, old_rows(), "{t}");
    }
    assert_eq!(dest.tables().await.unwrap(), vec!["a", "b"]);
    // Once the view is gone, the next finish completes both.
    admin
        .batch_execute(&format!("DROP VIEW {view}"))
        .await
        .unwrap();
    dest.finish().await.unwrap();
    for t in ["a", "b"] {
        assert_eq!(
            reader_view(&schema.name, t).await,
            expect(&[("n", 9, Value::Null)]),
            "{t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_delete_stale_leaves_unchanged_revisions_alone() {
    let (schema, _cfg, mut dest) = open_with(modes(WriteMode::OverwriteDeleteStale)).await;
    let s = StreamId::root("users");
    first_sync(&mut dest, &s).await;
    let xmin = |id: &'static str| {
        let schema = schema.name.clone();
        async move {
            client()
                .await
                .query_one(
                    &format!("SELECT xmin::text FROM \"{schema}\".\"users\" WHERE _id = $1"),
                    &[&id],
                )
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    let (a_before, b_before) = (xmin("a").await, xmin("b").await);
    // The next full refresh sees a unchanged (same _ts), b changed, c gone.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 1, false), ("b", 7, false)],
        vec![int("x", vec![Some(1), Some(20)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    dest.finish().await.unwrap();
    assert_eq!(
        reader_view(&schema.name, "users").await,
        expect(&[("a", 1, json!(1)), ("b", 7, json!(20))])
    );
    assert_eq!(xmin("a").await, a_before);
    assert_ne!(xmin("b").await, b_before);
}
