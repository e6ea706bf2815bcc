//! spillway's DuckDB destination, write mode `upsert`.
//!
//! One table per stream, named [`StreamId::qualified`] (`users`, `waitlist/entries`), with
//! `_id VARCHAR PRIMARY KEY, _creationTime DOUBLE, _ts BIGINT` and one typed column per user
//! field: Int64 → BIGINT, Float64 → DOUBLE, Boolean → BOOLEAN, Utf8 → VARCHAR, Binary → BLOB,
//! Json → JSON. A new field adds a column; a type change widens it (to DOUBLE or JSON),
//! converting the stored values exactly as `spillway_core::batch::cast_column` does. Batches
//! are loaded through DuckDB's Arrow appender into a staging table and merged in SQL;
//! tombstones delete rows.
//! Everything written between two commits is one DuckDB transaction, committed together with
//! the source's state in `_spillway_state`, so a crash loses or duplicates nothing.
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

mod config;
mod db;
mod ddl;
mod error;
mod query;
mod state;
mod writer;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde_json::{Map, Value};
use spillway_core::table::TableSchema;
use spillway_core::{Batch, Checkpoint, DestError, Destination, SourceState, StateKey, StreamId};
use tracing::debug;

pub use config::DuckDbConfig;

use crate::db::Db;
use crate::ddl::{create_table_sql, quote};
use crate::error::{Context, data_error};

/// The DuckDB destination (write mode `upsert`).
pub struct DuckDbDestination {
    /// The open database.
    db: Db,
    /// User columns of the tables seen so far (loaded from the catalog on first use).
    tables: HashMap<String, TableSchema>,
    /// The open transaction, if any.
    txn: Option<Txn>,
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
}

impl DuckDbDestination {
    /// Opens (creating if needed) the database file of `config`.
    ///
    /// Fails with [`spillway_core::ErrorKind::Config`] and a message naming the file when
    /// its directory is missing, another process holds it, or it is not a DuckDB database.
    pub fn open(config: &DuckDbConfig) -> Result<Self, DestError> {
        let db = Db::open(&config.path)?;
        state::ensure_table(&db)?;
        Ok(DuckDbDestination {
            db,
            tables: HashMap::new(),
            txn: None,
        })
    }

    /// The user tables (every table except `_spillway_state`), sorted.
    pub fn tables(&mut self) -> Result<Vec<String>, DestError> {
        blocking(|| self.tables_sync())
    }

    fn tables_sync(&self) -> Result<Vec<String>, DestError> {
        let rows = query::query_json(
            &self.db,
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() \
             AND schema_name = 'main' AND table_name <> '_spillway_state' ORDER BY table_name",
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
    pub fn query_json(&mut self, sql: &str) -> Result<Vec<Map<String, Value>>, DestError> {
        blocking(|| query::query_json(&self.db, sql))
    }

    /// The number of rows of `table` (a qualified stream name such as `waitlist/entries`).
    pub fn row_count(&mut self, table: &str) -> Result<u64, DestError> {
        blocking(|| {
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

    /// The cached columns of `table`, loading them from the catalog on first use.
    fn table_schema(&mut self, table: &str) -> Result<Option<TableSchema>, DestError> {
        if let Some(s) = self.tables.get(table) {
            return Ok(Some(s.clone()));
        }
        let loaded = ddl::load_table(&self.db, table)?;
        if let Some(s) = &loaded {
            self.tables.insert(table.to_string(), s.clone());
        }
        Ok(loaded)
    }

    /// Creates `table` with `schema` inside the open transaction.
    fn create_table(&mut self, table: &str, schema: &TableSchema) -> Result<(), DestError> {
        let clash = self
            .tables_sync()?
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
        self.db.exec(&create_table_sql(table, schema), || {
            format!("creating table {table:?}")
        })?;
        self.tables.insert(table.to_string(), schema.clone());
        self.mark_local(table);
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
        }
    }

    /// Records that this transaction (re)created `table`.
    fn mark_local(&mut self, table: &str) {
        if let Some(t) = &mut self.txn {
            t.local.insert(table.to_string());
        }
    }

    /// Forgets cached columns after a transaction ended without committing.
    fn forget_txn(&mut self) {
        if self.txn.take().is_some() {
            self.tables.clear();
        }
    }

    fn truncate_sync(&mut self, stream: &StreamId) -> Result<(), DestError> {
        let table = stream.qualified();
        self.begin()?;
        if let Some(t) = &mut self.txn {
            t.truncated.insert(table.clone());
        }
        if self.table_schema(&table)?.is_some() {
            let n = self
                .db
                .exec(&format!("DELETE FROM {}", quote(&table)), || {
                    format!("truncating table {table:?}")
                })?;
            self.mark_dirty(&table);
            debug!(stream = %table, rows = n, "Table truncated.");
        }
        Ok(())
    }

    fn commit_sync(&mut self, key: &StateKey, checkpoint: &Checkpoint) -> Result<(), DestError> {
        self.begin()?;
        if let Err(e) = state::save(&self.db, key, checkpoint) {
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
        // Upsert only so far: no full reload goes through a reload copy.
        Ok(())
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
