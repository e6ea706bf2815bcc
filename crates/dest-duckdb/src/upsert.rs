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
//!
//! Rows whose `_id`s strictly ascend (a snapshot's pages) and all lie after every `_id` the
//! table holds — the common case of a first sync — are inserted straight from the staging
//! table: each `_id` is there once, so steps 1–2 find nothing to do and step 3 inserts every
//! live row. The result is the same; the joins against the whole table are skipped.

use spillway_core::schema::{DELETED, ID, TS};
use spillway_core::{ColumnType, DestError};

use crate::buffer::IdRange;
use crate::db::Db;
use crate::ddl::quote;
use crate::error::Context;
use crate::writer::{LATEST, STAGE, drop_latest, insert_columns, stage_latest};

/// Merges the staged batch into `table`; returns `(inserted, deleted)` row counts.
/// `ascending`: the staged `_id`s' range if they strictly ascend ([`crate::buffer`]).
pub(crate) fn merge(
    db: &Db,
    table: &str,
    columns: &[(String, ColumnType)],
    ascending: Option<&IdRange>,
) -> Result<(usize, usize), DestError> {
    if let Some(range) = ascending
        && !holds_id_from(db, table, &range.first)?
    {
        let (names, exprs) = insert_columns(columns);
        let inserted = db.exec(
            &format!(
                "INSERT INTO {t} ({names}) SELECT {exprs} FROM temp.main.{STAGE} AS l \
                 WHERE NOT coalesce(l.{del}, false)",
                t = quote(table),
                names = names.join(", "),
                exprs = exprs.join(", "),
                del = quote(DELETED),
            ),
            || format!("inserting rows into table {table:?}"),
        )?;
        return Ok((inserted, 0));
    }
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

/// Whether `table` holds a row whose `_id` is `first` or after it (bytewise, as DuckDB
/// compares VARCHARs and Rust `str`s).
fn holds_id_from(db: &Db, table: &str, first: &str) -> Result<bool, DestError> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {t} WHERE {id} >= ?)",
        t = quote(table),
        id = quote(ID),
    );
    db.conn
        .query_row(&sql, [first], |r| r.get(0))
        .context(&db.path, || {
            format!("reading the _id range of table {table:?}")
        })
}
