//! Page bodies (legacy and data sync) decoded straight into rows, without a `serde_json::Value` tree per
//! document (profiles showed allocation of those trees to be the largest cost of a sync).
//!
//! The fast decoder is strict: anything it does not expect (a missing `_id`, a malformed tag,
//! a non-boolean `_deleted`, …) makes the whole page fall back to the tree decoder
//! ([`crate::convert::decode_row`]), whose errors name the stream, row and field — so a page
//! decodes to the same rows, or fails with the same error, either way.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use spillway_convex_protocol::Format;
use spillway_convex_protocol::data_sync::{
    DataSyncPagination, DataSyncResponse, DataSyncStatus, DataSyncValue, TableName,
};
use spillway_convex_protocol::value_de::ValueSeed;
use spillway_convex_protocol::wire::{DocumentDeltasResponse, ListSnapshotResponse, WireRow};
use spillway_core::StreamId;

use crate::convert::{Row, stream_of};

/// A page's rows: decoded by the fast path, or raw for the tree decoder.
#[derive(Debug)]
pub enum PageRows {
    /// Decoded rows with their stream, in page order.
    Decoded(Vec<(StreamId, Row)>),
    /// Rows as JSON objects (the fast decoder refused the page).
    Raw(Vec<WireRow>),
}

/// A `list_snapshot` page (spec §7.2).
#[derive(Debug)]
pub struct SnapshotPage {
    /// The documents.
    pub values: PageRows,
    /// The ts actually read.
    pub snapshot: i64,
    /// Resume token; `None` only when `has_more` is false.
    pub cursor: Option<String>,
    /// Whether more pages follow.
    pub has_more: bool,
}

/// A `document_deltas` page (spec §8.2).
#[derive(Debug)]
pub struct DeltasPage {
    /// The revisions, in commit order.
    pub values: PageRows,
    /// Exclusive cursor for the next page.
    pub cursor: i64,
    /// Whether more pages follow.
    pub has_more: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FastSnapshotPage {
    pub values: Vec<FastRow>,
    pub snapshot: i64,
    pub cursor: Option<String>,
    pub has_more: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FastDeltasPage {
    pub values: Vec<FastRow>,
    pub cursor: i64,
    pub has_more: bool,
}

/// Rows of a fast-decoded page, with their streams.
fn rows(values: Vec<FastRow>) -> PageRows {
    PageRows::Decoded(values.into_iter().map(|r| (r.stream, r.row)).collect())
}

impl From<FastSnapshotPage> for SnapshotPage {
    fn from(p: FastSnapshotPage) -> Self {
        SnapshotPage {
            values: rows(p.values),
            snapshot: p.snapshot,
            cursor: p.cursor,
            has_more: p.has_more,
        }
    }
}

impl From<ListSnapshotResponse> for SnapshotPage {
    fn from(p: ListSnapshotResponse) -> Self {
        SnapshotPage {
            values: PageRows::Raw(p.values),
            snapshot: p.snapshot,
            cursor: p.cursor,
            has_more: p.has_more,
        }
    }
}

impl From<FastDeltasPage> for DeltasPage {
    fn from(p: FastDeltasPage) -> Self {
        DeltasPage {
            values: rows(p.values),
            cursor: p.cursor,
            has_more: p.has_more,
        }
    }
}

impl From<DocumentDeltasResponse> for DeltasPage {
    fn from(p: DocumentDeltasResponse) -> Self {
        DeltasPage {
            values: PageRows::Raw(p.values),
            cursor: p.cursor,
            has_more: p.has_more,
        }
    }
}

/// One legacy wire row (`convex_encoded_json`) decoded in one pass.
pub(crate) struct FastRow {
    stream: StreamId,
    row: Row,
}

impl<'de> Deserialize<'de> for FastRow {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = FastRow;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a document row")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastRow, A::Error> {
        let (mut id, mut ts, mut deleted) = (None::<String>, None::<i64>, false);
        let (mut table, mut component) = (None::<String>, String::new());
        let mut creation_time = None::<f64>;
        let mut fields = BTreeMap::new();
        let seed = ValueSeed(Format::ConvexEncodedJson);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "_id" => id = Some(map.next_value()?),
                "_ts" => ts = Some(map.next_value()?),
                "_deleted" => deleted = map.next_value()?,
                "_creationTime" => creation_time = map.next_value()?,
                "_table" => table = Some(map.next_value()?),
                "_component" => component = map.next_value()?,
                k if k.starts_with('_') => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let value = map.next_value_seed(seed)?;
                    fields.insert(key, value);
                }
            }
        }
        let table = table.ok_or_else(|| de::Error::missing_field("_table"))?;
        let stream = stream_of(&component, &table).map_err(de::Error::custom)?;
        if deleted {
            fields.clear();
        }
        Ok(FastRow {
            stream,
            row: Row {
                id: id.ok_or_else(|| de::Error::missing_field("_id"))?,
                creation_time,
                ts: ts.ok_or_else(|| de::Error::missing_field("_ts"))?,
                deleted,
                fields,
            },
        })
    }
}

