//! Any destination's tables read back in one shape, so one comparison serves them all.
//!
//! Column types are given by their DuckDB names (`BIGINT`, `DOUBLE`, `BOOLEAN`, `VARCHAR`,
//! `BLOB`, `JSON`); Postgres names are mapped onto them. Cells are JSON as the destinations'
//! `query_json` return them (non-finite doubles as `"NaN"`/`"Infinity"`/`"-Infinity"`, bytes
//! as base64).

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json};
use spillway_core::schema::{DELETED, ID, TS};
use spillway_core::{ColumnType, DestError, StreamId};
use spillway_dest_duckdb::DuckDbDestination;
use spillway_dest_files::FilesDestination;
use spillway_dest_postgres::PostgresDestination;

use crate::compare::{column_types, quote};

/// One table: column name → type, and its rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableRows {
    /// Column name → DuckDB type name.
    pub columns: BTreeMap<String, String>,
    /// The rows, each a JSON object keyed by column name.
    pub rows: Vec<Map<String, Json>>,
}

/// A destination's user tables by qualified name.
pub type Tables = BTreeMap<String, TableRows>;

/// Every user table of a DuckDB destination.
pub fn read_duckdb(dest: &mut DuckDbDestination) -> Result<Tables, DestError> {
    let mut out = Tables::new();
    for table in dest.tables()? {
        let columns = column_types(dest, &table)?;
        let rows = dest.query_json(&format!("SELECT * FROM {} ORDER BY _id", quote(&table)))?;
        out.insert(table, TableRows { columns, rows });
    }
    Ok(out)
}

/// Every user table of a Postgres destination.
pub async fn read_postgres(dest: &mut PostgresDestination) -> Result<Tables, DestError> {
    let mut out = Tables::new();
    for table in dest.tables().await? {
        let columns = dest
            .columns(&table)
            .await?
            .into_iter()
            .map(|(name, ty)| (name, duckdb_type_name(&ty)))
            .collect();
        let sql = format!("SELECT * FROM {} ORDER BY _id", dest.table_ref(&table));
        let rows = dest.query_json(&sql).await?;
        out.insert(table, TableRows { columns, rows });
    }
    Ok(out)
}

/// Every stream of a files destination, as every committed row version (tables with
/// `_deleted`, which [`current_state`] collapses).
pub async fn read_files(dest: &FilesDestination) -> Result<Tables, DestError> {
    let mut out = Tables::new();
    for stream in dest.streams() {
        let batches = dest.read_versions(&StreamId::parse(&stream)).await?;
        let mut t = TableRows::default();
        for batch in &batches {
            let schema = batch.schema();
            let types: Vec<ColumnType> = schema
                .fields()
                .iter()
                .map(|f| ColumnType::of_field(f).unwrap_or(ColumnType::Json))
                .collect();
            for (f, ty) in schema.fields().iter().zip(&types) {
                if *ty != ColumnType::Null {
                    t.columns
                        .insert(f.name().clone(), duckdb_name(*ty).to_string());
                }
            }
            for row in 0..batch.num_rows() {
                let mut cells = Map::new();
                for (i, f) in schema.fields().iter().enumerate() {
                    cells.insert(f.name().clone(), cell(batch.column(i), types[i], row));
                }
                t.rows.push(cells);
            }
        }
        out.insert(stream, t);
    }
    Ok(out)
}

/// The DuckDB name of a column type.
fn duckdb_name(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Null => "NULL",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Int64 => "BIGINT",
        ColumnType::Float64 => "DOUBLE",
        ColumnType::Utf8 => "VARCHAR",
        ColumnType::Binary => "BLOB",
        ColumnType::Json => "JSON",
    }
}

