//! Errors: [`EmulatorError`] for the Rust/control-plane API, and [`ApiError`], the `{"code",
//! "message"}` envelope of spec §3 returned by the `/api/*` routes.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use spillway_convex_protocol::wire::codes;

/// Why a mutation or control-plane call was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EmulatorError {
    /// A table or component name that Convex would not accept.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// A user field name that is reserved or malformed (top-level names cannot start with `_`,
    /// no name can start with `$`).
    #[error("invalid field name {name:?}: {reason}")]
    InvalidField {
        /// The offending field name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A document larger than Convex's 1 MiB limit.
    #[error("document is {size} bytes, larger than the 1 MiB limit")]
    DocumentTooLarge {
        /// The document's encoded size in bytes.
        size: usize,
    },
    /// A string that is not a valid Convex document id.
    #[error("invalid document id {0:?}")]
    InvalidId(String),
    /// No live document with this id.
    #[error("document {0} does not exist")]
    NotFound(String),
    /// No live table under this name.
    #[error("table {table:?} does not exist in component {component:?}")]
    NoSuchTable {
        /// Component path (`""` = root).
        component: String,
        /// Table name.
        table: String,
    },
    /// A malformed control-plane request.
    #[error("bad request: {0}")]
    BadRequest(String),
}

/// An error response of the export API (spec §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// The fixed message of a 500 without metadata (spec §3).
pub(crate) const INTERNAL_MESSAGE: &str = "Your request couldn't be completed. Try again later.";

/// 401 `BadAdminKey` (spec §3).
pub(crate) const BAD_ADMIN_KEY_MESSAGE: &str =
    "The provided admin key was invalid for this instance";

/// 403 `OperationNotPermitted` (spec §3).
pub(crate) const OPERATION_NOT_PERMITTED_MESSAGE: &str =
    "You do not have permission to perform this operation (deployment:data:view).";

/// 403 `StreamingExportNotEnabled` (spec §3).
pub(crate) const STREAMING_EXPORT_NOT_ENABLED_MESSAGE: &str = "Streaming export is not available \
     on your current subscription. Upgrade to the Professional plan to use streaming export.";

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 500 `InternalServerError`: what the legacy routes return for invalid names, invalid
    /// selections and negative timestamps. The `reason` is only logged, never sent.
    pub(crate) fn internal(reason: impl std::fmt::Display) -> Self {
        tracing::debug!(reason = %reason, "Returning InternalServerError.");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_SERVER_ERROR,
            INTERNAL_MESSAGE,
        )
    }

    /// The JSON envelope `{"code": …, "message": …}`.
    pub(crate) fn body(&self) -> String {
        let envelope = spillway_convex_protocol::wire::ErrorEnvelope {
            code: self.code.to_string(),
            message: self.message.clone(),
        };
        serde_json::to_string(&envelope).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response()
    }
}

/// A 200 response whose body is already-serialized JSON text.
pub(crate) fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
