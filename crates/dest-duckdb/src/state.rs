//! The `_spillway_state` table: one row per source, committed with the rows it covers.

use std::time::{SystemTime, UNIX_EPOCH};

use duckdb::params;
use spillway_core::{Checkpoint, DestError, SourceState, StateKey};

use crate::db::Db;
use crate::error::{Context, data_error};

/// The state table's name.
pub(crate) const STATE_TABLE: &str = "_spillway_state";

/// Creates the state table if it is missing.
pub(crate) fn ensure_table(db: &Db) -> Result<(), DestError> {
    db.exec(
        "CREATE TABLE IF NOT EXISTS _spillway_state (\
           state_key VARCHAR PRIMARY KEY, \
           state JSON NOT NULL, \
           description VARCHAR, \
           updated_at TIMESTAMP)",
        || format!("creating table {STATE_TABLE}"),
    )?;
    Ok(())
}

/// Upserts the state row of `key` (inside the caller's transaction).
pub(crate) fn save(db: &Db, key: &StateKey, checkpoint: &Checkpoint) -> Result<(), DestError> {
    let state = serde_json::to_string(&checkpoint.state.0)
        .map_err(|e| data_error(&db.path, format!("serializing the state of {key}: {e}")))?;
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    db.exec_params(
        "INSERT INTO _spillway_state (state_key, state, description, updated_at) \
         VALUES (?, CAST(? AS JSON), ?, make_timestamp(?)) \
         ON CONFLICT (state_key) DO UPDATE SET state = excluded.state, \
           description = excluded.description, updated_at = excluded.updated_at",
        params![key.0, state, checkpoint.description, now_us],
        || format!("saving the state of {key} in {STATE_TABLE}"),
    )?;
    Ok(())
}

/// The state saved for `key`.
pub(crate) fn load(db: &Db, key: &StateKey) -> Result<Option<SourceState>, DestError> {
    let mut stmt = db
        .conn
        .prepare("SELECT CAST(state AS VARCHAR) FROM _spillway_state WHERE state_key = ?")
        .context(&db.path, || format!("loading the state of {key}"))?;
    let mut rows = stmt
        .query(params![key.0])
        .context(&db.path, || format!("loading the state of {key}"))?;
    let Some(row) = rows
        .next()
        .context(&db.path, || format!("loading the state of {key}"))?
    else {
        return Ok(None);
    };
    let text: String = row
        .get(0)
        .context(&db.path, || format!("loading the state of {key}"))?;
    let value = serde_json::from_str(&text).map_err(|e| {
        data_error(
            &db.path,
            format!("the saved state of {key} is not JSON: {e}"),
        )
    })?;
    Ok(Some(SourceState(value)))
}

/// Deletes the state row of `key`.
pub(crate) fn reset(db: &Db, key: &StateKey) -> Result<(), DestError> {
    db.exec_params(
        "DELETE FROM _spillway_state WHERE state_key = ?",
        params![key.0],
        || format!("resetting the state of {key}"),
    )?;
    Ok(())
}

/// Every saved state: `(key, state, description, updated_at)`, by key.
pub(crate) fn list(db: &Db) -> Result<Vec<(StateKey, SourceState, String, String)>, DestError> {
    let what = || format!("listing {STATE_TABLE}");
    let mut stmt = db
        .conn
        .prepare(
            "SELECT state_key, CAST(state AS VARCHAR), coalesce(description, ''), \
             coalesce(CAST(updated_at AS VARCHAR), '') FROM _spillway_state ORDER BY state_key",
        )
        .context(&db.path, what)?;
    let mut rows = stmt.query([]).context(&db.path, what)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().context(&db.path, what)? {
        let key: String = row.get(0).context(&db.path, what)?;
        let text: String = row.get(1).context(&db.path, what)?;
        let description: String = row.get(2).context(&db.path, what)?;
        let updated_at: String = row.get(3).context(&db.path, what)?;
        let value = serde_json::from_str(&text).map_err(|e| {
            data_error(
                &db.path,
                format!("the saved state of {key} is not JSON: {e}"),
            )
        })?;
        out.push((StateKey(key), SourceState(value), description, updated_at));
    }
    Ok(out)
}
