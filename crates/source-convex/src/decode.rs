//! Page bodies (legacy and data sync) decoded straight into rows, without a `serde_json::Value` tree per
//! document (profiles showed allocation of those trees to be the largest cost of a sync).
//!
//! The fast decoder is strict: anything it does not expect (a missing `_id`, a malformed tag,
//! a non-boolean `_deleted`, …) makes the whole page fall back to the tree decoder
//! ([`crate::convert::decode_row`]), whose errors name the stream, row and field — so a page
//! decodes to the same rows, or fails with the same error, either way.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use spillway_convex_protocol::Format;
use spillway_convex_protocol::data_sync::{
    DataSyncPagination, DataSyncResponse, DataSyncStatus, DataSyncValue, TableName,
};
use spillway_convex_protocol::json_text::{TranscodedMap, transcode_map, transcode_seq};
use spillway_convex_protocol::wire::{DocumentDeltasResponse, ListSnapshotResponse, WireRow};

use crate::columns::{Cell, PageColumns, RowMeta};
use crate::convert::stream_of;

/// A page's rows: decoded by the fast path, or raw for the tree decoder.
#[derive(Debug)]
pub enum PageRows {
    /// Rows decoded into columns, per table.
    Decoded(PageColumns),
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
    values: LegacyValues,
    snapshot: i64,
    cursor: Option<String>,
    has_more: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FastDeltasPage {
    values: LegacyValues,
    cursor: i64,
    has_more: bool,
}

impl From<FastSnapshotPage> for SnapshotPage {
    fn from(p: FastSnapshotPage) -> Self {
        SnapshotPage {
            values: PageRows::Decoded(p.values.0),
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
            values: PageRows::Decoded(p.values.0),
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

/// Decodes a `list_snapshot` body with the fast decoder only (no fallback to the tree
/// decoder), exactly as the client runs it: what fuzzing and tests compare against the tree
/// decoder.
pub fn fast_snapshot_page(body: &[u8]) -> Result<SnapshotPage, serde_json::Error> {
    fast_page::<FastSnapshotPage>(body).map(SnapshotPage::from)
}

/// Decodes a `document_deltas` body with the fast decoder only (see [`fast_snapshot_page`]).
pub fn fast_deltas_page(body: &[u8]) -> Result<DeltasPage, serde_json::Error> {
    fast_page::<FastDeltasPage>(body).map(DeltasPage::from)
}

/// Parses a body with a fast decoder `F`: UTF-8 is checked once for the whole body (SIMD),
/// not string by string as `serde_json::from_slice` does (that check was 15% of decoding).
pub(crate) fn fast_page<F: de::DeserializeOwned>(body: &[u8]) -> Result<F, serde_json::Error> {
    match simdutf8::basic::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => Err(de::Error::custom("the body is not valid UTF-8")),
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
    /// Rows decoded into columns, per table.
    Decoded(PageColumns),
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
    values: SyncValues,
    sync_id: String,
    pagination: DataSyncPagination,
}

impl From<FastSyncPage> for SyncPage {
    fn from(p: FastSyncPage) -> Self {
        SyncPage {
            status: p.status,
            truncates: p.truncates,
            values: SyncRows::Decoded(p.values.0),
            sync_id: p.sync_id,
            next_cursor: p.pagination.next_cursor,
        }
    }
}

/// A legacy page's `values` (`convex_encoded_json`, metadata inline), decoded into columns.
struct LegacyValues(PageColumns);

/// A data sync page's `values` (`export_json`, metadata beside the document), decoded into
/// columns.
struct SyncValues(PageColumns);

impl<'de> Deserialize<'de> for LegacyValues {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ValuesVisitor(Kind::Legacy))
            .map(LegacyValues)
    }
}

impl<'de> Deserialize<'de> for SyncValues {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ValuesVisitor(Kind::DataSync))
            .map(SyncValues)
    }
}

/// Which API's rows a page holds.
#[derive(Clone, Copy)]
enum Kind {
    Legacy,
    DataSync,
}

/// A document's user fields, borrowed from the page text where they can be, and the
/// `export_json` text of its nested values; reused row to row.
#[derive(Default)]
struct Fields<'de> {
    values: Vec<(Cow<'de, str>, Field<'de>)>,
    text: Vec<u8>,
}

/// A user field's value: a cell, or a nested value's text in [`Fields::text`].
enum Field<'de> {
    Cell(Cell<'de>),
    Text(std::ops::Range<usize>),
}

impl<'de> Fields<'de> {
    fn clear(&mut self) {
        self.values.clear();
        self.text.clear();
    }

    /// The fields as cells, emptying the list.
    fn cells(&mut self) -> impl Iterator<Item = (Cow<'de, str>, Cell<'_>)> {
        let text = &self.text;
        self.values.drain(..).map(move |(k, v)| {
            let cell = match v {
                Field::Cell(c) => c,
                // The transcoder writes UTF-8 (JSON text of UTF-8 input); checked anyway.
                Field::Text(r) => match simdutf8::basic::from_utf8(&text[r]) {
                    Ok(t) => Cell::Json(Cow::Borrowed(t)),
                    Err(_) => Cell::Null,
                },
            };
            (k, cell)
        })
    }
}

