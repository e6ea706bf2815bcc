//! Applying a batch: binary COPY into a staging table, then one merge statement.
//!
//! 0. The stream's write mode picks the table written ([`crate::reload`]: the reload copy
//!    during a `replace` / `overwrite-delete-stale` reload) and its shape ([`Shape`]); an
//!    existing table of another shape is a configuration error.
//! 1. The batch is cast to the table's column types (widening the table first if the batch is
//!    wider) and copied into `pg_temp._spillway_stage` with a sequence number per row.
//! 2. The latest revision of each `_id` (max `_ts`, then the last in batch order) is kept: a
//!    batch may hold several revisions of one document.
//! 3. A tombstone deletes the row unless the table holds a newer revision; a live revision
//!    inserts the row or replaces it whole (columns the batch lacks become NULL) unless the
//!    table holds a newer revision, so a replayed or overlapping batch never moves a row back
//!    in time. With `soft_delete`, a tombstone instead sets `_deleted = true` and its `_ts`
//!    and keeps the other columns (a row of NULLs if the `_id` was never seen); `append`
//!    inserts every revision ([`crate::append`]).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array};
use spillway_core::batch::cast_column;
use spillway_core::schema::{CREATION_TIME, DELETED, ID, SYSTEM_COLUMNS, TS};
use spillway_core::table::{TableSchema, plan};
use spillway_core::{Batch, ColumnType, DestError, StreamMode};
use tokio_postgres::types::Type;
use tracing::trace;

use crate::PostgresDestination;
use crate::copy::{Values, copy_in, pg_type};
use crate::ddl::{self, Table, check_identifier, quote};
use crate::error::{config_error, data_error, internal_error};
use crate::shape::{Shape, mismatch_message};
use crate::widen::{array_has_big_ints, has_big_ints};

/// The staging table (temporary, replaced by every batch, dropped at commit).
pub(crate) const STAGE: &str = "pg_temp._spillway_stage";
/// The batch-order column of the staging table.
pub(crate) const SEQ: &str = "_spillway_seq";

