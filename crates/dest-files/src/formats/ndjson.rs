//! NDJSON parts: one JSON object per row, every column present (`null` for null).
//!
//! Integers are JSON integers (all 64 bits), floats are numbers in the export_json form
//! (`5.0`, `1e20`; NaN, ±∞ and −0.0 as `{"$float": "<base64 of the 8 little-endian
//! bytes>"}`), text is a string, bytes a base64 string, JSON columns the JSON value itself.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::value::RawValue;
use spillway_core::ColumnType;
use spillway_core::batch::float_json;
use spillway_core::table::TableSchema;

use super::builder::{ColBuilder, all_columns, finish};

/// The JSON text of element `i`, or `None` for null.
fn json_value(a: &ArrayRef, ty: ColumnType, i: usize) -> Result<Option<String>, String> {
    if a.is_null(i) {
        return Ok(None);
    }
    Ok(Some(match ty {
        ColumnType::Null => return Ok(None),
        ColumnType::Boolean => a.as_boolean().value(i).to_string(),
        ColumnType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        ColumnType::Float64 => float_json(a.as_primitive::<Float64Type>().value(i)),
        ColumnType::Utf8 => {
            serde_json::to_string(a.as_string::<i32>().value(i)).map_err(|e| e.to_string())?
        }
        ColumnType::Binary => format!("\"{}\"", B64.encode(a.as_binary::<i32>().value(i))),
        ColumnType::Json => {
            let text = a.as_string::<i32>().value(i);
            serde_json::from_str::<&RawValue>(text)
                .map_err(|e| format!("the JSON value {text:?} is not valid JSON: {e}"))?;
            text.to_string()
        }
    }))
}

pub(super) fn encode(columns: &TableSchema, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let all = all_columns(columns);
    let keys: Vec<String> = all
        .iter()
        .map(|(n, _)| serde_json::to_string(n).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for b in batches {
        for row in 0..b.num_rows() {
            out.push(b'{');
            for (c, ((_, ty), key)) in all.iter().zip(&keys).enumerate() {
                if c > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key.as_bytes());
                out.push(b':');
                let v = json_value(b.column(c), *ty, row)
                    .map_err(|e| format!("column {}, row {row}: {e}", all[c].0))?;
                out.extend_from_slice(v.as_deref().unwrap_or("null").as_bytes());
            }
            out.extend_from_slice(b"}\n");
        }
    }
    Ok(out)
}

/// Appends one JSON value to `b` as a value of type `ty`.
fn push(b: &mut ColBuilder, ty: ColumnType, raw: &RawValue) -> Result<(), String> {
    let text = raw.get();
    if text == "null" {
        b.push_null();
        return Ok(());
    }
    match ty {
        ColumnType::Utf8 | ColumnType::Binary => {
            let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
            b.push_text(&s)
        }
        ColumnType::Float64 if text.starts_with('{') => {
            #[derive(serde::Deserialize)]
            struct Tagged {
                #[serde(rename = "$float")]
                float: String,
            }
            let t: Tagged = serde_json::from_str(text).map_err(|e| e.to_string())?;
            let bytes: [u8; 8] = B64
                .decode(&t.float)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| format!("{text} is not a $float of 8 bytes"))?;
            b.push_f64(f64::from_le_bytes(bytes))
        }
        _ => b.push_text(text),
    }
}

pub(super) fn decode(columns: &TableSchema, text: &str) -> Result<Vec<RecordBatch>, String> {
    let all = all_columns(columns);
    let mut builders: Vec<ColBuilder> = all.iter().map(|(_, t)| ColBuilder::new(*t)).collect();
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let obj: HashMap<String, &RawValue> = serde_json::from_str(line)
            .map_err(|e| format!("line {}: not a JSON object: {e}", line_no + 1))?;
        for ((name, ty), b) in all.iter().zip(&mut builders) {
            match obj.get(name) {
                None => b.push_null(),
                Some(raw) => push(b, *ty, raw)
                    .map_err(|e| format!("line {}, column {name:?}: {e}", line_no + 1))?,
            }
        }
    }
    Ok(vec![finish(columns, &mut builders)?])
}
