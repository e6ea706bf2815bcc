//! spillway's DuckDB destination, with every write mode of [`spillway_core::write_mode`].
//!
//! One table per stream, named [`StreamId::qualified`] (`users`, `waitlist/entries`), with
//! `_id VARCHAR, _creationTime DOUBLE, _ts BIGINT` and one typed column per user
//! field: Int64 → BIGINT, Float64 → DOUBLE, Boolean → BOOLEAN, Utf8 → VARCHAR, Binary → BLOB,
//! Json → JSON. A new field adds a column; a type change widens it (to DOUBLE or JSON),
//! converting the stored values exactly as `spillway_core::batch::cast_column` does. Batches
//! are loaded through DuckDB's Arrow appender into a staging table and merged in SQL, as the
//! stream's write mode ([`DuckDbConfig::modes`]) says (a snapshot's rows, whose `_id`s ascend
//! past every `_id` of the table, are appended to it directly). The key is kept by the merges,
//! not by a constraint, and recorded in the table's comment (see `shape.rs`):
//!
//! | mode | table | rows | tombstone | `truncate` | `finish` |
//! |---|---|---|---|---|---|
//! | `upsert` | key `(_id)` | one per `_id`, newest `_ts` wins | deletes the row | deletes every row | nothing |
//! | `upsert` + `soft_delete` | key `(_id)`, `_deleted BOOLEAN NOT NULL` after `_ts` | one per `_id`, `_deleted = false` | sets `_deleted = true` and `_ts`, keeps the rest (NULLs if never seen) | sets `_deleted = true` everywhere | nothing |
//! | `append` | key `(_id, _ts)`, `_deleted` | every version, an existing `(_id, _ts)` skipped | a row with `_deleted = true` | deletes every row | nothing |
//! | `replace` | key `(_id)` | upserts into the reload copy while one exists | deletes from the copy | creates (or empties) `_spillway_reload_<table>` | drops the table and renames the copy |
//! | `overwrite-delete-stale` | key `(_id)` | as `replace` during a reload, else upserts | deletes the row (from the copy during a reload) | as `replace` | merges the copy in, deletes rows the reload did not see, drops the copy |
//!
//! The reload copy of a table is committed with the checkpoints, so a reload interrupted by a
//! crash continues on the next run, and readers see the old rows until
//! [`Destination::finish`] swaps or merges every copy in one transaction. Reload copies and
//! `_spillway_state` are not listed by [`DuckDbDestination::tables`]. A table made by one mode
//! and written in a mode of another shape (e.g. `upsert` then `append`) is refused with a
//! [`spillway_core::ErrorKind::Config`] error that says how to fix it.
//!
//! Everything written between two commits is one DuckDB transaction, committed together with
//! the source's state in `_spillway_state`, so a crash loses or duplicates nothing. Inside a
//! transaction, each table's batches are buffered in memory (cast to the table's columns) and
//! merged in one go: at the commit, before a `truncate`, before the table changes shape, before
//! a read through [`DuckDbDestination::query_json`] / [`DuckDbDestination::row_count`], and when
//! the buffers pass [`BufferLimit`] (200 000 rows or 32 MiB by default); a rollback drops them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), spillway_core::DestError> {
//! use spillway_core::Destination;
//! use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};
//!
//! let mut dest = DuckDbDestination::open(&DuckDbConfig::new("convex.duckdb"))?;
//! dest.check().await?;
//! println!("{:?}", dest.tables()?);
//! # Ok(()) }
//! ```
//!
//! DuckDB calls block; the async methods run them with [`tokio::task::block_in_place`] on a
//! multi-thread runtime (inline elsewhere).

mod append;
mod buffer;
mod config;
mod db;
mod ddl;
mod error;
mod query;
mod reload;
mod shape;
mod soft_delete;
mod state;
mod target;
mod upsert;
mod writer;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde_json::{Map, Value};
use spillway_core::table::TableSchema;
use spillway_core::write_mode::RELOAD_PREFIX;
use spillway_core::{
    Batch, Checkpoint, DestError, Destination, SourceState, StateKey, StreamId, StreamMode,
    WriteModes,
};
use tracing::debug;

pub use buffer::BufferLimit;
pub use config::{DEFAULT_THREADS, DISABLED_COMPRESSION, DuckDbConfig};

