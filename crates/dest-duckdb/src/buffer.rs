//! Rows waiting for their merge: each table's batches of the open transaction, merged in one
//! go instead of one merge per batch (each merge joins the whole target table twice).
//!
//! Every buffered batch is already cast to its table's full current column set (NULL arrays
//! for the columns a batch lacks, as a merge of that batch alone would store) and carries
//! `_spillway_seq` numbers that keep rising across the table's buffered batches, so the merge's
//! "latest revision of an `_id`" (max `_ts`, then the last in arrival order) is the same as with
//! one merge per batch. A table's buffer is merged ([`DuckDbDestination::flush_table`]) before
//! anything reads or reshapes that table; every buffer is merged before a commit, a truncate,
//! a read through the public API, and when the buffers pass [`BufferLimit`].

use std::collections::BTreeMap;

use duckdb::arrow::array::{Array, AsArray, RecordBatch};
use spillway_core::{ColumnType, DestError, StreamMode, WriteMode};
use tracing::trace;

use crate::DuckDbDestination;
use crate::ddl::{quote, stage_sql_type};
use crate::writer::{STAGE, stage_system_columns};
use crate::{append, soft_delete, upsert};

/// When the buffered rows are merged regardless of commits: as soon as `rows` or `bytes` is
/// passed; and when the rows of one table are appended to it early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferLimit {
    /// Buffered rows across every table.
    pub rows: usize,
    /// Arrow memory of the buffered rows across every table, in bytes.
    pub bytes: usize,
    /// Arrow memory of one table's buffered rows, in bytes, at which they are appended to the
    /// table at once when they need no merge (their `_id`s ascend and lie after every `_id`
    /// of the table: a snapshot's pages, see [`crate::upsert`]). Such rows gain nothing from
    /// waiting, and appending them as they come keeps DuckDB working while the source reads
    /// instead of in bursts — and at the end of the sync, while nothing else runs.
    pub append_bytes: usize,
}

impl Default for BufferLimit {
    /// 200 000 rows or 32 MiB; rows that need no merge in 4 MiB steps. Full sync of 1 M bench
    /// documents on 2 cores, by hand, alternating against the same emulator (5 pairs): peak
    /// RSS 377–399 MB against 417–513 MB when they waited for the 32 MiB bound; wall 6.4–7.1
    /// s against 6.8–7.5 s (within this machine's noise); appending every batch at once was
    /// 6.9–7.1 s. At 10 M, one run each: 454 against 475 MB, 66.7 against 64.6 s.
    fn default() -> Self {
        BufferLimit {
            rows: 200_000,
            bytes: 32 << 20,
            append_bytes: 4 << 20,
        }
    }
}

/// The buffered batches of one table.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The write mode of the table's stream.
    mode: StreamMode,
    /// The table's user columns the batches were cast to.
    pub(crate) columns: Vec<(String, ColumnType)>,
    /// The batches, in arrival order (system columns, `_spillway_seq`, then `columns`).
    batches: Vec<RecordBatch>,
    /// Their rows.
    rows: usize,
    /// Their Arrow memory.
    bytes: usize,
    /// The `_id` range of the batches, if every `_id` is greater than the one before it in
    /// arrival order (a snapshot's pages: each document once, in `_id` order); `None` once
    /// one is not. When the table holds nothing at or after the first `_id`, the live rows are
    /// appended straight to the table, without staging or merging ([`crate::upsert`]).
    ascending: Option<IdRange>,
}

/// The first and last `_id` of buffered rows whose `_id`s strictly ascend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdRange {
    /// The first `_id`.
    pub(crate) first: String,
    /// The last `_id`.
    pub(crate) last: String,
}

