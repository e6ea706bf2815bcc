//! The spec §17 edge cases that the emulator can produce, end to end through the source, the
//! engine and DuckDB. (Misbehaving servers are in `rogue_server.rs`.)

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use spillway_convex_protocol::Value;
use spillway_core::{ErrorKind, Source, StreamId};
use spillway_emulator::{EmulatorConfig, LoggedRequest};
use spillway_engine::{EngineError, SyncOptions};
use spillway_source_convex::{ConvexConfig, ConvexSource, Secret};
use spillway_testkit::docs::{delete, insert, s};
use spillway_testkit::{ADMIN_KEY, Fixture};

const DAY_NS: i64 = 86_400_000_000_000;

fn body(r: &LoggedRequest) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap()
}

fn id_of(doc: &std::collections::BTreeMap<String, Value>) -> String {
    match &doc["_id"] {
        Value::String(s) => s.clone(),
        other => panic!("bad _id {other:?}"),
    }
}

fn source_with(fx: &Fixture, f: impl FnOnce(&mut ConvexConfig)) -> Arc<ConvexSource> {
    let mut cfg = fx.convex_config();
    f(&mut cfg);
    Arc::new(ConvexSource::try_new(cfg).unwrap())
}

/// §17.1, §17.4, §17.32: empty pages at table boundaries and for empty tables are paged
/// through; every continuation carries the snapshot; every request has a well-formed
/// `Convex-Client` and POSTs the encoded format.
#[tokio::test(flavor = "multi_thread")]
async fn empty_pages_snapshot_continuity_and_headers() {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 2,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(20).unwrap();
    // An empty table: created, then emptied.
    let a = fx
        .emulator
        .apply(vec![insert("empty", [("x", s("gone"))])])
        .unwrap();
    fx.emulator.apply(vec![delete(&a.ids[0])]).unwrap();
    fx.sync().await.unwrap();
    fx.assert_synced();

    let pages = fx.calls("/api/list_snapshot");
    assert!(pages.len() > 10, "{}", pages.len());
    let first_snapshot = body(&pages[0])["snapshot"].clone();
    assert!(first_snapshot.is_null());
    let snapshot = body(&pages[1])["snapshot"].clone();
    assert!(snapshot.is_i64(), "{}", pages[1].body);
    for p in &pages[1..] {
        let b = body(p);
        assert_eq!(
            b["snapshot"], snapshot,
            "a continuation lost the snapshot: {b}"
        );
        assert_eq!(b["format"], "convex_encoded_json");
    }
    for r in fx.emulator.requests() {
        let client = r
            .headers
            .iter()
            .find(|(k, _)| k == "convex-client")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let version = client.strip_prefix("spillway-").unwrap_or("");
        assert!(
            version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
            "Convex-Client {client:?} on {}",
            r.path
        );
    }
    let mut dest = fx.open_dest();
    assert_eq!(dest.row_count("empty").unwrap(), 0);
}

/// §17.7: a deltas page of only system rows returns no documents but a newer cursor, and the
/// cursor saved is the server's, not a `_ts` of any row.
#[tokio::test(flavor = "multi_thread")]
async fn cursor_advances_over_pages_without_documents() {
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(10).unwrap();
    fx.sync().await.unwrap();
    let ts = fx.emulator.write_system_rows(300);
    fx.sync().await.unwrap();
    let mut dest = fx.open_dest();
    let state = &dest.list_states().unwrap()[0].1;
    let cursor = state.0["position"]["deltas"]["cursor"].as_i64().unwrap();
    assert!(
        cursor >= ts,
        "cursor {cursor} did not pass the system writes at {ts}"
    );
    let rows = dest.query_json("SELECT max(_ts) AS m FROM users").unwrap();
    assert!(rows[0]["m"].as_i64().unwrap() < cursor);
}

