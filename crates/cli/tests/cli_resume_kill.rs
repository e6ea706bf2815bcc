//! `spillway sync` stopped from outside — SIGKILL during the snapshot (twice) and during the
//! deltas, SIGINT/SIGTERM — then rerun: the copy equals the emulator and the rerun continues
//! from the committed position instead of starting over.
//!
//! The emulator serves 5 rows per page, so a sync takes hundreds of pages and there is time to
//! stop it in the middle.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::child::{SyncChild, bodies, count};
use common::*;
use serde_json::Value as Json;
use spillway_convex_protocol::Value;
use spillway_emulator::Mutation;
use spillway_testkit::Fixture;

const SNAPSHOT: &str = "/api/list_snapshot";
const DELTAS: &str = "/api/document_deltas";
const PAGE: usize = 5;

/// An emulator with `docs` sample documents served `PAGE` rows per page.
async fn paged_fixture(docs: usize) -> Fixture {
    let f = Fixture::new().await;
    f.emulator.seed_sample(docs).unwrap();
    f.emulator.set_limits(PAGE, PAGE);
    f
}

/// Live documents in the emulator.
fn live_docs(f: &Fixture) -> usize {
    f.emulator
        .tables()
        .iter()
        .map(|(c, t)| f.emulator.live_documents(c, t).len())
        .sum()
}

