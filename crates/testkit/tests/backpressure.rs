//! A stalled destination stops the source: the rows and pages in flight stay bounded by the
//! channel's byte budget, whatever the table size, and the sync completes once the
//! destination moves again.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use spillway_emulator::EmulatorConfig;
use spillway_engine::{CancellationToken, SyncOptions, sync_once};
use spillway_testkit::{Fixture, HookedDestination, Hooks};
use tokio::sync::Semaphore;

fn snapshot_requests(fx: &Fixture) -> usize {
    fx.emulator
        .requests()
        .iter()
        .filter(|r| r.path == "/api/list_snapshot")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_destination_bounds_what_is_buffered() {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 20,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(4000).unwrap(); // ≈ 200 pages
    let gate = Arc::new(Semaphore::new(0));
    let hooks = Hooks {
        gate: Some(gate.clone()),
        ..Hooks::default()
    };
    let mut dest = HookedDestination::new(fx.open_dest(), hooks);
    let writes = dest.writes.clone();
    let source = fx.source();
    let options = SyncOptions {
        // A few pages' worth of Arrow data.
        max_in_flight_bytes: 64 << 10,
        ..SyncOptions::default()
    };
    let sync = tokio::spawn(async move {
        let r = sync_once(source, &mut dest, &options, &CancellationToken::new()).await;
        drop(dest);
        r
    });

    // Let the source run against the stalled destination until it stops asking for pages.
    let mut fetched = snapshot_requests(&fx);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = snapshot_requests(&fx);
        if now == fetched {
            break;
        }
        fetched = now;
    }
    assert_eq!(
        writes.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one write, stalled"
    );
    // What the channel holds, plus the pages fetched ahead of the reader's (at most three,
    // `source-convex`'s pipeline).
    assert!(
        (1..=18).contains(&fetched),
        "{fetched} pages fetched while the destination was stalled (of ~200)"
    );

    // Release: the sync completes and is complete.
    gate.add_permits(Semaphore::MAX_PERMITS / 2);
    let report = sync.await.unwrap().unwrap();
    assert_eq!(report.rows, 4000);
    // The budget is in bytes: 64 KiB holds a few dozen of these 20-row batches (more of the
    // small `channels` rows than of `messages`), never the table.
    assert!(
        report.peak_rows_in_flight <= 1000,
        "peak rows in flight {} of 4000",
        report.peak_rows_in_flight
    );
    fx.assert_synced();
}
