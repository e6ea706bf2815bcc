//! spillway's PostgreSQL destination, every write mode of [`spillway_core::write_mode`].
//!
//! One table per stream in the configured schema (default `public`), named
//! [`StreamId::qualified`] (`users`, `"waitlist/entries"`), with
//! `_id text, "_creationTime" double precision, _ts bigint NOT NULL`, then
//! `_deleted boolean NOT NULL` in the write modes that keep deletions, then one typed column
//! per user field:
//!
//! | spillway type | Postgres           | notes                                               |
//! |---------------|--------------------|-----------------------------------------------------|
//! | Int64         | `bigint`           | the whole i64 range                                 |
//! | Float64       | `double precision` | NaN, ±Infinity and −0.0 kept bit for bit            |
//! | Boolean       | `boolean`          |                                                     |
//! | Utf8          | `text`             | a string holding NUL (U+0000) is refused, see below |
//! | Binary        | `bytea`            |                                                     |
//! | Json          | `json`             | the exact export_json text, see below               |
//!
//! **NUL in strings.** Postgres `text` cannot hold the character U+0000. Rather than drop or
//! alter it silently, a write whose string holds one fails with a
//! [`ErrorKind::Data`] error naming the table, column and
//! `_id`; nothing of that transaction is committed. (Inside JSON values NUL is the escape
//! `\u0000`, which `json` stores as written.)
//!
//! **`json`, not `jsonb`.** `jsonb` would rewrite values: it reorders object keys, drops
//! duplicate keys, turns `1e20` into `100000000000000000000` (so a float would read back as an
//! integer) and rejects `\u0000`. `json` keeps the text spillway wrote, so a value reads back
//! exactly as the DuckDB destination holds it. Query it with `->`/`->>`, or cast it
//! (`col::jsonb`) for containment operators and GIN indexes.
//!
//! **Write modes** ([`PostgresConfig::with_modes`]; per stream, default `upsert`), each as
//! [`spillway_core::write_mode`] specifies:
//!
//! | mode | table | a batch | `truncate` (a full reload begins) | [`Destination::finish`] |
//! |---|---|---|---|---|
//! | `upsert` | `PRIMARY KEY (_id)` | merge: tombstones `DELETE`, live rows `INSERT … ON CONFLICT (_id) DO UPDATE` | `DELETE FROM t` | nothing |
//! | `upsert` + `soft_delete` | `PRIMARY KEY (_id)`, `_deleted` | one `INSERT … ON CONFLICT (_id) DO UPDATE`: live rows set `_deleted = false`, tombstones `_deleted = true` and their `_ts`, keeping the other columns (NULLs if the `_id` is new) | `UPDATE t SET _deleted = true` | nothing |
//! | `append` | `PRIMARY KEY (_id, _ts)`, `_deleted` | every revision `INSERT … ON CONFLICT (_id, _ts) DO NOTHING` (a replay never duplicates) | `DELETE FROM t` (history restarts) | nothing |
//! | `replace` | as `upsert` | as `upsert`, into the reload copy while one exists | creates (or empties) the reload copy `_spillway_reload_<t>` | `DROP TABLE t; ALTER TABLE copy RENAME TO t`, for every copy, in one transaction |
//! | `overwrite-delete-stale` | as `upsert` | as `upsert` (into the reload copy while one exists) | as `replace` | widen `t` to the copy's columns, upsert the copy into `t` (rows whose `_ts` is unchanged are left alone), delete the rows of `t` whose `_id` the copy lacks, drop the copy; in one transaction |
//!
//! The reload copy has the system columns of an `upsert` table and evolves like any table;
//! its name must fit Postgres's 63 bytes (table names of at most 46 bytes, else a data error
//! naming the table). It is committed with the checkpoints, so its existence is the
//! persisted "reload pending" marker: a reload interrupted by a crash continues into it, and
//! the next successful [`Destination::finish`] completes it. Readers of the table see the old
//! rows until then. [`PostgresDestination::tables`] never lists copies or `_spillway_state`.
//! `finish` completes *every* copy of the schema: the engine calls it only once every
//! stream has caught up (a copy of a reload still in progress would be swapped in half
//! loaded). `finish` with a transaction open fails with an internal error instead of
//! committing writes no checkpoint covers. A copy whose stream is now configured in
//! `upsert` or `append` is left in place (with a warning). `replace` swaps tables: indexes,
//! grants and comments added to the old table by hand are not carried over, and a view
//! depending on it makes the swap fail (and roll back) with Postgres's error.
//!
//! **Changing the mode of an existing table** is not done in place: a table whose shape
//! (`_deleted` column, primary key) does not fit the stream's mode is a
//! [`ErrorKind::Config`] error naming the table, what it has and what the mode needs (set
//! the mode back, or drop the table and reset the state so the next sync reloads it).
//! `upsert`, `replace` and `overwrite-delete-stale` share one shape.
//!
//! **Schema evolution**, as in every destination: a new field adds a column
//! (`ALTER TABLE … ADD COLUMN`); a type change widens the column (bigint → double precision
//! → json; any other mix → json) and converts the values already there exactly as
//! `spillway_core::batch::cast_column` converts batch values, so nothing is dropped or
//! rounded. An integer beyond ±2^53 meeting a float widens to `json`, not to a double.
//!
//! **Writes.** Each batch is copied with binary `COPY … FROM STDIN` into a temporary
//! staging table, then applied in one statement. `upsert`: the latest revision per `_id`
//! (highest `_ts`, then the last in the batch) deletes the target row if it is a tombstone,
//! and otherwise inserts or replaces the whole row (`INSERT … ON CONFLICT (_id) DO UPDATE`,
//! columns the revision lacks set to NULL) — in both cases only if the target's `_ts` is not
//! newer, so a replayed batch never moves a row back in time. `soft_delete` applies the same
//! `_ts` guard; `append` skips the `(_id, _ts)` it already holds.
//!
//! **Transactions.** Everything between two commits is one Postgres transaction (opened by
//! the first write or truncate after a commit); [`Destination::commit`] upserts the source's
//! state into `_spillway_state` in that transaction and commits. A crash or a dropped
//! connection at any moment loses nothing committed and leaves nothing partial. A lost
//! connection is reported as a transient error; after [`Destination::rollback`] the next call
//! reconnects.
//!
//! **Limits.** No TLS yet (plain TCP or a Unix socket). Table and column names longer than
//! 63 bytes (Postgres's identifier limit) are refused with a data error instead of being
//! truncated.
//!
//! ```no_run
//! # async fn demo() -> Result<(), spillway_core::DestError> {
//! use spillway_core::{Destination, StreamMode, WriteMode, WriteModes};
//! use spillway_dest_postgres::{PostgresConfig, PostgresDestination};
//!
//! let config = PostgresConfig::new("postgres://postgres@127.0.0.1:5432/analytics")
//!     .with_schema("convex")
//!     .with_modes(WriteModes::all(StreamMode::new(WriteMode::Replace)));
//! let mut dest = PostgresDestination::connect(&config).await?;
//! dest.check().await?;
//! println!("{:?}", dest.tables().await?);
//! // ... truncate / write / commit as the engine does, then:
//! dest.finish().await?;
//! # Ok(()) }
//! ```

