//! A whole DuckDB destination as text, for comparing two destinations with each other.

use spillway_core::DestError;
use spillway_dest_duckdb::DuckDbDestination;

/// Every user table of `dest` with its column types and rows (ordered by `_id`), as text. Two
/// destinations that loaded the same data hold identical dumps, `_ts` included.
pub fn dump(dest: &mut DuckDbDestination) -> Result<String, DestError> {
    let mut out = String::new();
    for table in dest.tables()? {
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let columns = dest.query_json(&format!(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{}' \
             AND schema_name = 'main' AND database_name = current_database() \
             ORDER BY column_name",
            table.replace('\'', "''")
        ))?;
        out.push_str(&format!("table {table}\n"));
        for c in columns {
            out.push_str(&format!(
                "  column {} {}\n",
                c["column_name"], c["data_type"]
            ));
        }
        for row in dest.query_json(&format!("SELECT * FROM {quoted} ORDER BY _id"))? {
            out.push_str(&format!("  {}\n", serde_json::Value::Object(row)));
        }
    }
    Ok(out)
}
