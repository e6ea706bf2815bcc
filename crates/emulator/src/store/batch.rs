//! Documents written by one transaction, encoded into a few large shared chunks instead of one
//! allocation each: seeding millions of documents then costs a handful of allocations per
//! transaction, and the heap does not fragment around per-document buffers.

use std::collections::BTreeMap;
use std::sync::Arc;

use spillway_convex_protocol::Value;

use super::doc::{Doc, encode_doc, header};

/// A chunk is closed once it holds this much (documents are at most about 1 MiB encoded, so
/// offsets stay far below `u32::MAX`).
const CHUNK_BYTES: usize = 256 << 10;

/// Where a staged document sits in its batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    chunk: u32,
    start: u32,
    len: u32,
}

/// The documents of one transaction being built.
#[derive(Debug, Default)]
pub(crate) struct DocBatch {
    /// Closed chunks, then the one being filled (never empty once a document was pushed).
    chunks: Vec<Vec<u8>>,
}

impl DocBatch {
    /// Encodes a document into the batch.
    pub(crate) fn push(
        &mut self,
        id: &str,
        creation_time: f64,
        fields: &BTreeMap<String, Value>,
    ) -> Slot {
        if self.chunks.last().is_none_or(|c| c.len() >= CHUNK_BYTES) {
            self.chunks.push(Vec::new());
        }
        let chunk = self.chunks.len() - 1;
        let buf = &mut self.chunks[chunk];
        let start = buf.len();
        encode_doc(buf, id, creation_time, fields);
        Slot {
            chunk: chunk as u32,
            start: start as u32,
            len: (buf.len() - start) as u32,
        }
    }

    /// The `_id` and `_creationTime` of a staged document.
    pub(crate) fn id_and_creation_time(&self, slot: Slot) -> (String, f64) {
        let bytes = self
            .chunks
            .get(slot.chunk as usize)
            .and_then(|c| c.get(slot.start as usize..(slot.start + slot.len) as usize))
            .unwrap_or_default();
        let (id, creation_time, _) = header(bytes);
        (id.to_string(), creation_time)
    }

    /// Freezes the batch; its documents are then shared views of its chunks.
    pub(crate) fn seal(self) -> SealedBatch {
        SealedBatch(self.chunks.into_iter().map(Arc::from).collect())
    }
}

/// A committed batch.
#[derive(Debug)]
pub(crate) struct SealedBatch(Vec<Arc<[u8]>>);

impl SealedBatch {
    /// The document at `slot` (a slot of the batch this was sealed from).
    pub(crate) fn doc(&self, slot: Slot) -> Option<Doc> {
        let chunk = self.0.get(slot.chunk as usize)?;
        Some(Doc::in_chunk(chunk, slot.start, slot.len))
    }
}
