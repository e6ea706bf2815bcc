//! Write mode `upsert` with `soft_delete = true`: one row per `_id`, with `_deleted`.
//!
//! As [`crate::upsert`], except for tombstones: a tombstone newer than the stored row sets
//! `_deleted = true` and its `_ts` and keeps the other columns; a tombstone of an `_id` never
//! seen inserts a row of NULLs with `_deleted = true`. Live revisions are written with
//! `_deleted = false`.
//!
//! The staged rows may span several batches ([`crate::buffer`]). When an `_id`'s latest staged
//! revision is a tombstone and an earlier batch stored a live revision of it (that batch's own
//! latest, not older than what the batches before it held), that live revision is applied
//! first, so the tombstone keeps its columns, exactly as if each batch had been merged on its
//! own.

use spillway_core::schema::{DELETED, ID, TS};
use spillway_core::{ColumnType, DestError};

use crate::db::Db;
use crate::ddl::quote;
use crate::writer::{LATEST, SEQ, SEQ_BATCH, STAGE, drop_latest, insert_columns, stage_latest};

/// The live revision preceding the latest (a tombstone) of each `_id` of the stage.
const REVIVE: &str = "_spillway_revive";

/// Merges the staged batch into `table`; returns `(inserted, tombstoned)` row counts.
pub(crate) fn merge(
    db: &Db,
    table: &str,
    columns: &[(String, ColumnType)],
) -> Result<(usize, usize), DestError> {
    stage_latest(db, table)?;
    let (t, id, ts, del) = (quote(table), quote(ID), quote(TS), quote(DELETED));
    let (names, exprs) = insert_columns(columns);

    // The live revision a staged tombstone supersedes, applied first (see the module docs):
    // as batch-by-batch merges would have stored it — each earlier batch's own latest revision
    // of the `_id`, counted only if no earlier batch held a newer one, the last of those.
    let seq = quote(SEQ);
    db.exec(
        &format!(
            "CREATE OR REPLACE TEMP TABLE {REVIVE} AS \
             WITH per_batch AS (SELECT * FROM temp.main.{STAGE} \
               QUALIFY row_number() OVER (PARTITION BY {id}, {seq} // {SEQ_BATCH} \
                 ORDER BY {ts} DESC, {seq} DESC) = 1), \
             applied AS (SELECT *, max({ts}) OVER (PARTITION BY {id} ORDER BY {seq} \
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _spillway_prev_ts \
               FROM per_batch) \
             SELECT s.* EXCLUDE (_spillway_prev_ts) FROM applied AS s \
             JOIN temp.main.{LATEST} AS l ON s.{id} = l.{id} \
             WHERE coalesce(l.{del}, false) AND NOT coalesce(s.{del}, false) \
             AND s.{seq} // {SEQ_BATCH} < l.{seq} // {SEQ_BATCH} \
             AND (s._spillway_prev_ts IS NULL OR s.{ts} >= s._spillway_prev_ts) \
             QUALIFY row_number() OVER (PARTITION BY s.{id} ORDER BY s.{seq} DESC) = 1"
        ),
        || format!("finding the live revisions before staged tombstones of table {table:?}"),
    )?;
    db.exec(
        &format!(
            "DELETE FROM {t} AS tgt USING temp.main.{REVIVE} AS l \
             WHERE tgt.{id} = l.{id} AND tgt.{ts} <= l.{ts}"
        ),
        || format!("deleting superseded rows of table {table:?}"),
    )?;
    db.exec(
        &format!(
            "INSERT INTO {t} ({names}, {del}) SELECT {exprs}, false \
             FROM temp.main.{REVIVE} AS l \
             WHERE NOT EXISTS (SELECT 1 FROM {t} AS tgt WHERE tgt.{id} = l.{id})",
            names = names.join(", "),
            exprs = exprs.join(", "),
        ),
        || format!("inserting rows into table {table:?}"),
    )?;
    db.exec(&format!("DROP TABLE temp.main.{REVIVE}"), || {
        "dropping the staging table".to_string()
    })?;

    // Tombstones mark the row they supersede (only `_deleted` and `_ts` change, so the
    // in-place UPDATE is exact).
    let tombstoned = db.exec(
        &format!(
            "UPDATE {t} AS tgt SET {del} = true, {ts} = l.{ts} FROM temp.main.{LATEST} AS l \
             WHERE tgt.{id} = l.{id} AND tgt.{ts} <= l.{ts} AND coalesce(l.{del}, false)"
        ),
        || format!("marking deleted rows of table {table:?}"),
    )?;

    // Live revisions replace the row they supersede, as in upsert.
    db.exec(
        &format!(
            "DELETE FROM {t} AS tgt USING temp.main.{LATEST} AS l \
             WHERE tgt.{id} = l.{id} AND tgt.{ts} <= l.{ts} AND NOT coalesce(l.{del}, false)"
        ),
        || format!("deleting superseded rows of table {table:?}"),
    )?;

    // Live revisions, and tombstones of ids never seen (NULL columns), unless the table holds
    // the id already (a newer revision, or a marked row).
    let mut names = names;
    // Every column but `_id` (0) and `_ts` (2) is NULL for a tombstone.
    let mut exprs: Vec<String> = exprs
        .into_iter()
        .enumerate()
        .map(|(i, e)| match i {
            0 | 2 => e,
            _ => format!("CASE WHEN coalesce(l.{del}, false) THEN NULL ELSE {e} END"),
        })
        .collect();
    names.push(del.clone());
    exprs.push(format!("coalesce(l.{del}, false)"));
    let inserted = db.exec(
        &format!(
            "INSERT INTO {t} ({names}) SELECT {exprs} FROM temp.main.{LATEST} AS l \
             WHERE NOT EXISTS (SELECT 1 FROM {t} AS tgt WHERE tgt.{id} = l.{id})",
            names = names.join(", "),
            exprs = exprs.join(", "),
        ),
        || format!("inserting rows into table {table:?}"),
    )?;
    drop_latest(db)?;
    Ok((inserted, tombstoned))
}