/// §17.5: `SnapshotTooOld` while resuming a snapshot restarts it, and the destination ends
/// equal, including rows deleted meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn expired_snapshot_restarts_and_removes_rows_deleted_meanwhile() {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 5,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(200).unwrap();
    // Interrupt the snapshot part-way.
    let cancel = spillway_engine::CancellationToken::new();
    let hooks = spillway_testkit::Hooks {
        cancel_after_commits: Some((10, cancel.clone())),
        ..Default::default()
    };
    let mut dest = spillway_testkit::HookedDestination::new(fx.open_dest(), hooks);
    let _ = spillway_engine::sync_once(
        fx.source(),
        &mut dest,
        &spillway_testkit::per_page(),
        &cancel,
    )
    .await
    .unwrap_err();
    drop(dest);
    // Rows already copied get deleted, then the snapshot expires.
    let users = fx.emulator.live_documents("", "users");
    let gone: Vec<_> = users.iter().take(5).map(id_of).collect();
    fx.emulator
        .apply(gone.iter().map(|id| delete(id)).collect())
        .unwrap();
    fx.emulator.advance_clock(6 * DAY_NS);
    fx.emulator.expire_before(fx.emulator.current_ts());

    fx.emulator.clear_requests();
    fx.sync().await.unwrap();
    fx.assert_synced();
    let pages = fx.calls("/api/list_snapshot");
    assert!(
        body(&pages[0])["snapshot"].is_i64(),
        "the rerun should first try to resume: {}",
        pages[0].body
    );
    assert!(
        pages.iter().skip(1).any(|p| body(p)["snapshot"].is_null()),
        "the snapshot was not restarted"
    );

    // Refusing automatic re-snapshots: the same situation is an error that says what to do.
    let fx2 = Fixture::start(EmulatorConfig::default()).await;
    fx2.emulator.seed_sample(10).unwrap();
    fx2.sync().await.unwrap();
    fx2.emulator
        .apply(vec![insert("users", [("name", s("x"))])])
        .unwrap();
    fx2.emulator.advance_clock(15 * DAY_NS);
    fx2.emulator.expire_before(fx2.emulator.current_ts());
    let strict = source_with(&fx2, |c| c.resnapshot_on_expiry = false);
    let err = fx2
        .sync_with(strict, &spillway_testkit::per_page())
        .await
        .unwrap_err();
    let EngineError::Source(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.kind, ErrorKind::Expired, "{e}");
    assert!(e.message.contains("--full-refresh"), "{e}");
}

/// §17.6: a deltas cursor out of retention leads to a re-snapshot that ends equal to the
/// source, including rows deleted while the cursor was expired.
#[tokio::test(flavor = "multi_thread")]
async fn expired_deltas_cursor_resnapshots() {
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(50).unwrap();
    fx.sync().await.unwrap();
    let users = fx.emulator.live_documents("", "users");
    fx.emulator
        .apply(vec![delete(&id_of(&users[0])), delete(&id_of(&users[1]))])
        .unwrap();
    fx.emulator.advance_clock(15 * DAY_NS);
    fx.emulator.expire_before(fx.emulator.current_ts());
    fx.emulator.clear_requests();
    fx.sync().await.unwrap();
    fx.assert_synced();
    assert!(!fx.calls("/api/list_snapshot").is_empty(), "no re-snapshot");
}

/// §17.6 + §17.13: a table dropped while the deltas cursor was expired (the legacy API sends
/// no tombstones for it, and no longer lists it) is emptied by the re-snapshot, because the
/// re-snapshot truncates every table the expired position had seen; so does `--full-refresh`.
#[tokio::test(flavor = "multi_thread")]
async fn resnapshot_and_full_refresh_empty_a_dropped_table() {
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(60).unwrap();
    fx.sync().await.unwrap();
    let before = fx
        .open_dest()
        .query_json("SELECT count(*) AS n FROM messages")
        .unwrap();
    assert!(before[0]["n"].as_i64().unwrap() > 0);
    fx.emulator.drop_table("", "messages").unwrap();
    fx.emulator.advance_clock(15 * DAY_NS);
    fx.emulator.expire_before(fx.emulator.current_ts());
    fx.sync().await.unwrap();
    fx.assert_synced();
    let after = fx
        .open_dest()
        .query_json("SELECT count(*) AS n FROM messages")
        .unwrap();
    assert_eq!(
        after[0]["n"].as_i64(),
        Some(0),
        "rows of the dropped table survived"
    );

    // The same through `--full-refresh`.
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(60).unwrap();
    fx.sync().await.unwrap();
    fx.emulator.drop_table("", "users").unwrap();
    let full = SyncOptions {
        full_refresh: true,
        ..spillway_testkit::per_page()
    };
    fx.sync_with(fx.source(), &full).await.unwrap();
    fx.assert_synced();
    let after = fx
        .open_dest()
        .query_json("SELECT count(*) AS n FROM users")
        .unwrap();
    assert_eq!(
        after[0]["n"].as_i64(),
        Some(0),
        "the dropped table kept its rows"
    );
}