impl PostgresDestination {
    /// Applies one batch inside the open transaction, as the stream's write mode says.
    pub(crate) async fn write_inner(&mut self, batch: &Batch) -> Result<(), DestError> {
        let table = batch.stream.qualified();
        let target = self.db.target.clone();
        check_identifier(&target, "table", &table)?;
        batch
            .check_system_columns()
            .map_err(|m| data_error(&target, m))?;
        let incoming = user_columns(&target, batch, &table)?;
        let mode = self.config.modes.of(&batch.stream);
        self.begin().await?;
        let (physical, shape) = self.write_target(&table, mode).await?;

        // Make the table able to hold the batch.
        let schema = match self.table_schema(&physical).await? {
            None => {
                let schema = TableSchema {
                    columns: incoming
                        .iter()
                        .filter(|(_, _, t)| *t != ColumnType::Null)
                        .map(|(_, n, t)| (n.clone(), *t))
                        .collect(),
                };
                self.db
                    .exec(
                        &ddl::create_table_sql(&self.config.schema, &physical, shape, &schema),
                        || format!("creating table {physical:?}"),
                    )
                    .await?;
                self.tables.insert(
                    physical.clone(),
                    Table {
                        shape,
                        columns: schema.clone(),
                    },
                );
                schema
            }
            Some(current) => {
                self.check_shape(&physical, &current, shape, mode)?;
                let wanted = self
                    .exact_types(batch, &physical, &current.columns, &incoming)
                    .await?;
                let (target_schema, changes) = plan(&current.columns, &wanted);
                if !changes.is_empty() {
                    let t = self.table_ref(&physical);
                    crate::widen::apply(&self.db, &physical, &t, &changes).await?;
                    self.tables.insert(
                        physical.clone(),
                        Table {
                            shape,
                            columns: target_schema.clone(),
                        },
                    );
                }
                target_schema
            }
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }

        // The staged columns: system columns, the batch order, then the user columns cast to
        // the table's types.
        let rows = &batch.rows;
        let n = rows.num_rows();
        let seq: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n as i64));
        let mut arrays: Vec<ArrayRef> = vec![
            rows.column(0).clone(),
            rows.column(1).clone(),
            rows.column(2).clone(),
            rows.column(3).clone(),
            seq,
        ];
        let mut names: Vec<String> = [ID, CREATION_TIME, TS, DELETED, SEQ]
            .iter()
            .map(|c| quote(c))
            .collect();
        let mut types = vec![Type::TEXT, Type::FLOAT8, Type::INT8, Type::BOOL, Type::INT8];
        let mut columns: Vec<(String, ColumnType)> = Vec::new();
        for (i, name, ty) in &incoming {
            let Some(to) = schema.get(name) else {
                continue; // only nulls, and no column yet
            };
            let cast = cast_column(rows.column(*i), *ty, to).map_err(|e| {
                data_error(
                    &target,
                    format!(
                        "table {table:?}, column {name:?}: cannot load a {} column into {}: {e}",
                        ty.name(),
                        to.name()
                    ),
                )
            })?;
            arrays.push(cast);
            names.push(quote(name));
            types.push(pg_type(to));
            columns.push((name.clone(), to));
        }
        let mut values = Vec::with_capacity(arrays.len());
        for a in &arrays {
            values.push(Values::of(a).ok_or_else(|| {
                internal_error(
                    &target,
                    format!(
                        "table {table:?}: cannot stage an Arrow {} column",
                        a.data_type()
                    ),
                )
            })?);
        }

        // Stage with binary COPY.
        let mut stage_cols: Vec<String> = names
            .iter()
            .zip(&types)
            .map(|(n, t)| format!("{n} {}", stage_type(t)))
            .collect();
        stage_cols[0].push_str(" NOT NULL");
        self.db
            .exec(
                &format!(
                    "DROP TABLE IF EXISTS {STAGE}; \
                     CREATE TEMP TABLE _spillway_stage ({}) ON COMMIT DROP",
                    stage_cols.join(", ")
                ),
                || format!("creating the staging table for table {table:?}"),
            )
            .await?;
        let ids = rows.column(0).clone();
        let on_nul = |r: usize, c: usize| {
            let id = match Values::of(&ids) {
                Some(Values::Str(a)) if a.is_valid(r) => format!("{:?}", a.value(r)),
                _ => "?".to_string(),
            };
            let column = names[c].trim_matches('"').replace("\"\"", "\"");
            data_error(
                &target,
                format!(
                    "table {table:?}, document _id {id}, field {column:?}: the string contains a \
                     NUL character (U+0000), which Postgres text cannot hold; nothing of this \
                     batch was written"
                ),
            )
        };
        let what = format!("staging {n} rows for table {table:?}");
        copy_in(&self.db, &what, STAGE, &names, &types, &values, n, on_nul).await?;

        // Merge.
        let table_ref = self.table_ref(&physical);
        let sql = match shape {
            Shape::Upsert => merge_sql(&table_ref, &schema, &columns),
            Shape::SoftDelete => soft_delete_sql(&table_ref, &schema, &columns),
            Shape::Append => crate::append::append_sql(&table_ref, &columns),
        };
        let counts = self
            .db
            .query(&sql, &[], || {
                format!("merging a batch of {n} rows into table {physical:?}")
            })
            .await?;
        let (deleted, upserted): (i64, i64) =
            counts.first().map_or((0, 0), |r| (r.get(0), r.get(1)));
        self.mark_dirty(&physical);
        trace!(stream = %table, table = %physical, rows = n, upserted, deleted, "Batch applied.");
        Ok(())
    }

    /// Fails with a configuration error when `table` (as loaded) does not have the shape
    /// `mode` needs.
    pub(crate) fn check_shape(
        &self,
        table: &str,
        loaded: &Table,
        want: Shape,
        mode: StreamMode,
    ) -> Result<(), DestError> {
        if loaded.shape == want {
            return Ok(());
        }
        Err(config_error(
            &self.db.target,
            mismatch_message(&self.table_ref(table), loaded.shape, want, mode),
        ))
    }

    /// The types the table must take for `incoming`: as the batch says, except that an Int64
    /// meeting a Float64 (in the batch or in the table) becomes JSON when one side holds an
    /// integer a double would round (|i| > 2^53), so widening never changes a value.
    async fn exact_types(
        &self,
        batch: &Batch,
        table: &str,
        current: &TableSchema,
        incoming: &[(usize, String, ColumnType)],
    ) -> Result<Vec<(String, ColumnType)>, DestError> {
        let mut out = Vec::with_capacity(incoming.len());
        for (i, name, ty) in incoming {
            let big = match (current.get(name), ty) {
                (Some(ColumnType::Float64), ColumnType::Int64) => {
                    array_has_big_ints(batch.rows.column(*i))
                }
                (Some(ColumnType::Int64), ColumnType::Float64) => {
                    has_big_ints(&self.db, table, &self.table_ref(table), name).await?
                }
                _ => false,
            };
            out.push((name.clone(), if big { ColumnType::Json } else { *ty }));
        }
        Ok(out)
    }
}

