//! Applying a batch: cast to the table's columns and buffered ([`crate::buffer`]), later
//! appended to a staging table through the Arrow appender and merged in SQL as the stream's
//! write mode says ([`crate::upsert`], [`crate::soft_delete`], [`crate::append`]).
//!
//! The rows go to the stream's table, or to its reload copy while a `replace` or
//! `overwrite-delete-stale` reload is under way ([`crate::reload`]). The batch is cast to the
//! table's column types (widening the table first if the batch is wider, after merging the
//! table's buffered rows) and numbered with `_spillway_seq`.

use std::sync::Arc;

use duckdb::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, new_null_array};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use spillway_core::batch::cast_column;
use spillway_core::schema::{CREATION_TIME, DELETED, ID, SYSTEM_COLUMNS, TS, int_fits_f64};
use spillway_core::table::{TableSchema, plan};
use spillway_core::{Batch, ColumnType, DestError};
use tracing::trace;

use crate::DuckDbDestination;
use crate::db::Db;
use crate::ddl::{self, quote};
use crate::error::data_error;

/// The staging table (temporary, one per merge of a table's buffered batches).
pub(crate) const STAGE: &str = "_spillway_stage";
/// The deduplicated staging rows.
pub(crate) const LATEST: &str = "_spillway_latest";
/// The arrival-order column added to the staging table: `batch × SEQ_BATCH + row`, where
/// `batch` numbers the table's buffered batches and `row` the rows of one batch, so ordering
/// by it is arrival order and `_spillway_seq / SEQ_BATCH` is the batch.
pub(crate) const SEQ: &str = "_spillway_seq";
/// The `_spillway_seq` step between two buffered batches (more than the rows of any batch).
pub(crate) const SEQ_BATCH: i64 = 1 << 32;

