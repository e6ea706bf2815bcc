//! Reload copies: full reloads of `replace` and `overwrite-delete-stale` streams.
//!
//! - [`Destination::truncate`] of such a stream creates (or empties) the reload copy
//!   `_spillway_reload_<table>` ([`reload_table`]) in the same schema, with the system columns
//!   of an `upsert` table. While it exists, the stream's writes go to it (upsert semantics,
//!   tombstones delete, schema evolution applies to the copy); readers of the table keep
//!   seeing the old rows.
//! - The copy is committed with the checkpoints like any table: its existence is the
//!   persisted "reload pending" marker, so a reload interrupted by a crash continues into it.
//! - [`Destination::finish`] completes every reload copy of the schema in one transaction:
//!   `replace` drops the table and renames the copy to the table's name;
//!   `overwrite-delete-stale` widens the table to the copy's columns, upserts every copy row
//!   into it (a row whose `_ts` is unchanged holds the same revision and is left as it is,
//!   so a full refresh of an unchanged table rewrites nothing), deletes the rows whose `_id`
//!   the copy lacks, and drops the copy.
//!
//! [`Destination::truncate`]: spillway_core::Destination::truncate
//! [`Destination::finish`]: spillway_core::Destination::finish

use spillway_core::schema::{CREATION_TIME, ID, TS};
use spillway_core::table::{Change, TableSchema, plan};
use spillway_core::write_mode::{RELOAD_PREFIX, reload_table};
use spillway_core::{ColumnType, DestError, StreamMode, WriteMode};
use tracing::{debug, info, warn};

use crate::PostgresDestination;
use crate::config::MAX_IDENTIFIER_BYTES;
use crate::ddl::{self, Table, quote};
use crate::error::{data_error, internal_error};
use crate::shape::Shape;
use crate::widen::{self, has_big_ints};

/// The reload copy of `table`, refused when Postgres would truncate its name.
pub(crate) fn reload_name(target: &str, table: &str) -> Result<String, DestError> {
    let copy = reload_table(table);
    if copy.len() > MAX_IDENTIFIER_BYTES {
        return Err(data_error(
            target,
            format!(
                "table {table:?}: its reload copy {copy:?} would be {} bytes long, but Postgres \
                 identifiers hold at most {MAX_IDENTIFIER_BYTES} bytes; write modes replace and \
                 overwrite-delete-stale need table names of at most {} bytes (use write mode \
                 upsert for this stream, or a shorter table name)",
                copy.len(),
                MAX_IDENTIFIER_BYTES - RELOAD_PREFIX.len()
            ),
        ));
    }
    Ok(copy)
}

impl PostgresDestination {
    /// The table a write of `table` in `mode` goes to, and the shape it must have: the
    /// reload copy while one exists (`replace`, `overwrite-delete-stale`), else the table.
    pub(crate) async fn write_target(
        &mut self,
        table: &str,
        mode: StreamMode,
    ) -> Result<(String, Shape), DestError> {
        if mode.mode.reloads_into_copy()
            && let Ok(copy) = reload_name(&self.db.target, table)
            && !self.no_copy.contains(&copy)
        {
            if self.table_schema(&copy).await?.is_some() {
                return Ok((copy, Shape::Upsert));
            }
            self.no_copy.insert(copy);
        }
        Ok((table.to_string(), Shape::of(mode)))
    }

    /// A full reload of `table` begins (in the open transaction): creates its reload copy, or
    /// empties the one an earlier reload left.
    pub(crate) async fn start_reload(
        &mut self,
        table: &str,
        mode: StreamMode,
    ) -> Result<(), DestError> {
        let copy = reload_name(&self.db.target, table)?;
        self.no_copy.remove(&copy);
        if let Some(loaded) = self.table_schema(table).await? {
            self.check_shape(table, &loaded, Shape::Upsert, mode)?;
        }
        match self.table_schema(&copy).await? {
            Some(loaded) => {
                self.check_shape(&copy, &loaded, Shape::Upsert, mode)?;
                let n = self
                    .db
                    .exec_params(
                        &format!("DELETE FROM {}", self.table_ref(&copy)),
                        &[],
                        || format!("emptying the reload copy of table {table:?}"),
                    )
                    .await?;
                debug!(stream = %table, copy = %copy, rows = n, "Reload copy emptied.");
            }
            None => {
                let columns = TableSchema::default();
                let sql =
                    ddl::create_table_sql(&self.config.schema, &copy, Shape::Upsert, &columns);
                self.db
                    .exec(&sql, || {
                        format!("creating the reload copy {copy:?} of table {table:?}")
                    })
                    .await?;
                self.tables.insert(
                    copy.clone(),
                    Table {
                        shape: Shape::Upsert,
                        columns,
                    },
                );
                debug!(stream = %table, copy = %copy, "Reload copy created.");
            }
        }
        self.mark_dirty(&copy);
        Ok(())
    }

