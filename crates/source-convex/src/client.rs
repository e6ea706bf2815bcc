//! HTTP client for the legacy streaming export endpoints (spec §2, §3, §7–§11).
//!
//! One long-lived `reqwest::Client` (keep-alive, gzip) with explicit timeouts. Every request
//! carries `Authorization: Convex <key>` and `Convex-Client: spillway-<version>`. Failures are
//! classified once, here, into an [`ErrorKind`]; messages name the endpoint and status and
//! never the key.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde_json::json;
use spillway_convex_protocol::data_sync::{
    self, CursorFromDeltasRequest, CursorFromDeltasResponse, DataSyncRequest, DataSyncResponse,
};
use spillway_convex_protocol::selection::Selection;
use spillway_convex_protocol::wire::{
    DocumentDeltasResponse, ErrorEnvelope, ListSnapshotResponse, TableColumnNames, codes, paths,
};
use spillway_core::{ErrorKind, SourceError};

use crate::config::Secret;
use crate::decode::{
    DeltasPage, FastDeltasPage, FastSnapshotPage, FastSyncPage, SnapshotPage, SyncPage,
};

/// The `Convex-Client` header value: `spillway-<semver>` (spec §2.2, §17.32).
pub const CLIENT_HEADER: &str = concat!("spillway-", env!("CARGO_PKG_VERSION"));

/// The `format` spillway always requests: lossless for Int64, bytes and float specials.
pub const FORMAT: &str = "convex_encoded_json";

/// A classified failure of one request.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// User-facing text (endpoint, status, code, what to fix).
    pub message: String,
    /// The server's error code, when it sent the envelope.
    pub code: Option<String>,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
    /// For a transient-looking failure that may also be permanent (a 500, a malformed body):
    /// the most attempts worth making before giving up (spec §17.26).
    pub max_attempts: Option<u32>,
}

impl ApiError {
    /// An error without a server code.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            code: None,
            status: None,
            retry_after: None,
            max_attempts: None,
        }
    }

    /// Caps the attempts made for this failure.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }
}

/// Attempts made for failures that look transient but may be permanent: a 500 (the legacy
/// routes also answer an invalid table name or selection with 500, spec §17.26) or a 200
/// whose body is not the expected JSON.
pub const SUSPECT_ATTEMPTS: u32 = 6;

impl From<ApiError> for SourceError {
    fn from(e: ApiError) -> Self {
        SourceError::new(e.kind, e.message)
    }
}

/// A client bound to one deployment.
#[derive(Clone)]
pub struct ConvexClient {
    http: reqwest::Client,
    base: String,
    host: String,
}

