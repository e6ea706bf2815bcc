//! A whole DuckDB destination as text, for comparing two destinations with each other.

use spillway_core::DestError;
use spillway_dest_duckdb::DuckDbDestination;

use crate::tables::read_duckdb;

/// Every user table of `dest` with its column types and rows (ordered by `_id`), as text. Two
/// destinations that loaded the same data hold identical dumps, `_ts` included.
pub fn dump(dest: &mut DuckDbDestination) -> Result<String, DestError> {
    let mut out = String::new();
    for (table, t) in read_duckdb(dest)? {
        out.push_str(&format!("table {table}\n"));
        for (name, ty) in &t.columns {
            out.push_str(&format!("  column {name} {ty}\n"));
        }
        for row in t.rows {
            out.push_str(&format!("  {}\n", serde_json::Value::Object(row)));
        }
    }
    Ok(out)
}
