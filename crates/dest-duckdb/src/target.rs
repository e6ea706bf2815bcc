//! Where a stream's rows go (its table, or its reload copy during a `replace` or
//! `overwrite-delete-stale` reload), and what `truncate` does in each write mode.

use spillway_core::schema::DELETED;
use spillway_core::write_mode::reload_table;
use spillway_core::{DestError, StreamId, StreamMode};
use tracing::debug;

use crate::DuckDbDestination;
use crate::ddl::quote;
use crate::error::config_error;
use crate::shape;

impl DuckDbDestination {
    /// The table the rows of `stream` go to (its reload copy while one exists, for the modes
    /// that reload into a copy) and the stream's write mode.
    pub(crate) fn write_target(
        &mut self,
        stream: &StreamId,
    ) -> Result<(String, StreamMode), DestError> {
        let table = stream.qualified();
        let mode = self.modes.of(stream);
        let copy = reload_table(&table);
        if self.table_schema(&copy, mode)?.is_some() {
            if mode.mode.reloads_into_copy() {
                return Ok((copy, mode));
            }
            return Err(self.stale_copy(&table, mode));
        }
        self.table_schema(&table, mode)?;
        Ok((table, mode))
    }

    /// The error for a reload copy left by a mode that reloads into a copy, when the stream's
    /// mode is now another one.
    pub(crate) fn stale_copy(&self, table: &str, mode: StreamMode) -> DestError {
        let copy = reload_table(table);
        config_error(
            &self.db.path,
            format!(
                "table {table:?} has an unfinished full reload in {copy:?} (left by write_mode \
                 \"replace\" or \"overwrite-delete-stale\"), but the stream is now in {}. Set \
                 the write mode back and sync until the reload finishes, or drop the copy \
                 (DROP TABLE {}) to abandon that reload",
                shape::mode_words(mode),
                quote(&copy)
            ),
        )
    }

    /// A full reload of `stream` begins: as its write mode says (see the crate docs).
    pub(crate) fn truncate_sync(&mut self, stream: &StreamId) -> Result<(), DestError> {
        let table = stream.qualified();
        let mode = self.modes.of(stream);
        self.begin()?;
        // Buffered rows first: the truncate must see (and drop or mark) them.
        self.flush_all()?;
        if let Some(t) = &mut self.txn {
            t.truncated.insert(table.clone());
        }
        if mode.mode.reloads_into_copy() {
            return self.start_reload(&table, mode);
        }
        // A leftover reload copy of another mode is an error (see `write_target`).
        self.write_target(stream)?;
        if self.table_schema(&table, mode)?.is_none() {
            return Ok(());
        }
        let (sql, done) = if mode.soft_delete {
            (
                format!("UPDATE {} SET {} = true", quote(&table), quote(DELETED)),
                "Every row marked deleted.",
            )
        } else {
            (format!("DELETE FROM {}", quote(&table)), "Table truncated.")
        };
        let n = self
            .db
            .exec(&sql, || format!("truncating table {table:?} ({mode})"))?;
        self.mark_dirty(&table);
        debug!(stream = %table, rows = n, mode = %mode, "{done}");
        Ok(())
    }
}