impl ConvexClient {
    /// Builds a client for the deployment at `base` (validated root URL).
    pub fn new(base: &url::Url, key: &Secret, timeout: Duration) -> Result<Self, SourceError> {
        let mut headers = HeaderMap::new();
        let mut auth =
            HeaderValue::from_str(&format!("Convex {}", key.expose().trim())).map_err(|_| {
                SourceError::new(
                    ErrorKind::Config,
                    "source.deploy_key contains characters that cannot be sent in an HTTP header; \
                 copy the key again from the Convex dashboard",
                )
            })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert("Convex-Client", HeaderValue::from_static(CLIENT_HEADER));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                SourceError::new(
                    ErrorKind::Internal,
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        Ok(ConvexClient {
            http,
            base: base.as_str().trim_end_matches('/').to_string(),
            host: base.host_str().unwrap_or_default().to_string(),
        })
    }

    /// The deployment host (for messages and state keys).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `GET /api/test_streaming_export_connection` (spec §10).
    pub async fn test_connection(&self) -> Result<(), ApiError> {
        let _: serde_json::Value = self.get(paths::TEST_CONNECTION, &[]).await?;
        Ok(())
    }

    /// `GET /api/get_table_column_names` (spec §11).
    pub async fn table_column_names(&self) -> Result<TableColumnNames, ApiError> {
        self.get(paths::TABLE_COLUMN_NAMES, &[]).await
    }

    /// `GET /api/json_schemas?byComponent=true&format=convex_encoded_json` (spec §9).
    pub async fn json_schemas(&self) -> Result<serde_json::Value, ApiError> {
        self.get(
            paths::JSON_SCHEMAS,
            &[("byComponent", "true"), ("format", FORMAT)],
        )
        .await
    }

    /// `POST /api/list_snapshot` (spec §7). `snapshot` must be sent with every cursor.
    pub async fn list_snapshot(
        &self,
        snapshot: Option<i64>,
        cursor: Option<&str>,
        selection: &Selection,
    ) -> Result<SnapshotPage, ApiError> {
        let body = self.list_snapshot_body(snapshot, cursor, selection).await?;
        self.decode_snapshot(&body)
    }

    /// [`ConvexClient::list_snapshot`]'s response body, not decoded yet.
    pub async fn list_snapshot_body(
        &self,
        snapshot: Option<i64>,
        cursor: Option<&str>,
        selection: &Selection,
    ) -> Result<bytes::Bytes, ApiError> {
        let mut body = json!({ "format": FORMAT, "selection": selection.to_json() });
        if let Some(s) = snapshot {
            body["snapshot"] = json!(s);
        }
        if let Some(c) = cursor {
            body["cursor"] = json!(c);
        }
        self.post_body(paths::LIST_SNAPSHOT, &body).await
    }

    /// Decodes a `list_snapshot` response body.
    pub fn decode_snapshot(&self, body: &[u8]) -> Result<SnapshotPage, ApiError> {
        self.page::<FastSnapshotPage, ListSnapshotResponse, _>(paths::LIST_SNAPSHOT, body)
    }

    /// `POST /api/document_deltas` (spec §8).
    pub async fn document_deltas(
        &self,
        cursor: i64,
        selection: &Selection,
    ) -> Result<DeltasPage, ApiError> {
        let body = self.document_deltas_body(cursor, selection).await?;
        self.decode_deltas(&body)
    }

    /// [`ConvexClient::document_deltas`]'s response body, not decoded yet.
    pub async fn document_deltas_body(
        &self,
        cursor: i64,
        selection: &Selection,
    ) -> Result<bytes::Bytes, ApiError> {
        let body = json!({ "cursor": cursor, "format": FORMAT, "selection": selection.to_json() });
        self.post_body(paths::DOCUMENT_DELTAS, &body).await
    }

    /// Decodes a `document_deltas` response body.
    pub fn decode_deltas(&self, body: &[u8]) -> Result<DeltasPage, ApiError> {
        self.page::<FastDeltasPage, DocumentDeltasResponse, _>(paths::DOCUMENT_DELTAS, body)
    }

    /// `POST /api/v1/data/sync` (spec §12): the next page after `cursor`, or the first page
    /// of a new sync.
    pub async fn data_sync(
        &self,
        cursor: Option<&str>,
        selection: &Selection,
    ) -> Result<SyncPage, ApiError> {
        let body = DataSyncRequest {
            cursor: cursor.map(str::to_string),
            selection: Some(selection.to_json()),
        };
        self.post_page::<FastSyncPage, DataSyncResponse, _, _>(data_sync::paths::DATA_SYNC, &body)
            .await
    }

    /// `POST /api/data_sync_cursor_from_deltas` (spec §14): a data sync cursor equivalent to
    /// the legacy deltas cursor `ts`.
    pub async fn cursor_from_deltas(
        &self,
        ts: i64,
        selection: &Selection,
    ) -> Result<String, ApiError> {
        let body = CursorFromDeltasRequest {
            cursor: ts,
            selection: Some(selection.to_json()),
        };
        let r: CursorFromDeltasResponse = self
            .post(data_sync::paths::CURSOR_FROM_DELTAS, &body)
            .await?;
        Ok(r.cursor)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let req = self.http.get(format!("{}{path}", self.base)).query(query);
        self.send(path, req).await
    }

    async fn post<T: DeserializeOwned, B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let req = self.http.post(self.url(path)).json(body);
        self.send(path, req).await
    }

    /// POSTs `body` and decodes the page in one pass, or through the tree decoder
    /// ([`ConvexClient::page`]).
    async fn post_page<F, S, P, B>(&self, path: &str, body: &B) -> Result<P, ApiError>
    where
        F: DeserializeOwned,
        S: DeserializeOwned,
        P: From<F> + From<S>,
        B: serde::Serialize + ?Sized,
    {
        let bytes = self.post_body(path, body).await?;
        self.page::<F, S, P>(path, &bytes)
    }