use crate::buffer::Buffers;
use crate::db::Db;
use crate::ddl::quote;
use crate::error::{Context, config_error, data_error};
use crate::shape::Shape;
use crate::state::STATE_TABLE;

/// The DuckDB destination (every write mode, see the crate docs).
pub struct DuckDbDestination {
    /// The open database.
    db: Db,
    /// The write mode of each stream.
    modes: WriteModes,
    /// User columns of the tables seen so far (loaded from the catalog on first use, their
    /// shape checked against their stream's write mode); `None`: known not to exist.
    tables: HashMap<String, Option<TableSchema>>,
    /// The open transaction, if any.
    txn: Option<Txn>,
    /// Rows of the open transaction not merged into their tables yet.
    buffers: Buffers,
    /// When the buffered rows are merged before a commit.
    buffer_limit: BufferLimit,
}

/// What the open transaction did to each table.
#[derive(Debug, Default)]
struct Txn {
    /// Tables whose rows this transaction changed.
    dirty: HashSet<String>,
    /// Tables (re)created by this transaction: all their rows are transaction-local, so
    /// `ALTER TABLE` is safe even after writes.
    local: HashSet<String>,
    /// Streams truncated by this transaction (even if their table did not exist yet).
    truncated: HashSet<String>,
    /// Tables whose buffered rows could not be appended early ([`BufferLimit::append_bytes`])
    /// because the table holds an `_id` at or after theirs: their rows wait for the merge.
    merging: HashSet<String>,
    /// Per table, the last `_id` this transaction appended early, when nothing else wrote to
    /// the table since: the table holds no `_id` after it, so rows from a later `_id` on need
    /// no [`upsert::holds_id_from`] query to be appended. Any other write forgets the table's
    /// entry ([`DuckDbDestination::mark_dirty`], [`DuckDbDestination::mark_local`]).
    appended_up_to: HashMap<String, String>,
}

impl DuckDbDestination {
    /// Opens (creating if needed) the database file of `config`.
    ///
    /// Fails with [`spillway_core::ErrorKind::Config`] and a message naming the file when
    /// its directory is missing, another process holds it, or it is not a DuckDB database,
    /// or when `config.modes` combines modes that cannot go together
    /// ([`WriteModes::validate`]).
    pub fn open(config: &DuckDbConfig) -> Result<Self, DestError> {
        config
            .modes
            .validate()
            .map_err(|e| config_error(&config.path, format!("write modes: {e}")))?;
        let db = Db::open(&config.path)?;
        if let Some(bytes) = config.memory_limit {
            db.exec(&format!("SET memory_limit = '{bytes}B'"), || {
                format!("setting DuckDB's memory_limit to {bytes} bytes")
            })?;
        }
        let threads = config.threads.unwrap_or(DEFAULT_THREADS).max(1);
        db.exec(&format!("SET threads = {threads}"), || {
            format!("setting DuckDB's threads to {threads}")
        })?;
        db.exec(
            &format!("SET disabled_compression_methods = '{DISABLED_COMPRESSION}'"),
            || format!("disabling DuckDB's {DISABLED_COMPRESSION} compression"),
        )?;
        state::ensure_table(&db)?;
        Ok(DuckDbDestination {
            db,
            modes: config.modes.clone(),
            tables: HashMap::new(),
            txn: None,
            buffers: Buffers::default(),
            buffer_limit: BufferLimit::default(),
        })
    }

    /// Sets when buffered rows are merged into their tables before the next commit (default
    /// [`BufferLimit::default`]). Rows of a transaction are buffered in memory and merged once
    /// per table at the commit, or earlier when the buffers pass `limit`, so a transaction of
    /// many batches joins each table twice instead of twice per batch.
    pub fn set_buffer_limit(&mut self, limit: BufferLimit) {
        self.buffer_limit = limit;
    }

    /// The user tables (every table except `_spillway_state` and the reload copies of
    /// unfinished full reloads), sorted.
    pub fn tables(&mut self) -> Result<Vec<String>, DestError> {
        blocking(|| {
            Ok(self
                .all_tables()?
                .into_iter()
                .filter(|t| t != STATE_TABLE && !t.starts_with(RELOAD_PREFIX))
                .collect())
        })
    }

