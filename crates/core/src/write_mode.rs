//! Write modes: how a destination applies a stream's rows, truncates and full reloads.
//!
//! Every destination follows the same contract, per stream:
//!
//! | mode | rows | tombstone | `Truncate` (a full reload begins) | [`Destination::finish`] |
//! |---|---|---|---|---|
//! | `upsert` | one row per `_id`, inserted or updated | deletes the row | deletes every row | nothing |
//! | `upsert` + `soft_delete` | one row per `_id`, with `_deleted` | sets `_deleted = true` and `_ts`, keeps the other columns (NULL if never seen) | sets `_deleted = true` on every row (the reload sets it back) | nothing |
//! | `append` | every version a new row, with `_deleted`; a row whose `(_id, _ts)` is already there is skipped | appended with `_deleted = true` | deletes every row: the history restarts from the snapshot | nothing |
//! | `replace` | as `upsert`, into the stream's reload copy ([`reload_table`]) while one exists | deletes from the reload copy | creates (or empties) the reload copy | replaces each table by its reload copy, atomically |
//! | `overwrite-delete-stale` | as `replace` during a reload, else as `upsert` | as `upsert` | as `replace` | merges each reload copy into its table (upsert, then delete the rows the reload did not see), atomically |
//!
//! A reload copy is committed with the checkpoints like any table, so a reload interrupted by
//! a crash continues where it stopped; readers of the table see the old rows until
//! [`Destination::finish`] puts the new ones in place in one transaction.
//!
//! `replace` needs a full read on every run (it reloads the table each time), so it cannot be
//! combined with an incremental run ([`WriteMode::needs_full_read`]).
//!
//! [`Destination::finish`]: crate::Destination::finish

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::StreamId;

/// How a destination applies a stream (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// One row per primary key (`overwrite` is an alias).
    #[default]
    Upsert,
    /// Every version a new row, with `_deleted`.
    Append,
    /// Full reload into a copy, swapped in atomically at the end of the sync.
    Replace,
    /// Upsert; at the end of a full reload, delete the rows the reload did not see.
    OverwriteDeleteStale,
}

/// The names [`WriteMode::from_str`] accepts, for error messages.
pub const WRITE_MODE_NAMES: &str = "upsert, overwrite, append, replace, overwrite-delete-stale";

impl WriteMode {
    /// The canonical name (`upsert`, `append`, `replace`, `overwrite-delete-stale`).
    pub fn name(self) -> &'static str {
        match self {
            WriteMode::Upsert => "upsert",
            WriteMode::Append => "append",
            WriteMode::Replace => "replace",
            WriteMode::OverwriteDeleteStale => "overwrite-delete-stale",
        }
    }

    /// Whether every run must read everything again (`replace`).
    pub fn needs_full_read(self) -> bool {
        self == WriteMode::Replace
    }

    /// Whether a full reload goes through a reload copy ([`reload_table`]).
    pub fn reloads_into_copy(self) -> bool {
        matches!(self, WriteMode::Replace | WriteMode::OverwriteDeleteStale)
    }

    /// Whether the destination table has a `_deleted` column.
    pub fn keeps_deleted_column(self, soft_delete: bool) -> bool {
        self == WriteMode::Append || soft_delete
    }
}

impl fmt::Display for WriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WriteMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "upsert" | "overwrite" => WriteMode::Upsert,
            "append" => WriteMode::Append,
            "replace" => WriteMode::Replace,
            "overwrite-delete-stale" => WriteMode::OverwriteDeleteStale,
            other => {
                return Err(format!(
                    "write_mode = {other:?} is unknown; expected one of {WRITE_MODE_NAMES}"
                ));
            }
        })
    }
}

impl<'de> serde::Deserialize<'de> for WriteMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The write mode of one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamMode {
    /// The mode.
    pub mode: WriteMode,
    /// `upsert` only: keep deleted rows with `_deleted = true` instead of removing them.
    pub soft_delete: bool,
}

impl StreamMode {
    /// A mode without soft deletes.
    pub fn new(mode: WriteMode) -> Self {
        StreamMode {
            mode,
            soft_delete: false,
        }
    }