mod append;
mod config;
mod copy;
mod db;
mod ddl;
mod error;
mod merge;
mod query;
mod reload;
mod shape;
mod state;
mod widen;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde_json::{Map, Value};
use spillway_core::schema::DELETED;
use spillway_core::write_mode::RELOAD_PREFIX;
use spillway_core::{
    Batch, Checkpoint, DestError, Destination, ErrorKind, SourceState, StateKey, StreamId,
};
use tracing::debug;

pub use config::{DEFAULT_SCHEMA, MAX_IDENTIFIER_BYTES, PostgresConfig};

use crate::db::Db;
use crate::ddl::{Table, qualified, quote};
use crate::error::{error, internal_error};
use crate::shape::Shape;

/// The Postgres destination (every write mode, see the crate docs).
pub struct PostgresDestination {
    /// How to (re)connect.
    config: PostgresConfig,
    /// The open connection.
    db: Db,
    /// Shape and user columns of the tables seen so far (loaded from the catalog on first
    /// use), reload copies included.
    tables: HashMap<String, Table>,
    /// Reload copies known not to exist (so plain writes of `replace` /
    /// `overwrite-delete-stale` streams do not ask the catalog every batch); forgotten with
    /// `tables`.
    no_copy: HashSet<String>,
    /// The open transaction, if any.
    txn: Option<Txn>,
}