    /// Every table of the database's main schema, sorted.
    fn all_tables(&self) -> Result<Vec<String>, DestError> {
        let rows = query::query_json(
            &self.db,
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() \
             AND schema_name = 'main' ORDER BY table_name",
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|mut r| match r.remove("table_name") {
                Some(Value::String(s)) => Some(s),
                _ => None,
            })
            .collect())
    }

    /// Runs `sql` and returns its rows as JSON objects keyed by column name.
    ///
    /// BIGINT becomes a JSON integer; DOUBLE a number, or `"NaN"`/`"Infinity"`/`"-Infinity"`
    /// (−0.0 stays −0.0); BLOB a base64 string; a JSON column the parsed value; NULL `null`;
    /// other types their text form.
    ///
    /// Rows written but not committed yet are merged into their tables first, so the query
    /// sees them (inside the open transaction).
    pub fn query_json(&mut self, sql: &str) -> Result<Vec<Map<String, Value>>, DestError> {
        blocking(|| {
            self.flush_all()?;
            query::query_json(&self.db, sql)
        })
    }

    /// The number of rows of `table` (a qualified stream name such as `waitlist/entries`),
    /// counting rows written but not committed yet.
    pub fn row_count(&mut self, table: &str) -> Result<u64, DestError> {
        blocking(|| {
            self.flush_all()?;
            let sql = format!("SELECT count(*) FROM {}", quote(table));
            let n: i64 = self
                .db
                .conn
                .query_row(&sql, [], |r| r.get(0))
                .context(&self.db.path, || {
                    format!("counting the rows of table {table:?}")
                })?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Every saved state: `(key, state, description, updated_at)`, sorted by key (for
    /// `spillway state show`).
    pub fn list_states(
        &mut self,
    ) -> Result<Vec<(StateKey, SourceState, String, String)>, DestError> {
        blocking(|| state::list(&self.db))
    }

    /// Opens a transaction unless one is open.
    fn begin(&mut self) -> Result<(), DestError> {
        if self.txn.is_none() {
            self.db
                .exec("BEGIN TRANSACTION", || "starting a transaction".into())?;
            self.txn = Some(Txn::default());
        }
        Ok(())
    }

    /// The cached columns of `table`, loading them from the catalog on first use and checking
    /// that its shape suits `mode` (the write mode of its stream).
    fn table_schema(
        &mut self,
        table: &str,
        mode: StreamMode,
    ) -> Result<Option<TableSchema>, DestError> {
        if let Some(s) = self.tables.get(table) {
            return Ok(s.clone());
        }
        let loaded = match ddl::load_table(&self.db, table)? {
            Some((have, schema)) => {
                shape::check(&self.db.path, table, have, mode)?;
                Some(schema)
            }
            None => None,
        };
        self.tables.insert(table.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// Creates `table` with `schema` and the shape `mode` needs, inside the open transaction.
    fn create_table(
        &mut self,
        table: &str,
        mode: StreamMode,
        schema: &TableSchema,
    ) -> Result<(), DestError> {
        let clash = self
            .all_tables()?
            .into_iter()
            .find(|t| t != table && t.eq_ignore_ascii_case(table));
        if let Some(other) = clash {
            return Err(data_error(
                &self.db.path,
                format!(
                    "table {table:?} differs only in case from the existing table {other:?}, \
                     which DuckDB cannot hold as two tables"
                ),
            ));
        }
        ddl::create_table(&self.db, table, Shape::of(mode), schema)?;
        self.tables.insert(table.to_string(), Some(schema.clone()));
        self.mark_local(table);
        Ok(())
    }

    /// Changes `table` from `current` to `target` (`changes` from [`spillway_core::table::plan`]):
    /// `ALTER TABLE` when that is safe in this transaction, otherwise a rebuilt table.
    fn reshape(
        &mut self,
        table: &str,
        mode: StreamMode,
        current: &TableSchema,
        target: &TableSchema,
        changes: &[spillway_core::table::Change],
    ) -> Result<(), DestError> {
        let alter_ok = !self.txn_dirty(table);
        ddl::apply(
            &self.db,
            table,
            Shape::of(mode),
            current,
            target,
            changes,
            alter_ok,
        )?;
        if !alter_ok {
            self.mark_local(table);
        }
        self.tables.insert(table.to_string(), Some(target.clone()));
        Ok(())
    }

    /// Whether `ALTER TABLE` on `table` would be unsafe in this transaction.
    fn txn_dirty(&self, table: &str) -> bool {
        self.txn
            .as_ref()
            .is_some_and(|t| t.dirty.contains(table) && !t.local.contains(table))
    }

    /// Records that this transaction changed rows of `table`.
    fn mark_dirty(&mut self, table: &str) {
        if let Some(t) = &mut self.txn {
            t.dirty.insert(table.to_string());
            t.appended_up_to.remove(table);
        }
    }

    /// Records that this transaction (re)created `table`.
    fn mark_local(&mut self, table: &str) {
        if let Some(t) = &mut self.txn {
            t.local.insert(table.to_string());
            t.appended_up_to.remove(table);
        }
    }

    /// Forgets cached columns and buffered rows after a transaction ended without committing.
    fn forget_txn(&mut self) {
        self.buffers.clear();
        if self.txn.take().is_some() {
            self.tables.clear();
        }
    }

    fn commit_sync(&mut self, key: &StateKey, checkpoint: &Checkpoint) -> Result<(), DestError> {
        self.begin()?;
        // The buffered rows first, so they commit with the state.
        if let Err(e) = self
            .flush_all()
            .and_then(|()| state::save(&self.db, key, checkpoint))
        {
            self.rollback_sync()?;
            return Err(e);
        }
        let result = self.db.exec("COMMIT", || {
            format!("committing at checkpoint {:?}", checkpoint.description)
        });
        match result {
            Ok(_) => {
                if let Some(t) = self.txn.take() {
                    debug!(
                        tables = t.dirty.len(),
                        truncated = t.truncated.len(),
                        checkpoint = %checkpoint.description,
                        "Transaction committed."
                    );
                }
                Ok(())
            }
            Err(e) => {
                // DuckDB ends the transaction when COMMIT fails; make sure it is gone.
                let _ = self.db.exec("ROLLBACK", String::new);
                self.forget_txn();
                Err(e)
            }
        }
    }

    fn rollback_sync(&mut self) -> Result<(), DestError> {
        self.buffers.clear();
        if self.txn.is_some() {
            self.forget_txn();
            self.db.exec("ROLLBACK", || "rolling back".into())?;
        }
        Ok(())
    }
}

/// Runs blocking DuckDB work without stalling the async runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[async_trait]
impl Destination for DuckDbDestination {
    fn name(&self) -> String {
        format!("duckdb:{}", self.db.path.display())
    }

    /// Rows go into DuckDB as they come (past [`BufferLimit`]); DuckDB spills a large
    /// transaction to disk, writing whole row groups straight into the file.
    fn holds_transaction_in_memory(&self) -> bool {
        false
    }

    async fn check(&mut self) -> Result<(), DestError> {
        blocking(|| {
            self.db
                .conn
                .query_row("SELECT count(*) FROM _spillway_state", [], |r| {
                    r.get::<_, i64>(0)
                })
                .context(&self.db.path, || "probing the database".into())
                .map(|_| ())
        })
    }

    async fn load_state(&mut self, key: &StateKey) -> Result<Option<SourceState>, DestError> {
        blocking(|| state::load(&self.db, key))
    }

    async fn truncate(&mut self, stream: &StreamId) -> Result<(), DestError> {
        blocking(|| self.truncate_sync(stream))
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), DestError> {
        blocking(|| self.write_sync(batch))
    }

    async fn commit(&mut self, key: &StateKey, checkpoint: &Checkpoint) -> Result<(), DestError> {
        blocking(|| self.commit_sync(key, checkpoint))
    }

    async fn finish(&mut self) -> Result<(), DestError> {
        blocking(|| self.finish_sync())
    }

    async fn rollback(&mut self) -> Result<(), DestError> {
        blocking(|| self.rollback_sync())
    }

    async fn list_states(&mut self) -> Result<Vec<spillway_core::SavedState>, DestError> {
        blocking(|| state::list(&self.db))
    }

    async fn reset_state(&mut self, key: &StateKey) -> Result<(), DestError> {
        blocking(|| state::reset(&self.db, key))
    }
}
