//! Servers that misbehave in ways the emulator (faithful to Convex) never does: the emulator's
//! own router behind a middleware that rewrites `list_snapshot` responses. Spec §17.3 (a
//! missing cursor), §17.25 (unknown `_` keys), §17.28 (transient 503s), §17.33 (rows of a
//! table that was not selected).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use spillway_core::ErrorKind;
use spillway_engine::{EngineError, SyncOptions};
use spillway_source_convex::{ConvexConfig, ConvexSource};
use spillway_testkit::{ADMIN_KEY, Fixture};

#[derive(Clone, Copy)]
enum Fault {
    /// The first N list_snapshot calls answer 503 `TableSummariesUnavailable`.
    Unavailable(usize),
    /// Every row gains `_future` and `_component`-like unknown system keys.
    UnknownSystemKeys,
    /// Every page gains a row of a table nobody asked for.
    ForeignRows,
    /// The first page says `hasMore` without a cursor.
    MissingCursor,
}

struct Tamper {
    fault: Fault,
    calls: AtomicUsize,
}

async fn tamper(State(t): State<Arc<Tamper>>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/api/list_snapshot" {
        return next.run(req).await;
    }
    let n = t.calls.fetch_add(1, Ordering::SeqCst);
    if let Fault::Unavailable(times) = t.fault
        && n < times
    {
        let body = json!({"code": "TableSummariesUnavailable", "message": "Table summaries are bootstrapping"});
        return (StatusCode::SERVICE_UNAVAILABLE, body.to_string()).into_response();
    }
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    let Ok(mut page) = serde_json::from_slice::<Json>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    match t.fault {
        Fault::UnknownSystemKeys => {
            for v in page["values"].as_array_mut().into_iter().flatten() {
                v["_future"] = json!({"$integer": "AQAAAAAAAAA="});
                v["_shard"] = json!("eu-1");
            }
        }
        Fault::ForeignRows => {
            if let Some(values) = page["values"].as_array_mut() {
                values.push(json!({
                    "_id": "k57abcdefghjkmnpqrstvwxyz0123456",
                    "_creationTime": 1.0, "_ts": {"$integer": "AQAAAAAAAAA="},
                    "_table": "secrets", "_component": "", "password": "hunter2",
                }));
            }
        }
        Fault::MissingCursor if n == 0 => {
            page["hasMore"] = json!(true);
            page["cursor"] = Json::Null;
        }
        _ => {}
    }
    let mut resp = Response::from_parts(parts, Body::from(page.to_string()));
    resp.headers_mut().remove("content-length");
    resp
}

/// Serves the fixture's emulator behind `fault`; returns a source reading through it.
async fn rogue(
    fx: &Fixture,
    fault: Fault,
    f: impl FnOnce(&mut ConvexConfig),
) -> (Arc<ConvexSource>, Arc<Tamper>) {
    let state = Arc::new(Tamper {
        fault,
        calls: AtomicUsize::new(0),
    });
    let app = fx
        .emulator
        .router()
        .layer(middleware::from_fn_with_state(state.clone(), tamper));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut cfg = ConvexConfig::new(url, ADMIN_KEY);
    f(&mut cfg);
    (Arc::new(ConvexSource::try_new(cfg).unwrap()), state)
}

/// list_snapshot calls that went through the middleware.
fn calls(t: &Tamper) -> usize {
    t.calls.load(Ordering::SeqCst)
}

async fn seeded() -> Fixture {
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(60).unwrap();
    fx
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_503s_are_retried_from_the_same_cursor() {
    let fx = seeded().await;
    let (source, t) = rogue(&fx, Fault::Unavailable(3), |_| {}).await;
    fx.sync_with(source, &SyncOptions::default()).await.unwrap();
    assert!(calls(&t) > 3);
    fx.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_system_keys_are_ignored() {
    let fx = seeded().await;
    let (source, t) = rogue(&fx, Fault::UnknownSystemKeys, |_| {}).await;
    fx.sync_with(source, &SyncOptions::default()).await.unwrap();
    assert!(calls(&t) > 0);
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
    let (source, t) = rogue(&fx, Fault::ForeignRows, |c| {
        c.tables = Some(vec!["users".into()])
    })
    .await;
    fx.sync_with(source, &SyncOptions::default()).await.unwrap();
    assert!(calls(&t) > 0);
    let only = [spillway_core::StreamId::root("users")];
    assert!(fx.mismatches(Some(&only)).unwrap().is_empty());
    let mut dest = fx.open_dest();
    assert_eq!(dest.tables().unwrap(), vec!["users"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn has_more_without_a_cursor_is_a_protocol_error() {
    let fx = seeded().await;
    let (source, _) = rogue(&fx, Fault::MissingCursor, |_| {}).await;
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
