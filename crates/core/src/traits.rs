//! The connector traits.

use async_trait::async_trait;

use crate::channel::EventSender;
use crate::{
    Batch, Checkpoint, DestError, SavedState, SourceError, SourceState, StateKey, StreamId,
};

/// A stream as a source describes it (`spillway streams`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StreamInfo {
    /// The stream.
    pub id: StreamId,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// The cursor column, when incremental.
    pub cursor_field: Option<String>,
    /// Known columns with a type hint (from the source's schema; may be incomplete).
    pub columns: Vec<(String, String)>,
}

/// How a read should start and end.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Ignore the saved state and re-read everything.
    pub full_refresh: bool,
}

/// Where data comes from.
#[async_trait]
pub trait Source: Send + Sync {
    /// The key under which destinations store this source's state.
    fn state_key(&self) -> StateKey;

    /// A cheap probe of connectivity and credentials.
    async fn check(&self) -> Result<(), SourceError>;

    /// The streams this source would read.
    async fn streams(&self) -> Result<Vec<StreamInfo>, SourceError>;

    /// Reads from `resume` (or from scratch) up to the present, sending events to `out`.
    /// With `options.full_refresh` the read starts over, and `resume` (the destination's saved
    /// state, if any) only tells what the destination holds — e.g. tables to empty.
    ///
    /// A checkpoint is sent only where everything before it is complete; the call returns
    /// after the last checkpoint once the source has caught up.
    async fn read(
        &self,
        resume: Option<SourceState>,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<(), SourceError>;

    /// Where one read must start so that every destination gets what it lacks, given each
    /// destination's saved state (`None`: nothing saved). Destinations already past that
    /// point skip what they hold (see [`Source::delivered_through`]).
    ///
    /// The default: the common state when all are equal, otherwise `None` (start over: every
    /// destination reloads every stream).
    fn resume_from(&self, saved: &[Option<SourceState>]) -> Option<SourceState> {
        let first = saved.first()?;
        if saved.iter().all(|s| s == first) {
            first.clone()
        } else {
            None
        }
    }

    /// The commit timestamp (`_ts`) through which a destination that saved `state` holds
    /// every change, when the state says so (Convex: a delta cursor). When one read serves
    /// destinations at different positions, a destination drops the rows with `_ts` at or
    /// before it and the checkpoints up to it.
    fn delivered_through(&self, state: &SourceState) -> Option<i64> {
        let _ = state;
        None
    }
}

/// Where data goes. Writes between two commits form one transaction.
#[async_trait]
pub trait Destination: Send {
    /// A short name for messages (`duckdb:/path/file.duckdb`).
    fn name(&self) -> String;

    /// A cheap probe (open, write access).
    async fn check(&mut self) -> Result<(), DestError>;

    /// The state saved for `key`, if any.
    async fn load_state(&mut self, key: &StateKey) -> Result<Option<SourceState>, DestError>;

    /// A full reload of `stream` begins (within the open transaction): removes its rows, or
    /// starts a reload copy, as the stream's write mode says ([`crate::write_mode`]).
    async fn truncate(&mut self, stream: &StreamId) -> Result<(), DestError>;

    /// Applies rows (within the open transaction) as the stream's write mode says
    /// ([`crate::write_mode`]).
    async fn write(&mut self, batch: &Batch) -> Result<(), DestError>;

    /// Whether the rows of the open transaction stay in this process's memory until the
    /// commit (the files destination encodes its part files then). The engine commits such a
    /// destination once a transaction holds `SyncOptions::max_in_flight_bytes` of rows, not
    /// only every `commit_interval`. A destination that hands rows to a database as they come
    /// (DuckDB, which spills to disk, and Postgres) returns `false`, so its transactions are
    /// bounded by time alone and stay large enough for bulk loading.
    fn holds_transaction_in_memory(&self) -> bool {
        true
    }

    /// Saves `checkpoint` for `key` and commits everything written since the last commit,
    /// atomically.
    async fn commit(&mut self, key: &StateKey, checkpoint: &Checkpoint) -> Result<(), DestError>;

    /// Completes the full reloads begun in this run or an earlier one (see
    /// [`crate::write_mode`]: `replace` swaps the reload copies in, `overwrite-delete-stale`
    /// merges them), atomically. Called once the source has caught up and the last checkpoint
    /// is committed; does nothing when no reload is pending, so it can always be called.
    async fn finish(&mut self) -> Result<(), DestError>;

    /// Discards everything written since the last commit.
    async fn rollback(&mut self) -> Result<(), DestError>;

    /// Every state saved here, sorted by key, for `spillway state show`.
    async fn list_states(&mut self) -> Result<Vec<SavedState>, DestError>;

    /// Deletes the state saved for `key` (the next sync starts over).
    async fn reset_state(&mut self, key: &StateKey) -> Result<(), DestError>;
}
