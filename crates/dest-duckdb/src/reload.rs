//! Full reloads through a reload copy (`replace` and `overwrite-delete-stale`).
//!
//! `Truncate` creates (or empties) `_spillway_reload_<table>`
//! ([`spillway_core::write_mode::reload_table`]) with the table's columns and the same system
//! columns; while it exists, the stream's rows go to it with upsert semantics. The copy is
//! committed with the checkpoints, so its existence is the persisted "reload pending" marker:
//! a reload interrupted by a crash continues on the next run. Readers of the table see the
//! old rows until [`Destination::finish`](spillway_core::Destination::finish) puts the new ones
//! in place, in one transaction for every copy:
//!
//! - `replace`: `DROP TABLE <table>; ALTER TABLE <copy> RENAME TO <table>`.
//! - `overwrite-delete-stale`: the table is widened to the copy's columns, the rows whose `_id`
//!   the copy holds are replaced by the copy's, the rows whose `_id` it lacks are deleted, and
//!   the copy is dropped.

use spillway_core::schema::{CREATION_TIME, ID, TS};
use spillway_core::table::plan;
use spillway_core::write_mode::{RELOAD_PREFIX, reload_table};
use spillway_core::{ColumnType, DestError, ErrorKind, StreamMode, WriteMode};
use tracing::{debug, info};

use crate::DuckDbDestination;
use crate::ddl::quote;
use crate::error::data_error;

impl DuckDbDestination {
    /// Creates (or empties) the reload copy of `table` inside the open transaction.
    pub(crate) fn start_reload(&mut self, table: &str, mode: StreamMode) -> Result<(), DestError> {
        let copy = reload_table(table);
        // The table's shape must suit the mode (checked on load) before a reload replaces it.
        let schema = self.table_schema(table, mode)?.unwrap_or_default();
        self.db
            .exec(&format!("DROP TABLE IF EXISTS {}", quote(&copy)), || {
                format!("emptying the reload copy {copy:?} of table {table:?}")
            })?;
        self.tables.insert(copy.clone(), None);
        self.create_table(&copy, mode, &schema)?;
        debug!(stream = %table, copy = %copy, mode = %mode, "Full reload started.");
        Ok(())
    }

    /// Completes every pending reload (see the module docs); nothing when none is pending.
    pub(crate) fn finish_sync(&mut self) -> Result<(), DestError> {
        if self.txn.is_some() {
            return Err(DestError::new(
                ErrorKind::Internal,
                format!(
                    "DuckDB database {}: finish called with uncommitted writes; commit or roll \
                     back before finishing the reloads",
                    self.db.path.display()
                ),
            ));
        }
        let copies: Vec<String> = self
            .all_tables()?
            .into_iter()
            .filter(|t| t.starts_with(RELOAD_PREFIX))
            .collect();
        if copies.is_empty() {
            return Ok(());
        }
        self.begin()?;
        if let Err(e) = self.finish_copies(&copies) {
            self.rollback_sync()?;
            return Err(e);
        }
        let result = self.db.exec("COMMIT", || {
            format!("committing the end of the full reloads of {copies:?}")
        });
        if let Err(e) = result {
            let _ = self.db.exec("ROLLBACK", String::new);
            self.forget_txn();
            return Err(e);
        }
        self.txn = None;
        // The tables changed shape or name: read them again on next use.
        self.tables.clear();
        Ok(())
    }

    /// Swaps or merges each copy in, inside the open transaction.
    fn finish_copies(&mut self, copies: &[String]) -> Result<(), DestError> {
        for copy in copies {
            let table = copy.get(RELOAD_PREFIX.len()..).unwrap_or_default();
            let mode = self.modes.of_table(table);
            match mode.mode {
                WriteMode::Replace => self.swap(table, copy, mode)?,
                WriteMode::OverwriteDeleteStale => self.merge_copy(table, copy, mode)?,
                WriteMode::Upsert | WriteMode::Append => return Err(self.stale_copy(table, mode)),
            }
        }
        Ok(())
    }

    /// `replace`: the copy becomes the table.
    fn swap(&mut self, table: &str, copy: &str, mode: StreamMode) -> Result<(), DestError> {
        self.table_schema(copy, mode)?;
        self.table_schema(table, mode)?;
        self.db
            .exec(&format!("DROP TABLE IF EXISTS {}", quote(table)), || {
                format!("dropping table {table:?} to replace it by its reload copy {copy:?}")
            })?;
        self.db.exec(
            &format!("ALTER TABLE {} RENAME TO {}", quote(copy), quote(table)),
            || format!("renaming the reload copy {copy:?} to {table:?}"),
        )?;
        info!(stream = %table, "Full reload finished: table replaced.");
        Ok(())
    }

    /// `overwrite-delete-stale`: the copy's rows replace the table's, stale rows go.
    fn merge_copy(&mut self, table: &str, copy: &str, mode: StreamMode) -> Result<(), DestError> {
        let incoming = self.table_schema(copy, mode)?.unwrap_or_default();
        let Some(current) = self.table_schema(table, mode)? else {
            return self.swap(table, copy, mode);
        };
        let (target, changes) = plan(&current, &incoming.columns);
        if !changes.is_empty() {
            self.reshape(table, mode, &current, &target, &changes)?;
        }
        let mut names: Vec<String> = [ID, CREATION_TIME, TS].iter().map(|c| quote(c)).collect();
        for (name, ty) in &incoming.columns {
            if target.get(name) == Some(ColumnType::Json) && *ty != ColumnType::Json {
                return Err(data_error(
                    &self.db.path,
                    format!(
                        "cannot merge the reload copy {copy:?} into table {table:?}: column \
                         {name:?} is JSON in the table but {} in the copy",
                        ty.name()
                    ),
                ));
            }
            names.push(quote(name));
        }
        let (t, c, id) = (quote(table), quote(copy), quote(ID));
        let replaced = self.db.exec(
            &format!("DELETE FROM {t} AS tgt USING {c} AS cp WHERE tgt.{id} = cp.{id}"),
            || format!("deleting the rows of table {table:?} that its reload copy replaces"),
        )?;
        let stale = self.db.exec(
            &format!(
                "DELETE FROM {t} AS tgt WHERE NOT EXISTS \
                 (SELECT 1 FROM {c} AS cp WHERE cp.{id} = tgt.{id})"
            ),
            || format!("deleting the rows of table {table:?} the full reload did not see"),
        )?;
        let names = names.join(", ");
        let inserted = self.db.exec(
            &format!("INSERT INTO {t} ({names}) SELECT {names} FROM {c}"),
            || format!("merging the reload copy {copy:?} into table {table:?}"),
        )?;
        self.db.exec(&format!("DROP TABLE {c}"), || {
            format!("dropping the reload copy {copy:?} of table {table:?}")
        })?;
        info!(
            stream = %table, rows = inserted, replaced, stale,
            "Full reload finished: rows merged, stale rows deleted."
        );
        Ok(())
    }
}