    /// [`spillway_core::Destination::finish`]: completes every reload copy of the schema in
    /// one transaction of its own.
    ///
    /// The engine calls it after its last commit. A transaction still open here holds writes
    /// no checkpoint covers; rather than sweep them into the reload's commit, this fails with
    /// an internal error and leaves that transaction as it is (roll it back or commit it).
    pub(crate) async fn finish_inner(&mut self) -> Result<(), DestError> {
        if self.txn.is_some() {
            return Err(internal_error(
                &self.db.target,
                "finish() was called with a transaction open (writes since the last commit); \
                 commit or roll back first: completing the reloads must not commit writes no \
                 checkpoint covers",
            ));
        }
        self.ready().await?;
        let copies = self.reload_copies().await?;
        if copies.is_empty() {
            return Ok(());
        }
        self.begin().await?;
        let done = self.finish_copies(&copies).await;
        if let Err(e) = self.note(done) {
            let _ = self.rollback_inner().await;
            return Err(e);
        }
        let committed = self
            .db
            .exec("COMMIT", || "committing the completed reloads".to_string())
            .await;
        // Names changed (a copy became a table): reload every table description.
        self.txn = None;
        self.tables.clear();
        self.no_copy.clear();
        if let Err(e) = committed {
            if !self.db.is_closed() {
                let _ = self.db.exec("ROLLBACK", String::new).await;
            }
            return Err(e);
        }
        Ok(())
    }

