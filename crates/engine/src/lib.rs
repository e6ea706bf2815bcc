//! spillway's engine: runs a [`Source`] into a [`Destination`].
//!
//! ```text
//!  source task ──byte-bounded channel──▶ engine ──▶ destination
//!   pages → Arrow batches, checkpoints          write … commit(checkpoint)
//! ```
//! The source runs as its own task; the channel is bounded in bytes, so a slow destination
//! stops the source and memory stays flat whatever the table size. A checkpoint is committed
//! by the destination together with the rows before it, and only then counts as saved;
//! checkpoints are grouped into one commit per `commit_interval` (see `SyncOptions`).
//!
//! ```no_run
//! # async fn demo(source: std::sync::Arc<dyn spillway_core::Source>, mut dest: Box<dyn spillway_core::Destination>) {
//! use spillway_engine::{SyncOptions, sync_once};
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let report = sync_once(source, dest.as_mut(), &SyncOptions::default(), &cancel).await;
//! # }
//! ```

mod commit;
mod fan_out;
mod report;
mod run;

pub use fan_out::{DestinationRun, DynDestination, sync_fan_out};
pub use report::SyncReport;
pub use run::{EngineError, SyncOptions, follow, follow_fan_out, read_events, sync_once};
pub use spillway_core::{Destination, Source};
pub use tokio_util::sync::CancellationToken;
