//! One read fanned out to several destinations, each with its own state.
//!
//! Every destination loads its saved state; the source says where one read must start so
//! that each gets what it lacks ([`Source::resume_from`]). A destination already past that
//! point drops the rows it holds (`_ts` at or before [`Source::delivered_through`] of its
//! state) and the checkpoints up to its own, so nothing is written twice — until a full
//! reload (a `Truncate`) begins, which every destination takes. When the states cannot be
//! served by one read (say, one destination is in the middle of a snapshot and another
//! reads deltas), each destination gets its own read, one after the other.
//!
//! A destination that fails is rolled back to its last commit and left out for the rest of
//! the read; the others go on. Its error names it.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, Int64Array};
use spillway_core::schema::{DELETED, TS};
use spillway_core::{
    Batch, Checkpoint, DestError, Destination, ErrorKind, ReadOptions, Source, SourceError,
    SourceEvent, SourceState, StateKey,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::SyncReport;
use crate::commit::Pending;
use crate::run::{EngineError, SyncOptions, read_events};

/// A destination as the engine holds it (boxed destinations are `'static`; spelling the
/// bound out lets a `Vec<&mut DynDestination>` borrow a `Vec<Box<dyn Destination>>`).
pub type DynDestination = dyn Destination + 'static;

/// What one sync did for one destination.
#[derive(Debug)]
pub struct DestinationRun {
    /// The destination's name ([`Destination::name`]).
    pub name: String,
    /// What was written and committed (also when the run failed).
    pub report: SyncReport,
    /// Why the run failed for this destination, if it did. Everything it committed before
    /// the failure stays committed.
    pub error: Option<EngineError>,
}

impl DestinationRun {
    /// The report, or the error.
    pub fn result(self) -> Result<SyncReport, EngineError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.report),
        }
    }
}

/// One destination's place in the read.
struct Lane<'a> {
    dest: &'a mut DynDestination,
    run: DestinationRun,
    saved: Option<SourceState>,
    /// Rows with `_ts` at or before this are already in the destination (see module docs).
    skip_through: Option<i64>,
    /// Checkpoints received but not committed yet ([`crate::commit`]).
    pending: Pending,
}

impl Lane<'_> {
    fn live(&self) -> bool {
        self.run.error.is_none()
    }

    fn fail(&mut self, error: spillway_core::DestError) {
        warn!(destination = %self.run.name, error = %error, "Destination failed; the others go on.");
        self.run.error = Some(EngineError::Destination {
            name: self.run.name.clone(),
            error,
        });
    }
}

