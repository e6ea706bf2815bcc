//! When a checkpoint is committed.
//!
//! Every checkpoint is a safe place to commit, but each commit is a destination transaction
//! (a DuckDB or Postgres commit, a files manifest and its part files), which costs far more
//! than a page of rows. So the engine commits a checkpoint only once `commit_interval` has
//! passed since the last commit or, for a destination that holds its open transaction in memory
//! (`Destination::holds_transaction_in_memory`), the rows written since then reach the byte
//! bound; the
//! checkpoints in between are superseded by the next one. The last checkpoint of a read is
//! always committed. A crash loses at most the uncommitted group, which the rerun reads
//! again from the last committed position — nothing is lost or duplicated either way.

use std::time::Duration;

use spillway_core::Checkpoint;
use tokio::time::Instant;

/// One destination's checkpoints not committed yet.
pub(crate) struct Pending {
    /// The newest checkpoint not committed yet.
    checkpoint: Option<Checkpoint>,
    since: Instant,
    bytes: u64,
    /// Something was written since the last commit (the open transaction holds changes).
    written: bool,
    /// Something was written after the deferred checkpoint (so it no longer describes the
    /// open transaction).
    written_after: bool,
}

impl Pending {
    /// Nothing pending; the interval starts now.
    pub(crate) fn new() -> Self {
        Pending {
            checkpoint: None,
            since: Instant::now(),
            bytes: 0,
            written: false,
            written_after: false,
        }
    }

    /// Rows of `bytes` (or a truncate, 0) were written into the open transaction.
    pub(crate) fn wrote(&mut self, bytes: u64) {
        self.bytes += bytes;
        self.written = true;
        self.written_after |= self.checkpoint.is_some();
    }

    /// Whether the open transaction holds changes not committed yet.
    pub(crate) fn uncommitted(&self) -> bool {
        self.written
    }

    /// Whether a checkpoint arriving now should be committed.
    pub(crate) fn due(&self, interval: Duration, max_bytes: u64) -> bool {
        self.since.elapsed() >= interval || self.bytes >= max_bytes
    }

    /// Keeps `checkpoint` for a later commit (it supersedes any earlier one).
    pub(crate) fn defer(&mut self, checkpoint: &Checkpoint) {
        self.checkpoint = Some(checkpoint.clone());
        self.written_after = false;
    }

    /// The deferred checkpoint to commit now, if there is one and nothing was written after
    /// it.
    pub(crate) fn take(&mut self) -> Option<Checkpoint> {
        let cp = self.checkpoint.take();
        cp.filter(|_| !self.written_after)
    }

    /// A commit succeeded (or the transaction was rolled back): start a new group.
    pub(crate) fn reset(&mut self) {
        self.checkpoint = None;
        self.since = Instant::now();
        self.bytes = 0;
        self.written = false;
        self.written_after = false;
    }
}

#[cfg(test)]
mod tests {
    use spillway_core::SourceState;

    use super::*;

    fn cp(n: i64) -> Checkpoint {
        Checkpoint {
            state: SourceState(serde_json::json!(n)),
            description: n.to_string(),
        }
    }

    #[test]
    fn groups_until_the_interval_or_the_byte_bound() {
        let mut p = Pending::new();
        let hour = Duration::from_secs(3600);
        assert!(!p.due(hour, 100));
        assert!(p.due(Duration::ZERO, 100));
        p.wrote(60);
        p.defer(&cp(1));
        p.defer(&cp(2));
        assert!(!p.due(hour, 100));
        p.wrote(50);
        assert!(p.due(hour, 100), "the byte bound is reached");
        p.reset();
        assert!(!p.due(hour, 100));
        assert_eq!(p.take(), None);
    }

    #[test]
    fn a_checkpoint_followed_by_writes_is_not_committed_at_the_end() {
        let mut p = Pending::new();
        p.defer(&cp(1));
        p.defer(&cp(2));
        assert_eq!(p.take(), Some(cp(2)), "the newest supersedes");
        p.defer(&cp(3));
        p.wrote(0);
        assert_eq!(p.take(), None, "rows after it are not covered by it");
    }
}