    /// The reload copies of the schema, sorted.
    async fn reload_copies(&mut self) -> Result<Vec<String>, DestError> {
        let rows = self
            .db
            .query(
                "SELECT c.relname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
                 AND starts_with(c.relname::text, $2) ORDER BY c.relname COLLATE \"C\"",
                &[&self.config.schema, &RELOAD_PREFIX],
                || "listing the reload copies".to_string(),
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Swaps or merges each copy into its table (inside the open transaction).
    async fn finish_copies(&mut self, copies: &[String]) -> Result<(), DestError> {
        for copy in copies {
            let table = &copy[RELOAD_PREFIX.len()..];
            let mode = self.config.modes.of_table(table);
            let Some(loaded) = ddl::load_table(&self.db, &self.config.schema, copy).await? else {
                continue;
            };
            self.check_shape(copy, &loaded, Shape::Upsert, mode)?;
            match mode.mode {
                WriteMode::Replace => self.swap(table, copy).await?,
                WriteMode::OverwriteDeleteStale => self.merge_copy(table, copy, &loaded).await?,
                WriteMode::Upsert | WriteMode::Append => {
                    warn!(
                        stream = %table,
                        copy = %copy,
                        mode = %mode,
                        "A reload copy is left from an earlier run in write mode replace or \
                         overwrite-delete-stale, but the stream is now written in another \
                         mode; the copy is left in place (drop it, or set the mode back to \
                         complete the reload)."
                    );
                }
            }
        }
        Ok(())
    }

    /// `replace`: the table is dropped and the copy takes its name.
    async fn swap(&mut self, table: &str, copy: &str) -> Result<(), DestError> {
        let sql = format!(
            "DROP TABLE IF EXISTS {}; ALTER TABLE {} RENAME TO {}",
            self.table_ref(table),
            self.table_ref(copy),
            quote(table)
        );
        self.db
            .exec(&sql, || {
                format!("replacing table {table:?} by its reload copy {copy:?}")
            })
            .await?;
        info!(stream = %table, "Reload swapped in (write mode replace).");
        Ok(())
    }

    /// `overwrite-delete-stale`: the copy's rows are upserted into the table, the rows the
    /// copy lacks are deleted, and the copy is dropped.
    async fn merge_copy(&mut self, table: &str, copy: &str, from: &Table) -> Result<(), DestError> {
        let Some(into) = ddl::load_table(&self.db, &self.config.schema, table).await? else {
            // Nothing to merge into: the copy becomes the table.
            return self.swap(table, copy).await;
        };
        let mode = self.config.modes.of_table(table);
        self.check_shape(table, &into, Shape::Upsert, mode)?;
        let (table_ref, copy_ref) = (self.table_ref(table), self.table_ref(copy));

        // One type per column for both tables, widening either side (exactly) as needed.
        let mut wanted = Vec::with_capacity(from.columns.columns.len());
        for (name, ty) in &from.columns.columns {
            let big = match (into.columns.get(name), ty) {
                (Some(ColumnType::Int64), ColumnType::Float64) => {
                    has_big_ints(&self.db, table, &table_ref, name).await?
                }
                (Some(ColumnType::Float64), ColumnType::Int64) => {
                    has_big_ints(&self.db, copy, &copy_ref, name).await?
                }
                _ => false,
            };
            wanted.push((name.clone(), if big { ColumnType::Json } else { *ty }));
        }
        let (unified, changes) = plan(&into.columns, &wanted);
        widen::apply(&self.db, table, &table_ref, &changes).await?;
        let copy_changes: Vec<Change> = from
            .columns
            .columns
            .iter()
            .filter_map(|(name, ty)| {
                let to = unified.get(name)?;
                (to != *ty).then(|| Change::Widen {
                    column: name.clone(),
                    from: *ty,
                    to,
                })
            })
            .collect();
        widen::apply(&self.db, copy, &copy_ref, &copy_changes).await?;

        let id = quote(ID);
        let mut cols = vec![id.clone(), quote(CREATION_TIME), quote(TS)];
        cols.extend(from.columns.columns.iter().map(|(n, _)| quote(n)));
        let mut set: Vec<String> = cols[1..]
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        for (name, _) in &unified.columns {
            if from.columns.get(name).is_none() {
                // A row is the whole document: a field the reload did not see is gone.
                set.push(format!("{} = NULL", quote(name)));
            }
        }
        let cols = cols.join(", ");
        let upserted = self
            .db
            .exec_params(
                &format!(
                    "INSERT INTO {table_ref} AS t ({cols}) SELECT {cols} FROM {copy_ref} \
                     ON CONFLICT ({id}) DO UPDATE SET {} WHERE t.{ts} IS DISTINCT FROM \
                     excluded.{ts}",
                    set.join(", "),
                    ts = quote(TS),
                ),
                &[],
                || format!("merging the reload copy of table {table:?} into it"),
            )
            .await?;
        let stale = self
            .db
            .exec_params(
                &format!(
                    "DELETE FROM {table_ref} AS t WHERE NOT EXISTS \
                     (SELECT 1 FROM {copy_ref} AS c WHERE c.{id} = t.{id})"
                ),
                &[],
                || format!("deleting the stale rows of table {table:?}"),
            )
            .await?;
        self.db
            .exec(&format!("DROP TABLE {copy_ref}"), || {
                format!("dropping the reload copy of table {table:?}")
            })
            .await?;
        info!(
            stream = %table,
            upserted,
            deleted = stale,
            "Reload merged (write mode overwrite-delete-stale)."
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_names_fit_postgres_identifiers() {
        let ok = "x".repeat(MAX_IDENTIFIER_BYTES - RELOAD_PREFIX.len());
        assert_eq!(
            reload_name("t", &ok).unwrap(),
            format!("{RELOAD_PREFIX}{ok}")
        );
        let long = format!("{ok}y");
        let e = reload_name("t", &long).unwrap_err();
        assert_eq!(e.kind, spillway_core::ErrorKind::Data);
        assert!(e.message.contains(&format!("{long:?}")), "{e}");
        assert!(e.message.contains("64 bytes"), "{e}");
    }
}