    /// POSTs `body` as JSON; the body of a success, or the classified failure.
    async fn post_body<B>(&self, path: &str, body: &B) -> Result<bytes::Bytes, ApiError>
    where
        B: serde::Serialize + ?Sized,
    {
        self.fetch(path, self.http.post(self.url(path)).json(body))
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let body = self.fetch(path, req).await?;
        self.parse(path, &body)
    }

    /// Sends `req`; the body of a success, or the classified failure.
    async fn fetch(
        &self,
        path: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, ApiError> {
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(path, &e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(path, &e))?;
        if status.is_success() {
            return Ok(body);
        }
        let mut err = classify(&self.host, path, status, &body);
        err.retry_after = retry_after;
        Err(err)
    }

    /// Decodes a page in one pass (`F`); a page the fast decoder refuses goes through the tree
    /// decoder (`S`), whose errors name the row and field ([`crate::decode`]).
    fn page<F, S, P>(&self, path: &str, body: &[u8]) -> Result<P, ApiError>
    where
        F: DeserializeOwned,
        S: DeserializeOwned,
        P: From<F> + From<S>,
    {
        match crate::decode::fast_page::<F>(body) {
            Ok(fast) => Ok(fast.into()),
            Err(_) => Ok(self.parse::<S>(path, body)?.into()),
        }
    }

    /// Parses a success body; one that is not the expected JSON is a (capped) transient error.
    fn parse<T: DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice(body).map_err(|e| {
            let why = match std::str::from_utf8(body) {
                Err(bad) => format!(
                    "{e}; the body is not valid UTF-8 at byte {}",
                    bad.valid_up_to()
                ),
                Ok(_) => e.to_string(),
            };
            ApiError::new(
                ErrorKind::Transient,
                format!(
                    "{path} on {} returned a body that is not the expected JSON ({why}): {}",
                    self.host,
                    snippet(body)
                ),
            )
            .with_max_attempts(SUSPECT_ATTEMPTS)
        })
    }