/// §17.15, §17.33, §17.34: a table selection is POSTed, includes component tables, and only
/// the selected tables land; a new table appears through deltas when everything is selected.
#[tokio::test(flavor = "multi_thread")]
async fn table_selection_and_new_tables() {
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(40).unwrap();
    let selected = source_with(&fx, |c| {
        c.tables = Some(vec!["users".into(), "waitlist/entries".into()]);
    });
    fx.sync_with(selected, &spillway_testkit::per_page())
        .await
        .unwrap();
    let only = [
        StreamId::root("users"),
        StreamId::new("waitlist", "entries"),
    ];
    assert!(fx.mismatches(Some(&only)).unwrap().is_empty());
    let mut dest = fx.open_dest();
    assert_eq!(dest.tables().unwrap(), vec!["users", "waitlist/entries"]);
    drop(dest);
    for r in fx.emulator.requests() {
        if r.path == "/api/list_snapshot" || r.path == "/api/document_deltas" {
            assert_eq!(r.method, "POST");
            let sel = &body(&r)["selection"];
            assert!(sel.is_object(), "no selection in {}", r.body);
        }
    }

    // Everything selected: a table created after the snapshot arrives via deltas.
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(10).unwrap();
    fx.sync().await.unwrap();
    fx.emulator
        .apply(vec![insert("late", [("n", Value::Int64(1))])])
        .unwrap();
    fx.emulator.clear_requests();
    fx.sync().await.unwrap();
    fx.assert_synced();
    assert!(fx.calls("/api/list_snapshot").is_empty());
}

/// §17.27, §10: each auth failure is reported as what to fix, and never retried.
#[tokio::test(flavor = "multi_thread")]
async fn auth_failures_say_what_to_fix() {
    let fx = Fixture::start(EmulatorConfig {
        restricted_keys: vec!["prod:happy-animal-123|viewer".into()],
        ..EmulatorConfig::default()
    })
    .await;
    // No key at all is refused before any request.
    let mut cfg = fx.convex_config();
    cfg.deploy_key = None;
    let err = ConvexSource::try_new(cfg).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("CONVEX_DEPLOY_KEY"), "{err}");

    let cases = [
        (
            Some("prod:happy-animal-123|wrong"),
            "deploy key was rejected",
        ),
        (Some("prod:happy-animal-123|viewer"), "permission"),
    ];
    for (key, expect) in cases {
        let source = source_with(&fx, |c| c.deploy_key = key.map(Secret::new));
        fx.emulator.clear_requests();
        let err = source.check().await.unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::Auth | ErrorKind::Config),
            "{key:?}: {err}"
        );
        assert!(err.message.contains(expect), "{key:?}: {err}");
        if let Some(k) = key {
            assert!(!err.message.contains(k), "the key leaked into: {err}");
        }
        assert!(fx.emulator.requests().len() <= 1, "auth failure retried");
    }
    fx.emulator.set_streaming_export_enabled(false);
    let err = source_with(&fx, |c| c.deploy_key = Some(Secret::new(ADMIN_KEY)))
        .check()
        .await
        .unwrap_err();
    assert!(
        err.message.to_lowercase().contains("streaming export"),
        "{err}"
    );
}

/// §17.21: documents close to the 1 MiB limit, several to a page.
#[tokio::test(flavor = "multi_thread")]
async fn large_documents() {
    let fx = Fixture::new().await;
    let big = "x".repeat(900 * 1024);
    for _ in 0..4 {
        fx.emulator
            .apply(vec![insert(
                "blobs",
                [
                    ("text", s(&big)),
                    ("bytes", Value::Bytes(vec![7; 64 * 1024])),
                ],
            )])
            .unwrap();
    }
    fx.sync().await.unwrap();
    fx.assert_synced();
}