/// The `_id` range of `batch` if its `_id`s strictly ascend after `after` (the last `_id`
/// before it), else `None`.
fn ascending_ids(batch: &RecordBatch, after: Option<&str>) -> Option<IdRange> {
    let ids = batch.column(0).as_string_opt::<i32>()?;
    if ids.null_count() > 0 || ids.is_empty() {
        return None;
    }
    let mut prev = after;
    for id in ids.iter().flatten() {
        if prev.is_some_and(|p| p >= id) {
            return None;
        }
        prev = Some(id);
    }
    Some(IdRange {
        first: ids.value(0).to_string(),
        last: ids.value(ids.len() - 1).to_string(),
    })
}

impl Pending {
    /// The number of buffered batches.
    pub(crate) fn batches(&self) -> usize {
        self.batches.len()
    }

    /// The first `_id` of the rows, if they may be appended without a merge: their `_id`s
    /// ascend and the write mode keeps one row per `_id` (`append` keeps every version,
    /// soft deletes keep tombstones); the table must also hold nothing from that `_id` on.
    fn append_from(&self) -> Option<&str> {
        let appendable = self.mode.mode != WriteMode::Append && !self.mode.soft_delete;
        self.ascending
            .as_ref()
            .filter(|_| appendable)
            .map(|r| r.first.as_str())
    }
}

/// The buffered batches of every table of the open transaction.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// Per table, sorted by name (a deterministic merge order).
    tables: BTreeMap<String, Pending>,
    /// Rows across every table.
    rows: usize,
    /// Arrow memory across every table.
    bytes: usize,
}

impl Buffers {
    /// The buffer of `table`, if it holds rows.
    pub(crate) fn get(&self, table: &str) -> Option<&Pending> {
        self.tables.get(table)
    }

    /// Adds `batch` (already cast to `columns`, numbered from [`Pending::rows`]) to `table`'s
    /// buffer.
    pub(crate) fn push(
        &mut self,
        table: &str,
        mode: StreamMode,
        columns: &[(String, ColumnType)],
        batch: RecordBatch,
    ) {
        let (rows, bytes) = (batch.num_rows(), batch.get_array_memory_size());
        let p = self
            .tables
            .entry(table.to_string())
            .or_insert_with(|| Pending {
                mode,
                columns: columns.to_vec(),
                batches: Vec::new(),
                rows: 0,
                bytes: 0,
                ascending: None,
            });
        p.ascending = if p.rows == 0 {
            ascending_ids(&batch, None)
        } else {
            p.ascending.take().and_then(|range| {
                ascending_ids(&batch, Some(&range.last)).map(|r| IdRange {
                    first: range.first,
                    last: r.last,
                })
            })
        };
        p.batches.push(batch);
        p.rows += rows;
        p.bytes += bytes;
        self.rows += rows;
        self.bytes += bytes;
    }

    /// Takes the buffer of `table` out.
    fn take(&mut self, table: &str) -> Option<Pending> {
        let p = self.tables.remove(table)?;
        self.rows -= p.rows;
        self.bytes -= p.bytes;
        Some(p)
    }

    /// Whether the buffers passed `limit`.
    pub(crate) fn over(&self, limit: BufferLimit) -> bool {
        self.rows >= limit.rows || self.bytes >= limit.bytes
    }

    /// Drops every buffered row.
    pub(crate) fn clear(&mut self) {
        *self = Buffers::default();
    }
}

impl DuckDbDestination {
    /// Merges every buffered row into its table, inside the open transaction.
    pub(crate) fn flush_all(&mut self) -> Result<(), DestError> {
        let tables: Vec<String> = self.buffers.tables.keys().cloned().collect();
        for table in tables {
            self.flush_table(&table)?;
        }
        Ok(())
    }

