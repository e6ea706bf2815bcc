//! Checks shared by spillway's fuzz targets (`fuzz_targets/`, run by `scripts/fuzz.sh`).
//!
//! - [`check_rows`]: page rows through the source's decode path exactly as `read.rs` takes them
//!   (`row_stream` → `decode_row` → one `to_batch` per stream, page order kept), then every
//!   batch checked cell by cell against the decoded rows.
//! - [`check_fast_page`]: a page the one-pass decoder accepts gives the same batches through
//!   the tree decoder.
//! - [`check_value`]: a decoded value survives both lossless encodings byte for byte.
//! - [`check_transcoder`]: wherever the export_json transcoder succeeds it writes the tree
//!   path's text, and it fails only where the tree path fails or on unsorted keys.
//!
//! Decode errors are fine (the input is malformed); a panic or a failed assertion is a bug.

use std::collections::{BTreeMap, BTreeSet};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use serde::de::{DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use spillway_convex_protocol::json_text::{
    ExportJsonSeed, TranscodedMap, UNSORTED_KEYS, transcode_map, transcode_seq,
};
use spillway_convex_protocol::value_de::ValueSeed;
use spillway_convex_protocol::wire::WireRow;
use spillway_convex_protocol::{Format, Value};
use spillway_core::batch::{cast_column, json_text};
use spillway_core::schema::{SYSTEM_COLUMNS, int_fits_f64};
use spillway_core::{Batch, ColumnType, StreamId};
use spillway_source_convex::columns::{PageColumns, value_type};
use spillway_source_convex::convert::{Row, decode_row, push_row, row_stream, to_batch};
use spillway_source_convex::decode::PageRows;

/// Decodes `values` as the source does, builds one batch per stream and checks each batch
/// against its rows. Rows that fail to decode are skipped (the source would refuse the page);
/// returns how many rows decoded.
pub fn check_rows(values: &[WireRow]) -> usize {
    let mut by_stream: BTreeMap<StreamId, Vec<Row>> = BTreeMap::new();
    let mut decoded = 0;
    for wire in values {
        let table = wire.get("_table").and_then(Json::as_str);
        let Ok(stream) = row_stream(wire) else {
            // Only a missing table name, or one no stream may have, is refused.
            assert!(
                table.is_none_or(|t| t.is_empty() || t.contains('/')),
                "row_stream refused `_table` {table:?}"
            );
            continue;
        };
        assert_eq!(Some(stream.name.as_str()), table);
        let component = wire.get("_component").and_then(Json::as_str);
        assert_eq!(stream.namespace, component.unwrap_or_default());
        // The qualified name is the destination table and the key of the saved state: two
        // different streams must never share one.
        assert_eq!(
            StreamId::parse(&stream.qualified()),
            stream,
            "stream {stream} does not survive its qualified name"
        );
        let Ok(row) = decode_row(wire, &stream, "fuzz") else {
            continue;
        };
        check_decoded(wire, &row);
        decoded += 1;
        by_stream.entry(stream).or_default().push(row);
    }
    for (stream, rows) in &by_stream {
        let batch = match to_batch(stream, rows) {
            Ok(b) => b,
            Err(e) => panic!("to_batch failed on decoded rows: {e}"),
        };
        check_batch(stream, rows, &batch);
    }
    decoded
}

/// A decoded row says what its wire row says.
fn check_decoded(wire: &WireRow, row: &Row) {
    assert_eq!(
        Some(row.id.as_str()),
        wire.get("_id").and_then(Json::as_str)
    );
    assert_eq!(Some(row.ts), wire.get("_ts").and_then(Json::as_i64));
    if row.deleted {
        assert!(row.fields.is_empty(), "a tombstone kept fields");
    }
    for (k, v) in &row.fields {
        assert!(!k.starts_with('_'), "system key {k:?} became a field");
        let json = wire.get(k).expect("a field that is not in the wire row");
        let again = Value::from_json(json, Format::ConvexEncodedJson).expect("decoded once");
        assert_eq!(&again, v);
        check_value(v);
    }
}

/// A batch holds exactly its rows: system columns, one column per field name, every value
/// recoverable from its cell, and no column wider than its values need.
fn check_batch(stream: &StreamId, rows: &[Row], batch: &Batch) {
    assert_eq!(&batch.stream, stream);
    assert_eq!(batch.num_rows(), rows.len(), "batch row count");
    let schema = batch.rows.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names[..SYSTEM_COLUMNS.len()], SYSTEM_COLUMNS);

    let ids = batch.rows.column(0).as_string::<i32>();
    let ctimes = batch.rows.column(1).as_primitive::<Float64Type>();
    let tss = batch.rows.column(2).as_primitive::<Int64Type>();
    let dels = batch.rows.column(3).as_boolean();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(ids.value(i), r.id, "row order");
        match r.creation_time {
            Some(t) => assert_eq!(ctimes.value(i).to_bits(), t.to_bits()),
            None => assert!(ctimes.is_null(i)),
        }
        assert_eq!(tss.value(i), r.ts);
        assert_eq!(dels.value(i), r.deleted);
    }

    let fields: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.fields.keys().map(String::as_str))
        .collect();
    let columns: Vec<&str> = batch.user_columns().map(|(_, n, _)| n).collect();
    assert_eq!(columns, fields.into_iter().collect::<Vec<_>>());

    for (idx, name, ty) in batch.user_columns() {
        let col = batch.rows.column(idx);
        let cells: Vec<Option<&Value>> = rows
            .iter()
            .map(|r| r.fields.get(name).filter(|v| !matches!(v, Value::Null)))
            .collect();
        // The narrowest type that keeps every value.
        let mut kinds: Vec<ColumnType> = Vec::new();
        for v in cells.iter().flatten() {
            if !kinds.contains(&value_type(v)) {
                kinds.push(value_type(v));
            }
        }
        let big = cells
            .iter()
            .any(|v| matches!(v, Some(Value::Int64(i)) if !int_fits_f64(*i)));
        let numbers = kinds.contains(&ColumnType::Int64) && kinds.contains(&ColumnType::Float64);
        let want = match kinds[..] {
            [] => ColumnType::Null,
            [one] => one,
            [_, _] if numbers && !big => ColumnType::Float64,
            _ => ColumnType::Json,
        };
        assert_eq!(
            ty, want,
            "column {name:?}: type for values of kinds {kinds:?}"
        );
        assert_eq!(col.len(), rows.len());
        if ty == ColumnType::Null {
            continue;
        }
        // What a destination does when a later batch widens this column to JSON.
        let as_json = cast_column(col, ty, ColumnType::Json).expect("widening to JSON");
        let as_json = as_json.as_string::<i32>();
        for (i, cell) in cells.iter().enumerate() {
            let Some(v) = *cell else {
                assert!(col.is_null(i), "column {name:?} row {i}: null expected");
                assert!(as_json.is_null(i));
                continue;
            };
            assert!(col.is_valid(i), "column {name:?} row {i}: value lost");
            let exact = match (ty, v) {
                (ColumnType::Int64, Value::Int64(x)) => {
                    assert_eq!(col.as_primitive::<Int64Type>().value(i), *x);
                    true
                }
                (ColumnType::Float64, Value::Float64(x)) => {
                    let got = col.as_primitive::<Float64Type>().value(i);
                    assert_eq!(got.to_bits(), x.to_bits());
                    true
                }
                (ColumnType::Float64, Value::Int64(x)) => {
                    assert!(int_fits_f64(*x), "{x} rounded into a DOUBLE column");
                    let got = col.as_primitive::<Float64Type>().value(i);
                    assert_eq!(got as i64, *x);
                    assert_eq!(got, *x as f64);
                    false
                }
                (ColumnType::Boolean, Value::Boolean(x)) => {
                    assert_eq!(col.as_boolean().value(i), *x);
                    true
                }
                (ColumnType::Utf8, Value::String(x)) => {
                    assert_eq!(col.as_string::<i32>().value(i), x);
                    true
                }
                (ColumnType::Binary, Value::Bytes(x)) => {
                    assert_eq!(col.as_binary::<i32>().value(i), &x[..]);
                    true
                }
                (ColumnType::Json, v) => {
                    let text = col.as_string::<i32>().value(i);
                    let json: Json = serde_json::from_str(text).expect("JSON cell is JSON");
                    let back = Value::from_json(&json, Format::ExportJson).expect("export_json");
                    assert_eq!(&back, v, "JSON cell {text}");
                    true
                }
                (ty, v) => panic!("column {name:?} of type {ty:?} got a {}", v.type_name()),
            };
            // A typed cell widened to JSON reads exactly as if it had been JSON from the start.
            let text = json_text(col, ty, i).expect("non-null cell");
            assert_eq!(as_json.value(i), text);
            if exact {
                assert_eq!(
                    text,
                    v.to_json_string(Format::ExportJson),
                    "column {name:?}"
                );
            }
        }
    }
}

