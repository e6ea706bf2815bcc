//! spillway's files destination: Parquet (default), NDJSON or CSV part files on a local
//! directory or S3-compatible object storage (through `object_store`), committed by an
//! atomic manifest.
//!
//! # Layout
//!
//! ```text
//! <root>/_spillway_manifest.json                      what is committed (written last)
//! <root>/<stream dir>/part-<seq:12>-<n:4>.<ext>      the rows, one file per part
//! ```
//!
//! `<root>` is the configured `path`: a local directory or `s3://bucket/prefix`. Each stream
//! has one directory, its qualified name (`users`, `waitlist/entries`) with every byte
//! other than ASCII letters, digits, `_`, `-` and a non-leading `.` percent-encoded
//! (`waitlist%2Fentries`, `a%25b`), so names never collide ([`layout::stream_dir`]).
//! `<seq>` is the sequence number of the manifest that first lists the part, `<n>` its
//! number within that commit, `<ext>` one of `parquet`, `ndjson`, `ndjson.gz`, `csv`,
//! `csv.gz`.
//!
//! # What the files hold
//!
//! Every row version the source sends, live or deleted: the columns `_id`, `_creationTime`,
//! `_ts` (commit timestamp, ns), `_deleted` (true for a tombstone), then the user columns.
//! Readers take the latest version per `_id` (highest `_ts`) and drop it if `_deleted`:
//!
//! ```sql
//! -- DuckDB
//! SELECT * EXCLUDE (rn) FROM (
//!   SELECT *, row_number() OVER (PARTITION BY _id ORDER BY _ts DESC) AS rn
//!   FROM read_parquet('root/users/*.parquet', union_by_name = true))
//! WHERE rn = 1 AND NOT _deleted;
//! ```
//!
//! (`tests/duckdb.rs` runs this query on parts whose columns were widened.)
//!
//! Read only the parts the manifest lists as `current` to be exact (a file not listed there
//! is a pending reload, or left by a crash and deleted at the next open). Parts of one
//! stream can have different columns: a new field adds a column to later parts only, and a
//! widened column (int64 → float64 → json) is narrower in older parts, so read them by name
//! (`union_by_name = true`). [`FilesDestination::read_current`] does this and casts old parts
//! up. Append-mode streams keep every version: read them without the filter.
//!
//! Value forms: Parquet columns are typed (int64, double, boolean, string, binary); JSON
//! columns are UTF-8 strings holding the export_json text (the Arrow schema embedded in the
//! file tags them `arrow.json`). NDJSON: one object per row, integers as JSON integers,
//! floats as numbers with NaN/±∞/−0.0 as `{"$float": "<base64 of the 8 LE bytes>"}`
//! (export_json),
//! bytes as base64 strings, JSON columns as JSON values. CSV: a header line, floats in Rust's
//! round-trip form (`NaN`, `inf`, `-inf` for the non-finite), bytes in base64, JSON as its
//! text, NULL as an empty unquoted field and the empty string as `""`.
//!
//! # Commits
//!
//! Rows are buffered per stream between two commits (memory holds what one checkpoint
//! covers). [`Destination::commit`] writes each stream's buffered rows as new part files,
//! then the manifest, atomically (local: a temporary file, fsynced, renamed; parts are
//! fsynced before; S3: one PUT). The manifest lists per stream its columns, its `current`
//! parts and the `pending` parts of a full reload in progress, and per state key the saved
//! state; its `seq` grows by one at every write.
//!
//! ```json
//! {
//!   "version": 1,
//!   "seq": 7,
//!   "streams": {
//!     "waitlist/entries": {
//!       "dir": "waitlist%2Fentries",
//!       "columns": [{"name": "email", "type": "string"}, {"name": "n", "type": "float64"}],
//!       "current": [{"file": "part-000000000003-0000.parquet", "rows": 120, "bytes": 4096,
//!                    "columns": [{"name": "email", "type": "string"}, {"name": "n", "type": "int64"}]}],
//!       "pending": [{"file": "part-000000000007-0000.parquet", "rows": 80, "bytes": 2048,
//!                    "columns": [{"name": "email", "type": "string"}, {"name": "n", "type": "float64"}]}]
//!     }
//!   },
//!   "states": {
//!     "convex:happy-animal-123.convex.cloud": {
//!       "state": {"...": "the source's state, verbatim"},
//!       "description": "deltas at cursor 1712345678",
//!       "updated_at": "2025-01-02T03:04:05.678901Z"
//!     }
//!   }
//! }
//! ```
//!
//! Column types are `boolean`, `int64`, `float64`, `string`, `bytes`, `json`; each part lists
//! the columns it was written with (older parts may be narrower than the stream's). `pending`
//! is absent when no reload is in progress.
//!
//! A crash leaves at most part files the manifest does not list; opening the destination
//! deletes them (only files named like parts, one level below the root, are ever
//! deleted). Parts a manifest drops (truncate, reload, compaction) are deleted after that
//! manifest is written. [`Destination::rollback`] drops the buffered rows and deletes any
//! part a failed commit uploaded that the manifest (re-read) does not list.
//!
//! # Write modes
//!
//! - `upsert` (with or without `soft_delete`), `append`: rows are appended to the stream's
//!   current parts. A truncate (full reload) drops the current parts at the next commit: the
//!   stream's files restart from the reload.
//! - `replace`, `overwrite-delete-stale`: a truncate starts a *pending* generation; the rows
//!   from then on are committed (with the state) as pending parts, invisible as current,
//!   until [`Destination::finish`] makes them current and drops the old parts in one
//!   manifest write. A reload interrupted by a crash continues on the next run. Both modes
//!   behave the same here: the reload holds every row the source has, so the old generation
//!   is simply dropped.
//!
//! [`FilesDestination::compact`] rewrites a stream as its current rows only.
//!
//! One writer per root: two destinations writing the same root at once corrupt each other.

