//! Helpers shared by the integration tests: batches built with Arrow, and a destination in a
//! temporary directory.
#![allow(dead_code)]

use serde_json::{Map, Value};
pub use spillway_core::testing::*;
use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};
use tempfile::TempDir;

/// A destination in a fresh temporary directory (kept alive by the returned `TempDir`).
pub fn open() -> (TempDir, DuckDbConfig, DuckDbDestination) {
    let dir = tempfile::tempdir().unwrap();
    let config = DuckDbConfig::new(dir.path().join("test.duckdb"));
    let dest = DuckDbDestination::open(&config).unwrap();
    (dir, config, dest)
}

/// All rows of `table` ordered by `_id`.
pub fn rows(dest: &mut DuckDbDestination, table: &str) -> Vec<Map<String, Value>> {
    let sql = format!(
        "SELECT * FROM \"{}\" ORDER BY _id",
        table.replace('"', "\"\"")
    );
    dest.query_json(&sql).unwrap()
}

/// `(column, DuckDB type)` of `table`.
pub fn columns(dest: &mut DuckDbDestination, table: &str) -> Vec<(String, String)> {
    let sql = format!(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{}' \
         AND database_name = current_database() ORDER BY column_index",
        table.replace('\'', "''")
    );
    dest.query_json(&sql)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["column_name"].as_str().unwrap().to_string(),
                r["data_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The text DuckDB stores for `column` of row `id` (`CAST(... AS VARCHAR)`).
pub fn stored_text(
    dest: &mut DuckDbDestination,
    table: &str,
    column: &str,
    id: &str,
) -> Option<String> {
    let sql =
        format!("SELECT CAST(\"{column}\" AS VARCHAR) AS v FROM \"{table}\" WHERE _id = '{id}'");
    let rows = dest.query_json(&sql).unwrap();
    rows.first()
        .and_then(|r| r["v"].as_str().map(str::to_string))
}

/// A destination in a fresh temporary directory with write modes `modes`.
pub fn open_with(modes: spillway_core::WriteModes) -> (TempDir, DuckDbConfig, DuckDbDestination) {
    let dir = tempfile::tempdir().unwrap();
    let config = DuckDbConfig::new(dir.path().join("test.duckdb")).with_modes(modes);
    let dest = DuckDbDestination::open(&config).unwrap();
    (dir, config, dest)
}

/// Every stream in mode `mode`.
pub fn all(mode: spillway_core::StreamMode) -> spillway_core::WriteModes {
    spillway_core::WriteModes::all(mode)
}

/// The comment of `table`, where the destination records its key.
pub fn comment(dest: &mut DuckDbDestination, table: &str) -> Option<String> {
    let sql = format!(
        "SELECT comment FROM duckdb_tables() WHERE table_name = '{}' \
         AND database_name = current_database()",
        table.replace('\'', "''")
    );
    dest.query_json(&sql)
        .unwrap()
        .first()
        .and_then(|r| r["comment"].as_str().map(str::to_string))
}

/// Asserts that `table` holds each `_id` at most once and still records key `(_id)`.
pub fn assert_keyed_by_id(dest: &mut DuckDbDestination, table: &str) {
    let sql = format!(
        "SELECT count(*) - count(DISTINCT _id) AS dup FROM \"{}\"",
        table.replace('"', "\"\"")
    );
    assert_eq!(
        dest.query_json(&sql).unwrap()[0]["dup"],
        0,
        "{table}: duplicate _id"
    );
    assert_eq!(
        comment(dest, table).as_deref(),
        Some("spillway: key (_id)"),
        "{table}: key no longer recorded"
    );
}
