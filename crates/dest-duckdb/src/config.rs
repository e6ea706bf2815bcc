//! Configuration of the DuckDB destination.

use std::path::PathBuf;

/// Where the DuckDB destination writes.
///
/// ```toml
/// [[destination]]
/// kind = "duckdb"
/// path = "convex.duckdb"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct DuckDbConfig {
    /// The database file. Created if missing; its directory must exist.
    pub path: PathBuf,
}

impl DuckDbConfig {
    /// A configuration writing to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DuckDbConfig { path: path.into() }
    }
}
