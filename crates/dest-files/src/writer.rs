//! The open transaction: buffered rows per stream, and how commit, finish and rollback turn
//! them into part files and a manifest.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use spillway_core::schema::{SYSTEM_COLUMNS, int_fits_f64};
use spillway_core::table::{Change, TableSchema, plan};
use spillway_core::{Batch, Checkpoint, ColumnType, DestError, Destination, StateKey};
use tracing::{debug, info, warn};

use crate::conform::conform;
use crate::layout::{extension, is_part_name, part_name, stream_dir};
use crate::manifest::{
    MANIFEST_VERSION, Manifest, PartEntry, StateEntry, StreamEntry, big_int_columns, from_entries,
    to_entries,
};
use crate::{FilesDestination, MAX_PART_ROWS, data_error, formats, internal_error, load_manifest};

/// What the open transaction holds.
#[derive(Default)]
pub(crate) struct Txn {
    /// By qualified stream name.
    pub(crate) streams: BTreeMap<String, TxnStream>,
    /// Parts uploaded by a commit or compaction that has not completed (`dir/file`).
    pub(crate) uploaded: Vec<String>,
}

impl Txn {
    pub(crate) fn is_empty(&self) -> bool {
        self.streams
            .values()
            .all(|s| !s.truncated && s.batches.is_empty())
    }
}

/// One stream in the open transaction.
pub(crate) struct TxnStream {
    /// A full reload began in this transaction.
    pub(crate) truncated: bool,
    /// The rows written since (as written, cast at commit).
    pub(crate) batches: Vec<RecordBatch>,
    /// The stream's columns, widened by these rows.
    pub(crate) columns: TableSchema,
    /// The columns holding an integer beyond ±2^53, committed or in these rows (see
    /// [`crate::manifest::ColumnEntry::big_ints`]).
    pub(crate) big_ints: BTreeSet<String>,
}

/// Whether `array` (of logical type `ty`) holds an integer a double would round.
fn has_big_ints(array: &dyn Array, ty: ColumnType) -> bool {
    ty == ColumnType::Int64
        && array
            .as_primitive_opt::<Int64Type>()
            .is_some_and(|a| a.iter().flatten().any(|v| !int_fits_f64(v)))
}

/// The user columns of a batch of stream `stream` as `(index, name, type)`, checked: a
/// supported Arrow type, no name twice, no system column name (a file cannot hold two
/// columns of one name).
fn user_columns(
    batch: &Batch,
    stream: &str,
) -> Result<Vec<(usize, String, ColumnType)>, DestError> {
    let schema = batch.rows.schema();
    let mut out: Vec<(usize, String, ColumnType)> = Vec::new();
    for (i, f) in schema
        .fields()
        .iter()
        .enumerate()
        .skip(SYSTEM_COLUMNS.len())
    {
        let name = f.name();
        let ty = ColumnType::of_field(f).ok_or_else(|| {
            data_error(format!(
                "stream {stream:?}, column {name:?}: unsupported Arrow type {}",
                f.data_type()
            ))
        })?;
        if SYSTEM_COLUMNS.contains(&name.as_str()) {
            return Err(data_error(format!(
                "stream {stream:?}: user column {name:?} collides with a system column"
            )));
        }
        if out.iter().any(|(_, n, _)| n == name) {
            return Err(data_error(format!(
                "stream {stream:?}: the batch has two columns named {name:?}"
            )));
        }
        out.push((i, name.clone(), ty));
    }
    Ok(out)
}

