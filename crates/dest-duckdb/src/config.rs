//! Configuration of the DuckDB destination.

use std::path::PathBuf;

use spillway_core::WriteModes;

/// Where the DuckDB destination writes, and how (its write modes).
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
    /// The write mode of each stream (default: `upsert` everywhere). Not read from the
    /// destination's own TOML table: the caller fills it in (see [`DuckDbConfig::with_modes`]).
    #[serde(skip)]
    pub modes: WriteModes,
}

impl DuckDbConfig {
    /// A configuration writing to `path`, every stream in write mode `upsert`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DuckDbConfig {
            path: path.into(),
            modes: WriteModes::default(),
        }
    }

    /// The same configuration with write modes `modes` (checked by
    /// [`crate::DuckDbDestination::open`]).
    pub fn with_modes(mut self, modes: WriteModes) -> Self {
        self.modes = modes;
        self
    }
}