/// A data sync page (spec §12.2) with its values decoded.
#[derive(Debug)]
pub struct SyncPage {
    /// Where the sync stands after this page.
    pub status: DataSyncStatus,
    /// Tables to empty before the values.
    pub truncates: Vec<TableName>,
    /// The revisions.
    pub values: SyncRows,
    /// The sync's id.
    pub sync_id: String,
    /// The next cursor.
    pub next_cursor: String,
}

/// A data sync page's values: decoded by the fast path, or as sent.
#[derive(Debug)]
pub enum SyncRows {
    /// Decoded rows with their stream, in page order.
    Decoded(Vec<(StreamId, Row)>),
    /// Values as sent (the fast decoder refused the page).
    Raw(Vec<DataSyncValue>),
}

impl From<DataSyncResponse> for SyncPage {
    fn from(p: DataSyncResponse) -> Self {
        SyncPage {
            status: p.status,
            truncates: p.truncates,
            values: SyncRows::Raw(p.values),
            sync_id: p.sync_id,
            next_cursor: p.pagination.next_cursor,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FastSyncPage {
    status: DataSyncStatus,
    truncates: Vec<TableName>,
    values: Vec<FastSyncValue>,
    sync_id: String,
    pagination: DataSyncPagination,
}

impl From<FastSyncPage> for SyncPage {
    fn from(p: FastSyncPage) -> Self {
        SyncPage {
            status: p.status,
            truncates: p.truncates,
            values: SyncRows::Decoded(p.values.into_iter().map(|v| (v.stream, v.row)).collect()),
            sync_id: p.sync_id,
            next_cursor: p.pagination.next_cursor,
        }
    }
}

/// One data sync value (`export_json`) decoded in one pass.
struct FastSyncValue {
    stream: StreamId,
    row: Row,
}

#[derive(Deserialize)]
struct SyncValueParts {
    component: String,
    table: String,
    ts: i64,
    deleted: bool,
    value: SyncDoc,
}

impl<'de> Deserialize<'de> for FastSyncValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = SyncValueParts::deserialize(d)?;
        let stream = stream_of(&p.component, &p.table).map_err(de::Error::custom)?;
        let SyncDoc {
            id,
            creation_time,
            mut fields,
        } = p.value;
        if p.deleted {
            fields.clear();
        }
        Ok(FastSyncValue {
            stream,
            row: Row {
                id,
                creation_time,
                ts: p.ts,
                deleted: p.deleted,
                fields,
            },
        })
    }
}

/// The `value` of a data sync entry: `_id`, `_creationTime` and fields in `export_json`.
struct SyncDoc {
    id: String,
    creation_time: Option<f64>,
    fields: BTreeMap<String, spillway_convex_protocol::Value>,
}

impl<'de> Deserialize<'de> for SyncDoc {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SyncDocVisitor)
    }
}

struct SyncDocVisitor;