/// Runs one sync from `source` into every destination of `dests` (see the module docs).
/// Returns one [`DestinationRun`] per destination, in order.
pub async fn sync_fan_out(
    source: Arc<dyn Source>,
    dests: &mut [&mut DynDestination],
    options: &SyncOptions,
    cancel: &CancellationToken,
) -> Vec<DestinationRun> {
    let started = Instant::now();
    let key = source.state_key();
    let mut lanes = Vec::with_capacity(dests.len());
    for dest in dests.iter_mut() {
        let name = dest.name();
        let mut lane = Lane {
            run: DestinationRun {
                name,
                report: SyncReport::default(),
                error: None,
            },
            dest: &mut **dest,
            saved: None,
            skip_through: None,
            pending: Pending::new(),
        };
        // Loaded even for a full refresh: the source then starts over but can still see what
        // the destination holds (e.g. which tables to empty).
        match lane.dest.load_state(&key).await {
            Ok(s) => lane.saved = s,
            Err(e) => lane.fail(e),
        }
        lanes.push(lane);
    }

    let mut live: Vec<&mut Lane> = lanes.iter_mut().filter(|l| l.live()).collect();
    if !live.is_empty() {
        match plan_reads(source.as_ref(), &mut live, options) {
            Some(resume) => read_into(&source, &mut live, resume, options, cancel).await,
            None => {
                info!(
                    destinations = live.len(),
                    "The destinations' positions cannot be served by one read; reading once per destination."
                );
                for lane in live {
                    let resume = lane.saved.clone();
                    read_into(&source, &mut [lane], resume, options, cancel).await;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    lanes
        .into_iter()
        .map(|mut l| {
            l.run.report.elapsed = elapsed;
            l.run
        })
        .collect()
}

/// Where the one read starts (`Some(resume)`), setting each lane's skip point; `None` when
/// each destination needs its own read.
fn plan_reads(
    source: &dyn Source,
    lanes: &mut [&mut Lane],
    options: &SyncOptions,
) -> Option<Option<SourceState>> {
    let saved: Vec<Option<SourceState>> = lanes.iter().map(|l| l.saved.clone()).collect();
    if options.full_refresh {
        // Everyone starts over; the first saved state tells the source what may need emptying.
        return Some(saved.into_iter().flatten().next());
    }
    if saved.iter().all(|s| s == &saved[0]) {
        return Some(saved[0].clone());
    }
    let resume = source.resume_from(&saved)?;
    for lane in lanes.iter_mut() {
        match &lane.saved {
            Some(s) if *s == resume => {}
            Some(s) => {
                // A destination past the start must be able to tell what it already holds.
                lane.skip_through = Some(source.delivered_through(s)?);
            }
            None => return None,
        }
    }
    Some(Some(resume))
}

/// One read from `resume`, applied to every live lane.
async fn read_into(
    source: &Arc<dyn Source>,
    lanes: &mut [&mut Lane<'_>],
    resume: Option<SourceState>,
    options: &SyncOptions,
    cancel: &CancellationToken,
) {
    let key = source.state_key();
    for lane in lanes.iter() {
        info!(destination = %lane.run.name, state_key = %key, resuming = resume.is_some() && !options.full_refresh, skip_through = ?lane.skip_through, full_refresh = options.full_refresh, "Sync started.");
    }
    let read_options = ReadOptions {
        full_refresh: options.full_refresh,
    };
    let (mut rx, mut handle) = read_events(
        source.clone(),
        resume,
        read_options,
        options.max_in_flight_bytes,
    );
    let mut interrupted = false;
    loop {
        let delivery = tokio::select! {
            biased;
            _ = cancel.cancelled() => { interrupted = true; break; }
            d = rx.recv() => d,
        };
        let Some(delivery) = delivery else { break };
        let in_flight = rx.rows_in_flight();
        for lane in lanes.iter_mut().filter(|l| l.live()) {
            let r = &mut lane.run.report;
            r.peak_rows_in_flight = r.peak_rows_in_flight.max(in_flight);
            apply(source.as_ref(), lane, &key, &delivery.event, options).await;
        }
        if lanes.iter().all(|l| !l.live()) {
            break;
        }
    }

    let source_result: Result<(), EngineError> = if interrupted {
        handle.abort();
        Err(EngineError::Interrupted {
            last_checkpoint: None,
        })
    } else if lanes.iter().all(|l| !l.live()) {
        handle.abort();
        Ok(())
    } else {
        match (&mut handle).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(EngineError::Source(e)),
            Err(e) => Err(EngineError::Internal(format!("source task failed: {e}"))),
        }
    };
    for lane in lanes.iter_mut() {
        // The read is complete: its last checkpoint is committed whatever the interval.
        if lane.live()
            && source_result.is_ok()
            && let Some(cp) = lane.pending.take()
            && let Err(e) = commit(lane, &key, &cp).await
        {
            lane.fail(e);
        }
        if lane.live() {
            match &source_result {
                Ok(()) if !lane.pending.uncommitted() => {
                    if let Err(e) = lane.dest.finish().await {
                        lane.fail(e);
                    }
                }
                Ok(()) => {
                    lane.run.error = Some(EngineError::Source(SourceError::new(
                        ErrorKind::Internal,
                        "the source ended without a final checkpoint",
                    )));
                }
                Err(EngineError::Interrupted { .. }) => {
                    lane.run.error = Some(EngineError::Interrupted {
                        last_checkpoint: lane.run.report.last_checkpoint.clone(),
                    });
                }
                Err(e) => lane.run.error = Some(e.clone()),
            }
        }
        if lane.run.error.is_some() || lane.pending.uncommitted() {
            // Nothing partial is ever committed: the open transaction holds at most the rows
            // since the last checkpoint, which a rerun reads again.
            if let Err(e) = lane.dest.rollback().await {
                warn!(destination = %lane.run.name, error = %e, "Rollback failed.");
            }
            lane.pending.reset();
        }
        if lane.run.error.is_none() {
            let r = &lane.run.report;
            info!(destination = %lane.run.name, rows = r.rows, deletes = r.deletes, checkpoints = r.checkpoints, "Sync finished.");
        }
    }
}

/// Commits `cp` with everything written since the last commit.
async fn commit(lane: &mut Lane<'_>, key: &StateKey, cp: &Checkpoint) -> Result<(), DestError> {
    lane.dest.commit(key, cp).await?;
    lane.run.report.checkpoints += 1;
    lane.run.report.last_checkpoint = Some(cp.description.clone());
    lane.pending.reset();
    Ok(())
}

/// Applies one event to one lane, recording a failure in the lane.
async fn apply(
    source: &dyn Source,
    lane: &mut Lane<'_>,
    key: &StateKey,
    event: &SourceEvent,
    options: &SyncOptions,
) {
    let result = match event {
        SourceEvent::Batch(batch) => {
            let filtered;
            let batch = match lane.skip_through {
                Some(t) => match newer_than(batch, t) {
                    Ok(Some(b)) => {
                        filtered = b;
                        &filtered
                    }
                    Ok(None) => return,
                    Err(message) => {
                        lane.fail(DestError::new(ErrorKind::Internal, message));
                        return;
                    }
                },
                None => batch,
            };
            count(&mut lane.run.report, batch);
            lane.pending
                .wrote(batch.rows.get_array_memory_size() as u64);
            lane.dest.write(batch).await
        }
        SourceEvent::Truncate(stream) => {
            // A full reload: every destination takes it whole.
            lane.skip_through = None;
            lane.run.report.truncates += 1;
            lane.pending.wrote(0);
            lane.dest.truncate(stream).await
        }
        SourceEvent::Checkpoint(cp) => {
            if already_past(source, lane, cp) {
                return;
            }
            let max_bytes = if lane.dest.holds_transaction_in_memory() {
                options.max_in_flight_bytes as u64
            } else {
                u64::MAX
            };
            if !lane.pending.due(options.commit_interval, max_bytes) {
                lane.pending.defer(cp);
                return;
            }
            commit(lane, key, cp).await
        }
    };
    if let Err(e) = result {
        lane.fail(e);
    }
}

/// Whether `cp` is at or before what the lane already holds (committing it would move the
/// lane's saved position back).
fn already_past(source: &dyn Source, lane: &Lane<'_>, cp: &Checkpoint) -> bool {
    match (lane.skip_through, source.delivered_through(&cp.state)) {
        (Some(t), Some(at)) => at <= t && !lane.pending.uncommitted(),
        _ => false,
    }
}

/// The rows of `batch` with `_ts` after `t`, or `None` if there are none.
fn newer_than(batch: &Batch, t: i64) -> Result<Option<Batch>, String> {
    let ts = batch
        .rows
        .column_by_name(TS)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| {
            format!(
                "batch for stream {} has no Int64 {TS} column to skip rows by",
                batch.stream
            )
        })?;
    let keep: BooleanArray = ts.iter().map(|v| Some(v.is_some_and(|v| v > t))).collect();
    Ok(match keep.true_count() {
        0 => None,
        n if n == batch.num_rows() => Some(batch.clone()),
        _ => {
            let rows = arrow_select::filter::filter_record_batch(&batch.rows, &keep)
                .map_err(|e| format!("skipping rows of stream {}: {e}", batch.stream))?;
            Some(Batch {
                stream: batch.stream.clone(),
                rows,
            })
        }
    })
}

/// Adds a written batch to the report.
fn count(report: &mut SyncReport, batch: &Batch) {
    let deletes = batch
        .rows
        .column_by_name(DELETED)
        .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
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
}
