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

/// The compression methods DuckDB may not use for the rows spillway writes
/// (`SET disabled_compression_methods` on open): `dictionary`. DuckDB picks per column segment
/// the method that stores it smallest; in the storage format spillway writes (DuckDB's default,
/// readable by DuckDB 1.0 on) trying dictionary compression on string columns is expensive.
/// Without it, low-cardinality strings are stored with FSST.
///
/// Measured on 2 cores: writing the 1 M bench documents' tables again with DuckDB 1.5.2 from
/// PyPI on one thread took 3.4 CPU-s instead of 6.8, for a 4% larger file. `spillway sync` of
/// the same documents against one emulator (4 runs each, some alternating): 6.8–7.1 s against
/// 7.5–8.2 s wall, 7.4–8.0 against 8.2–8.7 user-s, peak RSS 305–332 against 382–392 MB, a file
/// 3–5% larger (255–263 against 243–250 MB). Disabling FSST as well saved ~1.5 CPU-s more but
/// stored the file 2.3× larger.
pub const DISABLED_COMPRESSION: &str = "dictionary";

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
