//! Faults a cloud API produces, injected by the emulator (spec §18.5): a sync through 20% mixed
//! transient failures converges without help; a hang past the request timeout, 429 with
//! `Retry-After`, and expired cursors mid-run are handled; a persistent 500 (spec §17.26),
//! auth failures and unexpected 400s are not retried blindly. The request log shows that every
//! retry resumed from the same position.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use spillway_core::ErrorKind;
use spillway_emulator::{EmulatorConfig, Fault, FaultRule};
use spillway_engine::EngineError;
use spillway_source_convex::ConvexSource;
use spillway_source_convex::retry::RetryPolicy;
use spillway_testkit::Fixture;
use spillway_testkit::random::{Rng, live_ids, random_tx};

const SNAPSHOT: &str = "/api/list_snapshot";
const DELTAS: &str = "/api/document_deltas";

/// 300 sample documents served 20 rows per page.
async fn paged() -> Fixture {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 20,
        deltas_page_limit: 20,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(300).unwrap();
    fx
}

/// A source with quick retries (a generous budget) and a short request timeout.
fn quick_source(
    fx: &Fixture,
    f: impl FnOnce(&mut spillway_source_convex::ConvexConfig),
) -> Arc<ConvexSource> {
    let mut cfg = fx.convex_config();
    cfg.request_timeout = Duration::from_secs(1);
    f(&mut cfg);
    let source = ConvexSource::try_new(cfg).unwrap().with_retry(RetryPolicy {
        initial: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        total: Duration::from_secs(60),
    });
    Arc::new(source)
}

async fn source_error(fx: &Fixture, source: Arc<ConvexSource>) -> spillway_core::SourceError {
    match fx.sync_with(source, &spillway_testkit::per_page()).await {
        Err(EngineError::Source(e)) => e,
        other => panic!("expected a source error, got {other:?}"),
    }
}