/// `value` survives both lossless encodings, and encoding is canonical (re-encoding the
/// decoded text gives the same bytes). The clean encoding must at least be JSON.
pub fn check_value(value: &Value) {
    for format in [Format::ConvexEncodedJson, Format::ExportJson] {
        let text = value.to_json_string(format);
        let mut written = Vec::new();
        value.write_json(format, &mut written);
        assert_eq!(written, text.as_bytes());
        let json: Json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{format} output is not JSON ({e}): {text}"));
        let back = Value::from_json(&json, format)
            .unwrap_or_else(|e| panic!("{format} output does not decode ({e}): {text}"));
        assert_eq!(&back, value, "{format} round trip of {text}");
        assert_eq!(back.to_json_string(format), text);
    }
    let clean = value.to_json_string(Format::CleanJson);
    assert!(
        serde_json::from_str::<Json>(&clean).is_ok(),
        "clean JSON output is not JSON: {clean}"
    );
}

/// A one-field document of table `t` holding `value` (still in its wire encoding).
pub fn document(id: usize, value: Json) -> WireRow {
    let mut row = WireRow::new();
    row.insert("_component".into(), Json::from(""));
    row.insert("_table".into(), Json::from("t"));
    row.insert("_id".into(), Json::from(format!("doc{id}")));
    row.insert(
        "_ts".into(),
        Json::from(1_750_000_000_000_000_000_i64 + id as i64),
    );
    row.insert("_creationTime".into(), Json::from(1_750_000_000_000.5));
    row.insert("f".into(), value);
    row
}

