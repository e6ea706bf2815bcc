//! A whole DuckDB destination as text, for comparing two destinations with each other.

use spillway_core::DestError;
use spillway_dest_duckdb::DuckDbDestination;

use crate::compare::{column_types, quote};

/// Every user table of `dest` with its column types and rows (ordered by `_id`), as text. Two
/// destinations that loaded the same data hold identical dumps, `_ts` included.
pub fn dump(dest: &mut DuckDbDestination) -> Result<String, DestError> {
    let mut out = String::new();
    for table in dest.tables()? {
        out.push_str(&format!("table {table}\n"));
        for (name, ty) in column_types(dest, &table)? {
            out.push_str(&format!("  column {name} {ty}\n"));
        }
        let sql = format!("SELECT * FROM {} ORDER BY _id", quote(&table));
        for row in dest.query_json(&sql)? {
            out.push_str(&format!("  {}\n", serde_json::Value::Object(row)));
        }
    }
    Ok(out)
}
