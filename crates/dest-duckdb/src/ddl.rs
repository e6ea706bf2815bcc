//! Type mapping, DDL and the column widening of destination tables.
//!
//! | [`ColumnType`] | DuckDB    |
//! |----------------|-----------|
//! | Int64          | `BIGINT`  |
//! | Float64        | `DOUBLE`  |
//! | Boolean        | `BOOLEAN` |
//! | Utf8           | `VARCHAR` |
//! | Binary         | `BLOB`    |
//! | Json           | `JSON`    |
//!
//! Every table starts with `_id VARCHAR, _creationTime DOUBLE, _ts BIGINT` (and
//! `_deleted BOOLEAN NOT NULL` if its write mode needs it, see [`crate::shape`]), then one
//! column per user field in the order first seen. A type change widens the column with
//! [`ColumnType::widen`]; existing values are converted exactly as
//! [`spillway_core::batch::cast_column`] converts batch columns, so a value reads the same
//! whether it was written before or after the widening.

use std::sync::Arc;

use duckdb::arrow::array::{Array, ArrayRef, RecordBatch};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use spillway_core::batch::cast_column;
use spillway_core::schema::{CREATION_TIME, DELETED, ID, TS};
use spillway_core::table::{Change, TableSchema};
use spillway_core::{ColumnType, DestError};
use tracing::info;

use crate::db::Db;
use crate::error::{config_error, data_error};
use crate::shape::{Shape, has_history_key};

/// The system columns of every table, with their DuckDB types.
pub(crate) const SYSTEM_DDL: [(&str, &str); 3] =
    [(ID, "VARCHAR"), (CREATION_TIME, "DOUBLE"), (TS, "BIGINT")];

/// Quotes an identifier for DuckDB (`"` doubled).
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for DuckDB (`'` doubled).
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The DuckDB type of a destination column.
///
/// `Null` never reaches a table (a column of nulls creates no column); it maps to `VARCHAR`
/// only so the match stays exhaustive.
pub(crate) fn sql_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Int64 => "BIGINT",
        ColumnType::Float64 => "DOUBLE",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Utf8 | ColumnType::Null => "VARCHAR",
        ColumnType::Binary => "BLOB",
        ColumnType::Json => "JSON",
    }
}

/// The DuckDB type of a staging column: JSON is staged as text and cast on the way in.
pub(crate) fn stage_sql_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Json => "VARCHAR",
        other => sql_type(other),
    }
}

/// Reads a DuckDB type name back (`None` for types spillway never creates).
pub(crate) fn parse_sql_type(s: &str) -> Option<ColumnType> {
    Some(match s {
        "BIGINT" => ColumnType::Int64,
        "DOUBLE" => ColumnType::Float64,
        "BOOLEAN" => ColumnType::Boolean,
        "VARCHAR" => ColumnType::Utf8,
        "BLOB" => ColumnType::Binary,
        "JSON" => ColumnType::Json,
        _ => return None,
    })
}

/// A column of `schema` (or a system column) whose name equals `name` ignoring case but is
/// spelled differently (DuckDB identifiers are case-insensitive, so both cannot coexist).
pub(crate) fn case_clash<'a>(schema: &'a TableSchema, name: &str) -> Option<&'a str> {
    schema
        .columns
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(SYSTEM_DDL.iter().map(|(n, _)| *n))
        .find(|n| *n != name && n.eq_ignore_ascii_case(name))
}

/// `CREATE TABLE` for a destination table of shape `shape` (no key constraint: see
/// [`crate::shape`]).
pub(crate) fn create_table_sql(table: &str, shape: Shape, schema: &TableSchema) -> String {
    let mut cols = shape.system_ddl();
    cols.extend(
        schema
            .columns
            .iter()
            .map(|(n, t)| format!("{} {}", quote(n), sql_type(*t))),
    );
    format!("CREATE TABLE {} ({})", quote(table), cols.join(", "))
}

/// Creates the destination table `table` of shape `shape` with the user columns of `schema`,
/// and records its key in its comment ([`crate::shape`]).
pub(crate) fn create_table(
    db: &Db,
    table: &str,
    shape: Shape,
    schema: &TableSchema,
) -> Result<(), DestError> {
    let what = || format!("creating table {table:?}");
    db.exec(&create_table_sql(table, shape, schema), what)?;
    db.exec(
        &format!(
            "COMMENT ON TABLE {} IS {}",
            quote(table),
            literal(shape.comment())
        ),
        what,
    )?;
    Ok(())
}