struct ValuesVisitor(Kind);

impl<'de> Visitor<'de> for ValuesVisitor {
    type Value = PageColumns;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PageColumns, A::Error> {
        let mut page = PageColumns::default();
        let mut fields = Fields::default();
        while seq
            .next_element_seed(RowSeed {
                page: &mut page,
                fields: &mut fields,
                kind: self.0,
            })?
            .is_some()
        {}
        Ok(page)
    }
}

/// One row, appended to its table's columns.
struct RowSeed<'p, 'de> {
    page: &'p mut PageColumns,
    fields: &'p mut Fields<'de>,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// The parts of a row, as read.
#[derive(Default)]
struct Parts<'de> {
    component: Option<Cow<'de, str>>,
    table: Option<Cow<'de, str>>,
    id: Option<Cow<'de, str>>,
    ts: Option<i64>,
    deleted: Option<bool>,
    creation_time: Option<f64>,
}

impl<'de> Visitor<'de> for RowSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a document row")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.fields.clear();
        let mut p = Parts::default();
        match self.kind {
            Kind::Legacy => {
                while let Some(key) = map.next_key_seed(StrSeed)? {
                    match key.as_ref() {
                        "_table" => p.table = Some(map.next_value_seed(StrSeed)?),
                        "_component" => p.component = Some(map.next_value_seed(StrSeed)?),
                        "_ts" => p.ts = Some(map.next_value()?),
                        "_deleted" => p.deleted = Some(map.next_value()?),
                        _ => doc_entry(
                            &mut map,
                            key,
                            &mut p,
                            self.fields,
                            Format::ConvexEncodedJson,
                        )?,
                    }
                }
                p.component.get_or_insert(Cow::Borrowed(""));
                p.deleted.get_or_insert(false);
            }
            Kind::DataSync => {
                while let Some(key) = map.next_key_seed(StrSeed)? {
                    match key.as_ref() {
                        "table" => p.table = Some(map.next_value_seed(StrSeed)?),
                        "component" => p.component = Some(map.next_value_seed(StrSeed)?),
                        "ts" => p.ts = Some(map.next_value()?),
                        "deleted" => p.deleted = Some(map.next_value()?),
                        "value" => map.next_value_seed(DocSeed {
                            parts: &mut p,
                            fields: &mut *self.fields,
                        })?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
            }
        }
        let missing = |name| de::Error::missing_field(name);
        let component = p.component.ok_or_else(|| missing("component"))?;
        let table = p.table.ok_or_else(|| missing("_table"))?;
        let meta = RowMeta {
            id: p.id.as_deref().ok_or_else(|| missing("_id"))?,
            creation_time: p.creation_time,
            ts: p.ts.ok_or_else(|| missing("_ts"))?,
            deleted: p.deleted.ok_or_else(|| missing("deleted"))?,
        };
        self.page
            .table(&component, &table, || stream_of(&component, &table))
            .and_then(|t| t.push_row(meta, self.fields.cells()))
            .map_err(de::Error::custom)
    }
}

/// One entry of a document: `_id`, `_creationTime`, another `_`-prefixed key (ignored,
/// spec §4.3) or a user field.
fn doc_entry<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: Cow<'de, str>,
    p: &mut Parts<'de>,
    fields: &mut Fields<'de>,
    format: Format,
) -> Result<(), A::Error> {
    match key.as_ref() {
        "_id" => p.id = Some(map.next_value_seed(StrSeed)?),
        "_creationTime" => p.creation_time = map.next_value()?,
        k if k.starts_with('_') => {
            map.next_value::<IgnoredAny>()?;
        }
        _ => {
            let field = map.next_value_seed(CellSeed {
                format,
                text: &mut fields.text,
            })?;
            fields.values.push((key, field));
        }
    }
    Ok(())
}

/// The `value` of a data sync entry: `_id`, `_creationTime` and fields in `export_json`.
struct DocSeed<'p, 'de> {
    parts: &'p mut Parts<'de>,
    fields: &'p mut Fields<'de>,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(StrSeed)? {
            doc_entry(&mut map, key, self.parts, self.fields, Format::ExportJson)?;
        }
        Ok(())
    }
}

/// A string, borrowed from the page text unless it holds escapes.
#[derive(Clone, Copy)]
struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

/// One user field's value in `format`: scalars borrowed or copied, arrays and objects
/// transcoded to their `export_json` text ([`transcode_map`], [`transcode_seq`]: same rules as
/// [`spillway_convex_protocol::Value::from_json`]; an object whose keys are not sorted is
/// refused, and the page falls back to the tree decoder).
struct CellSeed<'t> {
    format: Format,
    text: &'t mut Vec<u8>,
}