/// Asserts a run ended with success.
#[track_caller]
fn assert_success(r: &Run) {
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// Asserts a list_snapshot body resumes a snapshot (non-null `snapshot` and `cursor`);
/// returns the snapshot ts.
#[track_caller]
fn assert_resumes_snapshot(body: &Json) -> i64 {
    assert!(
        body["snapshot"].is_i64() && !body["cursor"].is_null(),
        "the first list_snapshot of the rerun starts over instead of resuming: {body}"
    );
    body["snapshot"].as_i64().unwrap()
}

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

/// `_id`s of the live documents of a root table.
fn ids(f: &Fixture, table: &str) -> Vec<String> {
    f.emulator
        .live_documents("", table)
        .iter()
        .map(|d| match &d["_id"] {
            Value::String(id) => id.clone(),
            other => panic!("_id is not a string: {other:?}"),
        })
        .collect()
}

/// `n` transactions of `PAGE` writes each (three inserts, an update and a delete), so a
/// deltas run takes `n` pages of three batches (`events`, `users`, `messages`).
fn apply_changes(f: &Fixture, n: usize, round: &str) {
    let users = ids(f, "users");
    let messages = ids(f, "messages");
    assert!(
        users.len() >= n && messages.len() >= n,
        "not enough documents"
    );
    for i in 0..n {
        let event = |k: i64| Mutation::Insert {
            component: String::new(),
            table: "events".to_string(),
            fields: BTreeMap::from([
                ("round".to_string(), text(round)),
                ("seq".to_string(), Value::Int64((i as i64) * 3 + k)),
            ]),
        };
        f.emulator
            .apply(vec![
                event(0),
                event(1),
                event(2),
                Mutation::Update {
                    id: users[i].clone(),
                    fields: BTreeMap::from([("name".to_string(), text(&format!("{round}-{i}")))]),
                },
                Mutation::Delete {
                    id: messages[i].clone(),
                },
            ])
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_twice_during_the_snapshot_then_rerun_resumes() {
    let f = paged_fixture(3000).await;
    let cfg = legacy_fixture_config(&f);
    let full_run_pages = live_docs(&f) / PAGE;

    // First kill, early in the snapshot.
    let mut sync = SyncChild::spawn(&cfg);
    sync.wait_for(&f, SNAPSHOT, 20, 40).await;
    let r = sync.kill().await;
    assert_eq!(r.code, None, "killed by SIGKILL: {r:#?}");
    let first = bodies(&f, SNAPSHOT);
    assert!(first[0]["snapshot"].is_null(), "a fresh sync: {}", first[0]);
    let snapshot_ts = first[1]["snapshot"].as_i64().unwrap();

    // Second kill, further on: the rerun resumed inside the same snapshot.
    f.emulator.clear_requests();
    let mut sync = SyncChild::spawn(&cfg);
    sync.wait_for(&f, SNAPSHOT, 20, 150).await;
    let r = sync.kill().await;
    assert_eq!(r.code, None, "{r:#?}");
    let second = bodies(&f, SNAPSHOT);
    assert_eq!(assert_resumes_snapshot(&second[0]), snapshot_ts);
    assert!(
        r.stderr.contains("Resuming the snapshot"),
        "says it resumes: {}",
        r.stderr
    );

    // Run to completion.
    f.emulator.clear_requests();
    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_success(&r);
    let third = bodies(&f, SNAPSHOT);
    assert_eq!(assert_resumes_snapshot(&third[0]), snapshot_ts);
    assert_ne!(
        third[0]["cursor"], second[0]["cursor"],
        "the second run committed progress, so the third starts further on"
    );
    assert!(
        third.len() < full_run_pages * 9 / 10,
        "the rerun read {} snapshot pages; a full snapshot is about {full_run_pages}",
        third.len()
    );
    f.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_the_deltas_then_rerun_resumes_from_the_committed_cursor() {
    let f = paged_fixture(800).await;
    let cfg = legacy_fixture_config(&f);
    assert_success(&run(&["sync", "-c", s(&cfg)]).await);
    let caught_up = f.emulator.current_ts();

    const TRANSACTIONS: usize = 200;
    apply_changes(&f, TRANSACTIONS, "a");
    f.emulator.clear_requests();
    let mut sync = SyncChild::spawn(&cfg);
    // Each page touches `events`, `users` and `messages`: three batches.
    sync.wait_for(&f, DELTAS, 20, 150).await;
    let r = sync.kill().await;
    assert_eq!(r.code, None, "{r:#?}");
    assert_eq!(
        count(&f, SNAPSHOT),
        0,
        "an incremental run reads no snapshot"
    );
    assert_eq!(bodies(&f, DELTAS)[0]["cursor"], caught_up);

    // More changes while nothing runs, then the rerun.
    apply_changes(&f, 20, "b");
    f.emulator.clear_requests();
    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_success(&r);
    assert_eq!(count(&f, SNAPSHOT), 0, "the rerun must not start over");
    let deltas = bodies(&f, DELTAS);
    let resumed_at = deltas[0]["cursor"].as_i64().unwrap();
    assert!(
        resumed_at > caught_up,
        "the rerun re-read the deltas from {resumed_at}, where the killed run started"
    );
    assert!(
        deltas.len() < (TRANSACTIONS + 20) * 85 / 100,
        "the rerun read {} deltas pages; all changes take about {}",
        deltas.len(),
        TRANSACTIONS + 20
    );
    f.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_the_snapshot_exits_130_and_says_where_it_stopped() {
    let f = paged_fixture(3000).await;
    let cfg = legacy_fixture_config(&f);
    let mut sync = SyncChild::spawn(&cfg);
    sync.wait_for(&f, SNAPSHOT, 20, 60).await;
    let r = sync.signal("INT").await;
    assert_eq!(r.code, Some(130), "{r:#?}");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let error = error_line(&r);
    assert!(
        error.contains("interrupted; the last committed position is: legacy API: snapshot at ts"),
        "{error}"
    );
    let snapshot_ts = bodies(&f, SNAPSHOT)[1]["snapshot"].as_i64().unwrap();
    assert!(error.contains(&snapshot_ts.to_string()), "{error}");
    assert!(r.stderr.contains("Stop requested"), "{}", r.stderr);

    f.emulator.clear_requests();
    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_success(&r);
    assert_eq!(
        assert_resumes_snapshot(&bodies(&f, SNAPSHOT)[0]),
        snapshot_ts
    );
    f.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_the_deltas_exits_130_and_rerun_converges() {
    let f = paged_fixture(500).await;
    let cfg = legacy_fixture_config(&f);
    assert_success(&run(&["sync", "-c", s(&cfg)]).await);
    apply_changes(&f, 150, "t");
    f.emulator.clear_requests();

    let mut sync = SyncChild::spawn(&cfg);
    sync.wait_for(&f, DELTAS, 10, 60).await;
    let r = sync.signal("TERM").await;
    assert_eq!(r.code, Some(130), "{r:#?}");
    let error = error_line(&r);
    assert!(
        error.contains("interrupted; the last committed position is: legacy API: deltas at cursor"),
        "{error}"
    );

    f.emulator.clear_requests();
    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_success(&r);
    assert_eq!(count(&f, SNAPSHOT), 0, "the rerun must not start over");
    f.assert_synced();
}
