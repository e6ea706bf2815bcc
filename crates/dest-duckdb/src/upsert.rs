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
//! Buffered rows whose `_id`s strictly ascend (a snapshot's pages) and all lie after every
//! `_id` the table holds — the common case of a first sync — skip the staging table: each
//! `_id` is there once and none is in the table, so steps 1–2 find nothing to do and step 3
//! inserts every live row. [`append_new`] appends those live rows straight to the table
//! through DuckDB's Arrow appender instead; the result is the same, without the copy through
//! the staging table and the joins against the whole table.

use duckdb::arrow::array::{AsArray, BooleanArray, RecordBatch};
use duckdb::arrow::compute::filter_record_batch;
use duckdb::arrow::error::ArrowError;
use spillway_core::schema::{CREATION_TIME, DELETED, ID, TS};
use spillway_core::{ColumnType, DestError};

use crate::db::Db;
use crate::ddl::quote;
use crate::error::{Context, data_error};
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

/// Appends the live rows of `batches` (buffered staging rows of `table`: the system columns,
/// `_deleted`, `_spillway_seq`, then `columns`) straight to `table`; returns how many. Only for
/// rows whose `_id`s strictly ascend and all lie after every `_id` of the table (see the
/// module docs and [`holds_id_from`]).
pub(crate) fn append_new(
    db: &Db,
    table: &str,
    columns: &[(String, ColumnType)],
    batches: Vec<RecordBatch>,
) -> Result<usize, DestError> {
    // Staging layout: `_id`, `_creationTime`, `_ts`, `_deleted`, `_spillway_seq`, user columns.
    let keep: Vec<usize> = [0, 1, 2].into_iter().chain(5..5 + columns.len()).collect();
    let names: Vec<&str> = [ID, CREATION_TIME, TS]
        .into_iter()
        .chain(columns.iter().map(|(n, _)| n.as_str()))
        .collect();
    let what = || format!("appending rows to table {table:?}");
    let mut live = Vec::with_capacity(batches.len());
    let mut inserted = 0;
    for batch in batches {
        let batch = live_rows(&batch)
            .and_then(|b| b.project(&keep))
            .map_err(|e| data_error(&db.path, format!("{}: {e}", what())))?;
        inserted += batch.num_rows();
        live.push(batch);
    }
    db.append_table(table, &names, live, what)?;
    Ok(inserted)
}

/// The rows of a staging batch that are not tombstones.
fn live_rows(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let Some(deleted) = batch.column(3).as_boolean_opt() else {
        return Err(ArrowError::SchemaError(format!(
            "{DELETED} is {}, not Boolean",
            batch.column(3).data_type()
        )));
    };
    if deleted.true_count() == 0 {
        return Ok(batch.clone());
    }
    let live: BooleanArray = deleted.iter().map(|d| Some(d != Some(true))).collect();
    filter_record_batch(batch, &live)
}

/// Whether `table` holds a row whose `_id` is `first` or after it (bytewise, as DuckDB
/// compares VARCHARs and Rust `str`s).
pub(crate) fn holds_id_from(db: &Db, table: &str, first: &str) -> Result<bool, DestError> {
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
