//! Configuration of the DuckDB destination.

use std::path::PathBuf;

use spillway_core::WriteModes;

/// Where the DuckDB destination writes, and how (its write modes).
///
/// ```toml
/// [[destination]]
/// kind = "duckdb"
/// path = "convex.duckdb"
/// memory_limit = 268435456   # optional, bytes
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct DuckDbConfig {
    /// The database file. Created if missing; its directory must exist.
    pub path: PathBuf,
    /// The write mode of each stream (default: `upsert` everywhere). Not read from the
    /// destination's own TOML table: the caller fills it in (see [`DuckDbConfig::with_modes`]).
    #[serde(skip)]
    pub modes: WriteModes,
    /// DuckDB's memory limit in bytes (`SET memory_limit` on open); beyond it DuckDB spills to
    /// its temporary directory (next to the database file). `None` (the default): DuckDB's own
    /// default, 80% of the machine's RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
}

impl DuckDbConfig {
    /// A configuration writing to `path`, every stream in write mode `upsert`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DuckDbConfig {
            path: path.into(),
            modes: WriteModes::default(),
            memory_limit: None,
        }
    }

    /// The same configuration with DuckDB's memory limit set to `bytes`.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// The same configuration with write modes `modes` (checked by
    /// [`crate::DuckDbDestination::open`]).
    pub fn with_modes(mut self, modes: WriteModes) -> Self {
        self.modes = modes;
        self
    }
}