/// What the open transaction did.
#[derive(Debug, Default)]
struct Txn {
    /// Tables whose rows this transaction changed.
    dirty: HashSet<String>,
    /// Streams truncated by this transaction.
    truncated: HashSet<String>,
    /// Why the transaction can no longer commit (a statement in it failed).
    failed: Option<String>,
}

impl PostgresDestination {
    /// Connects and creates the schema and `_spillway_state` if they are missing.
    ///
    /// Fails with [`ErrorKind::Config`] naming `user@host:port/db` (never the password) when
    /// the server cannot be reached or the database does not exist, and with
    /// [`ErrorKind::Auth`] when the server refuses the user or password.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, DestError> {
        let db = Db::connect(config).await?;
        state::ensure_table(&db, &config.schema).await?;
        Ok(PostgresDestination {
            config: config.clone(),
            db,
            tables: HashMap::new(),
            no_copy: HashSet::new(),
            txn: None,
        })
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.config.schema
    }

    /// `"schema"."table"`: the quoted name of a table for SQL (`table` as in [`Self::tables`]).
    pub fn table_ref(&self, table: &str) -> String {
        qualified(&self.config.schema, table)
    }

    /// The user tables of the schema, sorted: every table except `_spillway_state` and the
    /// reload copies (`_spillway_reload_…`) of reloads in progress.
    pub async fn tables(&mut self) -> Result<Vec<String>, DestError> {
        self.ready().await?;
        let r = self
            .db
            .query(
                "SELECT c.relname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> $2 \
                 AND NOT starts_with(c.relname::text, $3) \
                 ORDER BY c.relname COLLATE \"C\"",
                &[&self.config.schema, &state::STATE_TABLE, &RELOAD_PREFIX],
                || "listing the tables".to_string(),
            )
            .await;
        let rows = self.note(r)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// `(column, Postgres type)` of `table` in table order (`format_type` names such as
    /// `bigint`, `double precision`, `json`); empty if the table does not exist.
    pub async fn columns(&mut self, table: &str) -> Result<Vec<(String, String)>, DestError> {
        self.ready().await?;
        let r = ddl::catalog_columns(&self.db, &self.config.schema, table).await;
        self.note(r)
    }

    /// Runs `sql` (one statement) and returns its rows as JSON objects keyed by column name.
    ///
    /// bigint/integer become JSON integers; double precision a number, or
    /// `"NaN"`/`"Infinity"`/`"-Infinity"` (−0.0 stays −0.0); bytea a base64 string; json and
    /// jsonb the parsed value; text a string; NULL `null`. Other types are an error: cast them
    /// to text in the query. Inside an open transaction the query runs in it (and a failing
    /// query fails the transaction).
    pub async fn query_json(&mut self, sql: &str) -> Result<Vec<Map<String, Value>>, DestError> {
        self.ready().await?;
        let r = query::query_json(&self.db, sql).await;
        self.note(r)
    }

    /// The number of rows of `table` (a qualified stream name such as `waitlist/entries`).
    pub async fn row_count(&mut self, table: &str) -> Result<u64, DestError> {
        self.ready().await?;
        let sql = format!("SELECT count(*) FROM {}", self.table_ref(table));
        let r = self
            .db
            .query(&sql, &[], || {
                format!("counting the rows of table {table:?}")
            })
            .await;
        let rows = self.note(r)?;
        let n: i64 = rows.first().map_or(0, |r| r.get(0));
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every saved state: `(key, state, description, updated_at)`, sorted by key (for
    /// `spillway state show`); `updated_at` is UTC, `YYYY-MM-DD HH:MM:SS.ffffff`.
    pub async fn list_states(
        &mut self,
    ) -> Result<Vec<(StateKey, SourceState, String, String)>, DestError> {
        self.ready().await?;
        let r = state::list(&self.db, &self.config.schema).await;
        self.note(r)
    }

    /// The server process id of the connection (for diagnostics and tests).
    pub async fn backend_pid(&mut self) -> Result<i32, DestError> {
        self.ready().await?;
        let r = self
            .db
            .query("SELECT pg_backend_pid()", &[], || {
                "reading the backend pid".to_string()
            })
            .await;
        let rows = self.note(r)?;
        rows.first()
            .map(|r| r.get(0))
            .ok_or_else(|| internal_error(&self.db.target, "pg_backend_pid() returned no row"))
    }

    /// Makes sure there is a usable connection: reconnects after a lost one unless a
    /// transaction was open on it (its writes are gone; the caller must roll back first).
    async fn ready(&mut self) -> Result<(), DestError> {
        if !self.db.is_closed() {
            return Ok(());
        }
        if self.txn.is_some() {
            return Err(error(
                ErrorKind::Transient,
                &self.db.target,
                "the connection was lost in the middle of a transaction; everything written \
                 since the last commit is discarded (nothing committed is lost); roll back and \
                 sync again",
            ));
        }
        debug!(target = %self.db.target, "Reconnecting to Postgres.");
        self.tables.clear();
        self.no_copy.clear();
        self.db = Db::connect(&self.config).await?;
        state::ensure_table(&self.db, &self.config.schema).await
    }

    /// Records a failure inside the open transaction (Postgres aborts the transaction on any
    /// error, so it can only be rolled back).
    fn note<T>(&mut self, r: Result<T, DestError>) -> Result<T, DestError> {
        if let (Err(e), Some(t)) = (&r, &mut self.txn)
            && t.failed.is_none()
        {
            t.failed = Some(e.message.clone());
        }
        r
    }

    /// Opens a transaction unless one is open; refuses to go on in a failed one.
    async fn begin(&mut self) -> Result<(), DestError> {
        if let Some(t) = &self.txn {
            return match &t.failed {
                None => Ok(()),
                Some(why) => Err(error(
                    ErrorKind::Internal,
                    &self.db.target,
                    format!(
                        "the open transaction failed earlier ({why}); roll back before writing \
                         again"
                    ),
                )),
            };
        }
        self.ready().await?;
        self.db
            .exec("BEGIN", || "starting a transaction".into())
            .await?;
        self.txn = Some(Txn::default());
        Ok(())
    }

    /// The cached shape and columns of `table`, loading them from the catalog on first use.
    async fn table_schema(&mut self, table: &str) -> Result<Option<Table>, DestError> {
        if let Some(s) = self.tables.get(table) {
            return Ok(Some(s.clone()));
        }
        let loaded = ddl::load_table(&self.db, &self.config.schema, table).await?;
        if let Some(s) = &loaded {
            self.tables.insert(table.to_string(), s.clone());
        }
        Ok(loaded)
    }

    /// Records that this transaction changed rows of `table`.
    fn mark_dirty(&mut self, table: &str) {
        if let Some(t) = &mut self.txn {
            t.dirty.insert(table.to_string());
        }
    }

    /// Forgets the transaction and the columns cached during it.
    fn forget_txn(&mut self) {
        if self.txn.take().is_some() {
            self.tables.clear();
            self.no_copy.clear();
        }
    }

    async fn truncate_inner(&mut self, stream: &StreamId) -> Result<(), DestError> {
        let table = stream.qualified();
        let mode = self.config.modes.of(stream);
        crate::ddl::check_identifier(&self.db.target, "table", &table)?;
        self.begin().await?;
        if let Some(t) = &mut self.txn {
            t.truncated.insert(table.clone());
        }
        if mode.mode.reloads_into_copy() {
            return self.start_reload(&table, mode).await;
        }
        let shape = Shape::of(mode);
        let Some(loaded) = self.table_schema(&table).await? else {
            return Ok(());
        };
        self.check_shape(&table, &loaded, shape, mode)?;
        // DELETE / UPDATE, not TRUNCATE: readers keep seeing the committed rows until this
        // transaction commits, instead of queueing behind an exclusive lock.
        let sql = match shape {
            // The reload sets `_deleted` back on the rows it sees.
            Shape::SoftDelete => format!(
                "UPDATE {} SET {d} = true WHERE NOT {d}",
                self.table_ref(&table),
                d = quote(DELETED)
            ),
            Shape::Upsert | Shape::Append => format!("DELETE FROM {}", self.table_ref(&table)),
        };
        let n = self
            .db
            .exec_params(&sql, &[], || format!("truncating table {table:?}"))
            .await?;
        self.mark_dirty(&table);
        debug!(stream = %table, rows = n, mode = %mode, "Table truncated.");
        Ok(())
    }

    async fn commit_inner(
        &mut self,
        key: &StateKey,
        checkpoint: &Checkpoint,
    ) -> Result<(), DestError> {
        self.begin().await?;
        let saved = state::save(&self.db, &self.config.schema, key, checkpoint).await;
        let saved = self.note(saved);
        if let Err(e) = saved {
            let _ = self.rollback_inner().await;
            return Err(e);
        }
        let result = self
            .db
            .exec("COMMIT", || {
                format!("committing at checkpoint {:?}", checkpoint.description)
            })
            .await;
        match result {
            Ok(()) => {
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
                // A failed COMMIT ends the transaction (or the connection); make sure it is gone.
                if !self.db.is_closed() {
                    let _ = self.db.exec("ROLLBACK", String::new).await;
                }
                self.forget_txn();
                Err(e)
            }
        }
    }

    async fn rollback_inner(&mut self) -> Result<(), DestError> {
        if self.txn.is_none() {
            return Ok(());
        }
        self.forget_txn();
        if self.db.is_closed() {
            // The server discarded the transaction with the connection.
            return Ok(());
        }
        match self.db.exec("ROLLBACK", || "rolling back".into()).await {
            Err(_) if self.db.is_closed() => Ok(()),
            r => r,
        }
    }
}

#[async_trait]
impl Destination for PostgresDestination {
    fn name(&self) -> String {
        format!(
            "postgres:{} (schema {})",
            self.db.target, self.config.schema
        )
    }

    /// Rows go to the server as they come (COPY into staging tables).
    fn holds_transaction_in_memory(&self) -> bool {
        false
    }

    async fn check(&mut self) -> Result<(), DestError> {
        self.ready().await?;
        let sql = "SELECT has_table_privilege($1, 'SELECT, INSERT, UPDATE, DELETE') \
                   AND has_schema_privilege($2, 'CREATE, USAGE')";
        let state = self.table_ref(state::STATE_TABLE);
        let r = self
            .db
            .query(sql, &[&state, &self.config.schema], || {
                "probing the database".to_string()
            })
            .await;
        let rows = self.note(r)?;
        if rows.first().is_some_and(|r| r.get::<_, bool>(0)) {
            Ok(())
        } else {
            Err(error(
                ErrorKind::Config,
                &self.db.target,
                format!(
                    "the user may not create tables in schema {:?} or write {}; grant CREATE \
                     and USAGE on the schema, or choose another `schema`",
                    self.config.schema, state
                ),
            ))
        }
    }

    async fn load_state(&mut self, key: &StateKey) -> Result<Option<SourceState>, DestError> {
        self.ready().await?;
        let r = state::load(&self.db, &self.config.schema, key).await;
        self.note(r)
    }

    async fn truncate(&mut self, stream: &StreamId) -> Result<(), DestError> {
        let r = self.truncate_inner(stream).await;
        self.note(r)
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), DestError> {
        let r = self.write_inner(batch).await;
        self.note(r)
    }

    async fn commit(&mut self, key: &StateKey, checkpoint: &Checkpoint) -> Result<(), DestError> {
        self.commit_inner(key, checkpoint).await
    }

    async fn finish(&mut self) -> Result<(), DestError> {
        self.finish_inner().await
    }

    async fn rollback(&mut self) -> Result<(), DestError> {
        self.rollback_inner().await
    }

    async fn list_states(&mut self) -> Result<Vec<spillway_core::SavedState>, DestError> {
        PostgresDestination::list_states(self).await
    }

    async fn reset_state(&mut self, key: &StateKey) -> Result<(), DestError> {
        self.ready().await?;
        let r = state::reset(&self.db, &self.config.schema, key).await;
        self.note(r)
    }
}
