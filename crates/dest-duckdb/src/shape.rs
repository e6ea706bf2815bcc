//! The shape of a destination table: which system columns and key a write mode needs, read
//! back from the catalog so a mode change on an existing table fails instead of corrupting it.
//!
//! | mode | `_deleted BOOLEAN NOT NULL` (after `_ts`) | key | table comment |
//! |---|---|---|---|
//! | `upsert`, `replace`, `overwrite-delete-stale` | no | `(_id)` | `spillway: key (_id)` |
//! | `upsert` + `soft_delete` | yes | `(_id)` | `spillway: key (_id)` |
//! | `append` | yes | `(_id, _ts)` | `spillway: key (_id, _ts)` |
//!
//! The key is kept by the merges ([`crate::upsert`], [`crate::soft_delete`],
//! [`crate::append`]), not by a `PRIMARY KEY` constraint: DuckDB keeps a primary key's index
//! in memory whole (at 10 M documents it alone outgrew a 128 MB `memory_limit`) and maintains
//! it on every insert, and the merges never rely on it. The key is recorded in the table's
//! comment instead (DuckDB keeps comments through `ALTER TABLE`, renames and reopening), which
//! is how a later run tells `append` tables from `soft_delete` ones. Tables made by earlier
//! versions carry a `PRIMARY KEY`; it is read when the comment is not spillway's.

use std::path::Path;

use spillway_core::schema::{CREATION_TIME, DELETED, ID, TS};
use spillway_core::{DestError, StreamMode, WriteMode};

use crate::db::Db;
use crate::ddl::{literal, quote};
use crate::error::{Context, config_error};

/// The system columns and key of a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Whether the table has `_deleted BOOLEAN NOT NULL` after `_ts`.
    pub(crate) deleted: bool,
    /// Whether the key is `(_id, _ts)` (every version a row) instead of `(_id)`.
    pub(crate) history: bool,
}

impl Shape {
    /// The shape write mode `mode` needs.
    pub(crate) fn of(mode: StreamMode) -> Shape {
        Shape {
            deleted: mode.has_deleted_column(),
            history: mode.mode == WriteMode::Append,
        }
    }

    /// The system columns with their DuckDB types, in table order.
    pub(crate) fn system_columns(self) -> Vec<(&'static str, &'static str)> {
        let mut cols = vec![(ID, "VARCHAR"), (CREATION_TIME, "DOUBLE"), (TS, "BIGINT")];
        if self.deleted {
            cols.push((DELETED, "BOOLEAN"));
        }
        cols
    }

    /// The column definitions of `CREATE TABLE`, before the user columns.
    pub(crate) fn system_ddl(self) -> Vec<String> {
        let mut cols = vec![
            format!("{} VARCHAR NOT NULL", quote(ID)),
            format!("{} DOUBLE", quote(CREATION_TIME)),
            format!("{} BIGINT", quote(TS)),
        ];
        if self.deleted {
            cols.push(format!("{} BOOLEAN NOT NULL", quote(DELETED)));
        }
        cols
    }

    /// The table comment that records the key (see the module docs).
    pub(crate) fn comment(self) -> &'static str {
        if self.history {
            HISTORY_COMMENT
        } else {
            ID_COMMENT
        }
    }

    /// What the table has, for messages.
    pub(crate) fn describe(self) -> String {
        format!(
            "{} and key {}",
            if self.deleted {
                "a _deleted column"
            } else {
                "no _deleted column"
            },
            if self.history { "(_id, _ts)" } else { "(_id)" }
        )
    }

    /// The write modes that make this shape, for messages.
    pub(crate) fn made_by(self) -> &'static str {
        match (self.deleted, self.history) {
            (false, false) => "write_mode = \"upsert\", \"replace\" or \"overwrite-delete-stale\"",
            (true, false) => "write_mode = \"upsert\" with soft_delete = true",
            (true, true) => "write_mode = \"append\"",
            (false, true) => "no write mode",
        }
    }
}

