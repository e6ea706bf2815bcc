//! The Convex source reading through data sync (`/api/v1/data/sync`, spec §12–§14) into DuckDB,
//! against the emulator over real HTTP: cold syncs and mutation rounds equal to the emulator,
//! replaced and dropped tables (which the legacy API cannot follow), expired and tampered
//! cursors, the legacy → data sync migration without re-reading, and `api = "auto"` choosing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use spillway_convex_protocol::Value;
use spillway_convex_protocol::data_sync::paths::{CURSOR_FROM_DELTAS, DATA_SYNC};
use spillway_convex_protocol::wire::paths::{DOCUMENT_DELTAS, LIST_SNAPSHOT};
use spillway_core::{Checkpoint, Destination, ErrorKind, Source, StreamId};
use spillway_emulator::{EmulatorConfig, Fault, FaultRule};
use spillway_engine::SyncOptions;
use spillway_source_convex::{ApiMode, ConvexConfig, ConvexSource, ConvexState};
use spillway_testkit::Fixture;
use spillway_testkit::docs::{delete, insert, s, update};
use spillway_testkit::random::{Rng, live_ids, random_tx};
use spillway_testkit::tables::read_duckdb;

async fn small_pages() -> Fixture {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 7,
        deltas_page_limit: 5,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.set_data_sync_limits(6, 64 << 20, 9);
    fx
}

async fn sync(fx: &Fixture, api: ApiMode) {
    fx.sync_with(fx.source_api(api), &SyncOptions::default())
        .await
        .unwrap();
}

/// The state the destination saved for `source`.
async fn saved(fx: &Fixture, source: &ConvexSource) -> ConvexState {
    let mut dest = fx.open_dest();
    let s = dest.load_state(&source.state_key()).await.unwrap().unwrap();
    ConvexState::from_source_state(&s).unwrap()
}

