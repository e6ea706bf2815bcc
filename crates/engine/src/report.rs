//! What a sync did.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Counters of one sync run.
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    /// Live rows written (inserted or updated).
    pub rows: u64,
    /// Tombstones applied.
    pub deletes: u64,
    /// Approximate Arrow bytes moved.
    pub bytes: u64,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// Tables truncated before a reload.
    pub truncates: u64,
    /// Rows (live + deleted) per stream.
    pub per_stream: BTreeMap<String, u64>,
    /// Wall time.
    pub elapsed: Duration,
    /// The description of the last committed checkpoint.
    pub last_checkpoint: Option<String>,
    /// Peak number of rows in flight between source and destination.
    pub peak_rows_in_flight: usize,
}

impl SyncReport {
    /// Rows per second over the whole run.
    pub fn rows_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.rows + self.deletes) as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows written, {} deleted, {:.1} MB, {} checkpoints in {:.2?} ({:.0} rows/s)",
            self.rows,
            self.deletes,
            self.bytes as f64 / 1e6,
            self.checkpoints,
            self.elapsed,
            self.rows_per_sec()
        )
    }
}
