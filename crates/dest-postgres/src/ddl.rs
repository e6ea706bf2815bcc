//! Type mapping, identifiers and DDL of destination tables.
//!
//! | [`ColumnType`] | Postgres           |
//! |----------------|--------------------|
//! | Int64          | `bigint`           |
//! | Float64        | `double precision` |
//! | Boolean        | `boolean`          |
//! | Utf8           | `text`             |
//! | Binary         | `bytea`            |
//! | Json           | `json`             |
//!
//! Every table starts with `_id text, "_creationTime" double precision, _ts bigint NOT NULL`,
//! then `_deleted boolean NOT NULL` in the shapes that keep deletions ([`Shape`]), then one
//! column per user field in the order first seen. The primary key is `(_id)`, or `(_id, _ts)`
//! for `append`.

use spillway_core::schema::{CREATION_TIME, DELETED, ID, SYSTEM_COLUMNS, TS};
use spillway_core::table::TableSchema;
use spillway_core::{ColumnType, DestError};

use crate::config::MAX_IDENTIFIER_BYTES;
use crate::db::Db;
use crate::error::{config_error, data_error};
use crate::shape::Shape;

/// A destination table as the catalog describes it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    /// Its system columns and key.
    pub(crate) shape: Shape,
    /// Its user columns.
    pub(crate) columns: TableSchema,
}

/// Quotes an identifier (`"` doubled). Postgres keeps the case of quoted identifiers, so
/// `Name` and `name` are two columns.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."table"`.
pub(crate) fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote(schema), quote(table))
}

/// The Postgres type of a destination column.
///
/// `Null` never reaches a table (a column of nulls creates no column); it maps to `text` only
/// so the match stays exhaustive.
pub(crate) fn sql_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Int64 => "bigint",
        ColumnType::Float64 => "double precision",
        ColumnType::Boolean => "boolean",
        ColumnType::Utf8 | ColumnType::Null => "text",
        ColumnType::Binary => "bytea",
        ColumnType::Json => "json",
    }
}

/// Reads a Postgres type name (`format_type`) back; `None` for types spillway never creates.
pub(crate) fn parse_sql_type(s: &str) -> Option<ColumnType> {
    Some(match s {
        "bigint" => ColumnType::Int64,
        "double precision" => ColumnType::Float64,
        "boolean" => ColumnType::Boolean,
        "text" => ColumnType::Utf8,
        "bytea" => ColumnType::Binary,
        "json" => ColumnType::Json,
        _ => return None,
    })
}

/// Refuses an identifier Postgres would truncate or cannot hold: a silent truncation could
/// merge two tables or two columns.
pub(crate) fn check_identifier(target: &str, what: &str, name: &str) -> Result<(), DestError> {
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(data_error(
            target,
            format!(
                "{what} {name:?} is {} bytes long; Postgres identifiers hold at most \
                 {MAX_IDENTIFIER_BYTES} bytes (longer ones would be truncated and could collide)",
                name.len()
            ),
        ));
    }
    if name.is_empty() || name.contains('\0') {
        return Err(data_error(
            target,
            format!("{what} {name:?} cannot be a Postgres identifier (empty or contains NUL)"),
        ));
    }
    Ok(())
}

/// `CREATE TABLE` for a destination table of `shape`.
pub(crate) fn create_table_sql(
    schema: &str,
    table: &str,
    shape: Shape,
    columns: &TableSchema,
) -> String {
    let mut cols: Vec<String> = vec![
        format!("{} text NOT NULL", quote(ID)),
        format!("{} double precision", quote(CREATION_TIME)),
        format!("{} bigint NOT NULL", quote(TS)),
    ];
    if shape.has_deleted() {
        cols.push(format!("{} boolean NOT NULL", quote(DELETED)));
    }
    cols.extend(
        columns
            .columns
            .iter()
            .map(|(n, t)| format!("{} {}", quote(n), sql_type(*t))),
    );
    let key: Vec<String> = shape.key().iter().map(|c| quote(c)).collect();
    cols.push(format!("PRIMARY KEY ({})", key.join(", ")));
    format!(
        "CREATE TABLE {} ({})",
        qualified(schema, table),
        cols.join(", ")
    )
}

