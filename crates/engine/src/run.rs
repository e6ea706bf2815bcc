//! The sync loop.

use std::sync::Arc;
use std::time::Duration;

use spillway_core::channel::{EventReceiver, channel};
use spillway_core::{DestError, ErrorKind, ReadOptions, Source, SourceError, SourceState};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::SyncReport;
use crate::fan_out::{DestinationRun, DynDestination, sync_fan_out};

/// Options of one sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Ignore saved state and re-read everything.
    pub full_refresh: bool,
    /// Bytes of Arrow data allowed in flight between source and destination; also the most
    /// written into one transaction of a destination that holds its transaction in memory
    /// ([`spillway_core::Destination::holds_transaction_in_memory`]) before its checkpoint is
    /// committed.
    pub max_in_flight_bytes: usize,
    /// The least time between two commits of a destination (default 10 s; DuckDB writes a
    /// transaction's rows straight into the file as compressed row groups only once it holds a
    /// row group's worth, 122 880 rows, of a table, which 2 s rarely did): checkpoints in
    /// between are superseded by the next one, and the last of a read is always committed.
    /// `Duration::ZERO` commits every checkpoint (every page).
    pub commit_interval: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            full_refresh: false,
            max_in_flight_bytes: 64 << 20,
            commit_interval: Duration::from_secs(10),
        }
    }
}

impl From<SourceError> for EngineError {
    fn from(e: SourceError) -> Self {
        EngineError::Source(e)
    }
}

/// Why a sync failed. Everything committed before the failure stays committed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum EngineError {
    /// The source failed.
    /// (The message is included in this error's own text, so the source error is not also
    /// reported as its cause: a CLI printing the chain would say it twice.)
    #[error("source: {0}")]
    Source(SourceError),
    /// A destination failed.
    #[error("destination {name}: {error}")]
    Destination {
        /// Which destination.
        name: String,
        /// What went wrong.
        error: DestError,
    },
    /// Stopped by a signal; the open transaction was rolled back.
    #[error("interrupted; {}", match .last_checkpoint { Some(c) => format!("the last committed position is: {c}"), None => "nothing was committed in this run".to_string() })]
    Interrupted {
        /// Description of the last committed checkpoint in this run.
        last_checkpoint: Option<String>,
    },
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// The error kind, for exit codes and follow-mode decisions.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Source(e) => e.kind,
            EngineError::Destination { error, .. } => error.kind,
            EngineError::Interrupted { .. } | EngineError::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Starts `source` reading from `resume` and returns the receiving end, for library users who
/// want Arrow batches without a destination.
pub fn read_events(
    source: Arc<dyn Source>,
    resume: Option<SourceState>,
    options: ReadOptions,
    max_in_flight_bytes: usize,
) -> (EventReceiver, JoinHandle<Result<(), SourceError>>) {
    let (tx, rx) = channel(max_in_flight_bytes);
    let handle = tokio::spawn(async move { source.read(resume, &options, tx).await });
    (rx, handle)
}

/// Runs one sync: resume from the destination's saved state (unless `full_refresh`), read up
/// to the present, commit page by page, then [`spillway_core::Destination::finish`].
pub async fn sync_once(
    source: Arc<dyn Source>,
    dest: &mut DynDestination,
    options: &SyncOptions,
    cancel: &CancellationToken,
) -> Result<SyncReport, EngineError> {
    let mut runs = sync_fan_out(source, &mut [dest], options, cancel).await;
    match runs.pop() {
        Some(run) => run.result(),
        None => Err(EngineError::Internal("no destination".into())),
    }
}

/// Syncs, then keeps polling every `interval` until `cancel` fires. Transient failures that
/// outlasted the source's retry budget are logged and retried at the next poll.
pub async fn follow(
    source: Arc<dyn Source>,
    dest: &mut DynDestination,
    options: &SyncOptions,
    interval: Duration,
    cancel: &CancellationToken,
    mut on_report: impl FnMut(&SyncReport),
) -> Result<(), EngineError> {
    follow_fan_out(source, &mut [dest], options, interval, cancel, |runs| {
        for run in runs {
            on_report(&run.report);
        }
    })
    .await
}

/// [`follow`] for several destinations: one read per poll fanned out to all of them
/// ([`sync_fan_out`]). `on_runs` sees every poll's successful runs. Stops at the first
/// failure that retrying cannot fix, returning it.
pub async fn follow_fan_out(
    source: Arc<dyn Source>,
    dests: &mut [&mut DynDestination],
    options: &SyncOptions,
    interval: Duration,
    cancel: &CancellationToken,
    mut on_runs: impl FnMut(&[DestinationRun]),
) -> Result<(), EngineError> {
    let mut options = options.clone();
    loop {
        let runs = sync_fan_out(source.clone(), dests, &options, cancel).await;
        let mut ok = Vec::new();
        for run in runs {
            match run.error {
                None => ok.push(run),
                Some(EngineError::Interrupted { .. }) if cancel.is_cancelled() => return Ok(()),
                Some(e) if e.kind() == ErrorKind::Transient => {
                    warn!(destination = %run.name, error = %e, retry_in_s = interval.as_secs(), "Sync failed; will retry at the next poll.");
                }
                Some(e) => return Err(e),
            }
        }
        on_runs(&ok);
        options.full_refresh = false;
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
