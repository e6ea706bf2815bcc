//! spillway's core: the shapes every source, destination and the engine agree on.
//!
//! - [`StreamId`]: one table of a source.
//! - [`Batch`]: Arrow rows of one stream, with the system columns of [`schema`].
//! - [`SourceEvent`]: what a source emits (batches, truncates, checkpoints).
//! - [`Source`] / [`Destination`]: the connector traits.
//! - [`write_mode`]: upsert, append, replace, overwrite-delete-stale, and what each does.
//! - [`table`]: a destination table's columns and how they evolve to hold a batch.
//! - [`channel`]: the byte-bounded channel between a source and the engine, so a slow
//!   destination stops the source and memory stays flat.
//!
//! No I/O happens here.

pub mod batch;
pub mod channel;
pub mod error;
pub mod event;
pub mod schema;
pub mod stream;
pub mod table;
#[cfg(feature = "testing")]
pub mod testing;
pub mod traits;
pub mod write_mode;

pub use batch::Batch;
pub use error::{DestError, ErrorKind, SourceError};
pub use event::{Checkpoint, SavedState, SourceEvent, SourceState, StateKey};
pub use schema::ColumnType;
pub use stream::StreamId;
pub use traits::{Destination, ReadOptions, Source, StreamInfo};
pub use write_mode::{StreamMode, WriteMode, WriteModes};