/// The staging type of a copied column.
fn stage_type(t: &Type) -> &'static str {
    match *t {
        Type::INT8 => "bigint",
        Type::FLOAT8 => "double precision",
        Type::BOOL => "boolean",
        Type::BYTEA => "bytea",
        Type::JSON => "json",
        _ => "text",
    }
}

/// The merge statement: latest revision per `_id`, tombstones delete, live revisions insert
/// or replace the whole row; neither touches a row holding a newer revision. Returns one row
/// `(deleted, upserted)`.
fn merge_sql(table: &str, schema: &TableSchema, columns: &[(String, ColumnType)]) -> String {
    let (id, ts, del, seq) = (quote(ID), quote(TS), quote(DELETED), quote(SEQ));
    let mut insert_cols = vec![id.clone(), quote(CREATION_TIME), ts.clone()];
    insert_cols.extend(columns.iter().map(|(n, _)| quote(n)));
    let select: Vec<String> = insert_cols.iter().map(|c| format!("l.{c}")).collect();
    let mut set = vec![
        format!("{0} = excluded.{0}", quote(CREATION_TIME)),
        format!("{ts} = excluded.{ts}"),
    ];
    for (name, _) in &schema.columns {
        let c = quote(name);
        if columns.iter().any(|(n, _)| n == name) {
            set.push(format!("{c} = excluded.{c}"));
        } else {
            // A revision is the whole document: a field it lacks is gone.
            set.push(format!("{c} = NULL"));
        }
    }
    format!(
        "WITH latest AS (\
           SELECT DISTINCT ON ({id}) * FROM {STAGE} ORDER BY {id}, {ts} DESC, {seq} DESC), \
         del AS (\
           DELETE FROM {table} AS t USING latest AS l \
           WHERE coalesce(l.{del}, false) AND t.{id} = l.{id} AND t.{ts} <= l.{ts} RETURNING 1), \
         ups AS (\
           INSERT INTO {table} AS t ({cols}) SELECT {select} FROM latest AS l \
           WHERE NOT coalesce(l.{del}, false) \
           ON CONFLICT ({id}) DO UPDATE SET {set} WHERE t.{ts} <= excluded.{ts} RETURNING 1) \
         SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM ups)",
        cols = insert_cols.join(", "),
        select = select.join(", "),
        set = set.join(", "),
    )
}

