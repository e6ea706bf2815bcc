//! Servers that misbehave in ways the emulator (faithful to Convex) never does: the emulator's
//! own router behind a middleware that rewrites `list_snapshot` responses. Spec §17.3 (a
//! missing cursor), §17.25 (unknown `_` keys), §17.28 (transient 503s), §17.33 (rows of a
//! table that was not selected).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::{Rewriter, edited, serve_rewritten};
use serde_json::{Value as Json, json};
use spillway_core::ErrorKind;
use spillway_engine::{EngineError, SyncOptions};
use spillway_source_convex::{ApiMode, ConvexConfig, ConvexSource};
use spillway_testkit::{ADMIN_KEY, Fixture};

/// The first N list_snapshot calls answer 503 `TableSummariesUnavailable`.
fn unavailable(times: usize) -> impl Fn(usize, &[u8]) -> Option<Response> + Send + Sync {
    move |call, _| {
        (call < times).then(|| {
            let body = json!({"code": "TableSummariesUnavailable", "message": "Table summaries are bootstrapping"});
            (StatusCode::SERVICE_UNAVAILABLE, body.to_string()).into_response()
        })
    }
}

/// Every row gains `_future` and `_shard`: unknown system keys.
fn unknown_system_keys(_: usize, body: &[u8]) -> Option<Response> {
    Some(edited(body, |page| {
        for v in page["values"].as_array_mut().into_iter().flatten() {
            v["_future"] = json!({"$integer": "AQAAAAAAAAA="});
            v["_shard"] = json!("eu-1");
        }
    }))
}

/// Every page gains a row of a table nobody asked for.
fn foreign_rows(_: usize, body: &[u8]) -> Option<Response> {
    Some(edited(body, |page| {
        if let Some(values) = page["values"].as_array_mut() {
            values.push(json!({
                "_id": "k57abcdefghjkmnpqrstvwxyz0123456",
                "_creationTime": 1.0, "_ts": {"$integer": "AQAAAAAAAAA="},
                "_table": "secrets", "_component": "", "password": "hunter2",
            }));
        }
    }))
}

/// The first page says `hasMore` without a cursor.
fn missing_cursor(call: usize, body: &[u8]) -> Option<Response> {
    (call == 0).then(|| {
        edited(body, |page| {
            page["hasMore"] = json!(true);
            page["cursor"] = Json::Null;
        })
    })
}

/// Serves the fixture's emulator behind `rewrite`; returns a source reading through it.
async fn rogue(
    fx: &Fixture,
    rewrite: impl Fn(usize, &[u8]) -> Option<Response> + Send + Sync + 'static,
    f: impl FnOnce(&mut ConvexConfig),
) -> (Arc<ConvexSource>, Arc<Rewriter>) {
    let (url, state) = serve_rewritten(fx, rewrite).await;
    let mut cfg = ConvexConfig::new(url, ADMIN_KEY);
    cfg.api = ApiMode::Legacy;
    f(&mut cfg);
    (Arc::new(ConvexSource::try_new(cfg).unwrap()), state)
}

async fn seeded() -> Fixture {
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(60).unwrap();
    fx
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_503s_are_retried_from_the_same_cursor() {
    let fx = seeded().await;
    let (source, t) = rogue(&fx, unavailable(3), |_| {}).await;
    fx.sync_with(source, &SyncOptions::default()).await.unwrap();
    assert!(t.calls() > 3);
    fx.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_system_keys_are_ignored() {
    let fx = seeded().await;
    let (source, t) = rogue(&fx, unknown_system_keys, |_| {}).await;
    fx.sync_with(source, &SyncOptions::default()).await.unwrap();
    assert!(t.calls() > 0);
    fx.assert_synced();
    let mut dest = fx.open_dest();
    let cols = dest
        .query_json(
            "SELECT column_name FROM duckdb_columns() WHERE column_name IN ('_future', '_shard')",
        )
        .unwrap();
    assert!(cols.is_empty(), "{cols:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_of_unselected_tables_are_not_written() {
    let fx = seeded().await;
    let (source, t) = rogue(&fx, foreign_rows, |c| c.tables = Some(vec!["users".into()])).await;
    fx.sync_with(source, &SyncOptions::default()).await.unwrap();
    assert!(t.calls() > 0);
    let only = [spillway_core::StreamId::root("users")];
    assert!(fx.mismatches(Some(&only)).unwrap().is_empty());
    let mut dest = fx.open_dest();
    assert_eq!(dest.tables().unwrap(), vec!["users"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn has_more_without_a_cursor_is_a_protocol_error() {
    let fx = seeded().await;
    let (source, _) = rogue(&fx, missing_cursor, |_| {}).await;
    let err = fx
        .sync_with(source, &SyncOptions::default())
        .await
        .unwrap_err();
    let EngineError::Source(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.kind, ErrorKind::Data, "{e}");
    assert!(e.message.contains("protocol violation"), "{e}");
    // Nothing of that page was committed.
    let mut dest = fx.open_dest();
    assert!(dest.list_states().unwrap().is_empty());
}
