//! The shape of a destination table (system columns and primary key), which write mode it
//! serves, and the error when a table's shape does not fit the configured mode.
//!
//! | shape | system columns | primary key | write modes |
//! |---|---|---|---|
//! | [`Shape::Upsert`] | `_id, "_creationTime", _ts` | `(_id)` | `upsert`, `replace`, `overwrite-delete-stale` |
//! | [`Shape::SoftDelete`] | `_id, "_creationTime", _ts, _deleted` | `(_id)` | `upsert` + `soft_delete` |
//! | [`Shape::Append`] | `_id, "_creationTime", _ts, _deleted` | `(_id, _ts)` | `append` |

use std::fmt;

use spillway_core::schema::{CREATION_TIME, DELETED, ID, TS};
use spillway_core::{StreamMode, WriteMode};

/// The system columns and key of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One row per `_id`, no `_deleted` column.
    Upsert,
    /// One row per `_id`, with `_deleted`.
    SoftDelete,
    /// One row per `(_id, _ts)`, with `_deleted`.
    Append,
}

impl Shape {
    /// The shape a stream in `mode` needs.
    pub(crate) fn of(mode: StreamMode) -> Shape {
        match mode.mode {
            WriteMode::Append => Shape::Append,
            _ if mode.soft_delete => Shape::SoftDelete,
            _ => Shape::Upsert,
        }
    }

    /// Whether the table has a `_deleted` column.
    pub(crate) fn has_deleted(self) -> bool {
        self != Shape::Upsert
    }

    /// The primary key columns.
    pub(crate) fn key(self) -> &'static [&'static str] {
        match self {
            Shape::Append => &[ID, TS],
            _ => &[ID],
        }
    }

    /// The system columns, in table order, with their Postgres types (as `format_type`
    /// prints them).
    pub(crate) fn system_columns(self) -> &'static [(&'static str, &'static str)] {
        const PLAIN: [(&str, &str); 3] = [
            (ID, "text"),
            (CREATION_TIME, "double precision"),
            (TS, "bigint"),
        ];
        const WITH_DELETED: [(&str, &str); 4] = [
            (ID, "text"),
            (CREATION_TIME, "double precision"),
            (TS, "bigint"),
            (DELETED, "boolean"),
        ];
        if self.has_deleted() {
            &WITH_DELETED
        } else {
            &PLAIN
        }
    }

    /// The shape with these system-column flags and key, if spillway creates such tables.
    pub(crate) fn detect(has_deleted: bool, key: &[String]) -> Option<Shape> {
        let key: Vec<&str> = key.iter().map(String::as_str).collect();
        match (has_deleted, key.as_slice()) {
            (false, [ID]) => Some(Shape::Upsert),
            (true, [ID]) => Some(Shape::SoftDelete),
            (true, [ID, TS]) => Some(Shape::Append),
            _ => None,
        }
    }

    /// The write mode that creates this shape, for messages.
    pub(crate) fn mode_name(self) -> &'static str {
        match self {
            Shape::Upsert => "upsert (or replace / overwrite-delete-stale)",
            Shape::SoftDelete => "upsert with soft_delete = true",
            Shape::Append => "append",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shape::Upsert => "primary key (_id) and no _deleted column",
            Shape::SoftDelete => "primary key (_id) and a _deleted column",
            Shape::Append => "primary key (_id, _ts) and a _deleted column",
        })
    }
}

/// The message when `table` (quoted, qualified) has shape `have` but `mode` needs `want`.
pub(crate) fn mismatch_message(table: &str, have: Shape, want: Shape, mode: StreamMode) -> String {
    format!(
        "table {table} has {have} (it was written with write mode {}), but write mode {mode} \
         needs {want}; changing the mode of an existing table is not done in place: either \
         set the stream's write mode back to {}, or drop the table and reset the state \
         (`spillway state reset --stream ...`) so the next sync reloads it in the new shape",
        have.mode_name(),
        have.mode_name(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_modes_round_trip() {
        for (mode, shape) in [
            (StreamMode::new(WriteMode::Upsert), Shape::Upsert),
            (StreamMode::new(WriteMode::Replace), Shape::Upsert),
            (
                StreamMode::new(WriteMode::OverwriteDeleteStale),
                Shape::Upsert,
            ),
            (StreamMode::soft_delete(), Shape::SoftDelete),
            (StreamMode::new(WriteMode::Append), Shape::Append),
        ] {
            assert_eq!(Shape::of(mode), shape);
            assert_eq!(shape.has_deleted(), mode.has_deleted_column());
            let key: Vec<String> = shape.key().iter().map(|s| s.to_string()).collect();
            assert_eq!(Shape::detect(shape.has_deleted(), &key), Some(shape));
        }
        assert_eq!(Shape::detect(false, &["_id".into(), "_ts".into()]), None);
        assert_eq!(Shape::detect(false, &[]), None);
    }

    #[test]
    fn mismatch_names_both_shapes_and_the_fixes() {
        let m = mismatch_message(
            "\"s\".\"users\"",
            Shape::Upsert,
            Shape::Append,
            StreamMode::new(WriteMode::Append),
        );
        assert!(m.contains("\"s\".\"users\""), "{m}");
        assert!(
            m.contains("primary key (_id) and no _deleted column"),
            "{m}"
        );
        assert!(
            m.contains("primary key (_id, _ts) and a _deleted column"),
            "{m}"
        );
        assert!(m.contains("drop the table"), "{m}");
    }
}