/// Every request carried a well-formed `Convex-Client` and a key; every `list_snapshot` with a
/// cursor also sent the snapshot of the cursor's traversal (spec §17.4).
fn assert_well_formed(fx: &Fixture) {
    let mut snapshot = None;
    for r in fx.emulator.requests() {
        if !r.path.starts_with("/api/") {
            continue;
        }
        let client = r.convex_client.as_deref().unwrap_or("");
        let version = client.strip_prefix("spillway-").unwrap_or("");
        assert!(
            version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
            "Convex-Client {client:?} on {}",
            r.path
        );
        assert_eq!(r.authorization.as_deref(), Some("present"), "{}", r.path);
        if r.path == SNAPSHOT {
            let body = r.body_json.clone().unwrap();
            if body["cursor"].is_null() {
                snapshot = None;
            } else {
                let s = body["snapshot"].as_i64();
                assert!(
                    s.is_some(),
                    "a snapshot cursor without its snapshot: {body}"
                );
                if let Some(prev) = snapshot {
                    assert_eq!(s, Some(prev), "one traversal mixed two snapshots");
                }
                snapshot = s;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_percent_mixed_transient_faults_converge() {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 10,
        deltas_page_limit: 10,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(1000).unwrap();
    fx.emulator.set_fault_seed(2026);
    fx.emulator.inject_all(FaultRule::transient_mix(0.2));
    let source = quick_source(&fx, |_| {});
    fx.sync_with(source.clone(), &spillway_testkit::per_page())
        .await
        .unwrap();
    fx.assert_synced();
    let mut rng = Rng(11);
    for round in 0..10 {
        let mut live = live_ids(&fx);
        for _ in 0..3 {
            fx.emulator
                .apply(random_tx(&mut rng, &mut live, 15))
                .unwrap();
        }
        fx.sync_with(source.clone(), &spillway_testkit::per_page())
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let diffs = fx.mismatches(None).unwrap();
        assert!(diffs.is_empty(), "round {round}: {diffs:#?}");
    }
    let requests = fx.emulator.requests();
    let api = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
        .count();
    let faulted = requests.iter().filter(|r| r.fault.is_some()).count();
    let kinds: std::collections::BTreeSet<_> =
        requests.iter().filter_map(|r| r.fault.clone()).collect();
    assert!(
        faulted * 10 >= api,
        "only {faulted} of {api} requests were faulted"
    );
    assert!(kinds.len() >= 6, "fault kinds seen: {kinds:?}");
    assert_well_formed(&fx);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hang_past_the_request_timeout_is_retried() {
    let fx = paged().await;
    fx.emulator.inject(
        FaultRule::next(1, Fault::Hang)
            .on_endpoint(SNAPSHOT)
            .after(2),
    );
    fx.sync_with(quick_source(&fx, |_| {}), &spillway_testkit::per_page())
        .await
        .unwrap();
    fx.assert_synced();
    let pages = fx.calls(SNAPSHOT);
    assert_eq!(pages[2].fault.as_deref(), Some("hang"));
    assert_eq!(
        pages[2].body_json, pages[3].body_json,
        "the retry asks for the same page"
    );
    fx.emulator.clear_faults();
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_waited_for() {
    let fx = paged().await;
    fx.emulator.inject(
        FaultRule::next(
            1,
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )
        .on_endpoint(SNAPSHOT)
        .after(1),
    );
    let started = Instant::now();
    fx.sync_with(quick_source(&fx, |_| {}), &spillway_testkit::per_page())
        .await
        .unwrap();
    // The policy's own backoff here is at most 50 ms; only Retry-After explains a second.
    assert!(started.elapsed() >= Duration::from_secs(1));
    fx.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_500_is_given_up_after_a_few_attempts() {
    let fx = paged().await;
    fx.emulator
        .inject(FaultRule::on(SNAPSHOT, Fault::internal_server_error()).after(2));
    let e = source_error(&fx, quick_source(&fx, |_| {})).await;
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(e.message.contains("gave up after 6 attempts"), "{e}");
    assert!(e.message.contains("source.tables"), "{e}");
    assert_eq!(fx.calls(SNAPSHOT).len(), 2 + 6);
    // The two pages before the failures stay committed; a rerun continues from them.
    fx.emulator.clear_faults();
    fx.emulator.clear_requests();
    fx.sync().await.unwrap();
    fx.assert_synced();
    assert!(!fx.calls(SNAPSHOT)[0].body_json.clone().unwrap()["cursor"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_failures_and_unexpected_400s_are_not_retried() {
    let cases = [
        (
            Fault::bad_admin_key(),
            ErrorKind::Auth,
            "deploy key was rejected",
        ),
        (
            Fault::bad_deploy_key(),
            ErrorKind::Auth,
            "No valid deploy key",
        ),
        (
            Fault::operation_not_permitted(),
            ErrorKind::Auth,
            "full deploy key",
        ),
        (
            Fault::streaming_export_not_enabled(),
            ErrorKind::Auth,
            "Streaming export is not enabled",
        ),
        (Fault::bad_format(), ErrorKind::Internal, "please report"),
        (
            Fault::invalid_list_snapshot_cursor(),
            ErrorKind::Internal,
            "InvalidListSnapshotCursor",
        ),
    ];
    for (fault, kind, says) in cases {
        let fx = paged().await;
        let name = fault.name();
        fx.emulator.inject(FaultRule::on(SNAPSHOT, fault).after(1));
        let e = source_error(&fx, quick_source(&fx, |_| {})).await;
        assert_eq!(e.kind, kind, "{name}: {e}");
        assert!(e.message.contains(says), "{name}: {e}");
        assert_eq!(fx.calls(SNAPSHOT).len(), 2, "{name} was retried");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_cursors_mid_run_restart_the_snapshot() {
    // SnapshotTooOld on the fourth snapshot page; InvalidWindow on the first deltas page.
    let fx = paged().await;
    fx.emulator.inject(
        FaultRule::next(1, Fault::snapshot_too_old())
            .on_endpoint(SNAPSHOT)
            .after(3),
    );
    fx.emulator
        .inject(FaultRule::next(1, Fault::invalid_window()).on_endpoint(DELTAS));
    fx.sync_with(quick_source(&fx, |_| {}), &spillway_testkit::per_page())
        .await
        .unwrap();
    fx.assert_synced();
    let fresh_starts = fx
        .calls(SNAPSHOT)
        .iter()
        .filter(|r| r.body_json.as_ref().unwrap()["cursor"].is_null())
        .count();
    assert_eq!(fresh_starts, 3, "one start and two restarts");
    assert_well_formed(&fx);

    // Refusing automatic re-snapshots: an error that says what to do; nothing is truncated.
    let fx = paged().await;
    fx.sync().await.unwrap();
    fx.emulator
        .inject(FaultRule::next(1, Fault::invalid_window()).on_endpoint(DELTAS));
    let e = source_error(&fx, quick_source(&fx, |c| c.resnapshot_on_expiry = false)).await;
    assert_eq!(e.kind, ErrorKind::Expired, "{e}");
    assert!(e.message.contains("--full-refresh"), "{e}");
    fx.assert_synced();
}

/// A page fetched ahead of the reader whose body is cut short (status 200, valid length) is
/// asked for again by the reader, from the same position, once; the sync is complete. The
/// third snapshot request and the second deltas request are both fetched ahead.
#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_page_fetched_ahead_is_asked_for_again() {
    let fx = paged().await;
    fx.emulator.inject(
        FaultRule::on(SNAPSHOT, Fault::TruncatedBody)
            .after(2)
            .times(1),
    );
    fx.sync_with(quick_source(&fx, |_| {}), &spillway_testkit::per_page())
        .await
        .unwrap();
    fx.assert_synced();
    let calls = fx.calls(SNAPSHOT);
    assert_eq!(
        calls[2].fault.as_deref(),
        Some("truncated_body"),
        "{calls:#?}"
    );
    assert_eq!(
        calls[2].body_json, calls[3].body_json,
        "the same page again"
    );
    let bodies: std::collections::BTreeSet<String> = calls
        .iter()
        .map(|c| c.body_json.clone().unwrap().to_string())
        .collect();
    assert_eq!(calls.len(), bodies.len() + 1, "one request repeated, once");

    // Deltas: 60 changes, more than one page of 20.
    let mut rng = Rng(5);
    let mut live = live_ids(&fx);
    for _ in 0..4 {
        fx.emulator
            .apply(random_tx(&mut rng, &mut live, 15))
            .unwrap();
    }
    fx.emulator.clear_requests();
    fx.emulator.inject(
        FaultRule::on(DELTAS, Fault::TruncatedBody)
            .after(1)
            .times(1),
    );
    fx.sync_with(quick_source(&fx, |_| {}), &spillway_testkit::per_page())
        .await
        .unwrap();
    fx.assert_synced();
    let calls = fx.calls(DELTAS);
    assert!(calls.len() >= 3, "{calls:#?}");
    assert_ne!(calls[0].body_json, calls[1].body_json, "the second page");
    assert_eq!(
        calls[1].fault.as_deref(),
        Some("truncated_body"),
        "{calls:#?}"
    );
    assert_eq!(
        calls[1].body_json, calls[2].body_json,
        "the same page again"
    );
}