/// The merge statement of `upsert` with `soft_delete`: latest revision per `_id`; a live
/// revision inserts or replaces the whole row with `_deleted = false`; a tombstone sets
/// `_deleted = true` and its `_ts` and keeps the other columns (or inserts a row of NULLs
/// if the `_id` was never seen). Neither touches a row holding a newer revision. Returns one
/// row `(tombstones applied, live rows upserted)`.
fn soft_delete_sql(table: &str, schema: &TableSchema, columns: &[(String, ColumnType)]) -> String {
    let (id, ts, del, seq) = (quote(ID), quote(TS), quote(DELETED), quote(SEQ));
    let ct = quote(CREATION_TIME);
    let mut insert_cols = vec![id.clone(), ct.clone(), ts.clone(), del.clone()];
    let mut select = vec![
        format!("l.{id}"),
        format!("CASE WHEN l.{del} THEN NULL ELSE l.{ct} END"),
        format!("l.{ts}"),
        format!("coalesce(l.{del}, false)"),
    ];
    for (name, _) in columns {
        let c = quote(name);
        select.push(format!("CASE WHEN l.{del} THEN NULL ELSE l.{c} END"));
        insert_cols.push(c);
    }
    // A tombstone keeps the stored values; a live revision is the whole document.
    let keep_or =
        |c: &str, new: String| format!("{c} = CASE WHEN excluded.{del} THEN t.{c} ELSE {new} END");
    let mut set = vec![
        format!("{ts} = excluded.{ts}"),
        format!("{del} = excluded.{del}"),
        keep_or(&ct, format!("excluded.{ct}")),
    ];
    for (name, _) in &schema.columns {
        let c = quote(name);
        if columns.iter().any(|(n, _)| n == name) {
            set.push(keep_or(&c, format!("excluded.{c}")));
        } else {
            set.push(keep_or(&c, "NULL".to_string()));
        }
    }
    format!(
        "WITH latest AS (\
           SELECT DISTINCT ON ({id}) * FROM {STAGE} ORDER BY {id}, {ts} DESC, {seq} DESC), \
         ups AS (\
           INSERT INTO {table} AS t ({cols}) SELECT {select} FROM latest AS l \
           ON CONFLICT ({id}) DO UPDATE SET {set} WHERE t.{ts} <= excluded.{ts} \
           RETURNING t.{del}) \
         SELECT (SELECT count(*) FROM ups WHERE {del}), \
           (SELECT count(*) FROM ups WHERE NOT {del})",
        cols = insert_cols.join(", "),
        select = select.join(", "),
        set = set.join(", "),
    )
}

/// The user columns of a batch as `(index, name, type)`, checked: Arrow type matching the
/// logical type, no duplicates, no system names, names Postgres keeps whole.
fn user_columns(
    target: &str,
    batch: &Batch,
    table: &str,
) -> Result<Vec<(usize, String, ColumnType)>, DestError> {
    let schema = batch.rows.schema();
    let mut out: Vec<(usize, String, ColumnType)> = Vec::new();
    for (i, name, _) in batch.user_columns() {
        let field = schema.field(i);
        let Some(ty) = ColumnType::of_field(field) else {
            return Err(data_error(
                target,
                format!(
                    "table {table:?}, column {name:?}: unsupported Arrow type {}",
                    field.data_type()
                ),
            ));
        };
        if SYSTEM_COLUMNS.iter().chain([&SEQ]).any(|s| *s == name) {
            return Err(data_error(
                target,
                format!("table {table:?}: user column {name:?} collides with a system column"),
            ));
        }
        if out.iter().any(|(_, n, _)| n == name) {
            return Err(data_error(
                target,
                format!("table {table:?}: the batch has two columns named {name:?}"),
            ));
        }
        check_identifier(target, &format!("table {table:?}: column"), name)?;
        out.push((i, name.to_string(), ty));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_whole_rows() {
        let schema = TableSchema {
            columns: vec![
                ("x".into(), ColumnType::Int64),
                ("y".into(), ColumnType::Utf8),
            ],
        };
        let sql = merge_sql("\"s\".\"t\"", &schema, &[("y".into(), ColumnType::Utf8)]);
        assert!(sql.contains("\"x\" = NULL"), "{sql}");
        assert!(sql.contains("\"y\" = excluded.\"y\""), "{sql}");
        assert!(sql.contains("WHERE t.\"_ts\" <= excluded.\"_ts\""), "{sql}");
        assert!(
            sql.contains("ORDER BY \"_id\", \"_ts\" DESC, \"_spillway_seq\" DESC"),
            "{sql}"
        );
    }

    #[test]
    fn soft_delete_keeps_columns_of_tombstones() {
        let schema = TableSchema {
            columns: vec![
                ("x".into(), ColumnType::Int64),
                ("y".into(), ColumnType::Utf8),
            ],
        };
        let cols = [("y".to_string(), ColumnType::Utf8)];
        let sql = soft_delete_sql("\"s\".\"t\"", &schema, &cols);
        let keep_x = "\"x\" = CASE WHEN excluded.\"_deleted\" THEN t.\"x\" ELSE NULL END";
        assert!(sql.contains(keep_x), "{sql}");
        let set_y = "\"y\" = CASE WHEN excluded.\"_deleted\" THEN t.\"y\" ELSE excluded.\"y\" END";
        assert!(sql.contains(set_y), "{sql}");
        assert!(sql.contains("WHERE t.\"_ts\" <= excluded.\"_ts\""), "{sql}");
    }
}
