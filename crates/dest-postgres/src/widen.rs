//! Adding and widening columns of a destination table, converting the values already there.
//!
//! - A new column: `ALTER TABLE … ADD COLUMN`.
//! - bigint → double precision: `ALTER COLUMN … TYPE double precision` (exact: a bigint
//!   beyond ±2^53 never gets here, it widens to JSON instead).
//! - anything → json: the stored values are read in `(_id, _ts)` order (the key of every
//!   table shape: `append` tables hold several rows per `_id`), converted in Rust by
//!   [`spillway_core::batch::cast_column`] (the same function that converts batch values, so
//!   `5.0` stays `5.0`, NaN becomes its `$float` tag, bytes their `$bytes` tag), copied into a
//!   temporary table, and written back after the column's type has changed. Postgres DDL is
//!   transactional: a rollback restores the old column and values.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray,
};
use spillway_core::batch::cast_column;
use spillway_core::schema::{ID, TS, int_fits_f64};
use spillway_core::table::Change;
use spillway_core::{ColumnType, DestError};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use tracing::info;

use crate::copy::{Values, copy_in};
use crate::db::Db;
use crate::ddl::{quote, sql_type};
use crate::error::{data_error, internal_error};

/// Rows converted per round trip when widening to JSON.
const CHUNK: i64 = 10_000;
/// The temporary table holding converted values.
const CONV: &str = "pg_temp._spillway_conv";

/// Applies `changes` to `table` (`table_ref` is its quoted, qualified name).
pub(crate) async fn apply(
    db: &Db,
    table: &str,
    table_ref: &str,
    changes: &[Change],
) -> Result<(), DestError> {
    for c in changes {
        match c {
            Change::Add(name, ty) => {
                db.exec(
                    &format!(
                        "ALTER TABLE {table_ref} ADD COLUMN {} {}",
                        quote(name),
                        sql_type(*ty)
                    ),
                    || format!("adding column {name:?} to table {table:?}"),
                )
                .await?;
                info!(stream = %table, column = %name, r#type = ty.name(), "Column added.");
            }
            Change::Widen { column, from, to } => {
                match to {
                    ColumnType::Float64 => {
                        db.exec(
                            &format!(
                                "ALTER TABLE {table_ref} ALTER COLUMN {} TYPE double precision",
                                quote(column)
                            ),
                            || format!("widening column {column:?} of table {table:?} to double"),
                        )
                        .await?
                    }
                    ColumnType::Json => to_json(db, table, table_ref, column, *from).await?,
                    other => {
                        return Err(internal_error(
                            &db.target,
                            format!(
                                "table {table:?}, column {column:?}: no widening from {} to {}",
                                from.name(),
                                other.name()
                            ),
                        ));
                    }
                }
                info!(stream = %table, column = %column, from = from.name(), to = to.name(), "Column widened.");
            }
        }
    }
    Ok(())
}

/// Turns `column` (of type `from`) into a json column holding the export_json form of each
/// value.
async fn to_json(
    db: &Db,
    table: &str,
    table_ref: &str,
    column: &str,
    from: ColumnType,
) -> Result<(), DestError> {
    let what = || format!("converting column {column:?} of table {table:?} to JSON");
    let (id, ts, c) = (quote(ID), quote(TS), quote(column));
    db.exec(
        &format!(
            "DROP TABLE IF EXISTS {CONV}; \
             CREATE TEMP TABLE _spillway_conv ({id} text, {ts} bigint, v json, \
             PRIMARY KEY ({id}, {ts})) ON COMMIT DROP"
        ),
        what,
    )
    .await?;
    // Keyset pages in `(_id, _ts)` order bound the memory to one page.
    let select = format!(
        "SELECT {id}, {ts}, {c} FROM {table_ref} WHERE {c} IS NOT NULL \
         AND ($1::text IS NULL OR ({id}, {ts}) > ($1::text, $2::bigint)) \
         ORDER BY {id}, {ts} LIMIT {CHUNK}"
    );
    let names = [id.clone(), ts.clone(), "v".to_string()];
    let types = [Type::TEXT, Type::INT8, Type::JSON];
    let mut last: (Option<String>, Option<i64>) = (None, None);
    loop {
        let rows = db.query(&select, &[&last.0, &last.1], what).await?;
        let Some(end) = rows.last() else { break };
        last = (Some(end.get(0)), Some(end.get(1)));
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.get::<_, &str>(0)),
        ));
        let tss: ArrayRef = Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.get::<_, i64>(1)),
        ));
        let values = read_column(&rows, from)
            .map_err(|e| data_error(&db.target, format!("{}: {e}", what())))?;
        let json = cast_column(&values, from, ColumnType::Json)
            .map_err(|e| data_error(&db.target, format!("{}: {e}", what())))?;
        let cols = [
            Values::of(&ids).ok_or_else(|| internal_error(&db.target, what()))?,
            Values::of(&tss).ok_or_else(|| internal_error(&db.target, what()))?,
            Values::of(&json).ok_or_else(|| internal_error(&db.target, what()))?,
        ];
        // JSON text escapes NUL, so `on_nul` cannot fire; keep a message all the same.
        copy_in(
            db,
            &what(),
            CONV,
            &names,
            &types,
            &cols,
            rows.len(),
            |_, _| data_error(&db.target, format!("{}: a value holds NUL", what())),
        )
        .await?;
        if (rows.len() as i64) < CHUNK {
            break;
        }
    }
    db.exec(
        &format!(
            "ALTER TABLE {table_ref} ALTER COLUMN {c} TYPE json USING NULL; \
             UPDATE {table_ref} AS t SET {c} = v.v FROM {CONV} AS v \
             WHERE t.{id} = v.{id} AND t.{ts} = v.{ts}; \
             DROP TABLE {CONV}"
        ),
        what,
    )
    .await
}

