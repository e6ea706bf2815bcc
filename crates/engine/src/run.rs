//! The sync loop.

use std::sync::Arc;
use std::time::Duration;

use spillway_core::channel::{EventReceiver, channel};
use spillway_core::schema::DELETED;
use spillway_core::{
    DestError, Destination, ErrorKind, ReadOptions, Source, SourceError, SourceEvent, SourceState,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::SyncReport;

/// Options of one sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Ignore saved state and re-read everything.
    pub full_refresh: bool,
    /// Bytes of Arrow data allowed in flight between source and destination.
    pub max_in_flight_bytes: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            full_refresh: false,
            max_in_flight_bytes: 64 << 20,
        }
    }
}

impl From<SourceError> for EngineError {
    fn from(e: SourceError) -> Self {
        EngineError::Source(e)
    }
}

/// Why a sync failed. Everything committed before the failure stays committed.
#[derive(Debug, thiserror::Error)]
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

fn dest_err(dest: &dyn Destination, error: DestError) -> EngineError {
    EngineError::Destination {
        name: dest.name(),
        error,
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
/// to the present, commit page by page.
pub async fn sync_once(
    source: Arc<dyn Source>,
    dest: &mut dyn Destination,
    options: &SyncOptions,
    cancel: &CancellationToken,
) -> Result<SyncReport, EngineError> {
    let started = Instant::now();
    let key = source.state_key();
    // Loaded even for a full refresh: the source then starts over but can still see what the
    // destination holds (e.g. which tables to empty).
    let resume = dest.load_state(&key).await.map_err(|e| dest_err(dest, e))?;
    info!(destination = %dest.name(), state_key = %key, resuming = resume.is_some() && !options.full_refresh, full_refresh = options.full_refresh, "Sync started.");
    let read_options = ReadOptions {
        full_refresh: options.full_refresh,
    };
    let (mut rx, mut handle) =
        read_events(source, resume, read_options, options.max_in_flight_bytes);
    let mut report = SyncReport::default();
    let mut uncommitted = false;

    let outcome: Result<(), EngineError> = loop {
        let delivery = tokio::select! {
            biased;
            _ = cancel.cancelled() => break Err(EngineError::Interrupted { last_checkpoint: report.last_checkpoint.clone() }),
            d = rx.recv() => d,
        };
        let Some(delivery) = delivery else {
            break Ok(());
        };
        report.peak_rows_in_flight = report.peak_rows_in_flight.max(rx.rows_in_flight());
        let applied = match &delivery.event {
            SourceEvent::Batch(batch) => {
                let deletes = batch
                    .rows
                    .column_by_name(DELETED)
                    .and_then(|c| c.as_any().downcast_ref::<arrow_array::BooleanArray>())
                    .map(|c| c.true_count() as u64)
                    .unwrap_or(0);
                let n = batch.num_rows() as u64;
                report.deletes += deletes;
                report.rows += n - deletes;
                report.bytes += batch.rows.get_array_memory_size() as u64;
                *report
                    .per_stream
                    .entry(batch.stream.qualified())
                    .or_default() += n;
                uncommitted = true;
                dest.write(batch).await
            }
            SourceEvent::Truncate(stream) => {
                report.truncates += 1;
                uncommitted = true;
                dest.truncate(stream).await
            }
            SourceEvent::Checkpoint(cp) => {
                let r = dest.commit(&key, cp).await;
                if r.is_ok() {
                    report.checkpoints += 1;
                    report.last_checkpoint = Some(cp.description.clone());
                    uncommitted = false;
                }
                r
            }
        };
        if let Err(e) = applied {
            break Err(dest_err(dest, e));
        }
    };

    let outcome = match outcome {
        Ok(()) => match (&mut handle).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(EngineError::Source(e)),
            Err(e) => Err(EngineError::Internal(format!("source task failed: {e}"))),
        },
        Err(e) => {
            handle.abort();
            Err(e)
        }
    };
    if outcome.is_err() || uncommitted {
        // Nothing partial is ever committed: the open transaction holds at most the rows
        // since the last checkpoint, which a rerun reads again.
        if let Err(e) = dest.rollback().await {
            warn!(error = %e, "Rollback failed.");
        }
    }
    report.elapsed = started.elapsed();
    outcome?;
    info!(destination = %dest.name(), rows = report.rows, deletes = report.deletes, checkpoints = report.checkpoints, elapsed_ms = report.elapsed.as_millis() as u64, "Sync finished.");
    Ok(report)
}

/// Syncs, then keeps polling every `interval` until `cancel` fires. Transient failures that
/// outlasted the source's retry budget are logged and retried at the next poll.
pub async fn follow(
    source: Arc<dyn Source>,
    dest: &mut dyn Destination,
    options: &SyncOptions,
    interval: Duration,
    cancel: &CancellationToken,
    mut on_report: impl FnMut(&SyncReport),
) -> Result<(), EngineError> {
    let mut options = options.clone();
    loop {
        match sync_once(source.clone(), dest, &options, cancel).await {
            Ok(report) => on_report(&report),
            Err(e) if e.kind() == ErrorKind::Transient => {
                warn!(error = %e, retry_in_s = interval.as_secs(), "Sync failed; will retry at the next poll.");
            }
            Err(e) => return Err(e),
        }
        options.full_refresh = false;
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