fn rows(fx: &Fixture, table: &str) -> usize {
    let mut dest = fx.open_dest();
    read_duckdb(&mut dest)
        .unwrap()
        .get(table)
        .map_or(0, |t| t.rows.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_data_sync_equals_the_emulator_and_reads_no_legacy_route() {
    let fx = small_pages().await;
    fx.emulator.seed_sample(60).unwrap();
    sync(&fx, ApiMode::DataSync).await;
    fx.assert_synced();
    assert!(fx.calls(DATA_SYNC).len() > 3, "paged in small pages");
    assert!(fx.calls(LIST_SNAPSHOT).is_empty());
    assert!(fx.calls(DOCUMENT_DELTAS).is_empty());
    let state = saved(&fx, &fx.source_api(ApiMode::DataSync)).await;
    assert_eq!(state.api, "data_sync");
    let text = state.describe();
    assert!(
        text.contains("upToDate") && text.contains("consistent snapshot at ts"),
        "{text}"
    );
    // Nothing changed: one call, which says up to date.
    fx.emulator.clear_requests();
    sync(&fx, ApiMode::DataSync).await;
    assert_eq!(fx.calls(DATA_SYNC).len(), 1);
    fx.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn random_mutation_rounds_through_data_sync_stay_equal() {
    let fx = small_pages().await;
    let mut rng = Rng(0xDA7A_5E1C);
    let mut live = Vec::new();
    fx.emulator
        .apply(random_tx(&mut rng, &mut live, 40))
        .unwrap();
    sync(&fx, ApiMode::DataSync).await;
    fx.assert_synced();
    for round in 0..15 {
        live = live_ids(&fx);
        for t in 0..1 + rng.below(3) {
            let size = if (round + t) % 5 == 0 {
                25
            } else {
                1 + rng.below(4)
            };
            let tx = random_tx(&mut rng, &mut live, size);
            fx.emulator
                .apply(tx)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        sync(&fx, ApiMode::DataSync).await;
        let diffs = fx.mismatches(None).unwrap();
        assert!(diffs.is_empty(), "round {round}: {diffs:#?}");
    }
}

/// A `--replace` import and a table drop: data sync truncates, so the destination follows; the
/// legacy API sends no tombstones for the old tablet, so its destination keeps stale rows.
#[tokio::test(flavor = "multi_thread")]
async fn replaced_and_dropped_tables_are_followed_only_by_data_sync() {
    for api in [ApiMode::DataSync, ApiMode::Legacy] {
        let fx = small_pages().await;
        fx.emulator
            .apply(vec![
                insert("imported", [("v", Value::Int64(1))]),
                insert("imported", [("v", Value::Int64(2))]),
                insert("doomed", [("v", s("x"))]),
                insert("kept", [("v", s("y"))]),
            ])
            .unwrap();
        sync(&fx, api).await;
        fx.assert_synced();
        fx.emulator
            .replace_table(
                "",
                "imported",
                vec![[("v".to_string(), Value::Int64(3))].into()],
            )
            .unwrap();
        fx.emulator.drop_table("", "doomed").unwrap();
        sync(&fx, api).await;
        let imported = rows(&fx, "imported");
        let doomed = rows(&fx, "doomed");
        match api {
            ApiMode::DataSync => {
                fx.assert_synced();
                assert_eq!((imported, doomed), (1, 0));
            }
            _ => {
                // The difference the data sync API makes (spec §17.13).
                assert_eq!((imported, doomed), (3, 1), "legacy keeps the vanished rows");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_cursor_restarts_the_sync_and_ends_equal() {
    let fx = small_pages().await;
    fx.emulator.seed_sample(30).unwrap();
    sync(&fx, ApiMode::DataSync).await;
    let id = fx.emulator.live_documents("", "users")[0]["_id"].clone();
    let Value::String(id) = id else { panic!() };
    fx.emulator.apply(vec![delete(&id)]).unwrap();
    fx.emulator.advance_clock(1_000_000_000);
    fx.emulator.expire_before(fx.emulator.current_ts());
    sync(&fx, ApiMode::DataSync).await;
    fx.assert_synced();
    // Without the automatic restart the error says what to run.
    fx.emulator
        .inject(FaultRule::on(DATA_SYNC, Fault::data_sync_cursor_expired()).times(1));
    let source = Arc::new(
        ConvexSource::try_new(ConvexConfig {
            api: ApiMode::DataSync,
            resnapshot_on_expiry: false,
            ..fx.convex_config()
        })
        .unwrap(),
    );
    let e = fx
        .sync_with(source, &SyncOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Expired);
    assert!(e.to_string().contains("--full-refresh"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_cursor_is_rejected_and_a_new_sync_converges() {
    let fx = small_pages().await;
    fx.emulator.seed_sample(20).unwrap();
    sync(&fx, ApiMode::DataSync).await;
    let source = fx.source_api(ApiMode::DataSync);
    let mut state = saved(&fx, &source).await;
    let spillway_source_convex::state::Position::DataSync { cursor, .. } = &mut state.position
    else {
        panic!("not a data sync state: {state:?}")
    };
    // Flip one hex digit in the middle of the sealed cursor.
    let mut chars: Vec<char> = cursor.0.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == '0' { '1' } else { '0' };
    cursor.0 = chars.into_iter().collect();
    {
        let mut dest = fx.open_dest();
        dest.commit(
            &source.state_key(),
            &Checkpoint {
                state: state.to_source_state(),
                description: "tampered".into(),
            },
        )
        .await
        .unwrap();
    }
    fx.emulator
        .apply(vec![insert("users", [("name", s("after tamper"))])])
        .unwrap();
    fx.emulator.clear_requests();
    sync(&fx, ApiMode::DataSync).await;
    fx.assert_synced();
    // The tampered cursor was sent, refused, and a new sync (no cursor) started.
    let calls = fx.calls(DATA_SYNC);
    let cursor_of = |i: usize| {
        calls[i]
            .body_json
            .as_ref()
            .and_then(|b| b.get("cursor").cloned())
    };
    assert!(cursor_of(0).is_some());
    assert!(cursor_of(1).is_none(), "{:?}", calls[1].body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_destination_moves_to_data_sync_without_re_reading() {
    let fx = small_pages().await;
    fx.emulator.seed_sample(40).unwrap();
    sync(&fx, ApiMode::Legacy).await;
    let before = saved(&fx, &fx.source_api(ApiMode::Legacy)).await;
    assert_eq!(before.api, "legacy");
    let applied = fx
        .emulator
        .apply(vec![insert("users", [("name", s("new"))])])
        .unwrap();
    fx.emulator
        .apply(vec![update(&applied.ids[0], [("name", s("newer"))])])
        .unwrap();
    fx.emulator.clear_requests();
    let report = fx
        .sync_with(fx.source_api(ApiMode::Auto), &SyncOptions::default())
        .await
        .unwrap();
    fx.assert_synced();
    assert_eq!(fx.calls(CURSOR_FROM_DELTAS).len(), 1);
    assert!(fx.calls(LIST_SNAPSHOT).is_empty(), "no re-read");
    assert!(fx.calls(DOCUMENT_DELTAS).is_empty());
    let after = saved(&fx, &fx.source_api(ApiMode::Auto)).await;
    assert_eq!(after.api, "data_sync");
    // Only the two new revisions were read (no snapshot pages, no truncates).
    assert_eq!((report.rows, report.truncates), (2, 0), "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_uses_data_sync_when_offered_and_legacy_otherwise() {
    let fx = small_pages().await;
    fx.emulator.seed_sample(10).unwrap();
    fx.emulator.set_data_sync_enabled(false);
    sync(&fx, ApiMode::Auto).await;
    fx.assert_synced();
    assert_eq!(
        saved(&fx, &fx.source_api(ApiMode::Auto)).await.api,
        "legacy"
    );
    assert!(!fx.calls(LIST_SNAPSHOT).is_empty());
    // Explicit data sync against a deployment without it: a config error naming the key.
    let e = fx
        .sync_with(fx.source_api(ApiMode::DataSync), &SyncOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("source.api"), "{e}");
    // Offered again: auto migrates (no re-read) and reads through data sync from then on.
    fx.emulator.set_data_sync_enabled(true);
    fx.emulator.clear_requests();
    sync(&fx, ApiMode::Auto).await;
    assert!(fx.calls(LIST_SNAPSHOT).is_empty());
    assert_eq!(
        saved(&fx, &fx.source_api(ApiMode::Auto)).await.api,
        "data_sync"
    );
    fx.assert_synced();
    // A fresh destination on a deployment with data sync: straight to data sync.
    let fresh = small_pages().await;
    fresh.emulator.seed_sample(10).unwrap();
    sync(&fresh, ApiMode::Auto).await;
    assert!(fresh.calls(LIST_SNAPSHOT).is_empty());
    assert!(!fresh.calls(DATA_SYNC).is_empty());
    fresh.assert_synced();
}

/// The same history read through each API ends in the same DuckDB contents.
#[tokio::test(flavor = "multi_thread")]
async fn both_apis_give_the_same_duckdb_contents() {
    let fx = small_pages().await;
    let legacy_path = fx.dir().join("legacy.duckdb");
    let legacy = || {
        spillway_dest_duckdb::DuckDbDestination::open(&spillway_dest_duckdb::DuckDbConfig::new(
            legacy_path.clone(),
        ))
        .unwrap()
    };
    let mut rng = Rng(0xB0B5);
    let mut live = Vec::new();
    for round in 0..6 {
        fx.emulator
            .apply(random_tx(&mut rng, &mut live, 12))
            .unwrap();
        sync(&fx, ApiMode::DataSync).await;
        let mut dest = legacy();
        spillway_engine::sync_once(
            fx.source_api(ApiMode::Legacy),
            &mut dest,
            &SyncOptions::default(),
            &spillway_engine::CancellationToken::new(),
        )
        .await
        .unwrap();
        let a = read_duckdb(&mut fx.open_dest()).unwrap();
        let b = read_duckdb(&mut legacy()).unwrap();
        assert_eq!(a, b, "round {round}");
        live = live_ids(&fx);
    }
    fx.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_refresh_through_data_sync_empties_vanished_tables() {
    let fx = small_pages().await;
    fx.emulator
        .apply(vec![
            insert("a", [("v", Value::Int64(1))]),
            insert("b", [("v", Value::Int64(2))]),
        ])
        .unwrap();
    sync(&fx, ApiMode::DataSync).await;
    fx.emulator.drop_table("", "b").unwrap();
    fx.sync_with(
        fx.source_api(ApiMode::DataSync),
        &SyncOptions {
            full_refresh: true,
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rows(&fx, "b"), 0);
    fx.assert_synced();
    let only = [StreamId::new("", "a")];
    assert!(fx.mismatches(Some(&only)).unwrap().is_empty());
}

/// Changing `tables`: the new selection gets its own position and a snapshot of its tables;
/// rows of a table that left the selection stay as they were (no truncate), like the server's
/// own reconciliation of a deselected table (spec §17.31).
#[tokio::test(flavor = "multi_thread")]
async fn a_selection_change_snapshots_the_new_selection() {
    let fx = small_pages().await;
    fx.emulator.seed_sample(20).unwrap();
    let with_tables = |tables: &[&str]| {
        Arc::new(
            ConvexSource::try_new(ConvexConfig {
                api: ApiMode::DataSync,
                tables: Some(tables.iter().map(|t| t.to_string()).collect()),
                ..fx.convex_config()
            })
            .unwrap(),
        )
    };
    fx.sync_with(with_tables(&["users"]), &SyncOptions::default())
        .await
        .unwrap();
    let users = [StreamId::new("", "users")];
    assert!(fx.mismatches(Some(&users)).unwrap().is_empty());
    assert_eq!(rows(&fx, "messages"), 0);
    let users_before = rows(&fx, "users");
    fx.emulator
        .apply(vec![insert("messages", [("text", s("hello"))])])
        .unwrap();
    fx.sync_with(with_tables(&["users", "messages"]), &SyncOptions::default())
        .await
        .unwrap();
    let both = [StreamId::new("", "users"), StreamId::new("", "messages")];
    assert!(fx.mismatches(Some(&both)).unwrap().is_empty());
    // Back to users only: messages keeps its rows, users goes on from its own cursor.
    let id = match &fx.emulator.live_documents("", "users")[0]["_id"] {
        Value::String(id) => id.clone(),
        other => panic!("{other:?}"),
    };
    fx.emulator.apply(vec![delete(&id)]).unwrap();
    let messages = rows(&fx, "messages");
    fx.sync_with(with_tables(&["users"]), &SyncOptions::default())
        .await
        .unwrap();
    assert!(fx.mismatches(Some(&users)).unwrap().is_empty());
    assert_eq!(rows(&fx, "users"), users_before - 1);
    assert_eq!(rows(&fx, "messages"), messages);
}