    fn transport_error(&self, path: &str, e: &reqwest::Error) -> ApiError {
        // reqwest's Display includes the URL, which never carries the key (it travels in a
        // header), so it is safe to show.
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else if e.is_body() || e.is_decode() {
            "connection failed while reading the response"
        } else {
            "request failed"
        };
        ApiError::new(
            ErrorKind::Transient,
            format!("{path} on {}: {what} ({})", self.host, error_chain(e)),
        )
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3); a date in the past means
/// no wait.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.len() > 200 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// Maps an HTTP failure to a kind and a message that says what to fix (spec §3, §17.26–28).
pub fn classify(host: &str, path: &str, status: StatusCode, body: &[u8]) -> ApiError {
    let envelope: Option<ErrorEnvelope> = serde_json::from_slice(body).ok();
    let code = envelope.as_ref().map(|e| e.code.clone());
    let server_text = match &envelope {
        Some(e) => format!("{}: {}", e.code, e.message),
        None if body.is_empty() => "empty body".to_string(),
        None => snippet(body),
    };
    let at = format!("{path} on {host} returned {}", status.as_u16());
    let (kind, message) = match (status.as_u16(), code.as_deref()) {
        (401, _) | (403, Some(codes::BAD_ADMIN_KEY)) => (
            ErrorKind::Auth,
            format!(
                "{at} ({server_text}). The deploy key was rejected: set source.deploy_key (or \
                 CONVEX_DEPLOY_KEY) to a deploy key of this deployment, from the Convex dashboard's \
                 Settings → Deploy keys"
            ),
        ),
        (403, Some(codes::BAD_DEPLOY_KEY)) => (
            ErrorKind::Auth,
            format!(
                "{at} ({server_text}). No valid deploy key was sent: set source.deploy_key or CONVEX_DEPLOY_KEY"
            ),
        ),
        (403, Some(codes::OPERATION_NOT_PERMITTED)) => (
            ErrorKind::Auth,
            format!(
                "{at} ({server_text}). The deploy key may not read data: use a full deploy key"
            ),
        ),
        (403, Some(codes::STREAMING_EXPORT_NOT_ENABLED)) => (
            ErrorKind::Auth,
            format!(
                "{at} ({server_text}). Streaming export is not enabled for this deployment's plan; \
                 it needs a Convex plan with streaming export (Pro)"
            ),
        ),
        (
            400,
            Some(
                codes::SNAPSHOT_TOO_OLD
                | codes::INVALID_WINDOW
                | data_sync::codes::DATA_SYNC_CURSOR_EXPIRED,
            ),
        ) => (ErrorKind::Expired, format!("{at} ({server_text})")),
        // A data sync cursor the server cannot use (tampered, or ahead of the deployment,
        // e.g. after a restore from backup): only a new sync can go on.
        (400, Some(data_sync::codes::INVALID_DATA_SYNC_CURSOR)) => (
            ErrorKind::Expired,
            format!(
                "{at} ({server_text}). The saved data sync cursor is not usable on this deployment"
            ),
        ),
        (400, Some(data_sync::codes::INVALID_DATA_SYNC_SELECTION)) => (
            ErrorKind::Config,
            format!("{at} ({server_text}). Check source.tables"),
        ),
        (
            400,
            Some(
                codes::INVALID_CLIENT_VERSION
                | codes::INVALID_HEADER_FAILURE
                | codes::INVALID_ADMIN_KEY
                | codes::HEADER_PARSE_FAILURE,
            ),
        ) => (
            ErrorKind::Auth,
            format!(
                "{at} ({server_text}). Check source.deploy_key: it must be the key itself, without a `Convex ` prefix"
            ),
        ),
        (404 | 405, _) => (
            ErrorKind::Config,
            format!(
                "{at} ({server_text}). Is source.url the deployment URL (https://<name>.convex.cloud), \
                 and does this deployment serve the streaming export API?"
            ),
        ),
        (500, _) => (
            ErrorKind::Transient,
            format!(
                "{at} ({server_text}). The legacy export routes also answer an invalid table \
                 name or selection this way: if this persists, check source.tables"
            ),
        ),
        (503, Some(codes::TABLE_SUMMARIES_UNAVAILABLE)) | (408 | 429 | 501..=599, _) => {
            (ErrorKind::Transient, format!("{at} ({server_text})"))
        }
        _ => (
            ErrorKind::Internal,
            format!("{at} ({server_text}); this is unexpected, please report it"),
        ),
    };
    ApiError {
        kind,
        message,
        code,
        status: Some(status.as_u16()),
        retry_after: None,
        max_attempts: (status == StatusCode::INTERNAL_SERVER_ERROR).then_some(SUSPECT_ATTEMPTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, body: &str) -> ApiError {
        classify(
            "h",
            "/api/x",
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
        )
    }

    #[test]
    fn classification() {
        assert_eq!(
            c(401, r#"{"code":"BadAdminKey","message":"m"}"#).kind,
            ErrorKind::Auth
        );
        assert_eq!(
            c(403, r#"{"code":"StreamingExportNotEnabled","message":"m"}"#).kind,
            ErrorKind::Auth
        );
        assert_eq!(
            c(400, r#"{"code":"SnapshotTooOld","message":"m"}"#).kind,
            ErrorKind::Expired
        );
        assert_eq!(
            c(
                400,
                r#"{"code":"InvalidWindowToReadDocuments","message":"m"}"#
            )
            .kind,
            ErrorKind::Expired
        );
        assert_eq!(
            c(503, r#"{"code":"TableSummariesUnavailable","message":"m"}"#).kind,
            ErrorKind::Transient
        );
        assert_eq!(
            c(502, "<html>bad gateway</html>").kind,
            ErrorKind::Transient
        );
        assert_eq!(c(429, "").kind, ErrorKind::Transient);
        assert_eq!(c(404, "").kind, ErrorKind::Config);
        assert_eq!(
            c(400, r#"{"code":"BadFormat","message":"m"}"#).kind,
            ErrorKind::Internal
        );
        assert!(CLIENT_HEADER.starts_with("spillway-0."));
        let e500 = c(500, r#"{"code":"InternalServerError","message":"m"}"#);
        assert_eq!(e500.kind, ErrorKind::Transient);
        assert_eq!(e500.max_attempts, Some(SUSPECT_ATTEMPTS));
        assert!(e500.message.contains("source.tables"), "{}", e500.message);
        assert_eq!(c(502, "").max_attempts, None);
    }

    #[test]
    fn retry_after_as_seconds_or_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
