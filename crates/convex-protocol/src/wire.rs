//! Request and response bodies of the legacy streaming export endpoints (spec §3, §7–§11).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// Endpoint paths, relative to the deployment URL.
pub mod paths {
    /// `GET|POST /api/list_snapshot`.
    pub const LIST_SNAPSHOT: &str = "/api/list_snapshot";
    /// `GET|POST /api/document_deltas`.
    pub const DOCUMENT_DELTAS: &str = "/api/document_deltas";
    /// `GET /api/json_schemas`.
    pub const JSON_SCHEMAS: &str = "/api/json_schemas";
    /// `GET /api/test_streaming_export_connection`.
    pub const TEST_CONNECTION: &str = "/api/test_streaming_export_connection";
    /// `GET /api/get_table_column_names`.
    pub const TABLE_COLUMN_NAMES: &str = "/api/get_table_column_names";
}

/// The error envelope every failing route returns (spec §3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorEnvelope {
    /// Short machine-readable code, e.g. `SnapshotTooOld`.
    pub code: String,
    /// Human-readable text.
    pub message: String,
}

/// A row of a `list_snapshot` or `document_deltas` page, still in its wire encoding.
///
/// Metadata keys (`_component`, `_table`, `_ts`, `_deleted`) are plain JSON; document fields
/// are encoded per the request's `format`.
pub type WireRow = Map<String, Json>;

/// `POST /api/list_snapshot` body (spec §7.1). Selection keys are flattened in by the caller.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ListSnapshotRequest {
    /// The snapshot ts to read at; omitted only on the very first page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<i64>,
    /// The cursor of the previous page; omitted on the first page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The value format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The selection (spec §6.1), sent as the `selection` key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<Json>,
}

/// `list_snapshot` response (spec §7.2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListSnapshotResponse {
    /// Live documents of one table.
    pub values: Vec<WireRow>,
    /// The ts actually read; echo it on every later page.
    pub snapshot: i64,
    /// Resume token; `null` only when `has_more` is false.
    pub cursor: Option<String>,
    /// Whether more pages follow.
    pub has_more: bool,
}

/// `POST /api/document_deltas` body (spec §8.1).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DocumentDeltasRequest {
    /// Exclusive lower bound: a snapshot ts or the previous page's cursor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<i64>,
    /// The value format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The selection (spec §6.1), sent as the `selection` key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<Json>,
}

/// `document_deltas` response (spec §8.2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDeltasResponse {
    /// Revisions in commit order, tables interleaved; tombstones carry `_deleted: true`.
    pub values: Vec<WireRow>,
    /// Exclusive cursor for the next page.
    pub cursor: i64,
    /// Whether more pages follow.
    pub has_more: bool,
}

/// `get_table_column_names` response (spec §11).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TableColumnNames {
    /// Component path → tables with their column names.
    pub by_component: std::collections::BTreeMap<String, Vec<TableColumns>>,
}

/// One table of [`TableColumnNames`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableColumns {
    /// Table name.
    pub name: String,
    /// Sorted top-level field names, including `_creationTime` and `_id`.
    pub columns: Vec<String>,
}

/// The `list_snapshot` cursor (spec §7.3): compact JSON `{"tablet":…,"id":…}` inside a string.
///
/// Clients treat it as opaque; the emulator needs its structure.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotCursorBody {
    /// Tablet id, 16 bytes as unpadded URL-safe base64 (22 characters).
    pub tablet: String,
    /// Document id: everything in this tablet up to and including it is done.
    pub id: String,
}

impl SnapshotCursorBody {
    /// The wire string.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a wire string; `None` if it is not of the §7.3 form.
    pub fn decode(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }
}

/// Error codes of spec §3 that clients act on.
pub mod codes {
    /// Wrong key for this deployment (401).
    pub const BAD_ADMIN_KEY: &str = "BadAdminKey";
    /// No key or an end-user token (403).
    pub const BAD_DEPLOY_KEY: &str = "BadDeployKey";
    /// Key lacks `deployment:data:view` (403).
    pub const OPERATION_NOT_PERMITTED: &str = "OperationNotPermitted";
    /// Plan lacks streaming export (403).
    pub const STREAMING_EXPORT_NOT_ENABLED: &str = "StreamingExportNotEnabled";
    /// Snapshot older than the max age (400).
    pub const SNAPSHOT_TOO_OLD: &str = "SnapshotTooOld";
    /// Snapshot in the future (400).
    pub const SNAPSHOT_TOO_NEW: &str = "SnapshotTooNew";
    /// Deltas cursor outside document retention (400).
    pub const INVALID_WINDOW: &str = "InvalidWindowToReadDocuments";
    /// Malformed list_snapshot cursor (400).
    pub const INVALID_LIST_SNAPSHOT_CURSOR: &str = "InvalidListSnapshotCursor";
    /// Unknown `format` (400).
    pub const BAD_FORMAT: &str = "BadFormat";
    /// Shape summaries still bootstrapping (503, retryable).
    pub const TABLE_SUMMARIES_UNAVAILABLE: &str = "TableSummariesUnavailable";
    /// Anything without metadata (500).
    pub const INTERNAL_SERVER_ERROR: &str = "InternalServerError";
    /// Malformed query string (400).
    pub const BAD_QUERY_ARGS: &str = "BadQueryArgs";
    /// Malformed JSON body or content type (400).
    pub const BAD_JSON_BODY: &str = "BadJsonBody";
    /// `document_deltas` without a cursor (400).
    pub const DOCUMENT_DELTAS_CURSOR_REQUIRED: &str = "DocumentDeltasCursorRequired";
    /// `Convex-Client` without `-<semver>` (400).
    pub const INVALID_CLIENT_VERSION: &str = "InvalidClientVersion";
    /// `Authorization` shorter than 7 bytes (400).
    pub const INVALID_HEADER_FAILURE: &str = "InvalidHeaderFailure";
    /// Authorization scheme neither `Convex ` nor `Bearer ` (400).
    pub const INVALID_ADMIN_KEY: &str = "InvalidAdminKey";
    /// Non-ASCII header or malformed acting-user suffix (400).
    pub const HEADER_PARSE_FAILURE: &str = "HeaderParseFailure";
    /// End-user token that cannot be verified (401).
    pub const UNAUTHENTICATED: &str = "Unauthenticated";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_cursor_is_compact_json() {
        let c = SnapshotCursorBody {
            tablet: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            id: "x".into(),
        };
        assert_eq!(
            c.encode(),
            r#"{"tablet":"AAAAAAAAAAAAAAAAAAAAAA","id":"x"}"#
        );
        assert_eq!(SnapshotCursorBody::decode(&c.encode()), Some(c));
        assert_eq!(SnapshotCursorBody::decode("abc"), None);
    }

    #[test]
    fn responses_parse_null_cursor() {
        let r: ListSnapshotResponse = serde_json::from_str(
            r#"{"values":[],"snapshot":1750000000000000000,"cursor":null,"hasMore":false}"#,
        )
        .unwrap();
        assert_eq!(r.snapshot, 1_750_000_000_000_000_000);
        assert!(r.cursor.is_none());
    }
}
