//! What a source emits, and the state a destination stores for it.

use serde::{Deserialize, Serialize};

use crate::{Batch, StreamId};

/// Identifies whose state a destination row holds (e.g. `convex:<deployment host>`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StateKey(pub String);

impl std::fmt::Display for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A source's serialized position. Opaque to the engine and destinations, which store it
/// verbatim; only the source that wrote it interprets it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceState(pub serde_json::Value);

/// A state as a destination holds it: `(key, state, checkpoint description, updated at)`.
pub type SavedState = (StateKey, SourceState, String, String);

/// A position such that everything the source emitted before it is complete and consistent.
///
/// The destination commits the rows written since the previous checkpoint together with
/// `state`, atomically; only then is the position saved.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The state to persist.
    pub state: SourceState,
    /// A short human description of the position (for logs and `state show`).
    pub description: String,
}

/// One item of a source's output, in order.
#[derive(Clone, Debug)]
pub enum SourceEvent {
    /// Rows of one stream. Rows with `_deleted = true` are tombstones.
    Batch(Batch),
    /// Remove every row of the stream (first sight of a table in a (re)snapshot); applies
    /// before every later batch of the same checkpoint.
    Truncate(StreamId),
    /// Everything before this is delivered; commit it with this state.
    Checkpoint(Checkpoint),
}

impl SourceEvent {
    /// Approximate memory held by the event, for the channel's byte budget.
    pub fn memory_size(&self) -> usize {
        match self {
            SourceEvent::Batch(b) => b.rows.get_array_memory_size(),
            SourceEvent::Truncate(_) | SourceEvent::Checkpoint(_) => 64,
        }
    }
}
