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
//! Every table starts with `_id text PRIMARY KEY, "_creationTime" double precision,
//! _ts bigint NOT NULL`, then one column per user field in the order first seen.

use spillway_core::schema::{CREATION_TIME, ID, TS};
use spillway_core::table::TableSchema;
use spillway_core::{ColumnType, DestError};

use crate::config::MAX_IDENTIFIER_BYTES;
use crate::db::Db;
use crate::error::{config_error, data_error};

/// The system columns of every table, with their Postgres types (as `format_type` prints them).
pub(crate) const SYSTEM_DDL: [(&str, &str); 3] = [
    (ID, "text"),
    (CREATION_TIME, "double precision"),
    (TS, "bigint"),
];

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

/// `CREATE TABLE` for a destination table.
pub(crate) fn create_table_sql(schema: &str, table: &str, columns: &TableSchema) -> String {
    let mut cols: Vec<String> = vec![
        format!("{} text PRIMARY KEY", quote(ID)),
        format!("{} double precision", quote(CREATION_TIME)),
        format!("{} bigint NOT NULL", quote(TS)),
    ];
    cols.extend(
        columns
            .columns
            .iter()
            .map(|(n, t)| format!("{} {}", quote(n), sql_type(*t))),
    );
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

/// Reads the columns of `table` from the catalog; `None` if it does not exist.
pub(crate) async fn load_table(
    db: &Db,
    schema: &str,
    table: &str,
) -> Result<Option<TableSchema>, DestError> {
    let names = catalog_columns(db, schema, table).await?;
    if names.is_empty() {
        return Ok(None);
    }
    let not_ours = || {
        config_error(
            &db.target,
            format!(
                "table {} exists but was not created by spillway (it must start with \
                 _id text, \"_creationTime\" double precision, _ts bigint); drop or rename it, \
                 or choose another `schema`",
                qualified(schema, table)
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
    let mut columns = Vec::new();
    for (name, ty) in names.into_iter().skip(SYSTEM_DDL.len()) {
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
    Ok(Some(TableSchema { columns }))
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
            create_table_sql("public", "a/b", &s),
            "CREATE TABLE \"public\".\"a/b\" (\"_id\" text PRIMARY KEY, \"_creationTime\" double \
             precision, \"_ts\" bigint NOT NULL, \"x\" json)"
        );
    }
}
