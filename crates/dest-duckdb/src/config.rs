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
/// threads = 1                 # optional, DuckDB's worker threads
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
    /// DuckDB's threads (`SET threads` on open; default [`DEFAULT_THREADS`]). The sync loads
    /// rows through one appender, so more threads only help the merges of incremental syncs
    /// and the compression of row groups; while another thread works, the connection's own
    /// thread polls for tasks without sleeping, a core taken from decoding the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
}

/// DuckDB's threads when the configuration does not say: 1. Measured at 1 M bench documents on
/// 2 cores, alternating: 2 threads cost 1.4–3.3 CPU-s more than 1 (the connection's thread
/// polling while the other compresses) and the sync took longer.
pub const DEFAULT_THREADS: u32 = 1;

impl DuckDbConfig {
    /// A configuration writing to `path`, every stream in write mode `upsert`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DuckDbConfig {
            path: path.into(),
            modes: WriteModes::default(),
            memory_limit: None,
            threads: None,
        }
    }

    /// The same configuration with DuckDB's memory limit set to `bytes`.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// The same configuration with DuckDB's threads set to `threads` (at least 1).
    pub fn with_threads(mut self, threads: u32) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// The same configuration with write modes `modes` (checked by
    /// [`crate::DuckDbDestination::open`]).
    pub fn with_modes(mut self, modes: WriteModes) -> Self {
        self.modes = modes;
        self
    }
}
