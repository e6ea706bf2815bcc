//! The Convex source's persisted position (stored verbatim in each destination).
//!
//! Cursors are newtypes and are saved exactly as the server returned them, never derived from
//! `_ts` (spec §17.7).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use spillway_core::{ErrorKind, SourceError, SourceState};

/// Version of [`ConvexState`]'s layout (2 added [`Position::DataSync`]; version 1 states read
/// unchanged).
pub const STATE_VERSION: u32 = 2;

/// A `list_snapshot` timestamp (also the first `document_deltas` cursor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SnapshotTs(pub i64);

/// An opaque `list_snapshot` cursor string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SnapshotCursor(pub String);

/// A `document_deltas` cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeltaCursor(pub i64);

/// An opaque data sync cursor (`pagination.nextCursor`), saved verbatim and never compared
/// (spec §12.2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DataSyncCursor(pub String);

impl std::fmt::Debug for DataSyncCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Long hex; the first characters are enough to tell two apart in logs.
        let head: String = self.0.chars().take(12).collect();
        write!(f, "DataSyncCursor({head}…)")
    }
}

/// Where a sync stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Position {
    /// In the middle of a snapshot: resume `list_snapshot` at `snapshot` from `cursor`.
    Snapshot {
        /// The snapshot timestamp, re-sent with every page (spec §17.4).
        snapshot: SnapshotTs,
        /// The last page's cursor.
        cursor: SnapshotCursor,
    },
    /// Snapshot done; read `document_deltas` from `cursor`.
    Deltas {
        /// The last deltas cursor (or the snapshot ts).
        cursor: DeltaCursor,
    },
    /// Reading through data sync (spec §12): call `/api/v1/data/sync` with `cursor`.
    #[serde(rename_all = "camelCase")]
    DataSync {
        /// The last page's `nextCursor`.
        cursor: DataSyncCursor,
        /// The server's id of this sync (`list_active_syncs`).
        sync_id: String,
        /// The status the last page reported (`snapshotting`, `stale`, `upToDate`).
        status: String,
        /// For `stale`/`upToDate`: the ts the destination is a consistent snapshot at.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot_ts: Option<i64>,
    },
}

/// The whole persisted state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConvexState {
    /// Layout version ([`STATE_VERSION`]).
    pub version: u32,
    /// Which API wrote it (`legacy` or `data_sync`).
    pub api: String,
    /// The position.
    pub position: Position,
    /// Tables already truncated/created by the current snapshot (qualified names), so a
    /// resumed snapshot does not truncate them again (Fivetran's `tablesSeen` rule).
    #[serde(default)]
    pub tables_seen: BTreeSet<String>,
}

impl ConvexState {
    /// Serializes for a checkpoint.
    pub fn to_source_state(&self) -> SourceState {
        SourceState(serde_json::to_value(self).unwrap_or_default())
    }

    /// Reads a saved state, with a message that says what to do if it is unusable.
    pub fn from_source_state(s: &SourceState) -> Result<Self, SourceError> {
        let version = s.0.get("version").and_then(|v| v.as_u64());
        if let Some(v) = version
            && v > u64::from(STATE_VERSION)
        {
            {
                return Err(SourceError::new(
                    ErrorKind::Config,
                    format!(
                        "the saved state was written by a newer spillway (state version {v}); \
                         upgrade spillway, or run `spillway state reset` to start over"
                    ),
                ));
            }
        }
        serde_json::from_value(s.0.clone()).map_err(|e| {
            SourceError::new(
                ErrorKind::Config,
                format!(
                    "the saved Convex state is unreadable ({e}); run `spillway state reset` to start \
                     over with a full snapshot"
                ),
            )
        })
    }

    /// A human description for logs and `state show`.
    pub fn describe(&self) -> String {
        match &self.position {
            Position::Snapshot { snapshot, .. } => {
                format!(
                    "legacy API: snapshot at ts {} in progress ({} tables started)",
                    snapshot.0,
                    self.tables_seen.len()
                )
            }
            Position::Deltas { cursor } => {
                format!("legacy API: deltas at cursor {}", cursor.0)
            }
            Position::DataSync {
                sync_id,
                status,
                snapshot_ts,
                ..
            } => match snapshot_ts {
                Some(ts) => format!(
                    "data sync {sync_id}: {status}, a consistent snapshot at ts {ts} ({} tables)",
                    self.tables_seen.len()
                ),
                None => format!(
                    "data sync {sync_id}: {status} ({} tables started; not yet a consistent snapshot)",
                    self.tables_seen.len()
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_rejects_unknown_fields() {
        let s = ConvexState {
            version: 1,
            api: "legacy".into(),
            position: Position::Snapshot {
                snapshot: SnapshotTs(1_750_000_000_000_000_001),
                cursor: SnapshotCursor(r#"{"tablet":"x","id":"y"}"#.into()),
            },
            tables_seen: ["users".to_string()].into(),
        };
        let saved = s.to_source_state();
        assert_eq!(ConvexState::from_source_state(&saved).unwrap(), s);
        let mut bad = saved.0.clone();
        bad["extra"] = serde_json::json!(1);
        assert!(ConvexState::from_source_state(&SourceState(bad)).is_err());
        let newer = SourceState(serde_json::json!({"version": 9}));
        assert!(
            ConvexState::from_source_state(&newer)
                .unwrap_err()
                .message
                .contains("newer")
        );
    }
}