/// A page the fast decoder accepts decodes to the same batches through the tree decoder: the
/// source takes the fast path whenever it succeeds, so the two must never disagree.
pub fn check_fast_page(fast: PageRows, values: &[WireRow]) {
    let PageRows::Decoded(fast) = fast else {
        panic!("the fast decoder returned raw rows");
    };
    let mut tree = PageColumns::default();
    for wire in values {
        let stream = row_stream(wire).expect("the fast decoder accepted its `_table`");
        let row = match decode_row(wire, &stream, "fuzz") {
            Ok(row) => row,
            Err(e) => panic!("the fast decoder accepted a row the tree decoder refuses: {e}"),
        };
        push_row(tree.stream(&stream), &row).expect("rows of a map have distinct fields");
    }
    let print = |page: PageColumns| -> Vec<String> {
        page.into_sorted()
            .into_iter()
            .map(|(s, t)| match t.finish(&s) {
                Ok(b) => format!("{s}: {:?}", b.rows),
                Err(e) => panic!("building the batch of {s} failed: {e}"),
            })
            .collect()
    };
    assert_eq!(print(fast), print(tree), "fast and tree decoders disagree");
}

/// What one field's value becomes: export_json text (arrays, objects and, for
/// [`ExportJsonSeed`], scalars) or a tagged scalar's value (the field-level entry points).
#[derive(Debug, PartialEq)]
enum Transcoded {
    Text(Vec<u8>),
    Int64(i64),
    Float64(u64),
    Bytes(Vec<u8>),
}