impl CellSeed<'_> {
    fn int(&self, i: i64) -> Field<'static> {
        Field::Cell(match self.format {
            // Encoded JSON: every bare number is a Float64 (Int64 is always tagged).
            Format::ConvexEncodedJson => Cell::Float(i as f64),
            Format::ExportJson | Format::CleanJson => Cell::Int(i),
        })
    }
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Field<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a Convex value in {}", self.format)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Cell(Cell::Null))
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Field::Cell(Cell::Bool(b)))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
        Ok(self.int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => self.int(i),
            Err(_) => Field::Cell(Cell::Float(u as f64)),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
        Ok(Field::Cell(Cell::Float(f)))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Cell(Cell::Str(Cow::Borrowed(s))))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Field::Cell(Cell::Str(Cow::Owned(s.to_string()))))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Field::Cell(Cell::Str(Cow::Owned(s))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let start = self.text.len();
        transcode_seq(self.format, seq, self.text)?;
        Ok(Field::Text(start..self.text.len()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let start = self.text.len();
        Ok(match transcode_map(self.format, map, self.text)? {
            TranscodedMap::Object => Field::Text(start..self.text.len()),
            TranscodedMap::Int64(i) => Field::Cell(Cell::Int(i)),
            TranscodedMap::Float64(f) => Field::Cell(Cell::Float(f)),
            TranscodedMap::Bytes(b) => Field::Cell(Cell::Bytes(Cow::Owned(b))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{decode_row, decode_sync_value, push_row, row_stream};

    /// Each table's batch, printed (NaN and -0.0 print as themselves).
    fn printed(page: PageColumns) -> Vec<String> {
        page.into_sorted()
            .into_iter()
            .map(|(s, t)| format!("{s}: {:?}", t.finish(&s).unwrap().rows))
            .collect()
    }

    fn slow(text: &str) -> Vec<String> {
        let rows: Vec<WireRow> = serde_json::from_str(text).unwrap();
        let mut page = PageColumns::default();
        for r in &rows {
            let s = row_stream(r).unwrap();
            let row = decode_row(r, &s, "test").unwrap();
            push_row(page.stream(&s), &row).unwrap();
        }
        printed(page)
    }

    fn fast(text: &str) -> Result<Vec<String>, serde_json::Error> {
        let values: LegacyValues = serde_json::from_slice(text.as_bytes())?;
        Ok(printed(values.0))
    }

    #[test]
    fn fast_rows_equal_the_tree_decoder_or_refuse() {
        let good = r#"[
            {"_table":"users","_id":"a","_creationTime":1.5,"_ts":10,"name":"Zoë \"q\"",
             "n":{"$integer":"AQAAAAAAAAA="},"f":5,"o":{"x":[1,{"$bytes":"AAE="}]},"_future":{"k":1}},
            {"_table":"entries","_component":"waitlist","_id":"b","_ts":11,"_deleted":true},
            {"n":{"$float":"AAAAAAAA+H8="},"_table":"users","_id":"c","_creationTime":2,"_ts":12,"_creationTime":3.0},
            {"_table":"users","_component":"","_id":"d","_ts":13,"f":"text","b":{"$bytes":"AAE="},"z":null}
        ]"#;
        assert_eq!(fast(good).unwrap(), slow(good));
        for refused in [
            r#"[{"_table":"t","_ts":1}]"#,
            r#"[{"_table":"t","_id":7,"_ts":1}]"#,
            r#"[{"_table":"t","_id":"a","_ts":1,"v":{"$integer":"AQ=="}}]"#,
            r#"[{"_table":"t","_id":"a","_ts":1,"_deleted":"yes"}]"#,
            r#"[{"_table":"a/b","_id":"a","_ts":1}]"#,
            r#"[{"_id":"a","_ts":1}]"#,
            r#"[{"_table":"t","_id":"a","_ts":1,"v":1,"v":2}]"#,
            // Unsorted keys in a nested object: the tree decoder sorts them.
            r#"[{"_table":"t","_id":"a","_ts":1,"o":{"b":1,"a":2}}]"#,
        ] {
            assert!(fast(refused).is_err(), "{refused}");
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
            {"value":{"_id":"c","_future":1,"f":7,"s":"x\ny"},"component":"","table":"t","ts":7,"deleted":false}
        ]"#;
        let text = page(values);
        let fast: FastSyncPage = serde_json::from_slice(text.as_bytes()).unwrap();
        let SyncRows::Decoded(fast) = SyncPage::from(fast).values else {
            panic!()
        };
        let raw: DataSyncResponse = serde_json::from_str(&text).unwrap();
        let mut slow = PageColumns::default();
        for v in &raw.values {
            let (s, row) = decode_sync_value(v, "test").unwrap();
            push_row(slow.stream(&s), &row).unwrap();
        }
        assert_eq!(printed(fast), printed(slow));
        for refused in [
            r#"[{"component":"","table":"t","ts":5,"deleted":false,"value":{"n":1}}]"#,
            r#"[{"component":"","table":"a/b","ts":5,"deleted":false,"value":{"_id":"a"}}]"#,
            r#"[{"component":"","table":"t","ts":5,"deleted":false,"value":{"_id":"a","v":{"$nope":"x"}}}]"#,
            r#"[{"table":"t","ts":5,"deleted":false,"value":{"_id":"a"}}]"#,
        ] {
            assert!(
                serde_json::from_slice::<FastSyncPage>(page(refused).as_bytes()).is_err(),
                "{refused}"
            );
        }
    }
}
