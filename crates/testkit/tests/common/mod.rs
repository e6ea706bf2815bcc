//! A misbehaving server for the tests: the fixture's emulator behind a middleware that may
//! replace each `list_snapshot` answer (spec behaviour the real emulator never shows).
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use spillway_testkit::Fixture;

/// Given the 0-based index of a `list_snapshot` call and the emulator's answer body, a
/// replacement answer, or `None` to pass the real one on.
pub type Rewrite = dyn Fn(usize, &[u8]) -> Option<Response> + Send + Sync;

/// The middleware's state: the rewrite and how many `list_snapshot` calls went through.
pub struct Rewriter {
    rewrite: Box<Rewrite>,
    calls: AtomicUsize,
}

impl Rewriter {
    /// `list_snapshot` calls that went through the middleware.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn rewrite(State(r): State<Arc<Rewriter>>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/api/list_snapshot" {
        return next.run(req).await;
    }
    let call = r.calls.fetch_add(1, Ordering::SeqCst);
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    match (r.rewrite)(call, &bytes) {
        Some(rewritten) => rewritten,
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// Serves the fixture's emulator behind `rewrite` on a new port; returns its URL.
pub async fn serve_rewritten(
    fx: &Fixture,
    rewrite_fn: impl Fn(usize, &[u8]) -> Option<Response> + Send + Sync + 'static,
) -> (String, Arc<Rewriter>) {
    let state = Arc::new(Rewriter {
        rewrite: Box::new(rewrite_fn),
        calls: AtomicUsize::new(0),
    });
    let app = fx
        .emulator
        .router()
        .layer(middleware::from_fn_with_state(state.clone(), rewrite));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

/// A JSON answer with status 200.
pub fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The answer `body` as JSON, changed by `f`, as a 200 answer.
pub fn edited(body: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Response {
    let mut page: serde_json::Value = serde_json::from_slice(body).unwrap();
    f(&mut page);
    json_response(page.to_string().into_bytes())
}