    /// Appends the buffered rows of `table` to it now if they passed
    /// [`BufferLimit::append_bytes`] and need no merge; otherwise leaves them buffered (and,
    /// when the table holds `_id`s from theirs on, stops trying for this transaction).
    pub(crate) fn append_early(&mut self, table: &str) -> Result<(), DestError> {
        let Some(p) = self.buffers.get(table) else {
            return Ok(());
        };
        let Some(first) = p.append_from() else {
            return Ok(());
        };
        let refused = self.txn.as_ref().is_some_and(|t| t.merging.contains(table));
        if p.bytes < self.buffer_limit.append_bytes || refused {
            return Ok(());
        }
        if self.holds_id_from(table, first)? {
            if let Some(t) = &mut self.txn {
                t.merging.insert(table.to_string());
            }
            return Ok(());
        }
        match self.buffers.take(table) {
            Some(p) => self.append_pending(table, p),
            None => Ok(()),
        }
    }

    /// Whether `table` holds an `_id` at or after `first`: no, without a query, when this
    /// transaction appended up to an `_id` before `first` and nothing else wrote to the table
    /// since ([`crate::Txn`]'s `appended_up_to`).
    fn holds_id_from(&self, table: &str, first: &str) -> Result<bool, DestError> {
        let up_to = self.txn.as_ref().and_then(|t| t.appended_up_to.get(table));
        if up_to.is_some_and(|last| last.as_str() < first) {
            return Ok(false);
        }
        upsert::holds_id_from(&self.db, table, first)
    }

    /// Appends `p` (rows of `table` that need no merge, checked by the caller) to the table.
    fn append_pending(&mut self, table: &str, p: Pending) -> Result<(), DestError> {
        let started = std::time::Instant::now();
        let (n, batches) = (p.rows, p.batches.len());
        let last = p.ascending.as_ref().map(|r| r.last.clone());
        let upserted = upsert::append_new(&self.db, table, &p.columns, p.batches)?;
        self.mark_dirty(table);
        if let (Some(t), Some(last)) = (&mut self.txn, last) {
            t.appended_up_to.insert(table.to_string(), last);
        }
        trace!(
            stream = %table, mode = %p.mode, rows = n, batches, upserted,
            ms = started.elapsed().as_millis(), "Buffered batches appended."
        );
        Ok(())
    }

    /// Merges the buffered rows of `table` (if any) into it, inside the open transaction: one
    /// staging table, the Arrow appender, then the merge of the stream's write mode.
    pub(crate) fn flush_table(&mut self, table: &str) -> Result<(), DestError> {
        let Some(p) = self.buffers.take(table) else {
            return Ok(());
        };
        if p.rows == 0 {
            return Ok(());
        }
        if let Some(first) = p.append_from()
            && !self.holds_id_from(table, first)?
        {
            return self.append_pending(table, p);
        }
        let started = std::time::Instant::now();
        let (n, batches) = (p.rows, p.batches.len());
        let mut stage_cols = stage_system_columns();
        stage_cols.extend(
            p.columns
                .iter()
                .map(|(n, t)| format!("{} {}", quote(n), stage_sql_type(*t))),
        );
        let what = || format!("staging {n} rows ({batches} batches) for table {table:?}");
        self.db.exec(
            &format!(
                "CREATE OR REPLACE TEMP TABLE {STAGE} ({})",
                stage_cols.join(", ")
            ),
            what,
        )?;
        self.db.append_temp(STAGE, p.batches, what)?;
        let staged_ms = started.elapsed().as_millis();
        let (upserted, deleted) = match (p.mode.mode, p.mode.soft_delete) {
            (WriteMode::Append, _) => append::merge(&self.db, table, &p.columns)?,
            (_, true) => soft_delete::merge(&self.db, table, &p.columns)?,
            _ => upsert::merge(&self.db, table, &p.columns)?,
        };
        self.db.exec(&format!("DROP TABLE temp.main.{STAGE}"), || {
            "dropping the staging table".to_string()
        })?;
        self.mark_dirty(table);
        trace!(
            stream = %table, mode = %p.mode, rows = n, batches, upserted, deleted, staged_ms,
            ms = started.elapsed().as_millis(), "Buffered batches merged."
        );
        Ok(())
    }
}
