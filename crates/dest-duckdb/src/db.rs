//! A DuckDB connection with the file name attached to every error.

use std::path::{Path, PathBuf};

use duckdb::Connection;
use duckdb::arrow::record_batch::RecordBatch;
use spillway_core::DestError;

use crate::error::{Context, open_error};

/// The catalog DuckDB keeps temporary tables in.
const TEMP_CATALOG: &str = "temp";
/// The schema of temporary tables (and of spillway's tables).
const MAIN_SCHEMA: &str = "main";

/// An open database file.
pub(crate) struct Db {
    /// The connection (one per destination; DuckDB serialises writers anyway).
    pub(crate) conn: Connection,
    /// The file, for messages.
    pub(crate) path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, DestError> {
        let conn = Connection::open(path).map_err(|e| open_error(path, &e))?;
        Ok(Db {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Runs one statement without parameters; returns the number of changed rows.
    pub(crate) fn exec(
        &self,
        sql: &str,
        what: impl FnOnce() -> String,
    ) -> Result<usize, DestError> {
        self.conn.execute(sql, []).context(&self.path, what)
    }

    /// Runs one statement with parameters; returns the number of changed rows.
    pub(crate) fn exec_params(
        &self,
        sql: &str,
        params: impl duckdb::Params,
        what: impl FnOnce() -> String,
    ) -> Result<usize, DestError> {
        self.conn.execute(sql, params).context(&self.path, what)
    }

    /// Runs a query and returns its rows as Arrow batches, with a flag per column telling
    /// whether DuckDB types it as JSON.
    pub(crate) fn arrow(
        &self,
        sql: &str,
        what: impl Fn() -> String,
    ) -> Result<(Vec<RecordBatch>, Vec<bool>), DestError> {
        let mut stmt = self.conn.prepare(sql).context(&self.path, &what)?;
        let batches: Vec<RecordBatch> = stmt.query_arrow([]).context(&self.path, &what)?.collect();
        let width = batches.first().map_or(0, |b| b.num_columns());
        let json = (0..width)
            .map(|i| stmt.column_logical_type(i).get_alias().as_deref() == Some("JSON"))
            .collect();
        Ok((batches, json))
    }

    /// Appends `batches` to the temporary table `table` through one DuckDB Arrow appender.
    pub(crate) fn append_temp(
        &self,
        table: &str,
        batches: Vec<RecordBatch>,
        what: impl Fn() -> String,
    ) -> Result<(), DestError> {
        let appender = self
            .conn
            .appender_to_catalog_and_db(table, TEMP_CATALOG, MAIN_SCHEMA);
        self.append_all(appender, batches, what)
    }

    /// Appends `batches` (whose columns are `columns`, in order) to the table `table` of the
    /// main schema through one DuckDB Arrow appender; the table's other columns get NULL.
    pub(crate) fn append_table(
        &self,
        table: &str,
        columns: &[&str],
        batches: Vec<RecordBatch>,
        what: impl Fn() -> String,
    ) -> Result<(), DestError> {
        let appender = self.conn.appender_with_columns(table, columns);
        self.append_all(appender, batches, what)
    }

    fn append_all(
        &self,
        appender: duckdb::Result<duckdb::Appender<'_>>,
        batches: Vec<RecordBatch>,
        what: impl Fn() -> String,
    ) -> Result<(), DestError> {
        let mut appender = appender.context(&self.path, &what)?;
        for batch in batches {
            appender
                .append_record_batch(batch)
                .context(&self.path, &what)?;
        }
        appender.flush().context(&self.path, &what)
    }
}