mod config;
mod conform;
mod current;
mod formats;
pub mod layout;
pub mod manifest;
mod store;

use std::collections::{BTreeMap, HashSet};

use arrow_array::RecordBatch;
use async_trait::async_trait;
use bytes::Bytes;
use spillway_core::table::{Change, TableSchema, plan};
use spillway_core::{
    Batch, Checkpoint, ColumnType, DestError, Destination, ErrorKind, SourceState, StateKey,
    StreamId,
};
use tracing::{debug, info, warn};

pub use config::{Compression, FilesConfig, Format};

use crate::conform::{arrow_schema, conform};
use crate::current::{Keep, select};
use crate::layout::{MANIFEST, PROBE, extension, format_of, is_part_name, part_name, stream_dir};
use crate::manifest::{
    MANIFEST_VERSION, Manifest, PartEntry, StateEntry, StreamEntry, from_entries, to_entries,
};
use crate::store::Store;

/// The most rows one part file holds (more rows make several parts).
pub const MAX_PART_ROWS: usize = 1_000_000;

/// The files destination (see the crate docs).
pub struct FilesDestination {
    config: FilesConfig,
    compression: Compression,
    store: Store,
    /// The manifest as last written or read.
    committed: Manifest,
    /// The highest manifest sequence number used or attempted (part names are never reused).
    last_seq: u64,
    /// What was done since the last commit.
    txn: Txn,
}

/// What the open transaction holds.
#[derive(Default)]
struct Txn {
    /// By qualified stream name.
    streams: BTreeMap<String, TxnStream>,
    /// Parts uploaded by a commit or compaction that has not completed (`dir/file`).
    uploaded: Vec<String>,
}

impl Txn {
    fn is_empty(&self) -> bool {
        self.streams
            .values()
            .all(|s| !s.truncated && s.batches.is_empty())
    }
}

/// One stream in the open transaction.
struct TxnStream {
    /// A full reload began in this transaction.
    truncated: bool,
    /// The rows written since (as written, cast at commit).
    batches: Vec<RecordBatch>,
    /// The stream's columns, widened by these rows.
    columns: TableSchema,
}

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

fn data_error(m: impl Into<String>) -> DestError {
    DestError::new(ErrorKind::Data, m)
}

fn internal_error(m: impl Into<String>) -> DestError {
    DestError::new(ErrorKind::Internal, m)
}