/// Reads the shape and columns of `table` from the catalog; `None` if it does not exist.
pub(crate) fn load_table(db: &Db, table: &str) -> Result<Option<(Shape, TableSchema)>, DestError> {
    let sql = format!(
        "SELECT column_name, data_type FROM duckdb_columns() \
         WHERE database_name = current_database() AND schema_name = 'main' \
         AND table_name = {} ORDER BY column_index",
        literal(table)
    );
    let (batches, _) = db.arrow(&sql, || format!("reading the columns of table {table:?}"))?;
    let mut names = Vec::new();
    for b in &batches {
        let (Some(n), Some(t)) = (
            b.column(0)
                .as_any()
                .downcast_ref::<duckdb::arrow::array::StringArray>(),
            b.column(1)
                .as_any()
                .downcast_ref::<duckdb::arrow::array::StringArray>(),
        ) else {
            return Err(config_error(
                &db.path,
                "unexpected shape of duckdb_columns()",
            ));
        };
        for i in 0..b.num_rows() {
            names.push((n.value(i).to_string(), t.value(i).to_string()));
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    let not_ours = || {
        config_error(
            &db.path,
            format!(
                "table {table:?} exists but was not created by spillway (it must start with \
                 _id VARCHAR, _creationTime DOUBLE, _ts BIGINT); drop or rename it"
            ),
        )
    };
    if names.len() < SYSTEM_DDL.len() {
        return Err(not_ours());
    }
    for ((name, ty), (want_name, want_ty)) in names.iter().zip(SYSTEM_DDL) {
        if name != want_name || ty != want_ty {
            return Err(not_ours());
        }
    }
    let deleted = names
        .get(SYSTEM_DDL.len())
        .is_some_and(|(n, t)| n == DELETED && t == "BOOLEAN");
    let shape = Shape {
        deleted,
        history: has_history_key(db, table)?,
    };
    let mut columns = Vec::new();
    for (name, ty) in names.into_iter().skip(shape.system_columns().len()) {
        let Some(t) = parse_sql_type(&ty) else {
            return Err(config_error(
                &db.path,
                format!(
                    "column {name:?} of table {table:?} has type {ty}, which spillway does not \
                     write; change it back to one of BIGINT, DOUBLE, BOOLEAN, VARCHAR, BLOB, JSON"
                ),
            ));
        };
        columns.push((name, t));
    }
    Ok(Some((shape, TableSchema { columns })))
}

/// Applies `changes` to `table` (whose columns are `current`) so it has the columns of
/// `target`.
///
/// With `alter_ok`, additions and BIGINT→DOUBLE use `ALTER TABLE`. Otherwise, and for every
/// widening to JSON, the table is rebuilt: a new table is filled from the old one with the
/// converted values, the old one dropped and the new one renamed. (DuckDB 1.5 cannot commit
/// an `ALTER TABLE` of a table that the same transaction already updated or deleted from:
/// "another transaction has altered this table" / a spurious duplicate key.)
pub(crate) fn apply(
    db: &Db,
    stream: &str,
    shape: Shape,
    current: &TableSchema,
    target: &TableSchema,
    changes: &[Change],
    alter_ok: bool,
) -> Result<(), DestError> {
    for c in changes {
        if let Change::Widen { column, from, to } = c {
            info!(stream = %stream, column = %column, from = from.name(), to = to.name(), "Column widened.");
        }
    }
    let simple = changes.iter().all(|c| match c {
        Change::Add(..) => true,
        Change::Widen { to, .. } => *to == ColumnType::Float64,
    });
    if alter_ok && simple {
        for c in changes {
            let sql = match c {
                Change::Add(name, ty) => format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    quote(stream),
                    quote(name),
                    sql_type(*ty)
                ),
                Change::Widen { column, to, .. } => format!(
                    "ALTER TABLE {} ALTER COLUMN {} SET DATA TYPE {}",
                    quote(stream),
                    quote(column),
                    sql_type(*to)
                ),
            };
            db.exec(&sql, || {
                format!("changing the columns of table {stream:?} ({c:?})")
            })?;
        }
        Ok(())
    } else {
        rebuild(db, stream, shape, current, target, changes)
    }
}

/// Rebuilds `table` with the columns of `target`, converting widened columns.
fn rebuild(
    db: &Db,
    stream: &str,
    shape: Shape,
    current: &TableSchema,
    target: &TableSchema,
    changes: &[Change],
) -> Result<(), DestError> {
    let new_name = format!("{stream}__spillway_rebuild");
    db.exec(
        &format!("DROP TABLE IF EXISTS {}", quote(&new_name)),
        || format!("preparing to rebuild table {stream:?}"),
    )?;
    create_table(db, &new_name, shape, target)?;

    let system = shape.system_columns();
    let mut insert_cols: Vec<String> = system.iter().map(|(n, _)| quote(n)).collect();
    let mut select: Vec<String> = system
        .iter()
        .map(|(n, _)| format!("o.{}", quote(n)))
        .collect();
    let mut joins = String::new();
    let mut conv_tables = Vec::new();
    for (name, from) in &current.columns {
        let to = target.get(name).unwrap_or(*from);
        insert_cols.push(quote(name));
        let expr = match (from, to) {
            (f, t) if *f == t => format!("o.{}", quote(name)),
            (_, ColumnType::Json) => {
                let conv = format!("_spillway_conv_{}", conv_tables.len());
                convert_to_json(db, stream, name, *from, &conv)?;
                joins.push_str(&format!(
                    " LEFT JOIN temp.main.{conv} ON {conv}.\"_id\" = o.\"_id\" \
                     AND {conv}.\"_ts\" = o.\"_ts\""
                ));
                let e = format!("CAST({conv}.v AS JSON)");
                conv_tables.push(conv);
                e
            }
            (_, to) => format!("CAST(o.{} AS {})", quote(name), sql_type(to)),
        };
        select.push(expr);
    }
    let sql = format!(
        "INSERT INTO {} ({}) SELECT {} FROM {} AS o{}",
        quote(&new_name),
        insert_cols.join(", "),
        select.join(", "),
        quote(stream),
        joins
    );
    db.exec(&sql, || {
        format!("copying table {stream:?} into its rebuilt form ({changes:?})")
    })?;
    db.exec(&format!("DROP TABLE {}", quote(stream)), || {
        format!("dropping table {stream:?} after rebuilding it")
    })?;
    db.exec(
        &format!(
            "ALTER TABLE {} RENAME TO {}",
            quote(&new_name),
            quote(stream)
        ),
        || format!("renaming the rebuilt table of {stream:?}"),
    )?;
    for conv in conv_tables {
        db.exec(&format!("DROP TABLE temp.main.{conv}"), || {
            format!("dropping a conversion table of {stream:?}")
        })?;
    }
    Ok(())
}

/// Fills the temporary table `conv (_id, _ts, v)` with the JSON text of every non-null value of
/// `column` (of type `from`), converted exactly as batches are.
fn convert_to_json(
    db: &Db,
    stream: &str,
    column: &str,
    from: ColumnType,
    conv: &str,
) -> Result<(), DestError> {
    let what = || format!("converting column {column:?} of table {stream:?} to JSON");
    db.exec(
        &format!(
            "CREATE OR REPLACE TEMP TABLE {conv} (\"_id\" VARCHAR, \"_ts\" BIGINT, v VARCHAR)"
        ),
        what,
    )?;
    let (batches, _) = db.arrow(
        &format!(
            "SELECT \"_id\", \"_ts\", {c} FROM {t} WHERE {c} IS NOT NULL",
            c = quote(column),
            t = quote(stream)
        ),
        what,
    )?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("_id", DataType::Utf8, true),
        Field::new("_ts", DataType::Int64, true),
        Field::new("v", DataType::Utf8, true),
    ]));
    for b in batches {
        let values: &ArrayRef = b.column(2);
        if values.data_type() != &from.arrow_type() {
            return Err(data_error(
                &db.path,
                format!(
                    "column {column:?} of table {stream:?} reads as {} instead of {}",
                    values.data_type(),
                    from.arrow_type()
                ),
            ));
        }
        let json = cast_column(values, from, ColumnType::Json)
            .map_err(|e| data_error(&db.path, format!("{}: {e}", what())))?;
        let out = RecordBatch::try_new(
            schema.clone(),
            vec![b.column(0).clone(), b.column(1).clone(), json],
        )
        .map_err(|e| data_error(&db.path, format!("{}: {e}", what())))?;
        db.append_temp(conv, vec![out], what)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::*;

    #[test]
    fn types_round_trip() {
        for t in [Int64, Float64, Boolean, Utf8, Binary, Json] {
            assert_eq!(parse_sql_type(sql_type(t)), Some(t));
        }
        assert_eq!(stage_sql_type(Json), "VARCHAR");
        assert_eq!(parse_sql_type("INTEGER"), None);
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("waitlist/entries"), "\"waitlist/entries\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn create_table_has_system_columns_first() {
        let s = TableSchema {
            columns: vec![("x".into(), Json)],
        };
        assert_eq!(
            create_table_sql("a/b", Shape::default(), &s),
            "CREATE TABLE \"a/b\" (\"_id\" VARCHAR NOT NULL, \"_creationTime\" DOUBLE, \"_ts\" BIGINT, \"x\" JSON)"
        );
        let append = Shape {
            deleted: true,
            history: true,
        };
        assert!(
            create_table_sql("t", append, &TableSchema::default())
                .contains("\"_ts\" BIGINT, \"_deleted\" BOOLEAN NOT NULL)")
        );
    }
}