/// One Arrow cell as `query_json` would return it.
fn cell(array: &ArrayRef, ty: ColumnType, i: usize) -> Json {
    if array.is_null(i) {
        return Json::Null;
    }
    match ty {
        ColumnType::Null => Json::Null,
        ColumnType::Boolean => Json::Bool(array.as_boolean().value(i)),
        ColumnType::Int64 => Json::from(array.as_primitive::<Int64Type>().value(i)),
        ColumnType::Float64 => {
            let f = array.as_primitive::<Float64Type>().value(i);
            match serde_json::Number::from_f64(f) {
                Some(n) => Json::Number(n),
                None if f.is_nan() => Json::String("NaN".into()),
                None if f > 0.0 => Json::String("Infinity".into()),
                None => Json::String("-Infinity".into()),
            }
        }
        ColumnType::Utf8 => Json::String(array.as_string::<i32>().value(i).to_string()),
        ColumnType::Binary => Json::String(B64.encode(array.as_binary::<i32>().value(i))),
        ColumnType::Json => {
            let text = array.as_string::<i32>().value(i);
            serde_json::from_str(text)
                .unwrap_or_else(|e| Json::String(format!("<bad JSON {e}: {text}>")))
        }
    }
}

/// The DuckDB name of a Postgres column type.
fn duckdb_type_name(pg: &str) -> String {
    match pg {
        "bigint" => "BIGINT",
        "double precision" => "DOUBLE",
        "boolean" => "BOOLEAN",
        "text" => "VARCHAR",
        "bytea" => "BLOB",
        "json" | "jsonb" => "JSON",
        other => other,
    }
    .to_string()
}

/// The current state of tables that keep versions or deletions (`append`, `soft_delete`,
/// files): per `_id` the version with the highest `_ts`, dropped if `_deleted`; the
/// `_deleted` column removed. Tables without `_deleted` are returned as they are.
pub fn current_state(tables: &Tables) -> Tables {
    tables
        .iter()
        .map(|(name, t)| (name.clone(), current_rows(t)))
        .collect()
}

fn current_rows(t: &TableRows) -> TableRows {
    if !t.columns.contains_key(DELETED) {
        return t.clone();
    }
    let mut latest: BTreeMap<String, &Map<String, Json>> = BTreeMap::new();
    for row in &t.rows {
        let id = row.get(ID).and_then(Json::as_str).unwrap_or_default();
        let ts = |r: &Map<String, Json>| r.get(TS).and_then(Json::as_i64).unwrap_or(i64::MIN);
        match latest.get(id) {
            Some(have) if ts(have) >= ts(row) => {}
            _ => {
                latest.insert(id.to_string(), row);
            }
        }
    }
    let mut columns = t.columns.clone();
    columns.remove(DELETED);
    let rows = latest
        .into_values()
        .filter(|r| r.get(DELETED) != Some(&Json::Bool(true)))
        .map(|r| {
            let mut r = r.clone();
            r.remove(DELETED);
            r
        })
        .collect();
    TableRows { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn current_state_keeps_the_latest_live_version() {
        let rows = [
            json!({"_id": "a", "_ts": 1, "_deleted": false, "x": 1}),
            json!({"_id": "a", "_ts": 3, "_deleted": false, "x": 3}),
            json!({"_id": "a", "_ts": 2, "_deleted": false, "x": 2}),
            json!({"_id": "b", "_ts": 1, "_deleted": false, "x": 1}),
            json!({"_id": "b", "_ts": 4, "_deleted": true, "x": null}),
        ];
        let t = TableRows {
            columns: [
                ("_id", "VARCHAR"),
                ("_ts", "BIGINT"),
                ("_deleted", "BOOLEAN"),
                ("x", "BIGINT"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
            rows: rows
                .iter()
                .map(|r| r.as_object().unwrap().clone())
                .collect(),
        };
        let c = current_rows(&t);
        assert_eq!(c.rows.len(), 1);
        assert_eq!(c.rows[0].get("x"), Some(&json!(3)));
        assert!(!c.columns.contains_key("_deleted") && !c.rows[0].contains_key("_deleted"));
    }
}
