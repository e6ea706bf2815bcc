//! Snapshot, then rounds of random transactions (inserts, updates that add, drop and retype
//! fields, deletes, delete + re-insert, transactions larger than a page, several tables and a
//! component at once), each followed by an incremental sync that must leave DuckDB equal to
//! the emulator's live state with no duplicate `_id`. Also: writes while a snapshot is read.

#![allow(clippy::unwrap_used)]

use spillway_convex_protocol::Value;
use spillway_emulator::EmulatorConfig;
use spillway_testkit::Fixture;
use spillway_testkit::docs::s;
use spillway_testkit::random::{Rng, live_ids, random_tx};

#[tokio::test(flavor = "multi_thread")]
async fn random_mutation_rounds_stay_equal() {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 7,
        deltas_page_limit: 5,
        ..EmulatorConfig::default()
    })
    .await;
    let mut rng = Rng(0x5EED_2026);
    let mut live = Vec::new();
    fx.emulator
        .apply(random_tx(&mut rng, &mut live, 40))
        .unwrap();
    fx.sync().await.unwrap();
    fx.assert_synced();
    for round in 0..25 {
        live = live_ids(&fx);
        // Mostly small transactions; every fifth one larger than several deltas pages.
        let txs = 1 + rng.below(3);
        for t in 0..txs {
            let size = if (round + t) % 5 == 0 {
                30
            } else {
                1 + rng.below(4)
            };
            let tx = random_tx(&mut rng, &mut live, size);
            // A transaction may touch a document it deleted earlier in itself: skip those.
            if let Err(e) = fx.emulator.apply(tx) {
                panic!("round {round}: emulator refused a transaction: {e}");
            }
        }
        let report = fx.sync().await.unwrap();
        assert!(report.checkpoints >= 1, "round {round}");
        let diffs = fx.mismatches(None).unwrap();
        assert!(diffs.is_empty(), "round {round}: {diffs:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_dropping_a_field_clears_its_column() {
    let fx = Fixture::new().await;
    let applied = fx
        .emulator
        .apply(vec![
            spillway_testkit::docs::insert("t", [("a", Value::Int64(1)), ("b", s("x"))]),
            spillway_testkit::docs::insert("t", [("a", Value::Int64(2)), ("b", s("y"))]),
        ])
        .unwrap();
    fx.sync().await.unwrap();
    // The new revision has no `a`, and neither does anything else in its page.
    fx.emulator
        .apply(vec![spillway_testkit::docs::update(
            &applied.ids[0],
            [("b", s("z"))],
        )])
        .unwrap();
    fx.sync().await.unwrap();
    fx.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_during_a_snapshot_are_caught_up() {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 3,
        deltas_page_limit: 3,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(120).unwrap();
    let source = fx.source();
    let sync = {
        let mut dest = fx.open_dest();
        tokio::spawn(async move {
            let r = spillway_engine::sync_once(
                source,
                &mut dest,
                &spillway_engine::SyncOptions::default(),
                &spillway_engine::CancellationToken::new(),
            )
            .await;
            drop(dest);
            r
        })
    };
    let mut rng = Rng(7);
    while !sync.is_finished() {
        let mut live = live_ids(&fx);
        let tx = random_tx(&mut rng, &mut live, 3);
        fx.emulator.apply(tx).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    sync.await.unwrap().unwrap();
    // The snapshot ran at one timestamp; the writes made during it arrive as deltas.
    fx.sync().await.unwrap();
    fx.assert_synced();
}
