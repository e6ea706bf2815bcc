//! Write mode `upsert` (and `replace` / `overwrite-delete-stale`, into the reload copy during
//! a reload): one row per `_id`.
//!
//! 1. `_spillway_latest` keeps the latest revision of each `_id` of the batch (a batch may hold
//!    several revisions of one document).
//! 2. Rows whose `_ts` is not newer than the batch's revision are deleted (tombstones and
//!    replaced documents alike).
//! 3. The live revisions are inserted unless the table still holds a newer one, so a replayed
//!    or overlapping batch never moves a row back in time. A revision replaces the whole row:
//!    columns absent from the batch become NULL.

use spillway_core::schema::{DELETED, ID, TS};
use spillway_core::{ColumnType, DestError};

use crate::db::Db;
use crate::ddl::quote;
use crate::writer::{LATEST, drop_latest, insert_columns, stage_latest};

/// Merges the staged batch into `table`; returns `(inserted, deleted)` row counts.
pub(crate) fn merge(
    db: &Db,
    table: &str,
    columns: &[(String, ColumnType)],
) -> Result<(usize, usize), DestError> {
    stage_latest(db, table)?;
    // Every row this batch supersedes goes: tombstoned ones and those replaced by a newer
    // revision. (A Convex revision replaces the whole document, so the replacement is a
    // fresh insert: a field the new revision lacks becomes NULL. An in-place UPDATE would
    // also be wrong for DOUBLEs: DuckDB skips updating −0.0 to 0.0.)
    let deleted = db.exec(
        &format!(
            "DELETE FROM {t} AS tgt USING temp.main.{LATEST} AS l \
             WHERE tgt.{id} = l.{id} AND tgt.{ts} <= l.{ts}",
            t = quote(table),
            id = quote(ID),
            ts = quote(TS),
        ),
        || format!("deleting superseded rows of table {table:?}"),
    )?;

    // Live rows, unless the table already holds a newer revision (a replayed batch).
    let (names, exprs) = insert_columns(columns);
    let inserted = db.exec(
        &format!(
            "INSERT INTO {t} ({names}) SELECT {exprs} FROM temp.main.{LATEST} AS l \
             WHERE NOT coalesce(l.{del}, false) \
             AND NOT EXISTS (SELECT 1 FROM {t} AS tgt WHERE tgt.{id} = l.{id})",
            t = quote(table),
            names = names.join(", "),
            exprs = exprs.join(", "),
            del = quote(DELETED),
            id = quote(ID),
        ),
        || format!("inserting rows into table {table:?}"),
    )?;
    drop_latest(db)?;
    Ok((inserted, deleted))
}
