//! Reading a stream back ([`FilesDestination::read_current`]) and compacting it
//! ([`FilesDestination::compact`]).

use arrow_array::RecordBatch;
use spillway_core::{DestError, Destination, ErrorKind, StreamId};
use tracing::info;

use crate::conform::{arrow_schema, conform};
use crate::current::{Keep, select};
use crate::layout::format_of;
use crate::manifest::{PartEntry, StreamEntry, from_entries};
use crate::{FilesDestination, data_error, formats, internal_error};

/// What [`FilesDestination::compact`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactReport {
    /// Rows in the new parts.
    pub rows: u64,
    /// Current parts before.
    pub parts_before: usize,
    /// Current parts after.
    pub parts_after: usize,
}

impl FilesDestination {
    /// The latest committed version of every `_id` of the stream's current parts, without
    /// tombstones, sorted by `_id`, in the stream's current columns (older parts cast up).
    /// Holds the stream in memory. Empty for an unknown stream.
    pub async fn read_current(&self, stream: &StreamId) -> Result<Vec<RecordBatch>, DestError> {
        let Some(entry) = self.committed.streams.get(&stream.qualified()) else {
            return Ok(Vec::new());
        };
        let rows = self.select_rows(stream, entry, Keep::Live).await?;
        Ok(vec![rows])
    }

    /// Every committed row version of the stream's current parts (tombstones included), in
    /// write order, in the stream's current columns.
    pub async fn read_versions(&self, stream: &StreamId) -> Result<Vec<RecordBatch>, DestError> {
        let Some(entry) = self.committed.streams.get(&stream.qualified()) else {
            return Ok(Vec::new());
        };
        self.read_parts(stream, entry, &entry.current).await
    }

    /// Rewrites the stream's current parts as what a reader would keep, in its current
    /// columns: the latest version per `_id` without tombstones (`upsert`, `replace`,
    /// `overwrite-delete-stale`), with tombstones (`upsert` + `soft_delete`), or every
    /// distinct `(_id, _ts)` version (`append`). The new parts are committed by a manifest
    /// write, then the old ones are deleted. A pending reload is left as it is. Holds the
    /// stream in memory. A kept tombstone (`soft_delete`) carries the columns of the
    /// latest live version before it, as the database destinations keep them.
    ///
    /// Refused while writes are not committed, and for a stream the manifest does not list.
    pub async fn compact(&mut self, stream: &StreamId) -> Result<CompactReport, DestError> {
        let name = stream.qualified();
        if !self.txn.is_empty() {
            return Err(internal_error(format!(
                "{}: cannot compact stream {name:?} with writes not committed; commit or roll \
                 back first",
                self.name()
            )));
        }
        let Some(entry) = self.committed.streams.get(&name).cloned() else {
            return Err(DestError::new(
                ErrorKind::Config,
                format!("{}: no stream {name:?} to compact", self.name()),
            ));
        };
        let keep = Keep::for_mode(self.config.modes.of_table(&name));
        let rows = self.select_rows(stream, &entry, keep).await?;
        let columns = from_entries(&entry.columns).map_err(data_error)?;
        let seq = self.next_seq();
        let parts = self
            .write_parts(&name, &entry.dir, seq, &columns, vec![rows])
            .await;
        let parts = match parts {
            Ok(p) => p,
            Err(e) => {
                let _ = self.discard_uploads().await;
                return Err(e);
            }
        };
        let mut next = self.committed.clone();
        next.seq = seq;
        let report = CompactReport {
            rows: parts.iter().map(|p| p.rows).sum(),
            parts_before: entry.current.len(),
            parts_after: parts.len(),
        };
        let dropped: Vec<String> = entry
            .current
            .iter()
            .map(|p| format!("{}/{}", entry.dir, p.file))
            .collect();
        if let Some(e) = next.streams.get_mut(&name) {
            e.current = parts;
        }
        if let Err(e) = self.write_manifest(&next).await {
            let _ = self.discard_uploads().await;
            return Err(e);
        }
        self.committed = next;
        self.txn.uploaded.clear();
        self.delete_parts(&dropped).await;
        info!(stream = %name, rows = report.rows, parts_before = report.parts_before,
              parts_after = report.parts_after, "Stream compacted.");
        Ok(report)
    }

    pub(crate) async fn select_rows(
        &self,
        stream: &StreamId,
        entry: &StreamEntry,
        keep: Keep,
    ) -> Result<RecordBatch, DestError> {
        let columns = from_entries(&entry.columns).map_err(data_error)?;
        let batches = self.read_parts(stream, entry, &entry.current).await?;
        select(&arrow_schema(&columns), &batches, keep)
            .map_err(|e| internal_error(format!("selecting the rows of stream {stream}: {e}")))
    }

    /// Reads `parts` of a stream, cast up to the stream's columns.
    pub(crate) async fn read_parts(
        &self,
        stream: &StreamId,
        entry: &StreamEntry,
        parts: &[PartEntry],
    ) -> Result<Vec<RecordBatch>, DestError> {
        let columns = from_entries(&entry.columns)
            .map_err(|e| data_error(format!("manifest, stream {stream}: {e}")))?;
        let mut out = Vec::new();
        for part in parts {
            let rel = format!("{}/{}", entry.dir, part.file);
            let what = self.store.describe(&rel);
            let data = self.store.get(&rel).await?.ok_or_else(|| {
                data_error(format!(
                    "{what} is listed in the manifest but missing; the stream's files are \
                     damaged: run a full refresh of stream {stream}"
                ))
            })?;
            let (format, gzip) = format_of(&part.file)
                .ok_or_else(|| data_error(format!("{what}: unknown part file extension")))?;
            let part_columns = from_entries(&part.columns)
                .map_err(|e| data_error(format!("manifest, {what}: {e}")))?;
            // Decoding (and decompressing) is CPU-bound: off the async workers.
            let batches = tokio::task::spawn_blocking(move || {
                formats::decode(format, gzip, &part_columns, data)
            })
            .await
            .map_err(|e| internal_error(format!("the decoding task failed: {e}")))?
            .map_err(|e| data_error(format!("reading {what}: {e}")))?;
            for b in batches {
                out.push(
                    conform(&b, &columns)
                        .map_err(|e| data_error(format!("reading {what}: {e}")))?,
                );
            }
        }
        Ok(out)
    }
}
