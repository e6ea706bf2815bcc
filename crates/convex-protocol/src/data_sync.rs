//! Request and response bodies of the data sync API (spec §12–§14): `POST /api/v1/data/sync`,
//! `GET /api/v1/data/list_active_syncs` and `POST /api/data_sync_cursor_from_deltas`.
//!
//! Field order is the serialization order of the backend (spec §12.2). Values inside
//! [`DataSyncValue::value`] are in `export_json` ([`crate::Format::ExportJson`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// Endpoint paths, relative to the deployment URL.
pub mod paths {
    /// `POST /api/v1/data/sync`.
    pub const DATA_SYNC: &str = "/api/v1/data/sync";
    /// `GET /api/v1/data/list_active_syncs`.
    pub const LIST_ACTIVE_SYNCS: &str = "/api/v1/data/list_active_syncs";
    /// `POST /api/data_sync_cursor_from_deltas`.
    pub const CURSOR_FROM_DELTAS: &str = "/api/data_sync_cursor_from_deltas";
}

/// Error codes of the data sync routes (spec §3, §12.4, §13, §14).
pub mod codes {
    /// Undecodable/tampered cursor, cursor ahead of the latest ts, bad shim timestamp (400).
    pub const INVALID_DATA_SYNC_CURSOR: &str = "InvalidDataSyncCursor";
    /// Invalid selection (bad name, `_id` excluded) (400).
    pub const INVALID_DATA_SYNC_SELECTION: &str = "InvalidDataSyncSelection";
    /// Cursor outside data retention: restart without a cursor (400).
    pub const DATA_SYNC_CURSOR_EXPIRED: &str = "DataSyncCursorExpired";
    /// `list_active_syncs` limit 0 or above 100 (400).
    pub const LIMIT_OUT_OF_RANGE: &str = "LimitOutOfRange";
    /// `list_active_syncs` cursor that does not decrypt (400).
    pub const INVALID_CURSOR: &str = "InvalidCursor";
}

/// `POST /api/v1/data/sync` body (spec §12.1).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DataSyncRequest {
    /// The previous page's `nextCursor`; omitted to start a new sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The selection (spec §6.1); everything when omitted. May change between calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<Json>,
}

/// Where a data sync stands after a page (spec §12.3).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum DataSyncStatus {
    /// Some selected table is still being traversed: the replica is not consistent yet.
    Snapshotting,
    /// Consistent at `snapshot_ts`, with newer changes waiting.
    #[serde(rename_all = "camelCase")]
    Stale {
        /// The ts the replica is consistent at.
        snapshot_ts: i64,
    },
    /// Consistent at `snapshot_ts`, which is the latest ts: back off before the next call.
    #[serde(rename_all = "camelCase")]
    UpToDate {
        /// The ts the replica is consistent at.
        snapshot_ts: i64,
    },
}

impl DataSyncStatus {
    /// The ts the replica is consistent at, for `stale` and `upToDate`.
    pub fn snapshot_ts(&self) -> Option<i64> {
        match self {
            DataSyncStatus::Snapshotting => None,
            DataSyncStatus::Stale { snapshot_ts } | DataSyncStatus::UpToDate { snapshot_ts } => {
                Some(*snapshot_ts)
            }
        }
    }

    /// The wire name (`snapshotting`, `stale`, `upToDate`).
    pub fn name(&self) -> &'static str {
        match self {
            DataSyncStatus::Snapshotting => "snapshotting",
            DataSyncStatus::Stale { .. } => "stale",
            DataSyncStatus::UpToDate { .. } => "upToDate",
        }
    }
}

/// A table by name: an entry of `truncates`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    /// Component path (`""` for the root app).
    pub component: String,
    /// Table name.
    pub table: String,
}

/// One document revision of a data sync page.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DataSyncValue {
    /// Component path (`""` for the root app).
    pub component: String,
    /// Table name.
    pub table: String,
    /// Commit ts of this revision.
    pub ts: i64,
    /// A tombstone: `value` holds only `_id`.
    pub deleted: bool,
    /// The document in `export_json` (`_id`, `_creationTime` unless deselected, fields).
    pub value: Map<String, Json>,
}

/// `pagination` of a data sync page: the stream never ends.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DataSyncPagination {
    /// Always `true`.
    pub has_more: bool,
    /// The cursor for the next call; a new string every page (never compare them).
    pub next_cursor: String,
}

