//! Full reloads through a reload copy (`replace`, `overwrite-delete-stale`): crashes mid-reload,
//! rollbacks, `finish` rules, names with `/`, and JSON widening at the merge.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::json;
use spillway_core::{Destination, ErrorKind, StreamId, StreamMode, WriteMode};
use spillway_dest_duckdb::DuckDbDestination;

fn ids(dest: &mut DuckDbDestination, table: &str) -> Vec<(String, serde_json::Value)> {
    rows(dest, table)
        .into_iter()
        .map(|r| (r["_id"].as_str().unwrap().to_string(), r["x"].clone()))
        .collect()
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, serde_json::Value)> {
    v.iter().map(|(i, x)| (i.to_string(), json!(x))).collect()
}

/// A committed first load of `a`, `b`, `c` (x = 1, 2, 3), finished.
async fn baseline(dest: &mut DuckDbDestination, s: &StreamId) {
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

async fn crash_mid_reload(mode: WriteMode) {
    let (_dir, cfg, mut dest) = open_with(all(StreamMode::new(mode)));
    let s = StreamId::new("waitlist", "entries");
    let table = "waitlist/entries";
    let copy = "_spillway_reload_waitlist/entries";
    baseline(&mut dest, &s).await;
    assert_eq!(
        ids(&mut dest, table),
        pairs(&[("a", 1), ("b", 2), ("c", 3)])
    );

    // A reload: one page committed, the next written but not committed, then a crash.
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 2, false)],
        vec![int("x", vec![Some(10)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    dest.write(&batch(
        &s,
        &[("c", 2, false)],
        vec![int("x", vec![Some(30)])],
    ))
    .await
    .unwrap();
    drop(dest);

    // The reopened destination: the table still holds the old rows, the copy the committed
    // page, and the copy is not a user table.
    let mut dest = DuckDbDestination::open(&cfg).unwrap();
    assert_eq!(
        ids(&mut dest, table),
        pairs(&[("a", 1), ("b", 2), ("c", 3)])
    );
    assert_eq!(ids(&mut dest, copy), pairs(&[("a", 10)]));
    assert_eq!(dest.tables().unwrap(), vec![table]);
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 2})
    );

    // The run resumes from the checkpoint: the rest of the reload goes to the copy.
    dest.write(&batch(
        &s,
        &[("c", 2, false), ("c", 3, true), ("d", 3, false)],
        vec![int("x", vec![Some(30), None, Some(40)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    assert_eq!(
        ids(&mut dest, table),
        pairs(&[("a", 1), ("b", 2), ("c", 3)])
    );
    dest.finish().await.unwrap();
    // `b` and `c` are gone (not in the reload / deleted during it).
    assert_eq!(ids(&mut dest, table), pairs(&[("a", 10), ("d", 40)]));
    assert_eq!(dest.tables().unwrap(), vec![table]);
    assert_eq!(dest.row_count(copy).ok(), None, "copy left behind");
    // A second finish has nothing to do.
    dest.finish().await.unwrap();

    // The key holds and stays recorded after the swap/merge.
    assert_keyed_by_id(&mut dest, table);
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_crash_mid_reload_continues() {
    crash_mid_reload(WriteMode::Replace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_delete_stale_crash_mid_reload_continues() {
    crash_mid_reload(WriteMode::OverwriteDeleteStale).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn finish_in_a_later_run_completes_the_reload() {
    let (_dir, cfg, mut dest) = open_with(all(StreamMode::new(WriteMode::Replace)));
    let s = StreamId::root("t");
    baseline(&mut dest, &s).await;
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("z", 5, false)],
        vec![int("x", vec![Some(26)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    drop(dest);
    let mut dest = DuckDbDestination::open(&cfg).unwrap();
    dest.finish().await.unwrap();
    assert_eq!(ids(&mut dest, "t"), pairs(&[("z", 26)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_discards_the_reload() {
    for mode in [WriteMode::Replace, WriteMode::OverwriteDeleteStale] {
        let (_dir, _cfg, mut dest) = open_with(all(StreamMode::new(mode)));
        let s = StreamId::root("t");
        baseline(&mut dest, &s).await;
        dest.truncate(&s).await.unwrap();
        dest.write(&batch(
            &s,
            &[("z", 5, false)],
            vec![int("x", vec![Some(26)])],
        ))
        .await
        .unwrap();
        dest.rollback().await.unwrap();
        dest.finish().await.unwrap();
        assert_eq!(ids(&mut dest, "t"), pairs(&[("a", 1), ("b", 2), ("c", 3)]));
        // Without a reload copy, writes are upserts into the table.
        dest.write(&batch(
            &s,
            &[("b", 5, true), ("z", 5, false)],
            vec![int("x", vec![None, Some(26)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        assert_eq!(
            ids(&mut dest, "t"),
            pairs(&[("a", 1), ("c", 3), ("z", 26)]),
            "{mode}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn finish_with_uncommitted_writes_is_refused() {
    let (_dir, _cfg, mut dest) = open_with(all(StreamMode::new(WriteMode::Replace)));
    let s = StreamId::root("t");
    baseline(&mut dest, &s).await;
    dest.truncate(&s).await.unwrap();
    let e = dest.finish().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
    assert!(e.message.contains("uncommitted"), "{e}");
    // The transaction is still usable.
    dest.write(&batch(
        &s,
        &[("z", 5, false)],
        vec![int("x", vec![Some(26)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    dest.finish().await.unwrap();
    assert_eq!(ids(&mut dest, "t"), pairs(&[("z", 26)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_delete_stale_widens_to_json_at_the_merge() {
    let (_dir, _cfg, mut dest) = open_with(all(StreamMode::new(WriteMode::OverwriteDeleteStale)));
    let s = StreamId::root("t");
    baseline(&mut dest, &s).await;
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 2, false)],
        vec![int("x", vec![Some(5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    // In a later transaction of the reload, `x` becomes JSON and `y` appears.
    dest.write(&batch(
        &s,
        &[("b", 2, false)],
        vec![text("x", vec![Some("two")]), boolean("y", vec![Some(true)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    dest.finish().await.unwrap();
    let r = rows(&mut dest, "t");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["x"], json!(5));
    assert_eq!(r[1]["x"], json!("two"));
    assert_eq!(r[1]["y"], json!(true));
    let cols = columns(&mut dest, "t");
    assert_eq!(cols[3], ("x".to_string(), "JSON".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn several_reloads_finish_together() {
    let modes = all(StreamMode::new(WriteMode::Replace))
        .with_stream("m", StreamMode::new(WriteMode::OverwriteDeleteStale))
        .with_stream("u", StreamMode::default());
    let (_dir, _cfg, mut dest) = open_with(modes);
    let (r, m, u) = (
        StreamId::root("r"),
        StreamId::root("m"),
        StreamId::root("u"),
    );
    for s in [&r, &m, &u] {
        baseline(&mut dest, s).await;
    }
    for s in [&r, &m, &u] {
        dest.truncate(s).await.unwrap();
        dest.write(&batch(s, &[("q", 9, false)], vec![int("x", vec![Some(9)])]))
            .await
            .unwrap();
    }
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    // The upsert stream was emptied and reloaded at once; the others wait for finish.
    assert_eq!(ids(&mut dest, "u"), pairs(&[("q", 9)]));
    assert_eq!(ids(&mut dest, "r").len(), 3);
    assert_eq!(ids(&mut dest, "m").len(), 3);
    dest.finish().await.unwrap();
    for t in ["r", "m", "u"] {
        assert_eq!(ids(&mut dest, t), pairs(&[("q", 9)]), "{t}");
    }
    assert_eq!(dest.tables().unwrap(), vec!["m", "r", "u"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_truncate_empties_the_copy_and_columns_change_after_writes() {
    for mode in [WriteMode::Replace, WriteMode::OverwriteDeleteStale] {
        let (_dir, cfg, mut dest) = open_with(all(StreamMode::new(mode)));
        let s = StreamId::root("t");
        baseline(&mut dest, &s).await;
        dest.truncate(&s).await.unwrap();
        dest.write(&batch(
            &s,
            &[("y", 5, false)],
            vec![int("x", vec![Some(25)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        drop(dest);
        let mut dest = DuckDbDestination::open(&cfg).unwrap();
        // The source restarts its snapshot: the copy starts over.
        dest.truncate(&s).await.unwrap();
        dest.write(&batch(
            &s,
            &[("z", 5, false)],
            vec![int("x", vec![Some(26)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(3)).await.unwrap();
        // Writes to the (committed) copy, then new and widened columns in the same
        // transaction: the copy is rebuilt rather than altered after writes.
        dest.write(&batch(
            &s,
            &[("z", 6, false)],
            vec![int("x", vec![Some(27)])],
        ))
        .await
        .unwrap();
        dest.write(&batch(
            &s,
            &[("w", 6, false)],
            vec![float("x", vec![Some(0.5)]), text("n", vec![Some("new")])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(4)).await.unwrap();
        assert_eq!(ids(&mut dest, "t").len(), 3, "{mode}");
        dest.finish().await.unwrap();
        let r = rows(&mut dest, "t");
        assert_eq!(r.len(), 2, "{mode}: {r:?}");
        assert_eq!(r[0]["_id"], json!("w"));
        assert_eq!(r[0]["n"], json!("new"));
        assert_eq!(r[1]["_id"], json!("z"));
        assert_eq!(r[1]["x"], json!(27.0));
        assert_keyed_by_id(&mut dest, "t");
    }
}
