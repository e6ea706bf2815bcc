//! The manifest: the one file that says what is committed (see the crate docs for its form).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use spillway_core::ColumnType;
use spillway_core::table::TableSchema;

/// The manifest format version this crate writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// The committed state of a destination root.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// Sequence number of this manifest: incremented by every manifest write; parts written
    /// for it carry it in their names.
    pub seq: u64,
    /// Streams by qualified name (`users`, `waitlist/entries`).
    pub streams: BTreeMap<String, StreamEntry>,
    /// Saved source states by state key.
    pub states: BTreeMap<String, StateEntry>,
}

/// One stream in the manifest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamEntry {
    /// The stream's directory under the root (see [`crate::layout::stream_dir`]).
    pub dir: String,
    /// The stream's user columns (after the system columns), in order; only ever widened.
    pub columns: Vec<ColumnEntry>,
    /// The parts readers read.
    pub current: Vec<PartEntry>,
    /// The parts of a full reload in progress (`replace`, `overwrite-delete-stale`), which
    /// become `current` at [`spillway_core::Destination::finish`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<PartEntry>>,
}

/// One part file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartEntry {
    /// File name inside the stream's directory.
    pub file: String,
    /// Number of rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// The user columns this file holds (a prefix-compatible, possibly narrower version of the
    /// stream's columns).
    pub columns: Vec<ColumnEntry>,
}

/// A column name and its type name ([`ColumnType::name`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnEntry {
    /// Column name.
    pub name: String,
    /// Type name: `boolean`, `int64`, `float64`, `string`, `bytes` or `json`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether an integer a double cannot hold exactly (|i| > 2^53) was ever written to the
    /// column: then an `int64` column meeting a float widens to `json`, not `float64`
    /// ([`ColumnType::widen_exact`]). Kept in the stream's columns only (false in a part's),
    /// never cleared; written only when true, and read as false when absent (manifests
    /// written before it existed).
    #[serde(default, skip_serializing_if = "is_false")]
    pub big_ints: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A saved source state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    /// The source's state, verbatim.
    pub state: serde_json::Value,
    /// The checkpoint's description.
    pub description: String,
    /// When it was saved (RFC 3339, UTC).
    pub updated_at: String,
}

impl StreamEntry {
    /// Every part the manifest lists for the stream (current and pending).
    pub fn all_parts(&self) -> impl Iterator<Item = &PartEntry> {
        self.current.iter().chain(self.pending.iter().flatten())
    }
}

/// Columns as manifest entries; `big_ints` names the columns holding an integer beyond
/// ±2^53 (see [`ColumnEntry::big_ints`]).
pub fn to_entries(schema: &TableSchema, big_ints: &BTreeSet<String>) -> Vec<ColumnEntry> {
    schema
        .columns
        .iter()
        .map(|(name, ty)| ColumnEntry {
            name: name.clone(),
            ty: ty.name().to_string(),
            big_ints: big_ints.contains(name),
        })
        .collect()
}

/// The names of the columns whose entries say they hold an integer beyond ±2^53.
pub fn big_int_columns(entries: &[ColumnEntry]) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|c| c.big_ints)
        .map(|c| c.name.clone())
        .collect()
}

/// Manifest entries as columns; the error names the unknown type.
pub fn from_entries(entries: &[ColumnEntry]) -> Result<TableSchema, String> {
    let columns = entries
        .iter()
        .map(|c| {
            ColumnType::from_name(&c.ty)
                .map(|t| (c.name.clone(), t))
                .ok_or_else(|| format!("column {:?} has the unknown type {:?}", c.name, c.ty))
        })
        .collect::<Result<_, _>>()?;
    Ok(TableSchema { columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_ints_is_optional_and_written_only_when_true() {
        let old: ColumnEntry = serde_json::from_str(r#"{"name": "n", "type": "int64"}"#).unwrap();
        assert!(!old.big_ints);
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"name":"n","type":"int64"}"#
        );
        let big = ColumnEntry {
            big_ints: true,
            ..old
        };
        let text = serde_json::to_string(&big).unwrap();
        assert_eq!(text, r#"{"name":"n","type":"int64","big_ints":true}"#);
        assert_eq!(serde_json::from_str::<ColumnEntry>(&text).unwrap(), big);
    }
}