/// `(name, type)` of every column of `schema.table`, in order; empty if there is no such table.
pub(crate) async fn catalog_columns(
    db: &Db,
    schema: &str,
    table: &str,
) -> Result<Vec<(String, String)>, DestError> {
    let rows = db
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&schema, &table],
            || format!("reading the columns of table {table:?}"),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect())
}

/// The primary key columns of `schema.table`, in key order (empty without a primary key).
async fn primary_key(db: &Db, schema: &str, table: &str) -> Result<Vec<String>, DestError> {
    let rows = db
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary ORDER BY k.ord",
            &[&schema, &table],
            || format!("reading the primary key of table {table:?}"),
        )
        .await?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// Reads the shape and columns of `table` from the catalog; `None` if it does not exist.
pub(crate) async fn load_table(
    db: &Db,
    schema: &str,
    table: &str,
) -> Result<Option<Table>, DestError> {
    let names = catalog_columns(db, schema, table).await?;
    if names.is_empty() {
        return Ok(None);
    }
    let not_ours = || {
        config_error(
            &db.target,
            format!(
                "table {} exists but was not created by spillway (it must start with \
                 _id text, \"_creationTime\" double precision, _ts bigint, then _deleted \
                 boolean in the modes that keep deletions, with primary key (_id) or, for \
                 append, (_id, _ts)); drop or rename it, or choose another `schema`",
                qualified(schema, table)
            ),
        )
    };
    let has_deleted = names
        .get(3)
        .is_some_and(|(n, t)| n == DELETED && t == "boolean");
    let key = primary_key(db, schema, table).await?;
    let Some(shape) = Shape::detect(has_deleted, &key) else {
        return Err(not_ours());
    };
    let system = shape.system_columns();
    if names.len() < system.len() {
        return Err(not_ours());
    }
    for ((name, ty), (want_name, want_ty)) in names.iter().zip(system) {
        if name != want_name || ty != want_ty {
            return Err(not_ours());
        }
    }
    let mut columns = Vec::new();
    for (name, ty) in names.into_iter().skip(system.len()) {
        if SYSTEM_COLUMNS.contains(&name.as_str()) {
            return Err(not_ours());
        }
        let Some(t) = parse_sql_type(&ty) else {
            return Err(config_error(
                &db.target,
                format!(
                    "column {name:?} of table {} has type {ty}, which spillway does not write; \
                     change it back to one of bigint, double precision, boolean, text, bytea, json",
                    qualified(schema, table)
                ),
            ));
        };
        columns.push((name, t));
    }
    Ok(Some(Table {
        shape,
        columns: TableSchema { columns },
    }))
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
        assert_eq!(parse_sql_type("integer"), None);
        assert_eq!(parse_sql_type("jsonb"), None);
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("waitlist/entries"), "\"waitlist/entries\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("s", "Users"), "\"s\".\"Users\"");
    }

    #[test]
    fn long_identifiers_are_refused() {
        assert!(check_identifier("t", "table", &"x".repeat(63)).is_ok());
        let e = check_identifier("t", "table", &"é".repeat(32)).unwrap_err();
        assert!(e.message.contains("64 bytes"), "{e}");
        assert!(check_identifier("t", "column", "a\0b").is_err());
    }

    #[test]
    fn create_table_has_system_columns_first() {
        let s = TableSchema {
            columns: vec![("x".into(), Json)],
        };
        assert_eq!(
            create_table_sql("public", "a/b", Shape::Upsert, &s),
            "CREATE TABLE \"public\".\"a/b\" (\"_id\" text NOT NULL, \"_creationTime\" double \
             precision, \"_ts\" bigint NOT NULL, \"x\" json, PRIMARY KEY (\"_id\"))"
        );
        assert_eq!(
            create_table_sql("s", "t", Shape::Append, &TableSchema::default()),
            "CREATE TABLE \"s\".\"t\" (\"_id\" text NOT NULL, \"_creationTime\" double \
             precision, \"_ts\" bigint NOT NULL, \"_deleted\" boolean NOT NULL, \
             PRIMARY KEY (\"_id\", \"_ts\"))"
        );
    }
}