fn listed_parts(m: &Manifest) -> HashSet<String> {
    m.streams
        .values()
        .flat_map(|s| s.all_parts().map(move |p| format!("{}/{}", s.dir, p.file)))
        .collect()
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

impl FilesDestination {
    /// The next manifest sequence number.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.last_seq = self.last_seq.max(self.committed.seq) + 1;
        self.last_seq
    }

    /// Writes `batches` (conformed to `columns`) as parts `part-<seq>-<n>` of a stream.
    pub(crate) async fn write_parts(
        &mut self,
        stream: &str,
        dir: &str,
        seq: u64,
        columns: &TableSchema,
        batches: Vec<RecordBatch>,
    ) -> Result<Vec<PartEntry>, DestError> {
        let ext = extension(self.config.format, self.compression);
        let mut groups: Vec<Vec<RecordBatch>> = Vec::new();
        let mut rows_in_last = MAX_PART_ROWS;
        for b in batches {
            let mut offset = 0;
            while offset < b.num_rows() {
                if rows_in_last >= MAX_PART_ROWS {
                    groups.push(Vec::new());
                    rows_in_last = 0;
                }
                let take = (b.num_rows() - offset).min(MAX_PART_ROWS - rows_in_last);
                if let Some(g) = groups.last_mut() {
                    g.push(b.slice(offset, take));
                }
                rows_in_last += take;
                offset += take;
            }
        }
        let mut parts = Vec::with_capacity(groups.len());
        let (format, compression) = (self.config.format, self.compression);
        for (n, group) in groups.into_iter().enumerate() {
            let file = part_name(seq, n, ext);
            let rel = format!("{dir}/{file}");
            let rows = group.iter().map(|b| b.num_rows() as u64).sum();
            // Encoding (and compressing) is CPU-bound: off the async workers.
            let owned = columns.clone();
            let data = tokio::task::spawn_blocking(move || {
                formats::encode(format, compression, &owned, &group)
            })
            .await
            .map_err(|e| internal_error(format!("the encoding task failed: {e}")))?
            .map_err(|e| {
                data_error(format!(
                    "stream {stream:?}: cannot write {}: {e}",
                    self.store.describe(&rel)
                ))
            })?;
            let bytes = data.len() as u64;
            self.txn.uploaded.push(rel.clone());
            self.store.put(&rel, Bytes::from(data)).await?;
            parts.push(PartEntry {
                file,
                rows,
                bytes,
                columns: to_entries(columns, &BTreeSet::new()),
            });
        }
        Ok(parts)
    }

    pub(crate) async fn write_manifest(&self, m: &Manifest) -> Result<(), DestError> {
        let data = serde_json::to_vec_pretty(m)
            .map_err(|e| internal_error(format!("serializing the manifest: {e}")))?;
        self.store.put_manifest(Bytes::from(data)).await
    }

    /// Deletes parts a written manifest no longer lists (failures are logged: the next open
    /// deletes what is left).
    pub(crate) async fn delete_parts(&self, rels: &[String]) {
        for rel in rels {
            if let Err(e) = self.store.delete(rel).await {
                warn!(error = %e, "Could not delete a dropped part; the next open retries.");
            }
        }
    }

    /// After a failed commit: re-reads the manifest (it may or may not have been written)
    /// and deletes the parts uploaded since that it does not list.
    pub(crate) async fn discard_uploads(&mut self) -> Result<(), DestError> {
        let uploaded = std::mem::take(&mut self.txn.uploaded);
        if uploaded.is_empty() {
            return Ok(());
        }
        let m = load_manifest(&self.store).await?;
        let listed = listed_parts(&m);
        self.committed = m;
        self.last_seq = self.last_seq.max(self.committed.seq);
        let orphans: Vec<String> = uploaded
            .into_iter()
            .filter(|r| !listed.contains(r))
            .collect();
        self.delete_parts(&orphans).await;
        Ok(())
    }

    /// Deletes part files one level below the root that the manifest does not list.
    pub(crate) async fn clean_orphans(&mut self) -> Result<usize, DestError> {
        let listed = listed_parts(&self.committed);
        let mut n = 0;
        for rel in self.store.list().await? {
            let mut segments = rel.split('/');
            let (Some(_dir), Some(file), None) =
                (segments.next(), segments.next(), segments.next())
            else {
                continue;
            };
            if is_part_name(file) && !listed.contains(&rel) {
                debug!(part = %rel, "Deleting a part no manifest lists.");
                self.store.delete(&rel).await?;
                n += 1;
            }
        }
        if n > 0 {
            info!(root = %self.store.display, parts = n,
                  "Deleted part files left by an interrupted commit.");
        }
        Ok(n)
    }

    pub(crate) fn txn_stream(&mut self, name: &str) -> Result<&mut TxnStream, DestError> {
        if !self.txn.streams.contains_key(name) {
            let (columns, big_ints) = match self.committed.streams.get(name) {
                Some(e) => (
                    from_entries(&e.columns)
                        .map_err(|e| data_error(format!("manifest, stream {name:?}: {e}")))?,
                    big_int_columns(&e.columns),
                ),
                None => (TableSchema::default(), BTreeSet::new()),
            };
            self.txn.streams.insert(
                name.to_string(),
                TxnStream {
                    truncated: false,
                    batches: Vec::new(),
                    columns,
                    big_ints,
                },
            );
        }
        self.txn
            .streams
            .get_mut(name)
            .ok_or_else(|| internal_error("transaction stream vanished"))
    }

    pub(crate) async fn write_inner(&mut self, batch: &Batch) -> Result<(), DestError> {
        let name = batch.stream.qualified();
        batch.check_system_columns().map_err(data_error)?;
        // (name, type, holds an integer beyond ±2^53)
        let incoming: Vec<(String, ColumnType, bool)> = user_columns(batch, &name)?
            .into_iter()
            .map(|(i, col, ty)| (col, ty, has_big_ints(batch.rows.column(i).as_ref(), ty)))
            .collect();
        let ts = self.txn_stream(&name)?;
        // Exact widening: an Int64 meeting a Float64 becomes JSON, not Float64, when either
        // side holds an integer a double would round (the column's committed or buffered rows,
        // or this batch), so no value is ever changed.
        let exact: Vec<(String, ColumnType)> = incoming
            .iter()
            .map(|(col, ty, big)| {
                let ty = match ts.columns.get(col) {
                    Some(have) => {
                        let big = *big || ts.big_ints.contains(col);
                        if have.widen_exact(*ty, big) == ColumnType::Json {
                            ColumnType::Json
                        } else {
                            *ty
                        }
                    }
                    None => *ty,
                };
                (col.clone(), ty)
            })
            .collect();
        let (target, changes) = plan(&ts.columns, &exact);
        for c in &changes {
            match c {
                Change::Add(col, ty) => {
                    info!(stream = %name, column = %col, r#type = ty.name(), "New column.")
                }
                Change::Widen { column, from, to } => info!(
                    stream = %name, column = %column, from = from.name(), to = to.name(),
                    "Column widened."
                ),
            }
        }
        ts.columns = target;
        ts.big_ints.extend(
            incoming
                .into_iter()
                .filter(|(_, _, big)| *big)
                .map(|(col, _, _)| col),
        );
        if batch.num_rows() > 0 {
            ts.batches.push(batch.rows.clone());
        }
        Ok(())
    }

    /// Writes the buffered rows as parts, then the manifest. The transaction is left as it
    /// is until the manifest is written, so a failed commit can be retried (the parts it
    /// uploaded are deleted by the commit that succeeds) or rolled back.
    pub(crate) async fn commit_inner(
        &mut self,
        key: &StateKey,
        checkpoint: &Checkpoint,
    ) -> Result<(), DestError> {
        let seq = self.next_seq();
        let mut next = self.committed.clone();
        next.version = MANIFEST_VERSION;
        next.seq = seq;
        let mut dropped = Vec::new();
        // The streams with rows to write, and their directories.
        let mut to_write = Vec::new();
        for (name, ts) in &self.txn.streams {
            let mode = self.config.modes.of_table(name);
            let entry = next
                .streams
                .entry(name.clone())
                .or_insert_with(|| StreamEntry {
                    dir: stream_dir(name),
                    ..StreamEntry::default()
                });
            entry.columns = to_entries(&ts.columns, &ts.big_ints);
            let dir = entry.dir.clone();
            let rels = |parts: &[PartEntry]| {
                parts
                    .iter()
                    .map(|p| format!("{dir}/{}", p.file))
                    .collect::<Vec<_>>()
            };
            if ts.truncated {
                if mode.mode.reloads_into_copy() {
                    if let Some(old) = entry.pending.replace(Vec::new()) {
                        dropped.extend(rels(&old));
                    }
                    info!(stream = %name, mode = %mode, "Full reload into pending parts.");
                } else {
                    dropped.extend(rels(&entry.current));
                    entry.current.clear();
                    if let Some(old) = entry.pending.take() {
                        dropped.extend(rels(&old));
                    }
                }
            }
            if !ts.batches.is_empty() {
                to_write.push((name.clone(), dir));
            }
        }
        for (name, dir) in to_write {
            let ts = self
                .txn
                .streams
                .get(&name)
                .ok_or_else(|| internal_error("transaction stream vanished"))?;
            let columns = ts.columns.clone();
            let conformed = ts
                .batches
                .iter()
                .map(|b| conform(b, &columns))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| data_error(format!("stream {name:?}: {e}")))?;
            let parts = self
                .write_parts(&name, &dir, seq, &columns, conformed)
                .await?;
            let entry = next
                .streams
                .get_mut(&name)
                .ok_or_else(|| internal_error("manifest stream vanished"))?;
            match &mut entry.pending {
                Some(p) => p.extend(parts),
                None => entry.current.extend(parts),
            }
        }
        next.states.insert(
            key.0.clone(),
            StateEntry {
                state: checkpoint.state.0.clone(),
                description: checkpoint.description.clone(),
                updated_at: now_rfc3339(),
            },
        );
        self.write_manifest(&next).await?;
        // Committed: only now is the transaction emptied. Parts an earlier, failed attempt
        // of this commit uploaded are not listed: they go with the dropped ones.
        let listed = listed_parts(&next);
        let txn = std::mem::take(&mut self.txn);
        dropped.extend(txn.uploaded.into_iter().filter(|r| !listed.contains(r)));
        self.committed = next;
        debug!(seq, checkpoint = %checkpoint.description, "Committed.");
        self.delete_parts(&dropped).await;
        Ok(())
    }

    pub(crate) async fn finish_inner(&mut self) -> Result<(), DestError> {
        if !self.txn.is_empty() {
            return Err(internal_error(format!(
                "{}: finish() with writes not committed; commit or roll back first",
                self.name()
            )));
        }
        let mut next = self.committed.clone();
        let mut dropped = Vec::new();
        for (name, entry) in &mut next.streams {
            if let Some(pending) = entry.pending.take() {
                dropped.extend(
                    entry
                        .current
                        .iter()
                        .map(|p| format!("{}/{}", entry.dir, p.file)),
                );
                entry.current = pending;
                info!(stream = %name, parts = entry.current.len(), "Full reload swapped in.");
            }
        }
        if dropped.is_empty() && next == self.committed {
            return Ok(());
        }
        next.seq = self.next_seq();
        self.write_manifest(&next).await?;
        self.committed = next;
        self.delete_parts(&dropped).await;
        Ok(())
    }
}