async fn load_manifest(store: &Store) -> Result<Manifest, DestError> {
    let Some(data) = store.get(MANIFEST).await? else {
        return Ok(Manifest {
            version: MANIFEST_VERSION,
            ..Manifest::default()
        });
    };
    let m: Manifest = serde_json::from_slice(&data).map_err(|e| {
        data_error(format!(
            "the manifest {} is not valid ({e}); it is damaged or was not written by spillway",
            store.describe(MANIFEST)
        ))
    })?;
    if m.version > MANIFEST_VERSION {
        return Err(DestError::new(
            ErrorKind::Config,
            format!(
                "the manifest {} has version {}, newer than this spillway reads \
                 ({MANIFEST_VERSION}); upgrade spillway",
                store.describe(MANIFEST),
                m.version
            ),
        ));
    }
    Ok(m)
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
    /// Opens the root `config.path` names, reads its manifest and deletes the part files a
    /// crash left behind (parts the manifest does not list).
    ///
    /// Fails with [`ErrorKind::Config`] naming the key for a bad `path`, `format` or
    /// `compression`, and with the storage's error (naming the object) when the root cannot
    /// be read.
    pub async fn open(config: &FilesConfig) -> Result<Self, DestError> {
        config.validate()?;
        let compression = config.effective_compression()?;
        let store = Store::open(config)?;
        let committed = load_manifest(&store).await?;
        let mut dest = FilesDestination {
            config: config.clone(),
            compression,
            last_seq: committed.seq,
            store,
            committed,
            txn: Txn::default(),
        };
        dest.clean_orphans().await?;
        Ok(dest)
    }

    /// The committed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.committed
    }

    /// The root: an absolute local directory or `s3://bucket/prefix`.
    pub fn root(&self) -> &str {
        &self.store.display
    }

    /// The streams the manifest lists (qualified names), sorted.
    pub fn streams(&self) -> Vec<String> {
        self.committed.streams.keys().cloned().collect()
    }

    /// Every saved state: `(key, state, description, updated_at)`, sorted by key.
    pub fn list_states(&self) -> Vec<(StateKey, SourceState, String, String)> {
        self.committed
            .states
            .iter()
            .map(|(k, e)| {
                (
                    StateKey(k.clone()),
                    SourceState(e.state.clone()),
                    e.description.clone(),
                    e.updated_at.clone(),
                )
            })
            .collect()
    }

    /// The paths (`dir/file`, relative to the root) of the stream's current parts.
    pub fn current_parts(&self, stream: &StreamId) -> Vec<String> {
        self.committed
            .streams
            .get(&stream.qualified())
            .map(|s| {
                s.current
                    .iter()
                    .map(|p| format!("{}/{}", s.dir, p.file))
                    .collect()
            })
            .unwrap_or_default()
    }

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

    /// The next manifest sequence number.
    fn next_seq(&mut self) -> u64 {
        self.last_seq = self.last_seq.max(self.committed.seq) + 1;
        self.last_seq
    }

    async fn select_rows(
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
    async fn read_parts(
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
            let batches = formats::decode(format, gzip, &part_columns, data)
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

    /// Writes `batches` (conformed to `columns`) as parts `part-<seq>-<n>` of a stream.
    async fn write_parts(
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
        for (n, group) in groups.iter().enumerate() {
            let file = part_name(seq, n, ext);
            let rel = format!("{dir}/{file}");
            let data = formats::encode(self.config.format, self.compression, columns, group)
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
                rows: group.iter().map(|b| b.num_rows() as u64).sum(),
                bytes,
                columns: to_entries(columns),
            });
        }
        Ok(parts)
    }

    async fn write_manifest(&self, m: &Manifest) -> Result<(), DestError> {
        let data = serde_json::to_vec_pretty(m)
            .map_err(|e| internal_error(format!("serializing the manifest: {e}")))?;
        self.store.put_manifest(Bytes::from(data)).await
    }

    /// Deletes parts a written manifest no longer lists (failures are logged: the next open
    /// deletes what is left).
    async fn delete_parts(&self, rels: &[String]) {
        for rel in rels {
            if let Err(e) = self.store.delete(rel).await {
                warn!(error = %e, "Could not delete a dropped part; the next open retries.");
            }
        }
    }

    /// After a failed commit: re-reads the manifest (it may or may not have been written)
    /// and deletes the parts uploaded since that it does not list.
    async fn discard_uploads(&mut self) -> Result<(), DestError> {
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
    async fn clean_orphans(&mut self) -> Result<usize, DestError> {
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

    fn txn_stream(&mut self, name: &str) -> Result<&mut TxnStream, DestError> {
        if !self.txn.streams.contains_key(name) {
            let columns = match self.committed.streams.get(name) {
                Some(e) => from_entries(&e.columns)
                    .map_err(|e| data_error(format!("manifest, stream {name:?}: {e}")))?,
                None => TableSchema::default(),
            };
            self.txn.streams.insert(
                name.to_string(),
                TxnStream {
                    truncated: false,
                    batches: Vec::new(),
                    columns,
                },
            );
        }
        self.txn
            .streams
            .get_mut(name)
            .ok_or_else(|| internal_error("transaction stream vanished"))
    }

    async fn write_inner(&mut self, batch: &Batch) -> Result<(), DestError> {
        let name = batch.stream.qualified();
        batch.check_system_columns().map_err(data_error)?;
        let schema = batch.rows.schema();
        let mut incoming = Vec::new();
        for f in schema.fields().iter().skip(4) {
            let ty = ColumnType::of_field(f).ok_or_else(|| {
                data_error(format!(
                    "stream {name:?}, column {:?}: unsupported Arrow type {}",
                    f.name(),
                    f.data_type()
                ))
            })?;
            incoming.push((f.name().clone(), ty));
        }
        let ts = self.txn_stream(&name)?;
        let (target, changes) = plan(&ts.columns, &incoming);
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
        if batch.num_rows() > 0 {
            ts.batches.push(batch.rows.clone());
        }
        Ok(())
    }

    async fn commit_inner(
        &mut self,
        key: &StateKey,
        checkpoint: &Checkpoint,
    ) -> Result<(), DestError> {
        let seq = self.next_seq();
        let mut next = self.committed.clone();
        next.version = MANIFEST_VERSION;
        next.seq = seq;
        let mut dropped = Vec::new();
        let streams = std::mem::take(&mut self.txn.streams);
        for (name, ts) in &streams {
            let mode = self.config.modes.of_table(name);
            let entry = next
                .streams
                .entry(name.clone())
                .or_insert_with(|| StreamEntry {
                    dir: stream_dir(name),
                    ..StreamEntry::default()
                });
            entry.columns = to_entries(&ts.columns);
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
            if ts.batches.is_empty() {
                continue;
            }
            let conformed = ts
                .batches
                .iter()
                .map(|b| conform(b, &ts.columns))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| data_error(format!("stream {name:?}: {e}")))?;
            let parts = self
                .write_parts(name, &dir, seq, &ts.columns, conformed)
                .await?;
            let entry = next
                .streams
                .get_mut(name)
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
        self.committed = next;
        self.txn = Txn::default();
        debug!(seq, checkpoint = %checkpoint.description, "Committed.");
        self.delete_parts(&dropped).await;
        Ok(())
    }

    async fn finish_inner(&mut self) -> Result<(), DestError> {
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

#[async_trait]
impl Destination for FilesDestination {
    fn name(&self) -> String {
        format!("files:{}", self.store.display)
    }

    async fn check(&mut self) -> Result<(), DestError> {
        self.store
            .put(PROBE, Bytes::from_static(b"spillway probe"))
            .await?;
        self.store.list_top().await?;
        self.store.delete(PROBE).await
    }

    async fn load_state(&mut self, key: &StateKey) -> Result<Option<SourceState>, DestError> {
        Ok(self
            .committed
            .states
            .get(&key.0)
            .map(|e| SourceState(e.state.clone())))
    }

    async fn truncate(&mut self, stream: &StreamId) -> Result<(), DestError> {
        let ts = self.txn_stream(&stream.qualified())?;
        ts.truncated = true;
        ts.batches.clear();
        Ok(())
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), DestError> {
        self.write_inner(batch).await
    }

    async fn commit(&mut self, key: &StateKey, checkpoint: &Checkpoint) -> Result<(), DestError> {
        self.commit_inner(key, checkpoint).await
    }

    async fn finish(&mut self) -> Result<(), DestError> {
        self.finish_inner().await
    }

    async fn rollback(&mut self) -> Result<(), DestError> {
        self.txn.streams.clear();
        self.discard_uploads().await
    }

    async fn reset_state(&mut self, key: &StateKey) -> Result<(), DestError> {
        if !self.committed.states.contains_key(&key.0) {
            return Ok(());
        }
        let mut next = self.committed.clone();
        next.states.remove(&key.0);
        next.seq = self.next_seq();
        self.write_manifest(&next).await?;
        self.committed = next;
        Ok(())
    }
}