/// The tree path: [`ValueSeed`], then the export_json text, or for `scalars` a tagged
/// scalar's value.
fn tree_path(data: &[u8], format: Format, scalars: bool) -> Result<Transcoded, serde_json::Error> {
    let mut d = serde_json::Deserializer::from_slice(data);
    let value = ValueSeed(format).deserialize(&mut d)?;
    d.end()?;
    Ok(match value {
        Value::Int64(i) if scalars => Transcoded::Int64(i),
        Value::Float64(f) if scalars => Transcoded::Float64(f.to_bits()),
        Value::Bytes(b) if scalars => Transcoded::Bytes(b),
        v => Transcoded::Text(v.to_json_string(Format::ExportJson).into_bytes()),
    })
}

/// A field-value visitor as the source writes one: arrays and objects through
/// [`transcode_seq`] and [`transcode_map`] (other values are not fields of interest here).
struct Field<'a>(Format, &'a mut Vec<u8>);

impl<'de> Visitor<'de> for Field<'_> {
    type Value = Transcoded;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array or an object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Transcoded, A::Error> {
        let start = self.1.len();
        transcode_seq(self.0, seq, self.1)?;
        Ok(Transcoded::Text(self.1[start..].to_vec()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Transcoded, A::Error> {
        let start = self.1.len();
        Ok(match transcode_map(self.0, map, self.1)? {
            TranscodedMap::Object => Transcoded::Text(self.1[start..].to_vec()),
            TranscodedMap::Int64(i) => Transcoded::Int64(i),
            TranscodedMap::Float64(f) => Transcoded::Float64(f.to_bits()),
            TranscodedMap::Bytes(b) => Transcoded::Bytes(b),
        })
    }
}

/// `data` as JSON in every format, through the export_json transcoder ([`ExportJsonSeed`] for
/// any value, [`transcode_map`]/[`transcode_seq`] for a top-level object or array): wherever it
/// succeeds its result is the tree path's; where it fails the tree path fails too, unless the
/// input has an object with unsorted or duplicate keys ([`UNSORTED_KEYS`], which the tree path
/// accepts). A failed transcoding leaves the output buffer as it was.
pub fn check_transcoder(data: &[u8]) {
    const KEPT: &[u8] = b"kept";
    for format in [
        Format::ConvexEncodedJson,
        Format::ExportJson,
        Format::CleanJson,
    ] {
        let mut out = KEPT.to_vec();
        let mut d = serde_json::Deserializer::from_slice(data);
        let fast = match ExportJsonSeed(format, &mut out).deserialize(&mut d) {
            Ok(()) => d
                .end()
                .map(|()| Transcoded::Text(out[KEPT.len()..].to_vec())),
            Err(e) => {
                assert_eq!(
                    out, KEPT,
                    "{format}: a failed transcoding changed the buffer"
                );
                Err(e)
            }
        };
        compare(format, fast, tree_path(data, format, false));

        let is_field = matches!(data.trim_ascii_start().first(), Some(b'[' | b'{'));
        if is_field {
            let mut out = KEPT.to_vec();
            let mut d = serde_json::Deserializer::from_slice(data);
            let fast = d.deserialize_any(Field(format, &mut out));
            if !matches!(fast, Ok(Transcoded::Text(_))) {
                assert_eq!(
                    out, KEPT,
                    "{format}: a field that is not text changed the buffer"
                );
            }
            let fast = fast.and_then(|t| d.end().map(|()| t));
            compare(format, fast, tree_path(data, format, true));
        }
    }
}

fn compare(
    format: Format,
    fast: Result<Transcoded, serde_json::Error>,
    tree: Result<Transcoded, serde_json::Error>,
) {
    match (fast, tree) {
        (Ok(fast), Ok(tree)) => assert_eq!(fast, tree, "{format}: transcoder and tree differ"),
        (Ok(fast), Err(e)) => {
            panic!("{format}: the transcoder gave {fast:?} where the tree path fails: {e}")
        }
        (Err(e), Ok(_)) => assert!(
            e.to_string().contains(UNSORTED_KEYS),
            "{format}: the transcoder failed where the tree path succeeds: {e}"
        ),
        (Err(_), Err(_)) => {}
    }
}