/// Whether bigint `column` of `table_ref` holds an integer a double would round (|i| > 2^53):
/// then meeting a float widens it to JSON, not to double precision.
pub(crate) async fn has_big_ints(
    db: &Db,
    table: &str,
    table_ref: &str,
    column: &str,
) -> Result<bool, DestError> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {table_ref} WHERE {c} > {m} OR {c} < -{m})",
        c = quote(column),
        m = 1_i64 << 53
    );
    let rows = db
        .query(&sql, &[], || {
            format!("checking column {column:?} of table {table:?} before widening")
        })
        .await?;
    Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
}

/// Whether an Int64 batch column holds an integer a double would round.
pub(crate) fn array_has_big_ints(array: &ArrayRef) -> bool {
    array
        .as_any()
        .downcast_ref::<Int64Array>()
        .is_some_and(|a| a.iter().flatten().any(|v| !int_fits_f64(v)))
}

/// The third column of `rows` (after `_id` and `_ts`) as an Arrow array of logical type `from`.
fn read_column(rows: &[Row], from: ColumnType) -> Result<ArrayRef, tokio_postgres::Error> {
    fn collect<'a, T: tokio_postgres::types::FromSql<'a>>(
        rows: &'a [Row],
    ) -> Result<Vec<Option<T>>, tokio_postgres::Error> {
        rows.iter().map(|r| r.try_get::<_, Option<T>>(2)).collect()
    }
    Ok(match from {
        ColumnType::Int64 => Arc::new(Int64Array::from(collect::<i64>(rows)?)),
        ColumnType::Float64 => Arc::new(Float64Array::from(collect::<f64>(rows)?)),
        ColumnType::Boolean => Arc::new(BooleanArray::from(collect::<bool>(rows)?)),
        ColumnType::Utf8 | ColumnType::Json | ColumnType::Null => {
            Arc::new(StringArray::from(collect::<&str>(rows)?))
        }
        ColumnType::Binary => Arc::new(BinaryArray::from(collect::<&[u8]>(rows)?)),
    })
}