impl DuckDbDestination {
    /// Applies one batch inside the open transaction: widens the table if needed, casts the
    /// batch to the table's columns and buffers it ([`crate::buffer`]); the merge happens later.
    pub(crate) fn write_sync(&mut self, batch: &Batch) -> Result<(), DestError> {
        batch
            .check_system_columns()
            .map_err(|m| data_error(&self.db.path, m))?;
        let (table, mode) = self.write_target(&batch.stream)?;
        let incoming = user_columns(self, batch, &table)?;
        self.begin()?;

        // Make the table able to hold the batch.
        let schema = match self.table_schema(&table, mode)? {
            None => {
                let schema = TableSchema {
                    columns: incoming
                        .iter()
                        .filter(|(_, _, t)| *t != ColumnType::Null)
                        .map(|(_, n, t)| (n.clone(), *t))
                        .collect(),
                };
                self.create_table(&table, mode, &schema)?;
                schema
            }
            Some(current) => {
                check_case_clash(self, &table, &current, &incoming)?;
                let mut wanted = exact_types(self, batch, &table, &current, &incoming)?;
                let (mut target, mut changes) = plan(&current, &wanted);
                if !changes.is_empty() && self.buffers.get(&table).is_some() {
                    // The buffered rows must be in the table before it changes shape (and
                    // before `exact_types` reads its values).
                    self.flush_table(&table)?;
                    wanted = exact_types(self, batch, &table, &current, &incoming)?;
                    (target, changes) = plan(&current, &wanted);
                }
                if !changes.is_empty() {
                    self.reshape(&table, mode, &current, &target, &changes)?;
                }
                target
            }
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Batches of one buffer share the table's columns (a safety net: any reshaping of the
        // table flushed its buffer already).
        if self
            .buffers
            .get(&table)
            .is_some_and(|p| p.columns != schema.columns)
        {
            self.flush_table(&table)?;
        }
        let batch_no = self.buffers.get(&table).map_or(0, |p| p.batches());
        let staged = cast_to_table(self, batch, &table, &schema, &incoming, batch_no)?;
        let rows = staged.num_rows();
        self.buffers.push(&table, mode, &schema.columns, staged);
        trace!(stream = %table, rows, "Batch applied.");
        if self.buffers.over(self.buffer_limit) {
            self.flush_all()?;
        } else {
            self.append_early(&table)?;
        }
        Ok(())
    }
}

/// The staging columns before the user columns: the system columns and `_spillway_seq`.
pub(crate) fn stage_system_columns() -> Vec<String> {
    vec![
        format!("{} VARCHAR", quote(ID)),
        format!("{} DOUBLE", quote(CREATION_TIME)),
        format!("{} BIGINT", quote(TS)),
        format!("{} BOOLEAN", quote(DELETED)),
        format!("{} BIGINT", quote(SEQ)),
    ]
}

/// `batch` as staging rows of `table`: the system columns, `_spillway_seq` (see [`SEQ`]) for
/// the `batch_no`-th buffered batch, then every column of `schema` (the batch's cast to the table's type, NULLs for
/// the columns it lacks).
fn cast_to_table(
    d: &DuckDbDestination,
    batch: &Batch,
    table: &str,
    schema: &TableSchema,
    incoming: &[(usize, String, ColumnType)],
    batch_no: usize,
) -> Result<RecordBatch, DestError> {
    let rows = &batch.rows;
    let n = rows.num_rows();
    let creation = if rows.column(1).data_type() == &DataType::Null {
        new_null_array(&DataType::Float64, n)
    } else {
        rows.column(1).clone()
    };
    let first = i64::try_from(batch_no)
        .unwrap_or(i64::MAX)
        .saturating_mul(SEQ_BATCH);
    let seq: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..n as i64).map(|i| first.saturating_add(i)),
    ));
    let mut fields = vec![
        Field::new(ID, DataType::Utf8, true),
        Field::new(CREATION_TIME, DataType::Float64, true),
        Field::new(TS, DataType::Int64, true),
        Field::new(DELETED, DataType::Boolean, true),
        Field::new(SEQ, DataType::Int64, false),
    ];
    let mut arrays = vec![
        rows.column(0).clone(),
        creation,
        rows.column(2).clone(),
        rows.column(3).clone(),
        seq,
    ];
    for (name, to) in &schema.columns {
        let array = match incoming.iter().find(|(_, n, _)| n == name) {
            Some((i, _, ty)) => cast_column(rows.column(*i), *ty, *to).map_err(|e| {
                data_error(
                    &d.db.path,
                    format!(
                        "table {table:?}, column {name:?}: cannot load a {} column into {}: {e}",
                        ty.name(),
                        to.name()
                    ),
                )
            })?,
            None => new_null_array(&to.arrow_type(), n),
        };
        fields.push(Field::new(name, to.arrow_type(), true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| data_error(&d.db.path, format!("table {table:?}: {e}")))
}

/// The latest revision of each `_id` of the staged rows (max `_ts`, then the last in arrival
/// order) into `temp._spillway_latest`.
pub(crate) fn stage_latest(db: &Db, table: &str) -> Result<(), DestError> {
    db.exec(
        &format!(
            "CREATE OR REPLACE TEMP TABLE {LATEST} AS SELECT * FROM temp.main.{STAGE} \
             QUALIFY row_number() OVER (PARTITION BY {id} ORDER BY {ts} DESC, {seq} DESC) = 1",
            id = quote(ID),
            ts = quote(TS),
            seq = quote(SEQ)
        ),
        || format!("keeping the latest revision per _id for table {table:?}"),
    )?;
    Ok(())
}

/// Drops `temp._spillway_latest`.
pub(crate) fn drop_latest(db: &Db) -> Result<(), DestError> {
    db.exec(&format!("DROP TABLE temp.main.{LATEST}"), || {
        "dropping the staging table".to_string()
    })?;
    Ok(())
}

/// The quoted target columns of an insert from a staging table aliased `l` and the matching
/// expressions: `_id, _creationTime, _ts`, then the user `columns` (JSON cast from text).
pub(crate) fn insert_columns(columns: &[(String, ColumnType)]) -> (Vec<String>, Vec<String>) {
    let mut names = vec![quote(ID), quote(CREATION_TIME), quote(TS)];
    let mut exprs = names.iter().map(|c| format!("l.{c}")).collect::<Vec<_>>();
    for (name, ty) in columns {
        names.push(quote(name));
        exprs.push(match ty {
            ColumnType::Json => format!("CAST(l.{} AS JSON)", quote(name)),
            _ => format!("l.{}", quote(name)),
        });
    }
    (names, exprs)
}

/// The types the table must take for `incoming`: as the batch says, except that an Int64 meeting
/// a Float64 (in the batch or in the table) becomes JSON when one side holds an integer a
/// DOUBLE would round (|i| > 2^53), so widening never changes a value.
fn exact_types(
    d: &DuckDbDestination,
    batch: &Batch,
    table: &str,
    current: &TableSchema,
    incoming: &[(usize, String, ColumnType)],
) -> Result<Vec<(String, ColumnType)>, DestError> {
    let mut out = Vec::with_capacity(incoming.len());
    for (i, name, ty) in incoming {
        let have = current
            .columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t);
        let big = match (have, ty) {
            (Some(ColumnType::Float64), ColumnType::Int64) => batch
                .rows
                .column(*i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .is_some_and(|a| a.iter().flatten().any(|v| !int_fits_f64(v))),
            (Some(ColumnType::Int64), ColumnType::Float64) => {
                let sql = format!(
                    "SELECT count(*) FROM {t} WHERE {c} > {m} OR {c} < -{m}",
                    t = quote(table),
                    c = quote(name),
                    m = 1_i64 << 53
                );
                let n: i64 = d.db.conn.query_row(&sql, [], |r| r.get(0)).map_err(|e| {
                    data_error(
                        &d.db.path,
                        format!("checking column {name:?} of table {table:?} before widening: {e}"),
                    )
                })?;
                n > 0
            }
            _ => false,
        };
        out.push((name.clone(), if big { ColumnType::Json } else { *ty }));
    }
    Ok(out)
}

/// The user columns of a batch as `(index, name, type)`, checked: Arrow type matching the
/// logical type, no duplicates (DuckDB compares names case-insensitively), no system names.
fn user_columns(
    d: &DuckDbDestination,
    batch: &Batch,
    table: &str,
) -> Result<Vec<(usize, String, ColumnType)>, DestError> {
    let schema = batch.rows.schema();
    let mut out: Vec<(usize, String, ColumnType)> = Vec::new();
    for (i, name, _) in batch.user_columns() {
        let field = schema.field(i);
        let Some(ty) = ColumnType::of_field(field) else {
            return Err(data_error(
                &d.db.path,
                format!(
                    "table {table:?}, column {name:?}: unsupported Arrow type {}",
                    field.data_type()
                ),
            ));
        };
        let reserved = SYSTEM_COLUMNS
            .iter()
            .chain([&SEQ])
            .any(|s| s.eq_ignore_ascii_case(name));
        if let Some((_, other, _)) = out.iter().find(|(_, n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(data_error(
                &d.db.path,
                format!(
                    "table {table:?}: columns {other:?} and {name:?} differ only in case, which \
                     DuckDB cannot hold as two columns"
                ),
            ));
        }
        if reserved {
            return Err(data_error(
                &d.db.path,
                format!("table {table:?}: user column {name:?} collides with a system column"),
            ));
        }
        out.push((i, name.to_string(), ty));
    }
    Ok(out)
}

/// Refuses a new column whose name differs only in case from an existing one.
fn check_case_clash(
    d: &DuckDbDestination,
    table: &str,
    current: &TableSchema,
    incoming: &[(usize, String, ColumnType)],
) -> Result<(), DestError> {
    for (_, name, _) in incoming {
        if let Some(other) = ddl::case_clash(current, name) {
            return Err(data_error(
                &d.db.path,
                format!(
                    "table {table:?}: new column {name:?} differs only in case from the \
                     existing column {other:?}, which DuckDB cannot hold as two columns"
                ),
            ));
        }
    }
    Ok(())
}