    /// `upsert` with `soft_delete = true`.
    pub fn soft_delete() -> Self {
        StreamMode {
            mode: WriteMode::Upsert,
            soft_delete: true,
        }
    }

    /// Checks the combination; the error says why it is impossible.
    pub fn validate(self) -> Result<(), String> {
        if self.soft_delete && self.mode != WriteMode::Upsert {
            return Err(format!(
                "soft_delete = true applies to write_mode = \"upsert\" only, not {:?} ({})",
                self.mode.name(),
                match self.mode {
                    WriteMode::Append =>
                        "append already keeps every deletion as a row with _deleted = true",
                    _ => "this mode removes the rows a full reload did not see",
                }
            ));
        }
        Ok(())
    }

    /// Whether the destination table has a `_deleted` column.
    pub fn has_deleted_column(self) -> bool {
        self.mode.keeps_deleted_column(self.soft_delete)
    }
}

impl fmt::Display for StreamMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode.name())?;
        if self.soft_delete {
            f.write_str(" (soft_delete)")?;
        }
        Ok(())
    }
}

/// A destination's write modes: a default and per-stream overrides (by qualified name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteModes {
    /// The mode of streams without an override.
    pub default: StreamMode,
    /// Overrides by qualified stream name (`messages`, `waitlist/entries`).
    pub per_stream: BTreeMap<String, StreamMode>,
}

impl WriteModes {
    /// Every stream in `mode`.
    pub fn all(mode: StreamMode) -> Self {
        WriteModes {
            default: mode,
            per_stream: BTreeMap::new(),
        }
    }

    /// Adds an override for one stream.
    pub fn with_stream(mut self, stream: &str, mode: StreamMode) -> Self {
        self.per_stream.insert(stream.to_string(), mode);
        self
    }

    /// The mode of `stream`.
    pub fn of(&self, stream: &StreamId) -> StreamMode {
        self.of_table(&stream.qualified())
    }

    /// The mode of the stream whose qualified name (destination table) is `table`.
    pub fn of_table(&self, table: &str) -> StreamMode {
        self.per_stream.get(table).copied().unwrap_or(self.default)
    }

    /// Checks every mode; the error names the stream.
    pub fn validate(&self) -> Result<(), String> {
        self.default.validate()?;
        for (stream, mode) in &self.per_stream {
            mode.validate()
                .map_err(|e| format!("stream {stream:?}: {e}"))?;
        }
        Ok(())
    }
}

/// The prefix of reload copies: `_spillway_reload_<table>`.
pub const RELOAD_PREFIX: &str = "_spillway_reload_";

/// The reload copy of `table` (`replace` and `overwrite-delete-stale` during a full reload).
pub fn reload_table(table: &str) -> String {
    format!("{RELOAD_PREFIX}{table}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_overwrite_is_upsert() {
        for m in [
            WriteMode::Upsert,
            WriteMode::Append,
            WriteMode::Replace,
            WriteMode::OverwriteDeleteStale,
        ] {
            assert_eq!(m.name().parse::<WriteMode>(), Ok(m));
        }
        assert_eq!("overwrite".parse::<WriteMode>(), Ok(WriteMode::Upsert));
        let e = "merge".parse::<WriteMode>().unwrap_err();
        assert!(
            e.contains("\"merge\"") && e.contains("overwrite-delete-stale"),
            "{e}"
        );
    }

    #[test]
    fn soft_delete_only_with_upsert() {
        assert!(StreamMode::soft_delete().validate().is_ok());
        let append = StreamMode {
            mode: WriteMode::Append,
            soft_delete: true,
        };
        let e = append.validate().unwrap_err();
        assert!(e.contains("append") && e.contains("_deleted"), "{e}");
        let modes = WriteModes::all(StreamMode::default()).with_stream("users", append);
        assert!(modes.validate().unwrap_err().contains("\"users\""));
        assert_eq!(modes.of(&StreamId::root("users")), append);
        assert_eq!(modes.of(&StreamId::root("other")), StreamMode::default());
    }
}
