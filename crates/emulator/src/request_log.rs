//! The outermost `/api/*` middleware: records every request in the log (credentials
//! redacted), adds the configured latency and applies the fault rules (spec §18.5).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::faults::{self, Fault};
use crate::{Shared, lock};

/// Largest request body the emulator reads (bodies are small JSON objects).
const MAX_BODY: usize = 16 << 20;

/// What the log stores instead of a credential.
const REDACTED: &str = "present";

/// `Convex-Client`, lowercase as header names are stored.
const CONVEX_CLIENT: HeaderName = HeaderName::from_static("convex-client");

/// One logged `/api/*` request. Credentials are never stored: the `Authorization` header's
/// value and the `adminKey` query parameter read `present`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LoggedRequest {
    /// HTTP method (`GET`, `POST`, …).
    pub method: String,
    /// Path, e.g. `/api/list_snapshot`.
    pub path: String,
    /// Raw query string without `?` (empty if none), with `adminKey` redacted.
    pub query: String,
    /// Request body as text (lossy UTF-8).
    pub body: String,
    /// The body parsed as JSON; `None` when empty or not JSON.
    pub body_json: Option<serde_json::Value>,
    /// Request headers in arrival order (names lowercase), `authorization` redacted.
    pub headers: Vec<(String, String)>,
    /// The `Convex-Client` header, if sent.
    pub convex_client: Option<String>,
    /// `Some("present")` when an `Authorization` header was sent (the key is never stored).
    pub authorization: Option<String>,
    /// The injected fault ([`Fault::name`]), if any.
    pub fault: Option<String>,
    /// Response status code; 0 when no response was sent (a hang, or the client gave up).
    pub status: u16,
}

impl LoggedRequest {
    fn new(parts: &Parts, body: &Bytes) -> Self {
        let header = |name: &HeaderName| {
            parts
                .headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        LoggedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: redact_query(parts.uri.query().unwrap_or_default()),
            body: String::from_utf8_lossy(body).into_owned(),
            body_json: serde_json::from_slice(body).ok(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    let value = if *k == header::AUTHORIZATION {
                        REDACTED.to_string()
                    } else {
                        String::from_utf8_lossy(v.as_bytes()).into_owned()
                    };
                    (k.to_string(), value)
                })
                .collect(),
            convex_client: header(&CONVEX_CLIENT),
            authorization: header(&header::AUTHORIZATION).map(|_| REDACTED.to_string()),
            fault: None,
            status: 0,
        }
    }
}

/// The query string with every `adminKey` value replaced.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key == "adminKey" => format!("{key}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A log entry pushed exactly once: by [`Pending::finish`], or with status 0 when the request
/// future is dropped first (the client went away).
struct Pending {
    shared: Arc<Shared>,
    entry: Option<LoggedRequest>,
}

impl Pending {
    fn finish(&mut self, status: u16) {
        if let Some(mut entry) = self.entry.take() {
            entry.status = status;
            lock(&self.shared.requests).push(entry);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish(0);
    }
}

/// Logs each `/api/*` request, then applies latency and faults.
pub(crate) async fn log_and_inject(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let mut entry = LoggedRequest::new(&parts, &bytes);
    // Registered before the rules are consulted, so a `clear_faults` racing with a hang that
    // is just starting still releases it.
    let mut released = std::pin::pin!(shared.hang_release.notified());
    released.as_mut().enable();
    let (fault, latency) = {
        let mut state = lock(&shared.faults);
        (state.decide(&entry.path), state.latency)
    };
    entry.fault = fault.as_ref().map(Fault::name);
    let mut pending = Pending {
        shared: shared.clone(),
        entry: Some(entry),
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let response = match fault {
        None => next.run(req).await,
        Some(Fault::Hang) => {
            pending.finish(0);
            tokio::select! {
                () = tokio::time::sleep(faults::HANG) => {}
                () = released => {}
            }
            return next.run(req).await;
        }
        Some(fault) => faults::respond(&fault, next.run(req)).await,
    };
    pending.finish(response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_key_is_redacted() {
        assert_eq!(
            redact_query("format=json&adminKey=prod%3Ax%7Csecret&cursor=1"),
            "format=json&adminKey=present&cursor=1"
        );
        assert_eq!(redact_query(""), "");
    }
}