impl<'de> Visitor<'de> for SyncDocVisitor {
    type Value = SyncDoc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SyncDoc, A::Error> {
        let (mut id, mut creation_time) = (None::<String>, None::<f64>);
        let mut fields = BTreeMap::new();
        let seed = ValueSeed(Format::ExportJson);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "_id" => id = Some(map.next_value()?),
                "_creationTime" => creation_time = map.next_value()?,
                k if k.starts_with('_') => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let value = map.next_value_seed(seed)?;
                    fields.insert(key, value);
                }
            }
        }
        Ok(SyncDoc {
            id: id.ok_or_else(|| de::Error::missing_field("_id"))?,
            creation_time,
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{decode_row, row_stream};

    fn slow(text: &str) -> Result<Vec<(StreamId, Row)>, String> {
        let rows: Vec<WireRow> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        rows.iter()
            .map(|r| {
                let s = row_stream(r)?;
                let row = decode_row(r, &s, "test").map_err(|e| e.message)?;
                Ok((s, row))
            })
            .collect()
    }

    #[test]
    fn fast_rows_equal_the_tree_decoder_or_refuse() {
        let good = r#"[
            {"_table":"users","_id":"a","_creationTime":1.5,"_ts":10,"name":"Zoë",
             "n":{"$integer":"AQAAAAAAAAA="},"f":5,"o":{"x":[1,{"$bytes":"AAE="}]},"_future":{"k":1}},
            {"_table":"entries","_component":"waitlist","_id":"b","_ts":11,"_deleted":true},
            {"_table":"users","_id":"c","_creationTime":2,"_ts":12,"_creationTime":3.0}
        ]"#;
        let fast: Vec<FastRow> = serde_json::from_str(good).unwrap();
        let fast: Vec<(StreamId, Row)> = fast.into_iter().map(|r| (r.stream, r.row)).collect();
        assert_eq!(format!("{fast:?}"), format!("{:?}", slow(good).unwrap()));
        for refused in [
            r#"[{"_table":"t","_ts":1}]"#,
            r#"[{"_table":"t","_id":7,"_ts":1}]"#,
            r#"[{"_table":"t","_id":"a","_ts":1,"v":{"$integer":"AQ=="}}]"#,
            r#"[{"_table":"t","_id":"a","_ts":1,"_deleted":"yes"}]"#,
            r#"[{"_table":"a/b","_id":"a","_ts":1}]"#,
            r#"[{"_id":"a","_ts":1}]"#,
        ] {
            assert!(
                serde_json::from_str::<Vec<FastRow>>(refused).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn fast_sync_values_equal_the_tree_decoder_or_refuse() {
        let page = |values: &str| {
            format!(
                r#"{{"status":{{"type":"snapshotting"}},"truncates":[{{"component":"","table":"t"}}],"values":{values},"syncId":"s","pagination":{{"hasMore":true,"nextCursor":"ab"}}}}"#
            )
        };
        let values = r#"[
            {"component":"","table":"t","ts":5,"deleted":false,
             "value":{"_id":"a","_creationTime":1.5,"n":9007199254740993,"f":5.0,"o":{"x":[1,{"$bytes":"AAE="}]},"z":{"$float":"AAAAAAAA+H8="}}},
            {"component":"c","table":"u","ts":6,"deleted":true,"value":{"_id":"b"}},
            {"component":"","table":"t","ts":7,"deleted":false,"value":{"_id":"c","_future":1}}
        ]"#;
        let text = page(values);
        let fast: FastSyncPage = serde_json::from_str(&text).unwrap();
        let SyncRows::Decoded(fast) = SyncPage::from(fast).values else {
            panic!()
        };
        let raw: DataSyncResponse = serde_json::from_str(&text).unwrap();
        let slow: Vec<(StreamId, Row)> = raw
            .values
            .iter()
            .map(|v| crate::convert::decode_sync_value(v, "test").unwrap())
            .collect();
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        for refused in [
            r#"[{"component":"","table":"t","ts":5,"deleted":false,"value":{"n":1}}]"#,
            r#"[{"component":"","table":"a/b","ts":5,"deleted":false,"value":{"_id":"a"}}]"#,
            r#"[{"component":"","table":"t","ts":5,"deleted":false,"value":{"_id":"a","v":{"$nope":"x"}}}]"#,
        ] {
            assert!(
                serde_json::from_str::<FastSyncPage>(&page(refused)).is_err(),
                "{refused}"
            );
        }
    }
}
