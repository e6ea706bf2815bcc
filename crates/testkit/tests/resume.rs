//! Interrupted syncs (cancelled between pages, failing before a commit, failing in the middle
//! of a page) resume from the last committed cursor: the rerun ends equal to the source, with
//! no duplicates, and does not start over.

#![allow(clippy::unwrap_used)]

use spillway_core::Destination;
use spillway_dest_files::{FilesConfig, FilesDestination};
use spillway_emulator::{EmulatorConfig, LoggedRequest};
use spillway_engine::{CancellationToken, DynDestination, EngineError, sync_fan_out, sync_once};
use spillway_testkit::docs::{delete, insert, s};
use spillway_testkit::tables::read_files;
use spillway_testkit::{Fixture, HookedDestination, Hooks, compare_with_emulator};

async fn fixture() -> Fixture {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 10,
        deltas_page_limit: 10,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(400).unwrap();
    fx
}

/// Runs one sync through `hooks`; returns its error (it must fail).
async fn interrupted(fx: &Fixture, hooks: Hooks, cancel: &CancellationToken) -> EngineError {
    let mut dest = HookedDestination::new(fx.open_dest(), hooks);
    sync_once(
        fx.source(),
        &mut dest,
        &spillway_testkit::per_page(),
        cancel,
    )
    .await
    .expect_err("the sync should have been interrupted")
}

fn calls<'a>(log: &'a [LoggedRequest], path: &str) -> Vec<&'a LoggedRequest> {
    log.iter().filter(|r| r.path == path).collect()
}

fn body(r: &LoggedRequest) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap()
}

/// Pages a complete snapshot of the fixture needs, measured on an identical emulator.
async fn full_snapshot_pages() -> usize {
    let fx = fixture().await;
    fx.sync().await.unwrap();
    calls(&fx.emulator.requests(), "/api/list_snapshot").len()
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_snapshot_resumes_where_it_stopped() {
    let full = full_snapshot_pages().await;
    let fx = fixture().await;
    let cancel = CancellationToken::new();
    let hooks = Hooks {
        cancel_after_commits: Some((8, cancel.clone())),
        ..Hooks::default()
    };
    let err = interrupted(&fx, hooks, &cancel).await;
    assert!(
        matches!(
            err,
            EngineError::Interrupted {
                last_checkpoint: Some(_)
            }
        ),
        "{err}"
    );
    let before = calls(&fx.emulator.requests(), "/api/list_snapshot").len();
    fx.emulator.clear_requests();

    fx.sync().await.unwrap();
    fx.assert_synced();
    let log = fx.emulator.requests();
    let rerun = calls(&log, "/api/list_snapshot");
    let first = body(rerun[0]);
    assert!(
        first["snapshot"].is_i64() && !first["cursor"].is_null(),
        "the rerun must continue the saved snapshot: {first}"
    );
    assert!(
        rerun.len() + 7 <= full && rerun.len() < full,
        "rerun read {} pages, a full snapshot is {full}, the first run read {before}",
        rerun.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_commit_and_failed_write_lose_and_duplicate_nothing() {
    let fx = fixture().await;
    for hooks in [
        Hooks {
            fail_commit: Some(5),
            ..Hooks::default()
        },
        Hooks {
            fail_write: Some(9),
            ..Hooks::default()
        },
    ] {
        interrupted(&fx, hooks, &CancellationToken::new()).await;
        // Between the crash and the rerun, the source moves on.
        let users = fx.emulator.live_documents("", "users");
        let spillway_convex_protocol::Value::String(id) = &users[0]["_id"] else {
            panic!("no id");
        };
        fx.emulator
            .apply(vec![delete(id), insert("users", [("name", s("new"))])])
            .unwrap();
    }
    fx.sync().await.unwrap();
    fx.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_deltas_resume_from_the_persisted_cursor_verbatim() {
    let fx = fixture().await;
    fx.sync().await.unwrap();
    // 60 transactions = several deltas pages.
    for i in 0..60 {
        fx.emulator
            .apply(vec![insert(
                "events",
                [("n", spillway_convex_protocol::Value::Int64(i))],
            )])
            .unwrap();
    }
    fx.emulator.clear_requests();
    let cancel = CancellationToken::new();
    let hooks = Hooks {
        cancel_after_commits: Some((2, cancel.clone())),
        ..Hooks::default()
    };
    interrupted(&fx, hooks, &cancel).await;
    let first_run = fx.emulator.requests();
    let deltas = calls(&first_run, "/api/document_deltas");
    assert!(deltas.len() >= 2, "{deltas:?}");

    // The saved cursor is the one the server returned, not a max(_ts) of rows.
    let mut dest = fx.open_dest();
    let states = dest.list_states().unwrap();
    drop(dest);
    let saved = states[0].1.0["position"]["deltas"]["cursor"]
        .as_i64()
        .unwrap();

    fx.emulator.clear_requests();
    fx.sync().await.unwrap();
    fx.assert_synced();
    let log = fx.emulator.requests();
    let rerun = calls(&log, "/api/document_deltas");
    assert_eq!(
        body(rerun[0])["cursor"].as_i64(),
        Some(saved),
        "{}",
        rerun[0].body
    );
    assert!(
        calls(&log, "/api/list_snapshot").is_empty(),
        "the rerun re-snapshotted"
    );
}

/// By default checkpoints are grouped: within `commit_interval` only the last one is
/// committed (with every row before it); per page, each is. Both end equal to the source.
#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_are_grouped_into_one_commit_per_interval() {
    let per_page = fixture().await;
    let report = per_page
        .sync_with(per_page.source(), &spillway_testkit::per_page())
        .await
        .unwrap();
    let pages = report.checkpoints;
    assert!(pages > 10, "{report:?}");
    per_page.assert_synced();

    let grouped = fixture().await;
    let options = spillway_engine::SyncOptions {
        commit_interval: std::time::Duration::from_secs(3600),
        ..spillway_engine::SyncOptions::default()
    };
    let report = grouped.sync_with(grouped.source(), &options).await.unwrap();
    assert_eq!(
        report.checkpoints, 1,
        "only the last checkpoint: {report:?}"
    );
    assert_eq!(report.rows, 400);
    grouped.assert_synced();
    // DuckDB takes rows as they come: a byte bound below one page's size changes nothing.
    let bounded = fixture().await;
    let tiny = spillway_engine::SyncOptions {
        max_in_flight_bytes: 1,
        ..options
    };
    let report = bounded.sync_with(bounded.source(), &tiny).await.unwrap();
    assert_eq!(report.checkpoints, 1, "{report:?}");
    bounded.assert_synced();
    // The files destination holds a transaction's rows in memory: the byte bound commits again
    // at every checkpoint after rows (one with nothing written since the last commit may wait
    // for the next).
    let mut files = FilesDestination::open(&FilesConfig::new(
        bounded.dir().join("files").to_str().unwrap(),
    ))
    .await
    .unwrap();
    assert!(files.holds_transaction_in_memory());
    let runs = sync_fan_out(
        bounded.source(),
        &mut [&mut files as &mut DynDestination],
        &tiny,
        &CancellationToken::new(),
    )
    .await;
    let report = runs.into_iter().next().unwrap().result().unwrap();
    assert!(
        report.checkpoints > pages / 2,
        "{report:?} vs {pages} pages"
    );
    let diffs = compare_with_emulator(&read_files(&files).await.unwrap(), &bounded.emulator, None);
    assert!(diffs.is_empty(), "{diffs:#?}");
}
