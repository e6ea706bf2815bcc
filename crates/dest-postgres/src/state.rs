//! The `_spillway_state` table: one row per source, committed with the rows it covers.
//!
//! The state is kept as `json` (the exact text spillway wrote, so integers beyond 2^64 or
//! floats keep their form); `updated_at` is the commit's wall-clock time.

use spillway_core::{Checkpoint, DestError, SourceState, StateKey};

use crate::db::Db;
use crate::ddl::qualified;
use crate::error::data_error;

/// The state table's name.
pub(crate) const STATE_TABLE: &str = "_spillway_state";

/// `"schema"."_spillway_state"`.
fn table(schema: &str) -> String {
    qualified(schema, STATE_TABLE)
}

/// Creates the schema and the state table if they are missing.
pub(crate) async fn ensure_table(db: &Db, schema: &str) -> Result<(), DestError> {
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {s}; \
         CREATE TABLE IF NOT EXISTS {t} (\
           state_key text PRIMARY KEY, \
           state json NOT NULL, \
           description text, \
           updated_at timestamptz)",
        s = crate::ddl::quote(schema),
        t = table(schema)
    );
    db.exec(&sql, || {
        format!("creating schema {schema:?} and its table {STATE_TABLE}")
    })
    .await
}

/// Refuses a key Postgres `text` cannot hold.
fn check_key(db: &Db, key: &StateKey) -> Result<(), DestError> {
    if key.0.contains('\0') {
        return Err(data_error(
            &db.target,
            format!("state key {key:?} contains a NUL character, which Postgres text cannot hold"),
        ));
    }
    Ok(())
}

/// Upserts the state row of `key` (inside the caller's transaction).
pub(crate) async fn save(
    db: &Db,
    schema: &str,
    key: &StateKey,
    checkpoint: &Checkpoint,
) -> Result<(), DestError> {
    check_key(db, key)?;
    // serde_json escapes NUL as \u0000, which `json` (unlike `jsonb`) accepts.
    let state = serde_json::to_string(&checkpoint.state.0)
        .map_err(|e| data_error(&db.target, format!("serializing the state of {key}: {e}")))?;
    // The description is for people; a NUL in it becomes U+FFFD rather than failing a commit.
    let description = checkpoint.description.replace('\0', "\u{fffd}");
    db.exec_params(
        &format!(
            "INSERT INTO {} (state_key, state, description, updated_at) \
             VALUES ($1, $2::text::json, $3, clock_timestamp()) \
             ON CONFLICT (state_key) DO UPDATE SET state = excluded.state, \
               description = excluded.description, updated_at = excluded.updated_at",
            table(schema)
        ),
        &[&key.0, &state, &description],
        || format!("saving the state of {key} in {STATE_TABLE}"),
    )
    .await?;
    Ok(())
}

/// Parses a stored state.
fn parse(db: &Db, key: &str, text: &str) -> Result<SourceState, DestError> {
    serde_json::from_str(text).map(SourceState).map_err(|e| {
        data_error(
            &db.target,
            format!("the saved state of {key} in {STATE_TABLE} is not JSON: {e}"),
        )
    })
}

/// The state saved for `key`.
pub(crate) async fn load(
    db: &Db,
    schema: &str,
    key: &StateKey,
) -> Result<Option<SourceState>, DestError> {
    check_key(db, key)?;
    let rows = db
        .query(
            &format!(
                "SELECT state::text FROM {} WHERE state_key = $1",
                table(schema)
            ),
            &[&key.0],
            || format!("loading the state of {key}"),
        )
        .await?;
    match rows.first() {
        None => Ok(None),
        Some(row) => Ok(Some(parse(db, &key.0, row.get::<_, &str>(0))?)),
    }
}

/// Deletes the state row of `key`.
pub(crate) async fn reset(db: &Db, schema: &str, key: &StateKey) -> Result<(), DestError> {
    check_key(db, key)?;
    db.exec_params(
        &format!("DELETE FROM {} WHERE state_key = $1", table(schema)),
        &[&key.0],
        || format!("resetting the state of {key}"),
    )
    .await?;
    Ok(())
}

/// Every saved state: `(key, state, description, updated_at)` by key; `updated_at` in UTC as
/// `YYYY-MM-DD HH:MM:SS.ffffff`.
pub(crate) async fn list(
    db: &Db,
    schema: &str,
) -> Result<Vec<(StateKey, SourceState, String, String)>, DestError> {
    let rows = db
        .query(
            &format!(
                "SELECT state_key, state::text, coalesce(description, ''), \
                 coalesce(to_char(updated_at AT TIME ZONE 'UTC', \
                   'YYYY-MM-DD HH24:MI:SS.US'), '') \
                 FROM {} ORDER BY state_key COLLATE \"C\"",
                table(schema)
            ),
            &[],
            || format!("listing {STATE_TABLE}"),
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let key: String = row.get(0);
        let state = parse(db, &key, row.get::<_, &str>(1))?;
        out.push((StateKey(key), state, row.get(2), row.get(3)));
    }
    Ok(out)
}
