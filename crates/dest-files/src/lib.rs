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
//!       "description": "legacy API: deltas at cursor 1712345678",
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
//! Widening is exact, as in the database destinations: an `int64` column meeting a float
//! becomes `float64` only while no integer in it is beyond ±2^53; otherwise it becomes `json`
//! (a double would round the integer), and so does a `float64` column meeting such an
//! integer. A stream's column entry carries `"big_ints": true` once such an integer was
//! written to it (committed or in the same transaction); the key is absent otherwise, and
//! read as false when absent.
//!
//! A crash leaves at most part files the manifest does not list; opening the destination
//! deletes them (only files named like parts, one level below the root, are ever
//! deleted). Parts a manifest drops (truncate, reload, compaction) are deleted after that
//! manifest is written. [`Destination::rollback`] drops the buffered rows and deletes any
//! part a failed commit uploaded that the manifest (re-read) does not list.
//! A failed commit leaves the transaction as it was (buffered rows, truncates): it can be
//! rolled back, or retried as is, and the retry that succeeds deletes the parts the failed
//! attempt uploaded.
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

mod compact;
mod config;
mod conform;
mod current;
mod formats;
pub mod layout;
pub mod manifest;
mod store;
mod writer;

use async_trait::async_trait;
use bytes::Bytes;
use spillway_core::{
    Batch, Checkpoint, DestError, Destination, ErrorKind, SourceState, StateKey, StreamId,
};

pub use compact::CompactReport;
pub use config::{Compression, FilesConfig, Format};

use crate::layout::{MANIFEST, PROBE};
use crate::manifest::{MANIFEST_VERSION, Manifest};
use crate::store::Store;
use crate::writer::Txn;

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

    async fn list_states(&mut self) -> Result<Vec<spillway_core::SavedState>, DestError> {
        Ok(FilesDestination::list_states(self))
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