/// The comment of a table keyed by `(_id)`.
const ID_COMMENT: &str = "spillway: key (_id)";
/// The comment of a table keyed by `(_id, _ts)`.
const HISTORY_COMMENT: &str = "spillway: key (_id, _ts)";

/// Whether the key of `table` is `(_id, _ts)`: as its comment says, or for a table made
/// before keys were recorded in comments, as its primary key says.
pub(crate) fn has_history_key(db: &Db, table: &str) -> Result<bool, DestError> {
    let sql = format!(
        "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() \
         AND schema_name = 'main' AND table_name = {}",
        literal(table)
    );
    let what = || format!("reading the comment of table {table:?}");
    let comment: Option<String> = db
        .conn
        .query_row(&sql, [], |r| r.get(0))
        .context(&db.path, what)?;
    match comment.as_deref() {
        Some(HISTORY_COMMENT) => Ok(true),
        Some(ID_COMMENT) => Ok(false),
        _ => has_history_primary_key(db, table),
    }
}

/// Whether the primary key of `table` is `(_id, _ts)` (tables of earlier versions).
fn has_history_primary_key(db: &Db, table: &str) -> Result<bool, DestError> {
    let sql = format!(
        "SELECT CAST(constraint_column_names AS VARCHAR) FROM duckdb_constraints() \
         WHERE database_name = current_database() AND schema_name = 'main' \
         AND table_name = {} AND constraint_type = 'PRIMARY KEY'",
        literal(table)
    );
    let what = || format!("reading the primary key of table {table:?}");
    let mut stmt = db.conn.prepare(&sql).context(&db.path, what)?;
    let mut rows = stmt.query([]).context(&db.path, what)?;
    let mut history = false;
    while let Some(row) = rows.next().context(&db.path, what)? {
        let cols: String = row.get(0).context(&db.path, what)?;
        history |= cols.contains(TS);
    }
    Ok(history)
}

/// Fails unless `table` (of shape `have`) suits write mode `mode`; the error says what the
/// table has, what the mode needs and how to fix it.
pub(crate) fn check(
    path: &Path,
    table: &str,
    have: Shape,
    mode: StreamMode,
) -> Result<(), DestError> {
    let want = Shape::of(mode);
    if have == want {
        return Ok(());
    }
    Err(config_error(
        path,
        format!(
            "table {table:?} has {} (as {} makes it), but {} needs {}: the write mode of this \
             stream changed. Set the stream's write mode back, or drop the table (DROP TABLE \
             {}) and reset the state (`spillway state reset`) so the stream reloads in the new \
             mode",
            have.describe(),
            have.made_by(),
            mode_words(mode),
            want.describe(),
            quote(table)
        ),
    ))
}

/// `write_mode = "append"`, or with `soft_delete = true`.
pub(crate) fn mode_words(mode: StreamMode) -> String {
    if mode.soft_delete {
        format!(
            "write_mode = {:?} with soft_delete = true",
            mode.mode.name()
        )
    } else {
        format!("write_mode = {:?}", mode.mode.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_modes() {
        let up = Shape::of(StreamMode::default());
        assert_eq!(up, Shape::default());
        assert_eq!(Shape::of(StreamMode::new(WriteMode::Replace)), up);
        assert_eq!(
            Shape::of(StreamMode::new(WriteMode::OverwriteDeleteStale)),
            up
        );
        let soft = Shape::of(StreamMode::soft_delete());
        assert!(soft.deleted && !soft.history);
        let app = Shape::of(StreamMode::new(WriteMode::Append));
        assert!(app.deleted && app.history);
        assert_eq!(app.system_columns().len(), 4);
        assert_eq!(app.comment(), "spillway: key (_id, _ts)");
        assert_eq!(soft.comment(), "spillway: key (_id)");
    }
}