/// `POST /api/v1/data/sync` response (spec §12.2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataSyncResponse {
    /// Where the sync stands after this page.
    pub status: DataSyncStatus,
    /// Tables to empty before applying `values`.
    pub truncates: Vec<TableName>,
    /// Revisions: `_id` order in a by_id page, commit order in a ts page.
    pub values: Vec<DataSyncValue>,
    /// The sync's id (`fivetran-…`, `airbyte-…` or a bare uuid).
    pub sync_id: String,
    /// The next cursor.
    pub pagination: DataSyncPagination,
}

/// `GET /api/v1/data/list_active_syncs` response (spec §13).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ListActiveSyncsResponse {
    /// Syncs that fetched a page in the last 3 days, most recent first.
    pub syncs: Vec<ActiveSync>,
    /// Paging of the list.
    pub pagination: ActiveSyncsPagination,
}

/// `pagination` of [`ListActiveSyncsResponse`]; `nextCursor` is omitted when absent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSyncsPagination {
    /// Whether more syncs follow.
    pub has_more: bool,
    /// Cursor of the next page of the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One entry of [`ListActiveSyncsResponse`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSync {
    /// The sync's id.
    pub sync_id: String,
    /// Unix ms of its last page.
    pub last_updated: i64,
    /// Its progress (throttled: may lag its pages).
    pub status: ActiveSyncStatus,
}

/// Progress of one sync (spec §13). Counters count tombstones and re-emitted revisions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ActiveSyncStatus {
    /// Traversing tables.
    #[serde(rename_all = "camelCase")]
    Snapshotting {
        /// Tables fully traversed.
        num_tables_synced: u64,
        /// Tables selected.
        total_tables: u64,
        /// Component of the table in progress.
        current_component: String,
        /// The table in progress.
        current_table: String,
        /// Documents emitted from the table in progress.
        num_documents_in_current_table: u64,
        /// Documents in the table in progress.
        total_documents_in_current_table: u64,
        /// Documents emitted in all.
        num_documents_synced: u64,
        /// Documents in all selected tables.
        total_documents: u64,
    },
    /// Consistent, behind the latest ts.
    #[serde(rename_all = "camelCase")]
    Stale {
        /// Tables selected.
        total_tables: u64,
        /// Documents emitted in all.
        num_documents_synced: u64,
        /// The ts the consumer is consistent at.
        synced_ts: i64,
    },
    /// Consistent at the latest ts.
    #[serde(rename_all = "camelCase")]
    UpToDate {
        /// Tables selected.
        total_tables: u64,
        /// Documents emitted in all.
        num_documents_synced: u64,
        /// The ts the consumer is consistent at.
        synced_ts: i64,
    },
}

/// `POST /api/data_sync_cursor_from_deltas` body (spec §14).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CursorFromDeltasRequest {
    /// The last `document_deltas` cursor the consumer applied.
    pub cursor: i64,
    /// The selection the data sync will use; everything when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<Json>,
}

/// `POST /api/data_sync_cursor_from_deltas` response (spec §14).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CursorFromDeltasResponse {
    /// A data sync cursor: `synced_ts` = the given ts, every selected table synced.
    pub cursor: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_serializes_in_backend_key_order() {
        let page = DataSyncResponse {
            status: DataSyncStatus::Stale {
                snapshot_ts: 1_750_000_000_000_000_001,
            },
            truncates: vec![TableName {
                component: String::new(),
                table: "users".into(),
            }],
            values: vec![],
            sync_id: "x".into(),
            pagination: DataSyncPagination {
                has_more: true,
                next_cursor: "ab".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"status":{"type":"stale","snapshotTs":1750000000000000001},"truncates":[{"component":"","table":"users"}],"values":[],"syncId":"x","pagination":{"hasMore":true,"nextCursor":"ab"}}"#
        );
        let back: DataSyncResponse =
            serde_json::from_str(&serde_json::to_string(&page).unwrap()).unwrap();
        assert_eq!(back, page);
        assert_eq!(back.status.snapshot_ts(), Some(1_750_000_000_000_000_001));
    }

    #[test]
    fn statuses_and_active_syncs_parse() {
        let s: DataSyncStatus = serde_json::from_str(r#"{"type":"snapshotting"}"#).unwrap();
        assert_eq!(s, DataSyncStatus::Snapshotting);
        assert_eq!(s.name(), "snapshotting");
        let list: ListActiveSyncsResponse = serde_json::from_str(
            r#"{"syncs":[{"syncId":"a","lastUpdated":1,"status":{"type":"upToDate","totalTables":2,"numDocumentsSynced":5,"syncedTs":9}}],"pagination":{"hasMore":false}}"#,
        )
        .unwrap();
        assert_eq!(list.pagination.next_cursor, None);
        assert_eq!(
            serde_json::to_string(&list.pagination).unwrap(),
            r#"{"hasMore":false}"#
        );
    }
}
