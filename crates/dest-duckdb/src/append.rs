//! Write mode `append`: every version a new row, keyed by `(_id, _ts)`, with `_deleted`.
//!
//! Every row of the batch, live or tombstone, is inserted with its `_deleted` flag, unless the
//! table already holds that `(_id, _ts)` (a replayed batch never duplicates a version). Two
//! rows of one batch with the same `(_id, _ts)` keep the last; of two buffered batches
//! ([`crate::buffer`]), the first, as if each batch had been merged on its own.

use spillway_core::schema::{DELETED, ID, TS};
use spillway_core::{ColumnType, DestError};

use crate::db::Db;
use crate::ddl::quote;
use crate::writer::{SEQ, SEQ_BATCH, STAGE, insert_columns};

/// Appends the staged batch to `table`; returns `(inserted, 0)`.
pub(crate) fn merge(
    db: &Db,
    table: &str,
    columns: &[(String, ColumnType)],
) -> Result<(usize, usize), DestError> {
    let (t, id, ts, del) = (quote(table), quote(ID), quote(TS), quote(DELETED));
    let (mut names, mut exprs) = insert_columns(columns);
    names.push(del.clone());
    exprs.push(format!("coalesce(l.{del}, false)"));
    let inserted = db.exec(
        &format!(
            "INSERT INTO {t} ({names}) SELECT {exprs} FROM temp.main.{STAGE} AS l \
             WHERE NOT EXISTS (SELECT 1 FROM {t} AS tgt WHERE tgt.{id} = l.{id} \
               AND tgt.{ts} = l.{ts}) \
             QUALIFY row_number() OVER (PARTITION BY l.{id}, l.{ts} \
               ORDER BY l.{seq} // {SEQ_BATCH} ASC, l.{seq} DESC) = 1",
            names = names.join(", "),
            exprs = exprs.join(", "),
            seq = quote(SEQ),
        ),
        || format!("appending rows to table {table:?}"),
    )?;
    Ok((inserted, 0))
}
