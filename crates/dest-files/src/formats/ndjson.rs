//! NDJSON parts: one JSON object per row, every column present (`null` for null).
//!
//! Integers are JSON integers (all 64 bits), floats are numbers in the export_json form
//! (`5.0`, `1e20`; NaN, ±∞ and −0.0 as `{"$float": "<base64 of the 8 little-endian
//! bytes>"}`), text is a string, bytes a base64 string, JSON columns the JSON value itself.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;

use arrow_array::RecordBatch;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use spillway_core::ColumnType;
use spillway_core::batch::float_json;
use spillway_core::table::TableSchema;

use super::builder::{Cells, ColBuilder, all_columns, finish, push_base64};

/// Appends the JSON text of element `i` (`null` for null) to `out`.
fn push_value(out: &mut Vec<u8>, cells: &Cells<'_>, i: usize) -> Result<(), String> {
    if cells.is_null(i) {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    match cells {
        Cells::Null => out.extend_from_slice(b"null"),
        Cells::Bool(a) => out.extend_from_slice(if a.value(i) { b"true" } else { b"false" }),
        Cells::Int(a) => write!(out, "{}", a.value(i)).map_err(|e| e.to_string())?,
        Cells::Float(a) => {
            let f = a.value(i);
            if f.is_finite() && !(f == 0.0 && f.is_sign_negative()) {
                out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
            } else {
                // NaN, ±∞, −0.0: the export_json tag (rare; allocates).
                out.extend_from_slice(float_json(f).as_bytes());
            }
        }
        Cells::Str(a, false) => {
            serde_json::to_writer(&mut *out, a.value(i)).map_err(|e| e.to_string())?
        }
        Cells::Str(a, true) => {
            let text = a.value(i);
            serde_json::from_str::<&RawValue>(text)
                .map_err(|e| format!("the JSON value {text:?} is not valid JSON: {e}"))?;
            out.extend_from_slice(text.as_bytes());
        }
        Cells::Bin(a) => {
            out.push(b'"');
            push_base64(out, a.value(i))?;
            out.push(b'"');
        }
    }
    Ok(())
}

pub(super) fn encode(columns: &TableSchema, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let all = all_columns(columns);
    let keys: Vec<String> = all
        .iter()
        .map(|(n, _)| serde_json::to_string(n).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for b in batches {
        let cells = all
            .iter()
            .enumerate()
            .map(|(c, (name, ty))| {
                Cells::new(b.column(c), *ty).map_err(|e| format!("column {name:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..b.num_rows() {
            out.push(b'{');
            for (c, (col, key)) in cells.iter().zip(&keys).enumerate() {
                if c > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key.as_bytes());
                out.push(b':');
                push_value(&mut out, col, row)
                    .map_err(|e| format!("column {}, row {row}: {e}", all[c].0))?;
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
            // `raw` is valid JSON: a string without a backslash is its text between the quotes.
            match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(inner) if !inner.contains('\\') => b.push_text(inner),
                _ => {
                    let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
                    b.push_text(&s)
                }
            }
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

/// An object key, borrowed from the line unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// One line's object, read into `slots` (by column position; keys not in `index` are
/// skipped, a repeated key keeps its last value) without building a map per line.
struct Line<'a, 'de> {
    index: &'a HashMap<&'a str, usize>,
    slots: &'a mut [Option<&'de RawValue>],
}

impl<'de> DeserializeSeed<'de> for Line<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Line<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            if let Some(&c) = self.index.get(key.0.as_ref()) {
                self.slots[c] = Some(value);
            }
        }
        Ok(())
    }
}

pub(super) fn decode(columns: &TableSchema, text: &str) -> Result<Vec<RecordBatch>, String> {
    let all = all_columns(columns);
    let index: HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(c, (name, _))| (name.as_str(), c))
        .collect();
    let mut builders: Vec<ColBuilder> = all.iter().map(|(_, t)| ColBuilder::new(*t)).collect();
    let mut slots: Vec<Option<&RawValue>> = vec![None; all.len()];
    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        slots.fill(None);
        let mut de = serde_json::Deserializer::from_str(line);
        Line {
            index: &index,
            slots: &mut slots,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| format!("line {}: not a JSON object: {e}", line_no + 1))?;
        for (((name, ty), b), slot) in all.iter().zip(&mut builders).zip(&slots) {
            match slot {
                None => b.push_null(),
                Some(raw) => push(b, *ty, raw)
                    .map_err(|e| format!("line {}, column {name:?}: {e}", line_no + 1))?,
            }
        }
    }
    Ok(vec![finish(columns, &mut builders)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    #[test]
    fn lines_are_read_by_key_whatever_their_order_escapes_or_extra_keys() {
        let columns = TableSchema {
            columns: vec![
                ("t".to_string(), ColumnType::Utf8),
                ("a\"b".to_string(), ColumnType::Int64),
                ("gone".to_string(), ColumnType::Boolean),
            ],
        };
        let text = concat!(
            r#"{"a\"b": 7, "extra": {"x": [1]}, "t": "say \"hi\"", "_id": "x", "_ts": 1,"#,
            r#" "_deleted": false, "_creationTime": 0.5}"#,
            "\n\n",
            r#"{"_id":"y","_ts":2,"_deleted":true,"_creationTime":null,"t":"plain","t":"last"}"#,
            "\n"
        );
        let b = &decode(&columns, text).unwrap()[0];
        assert_eq!(b.num_rows(), 2);
        let t = b.column(4).as_string::<i32>();
        assert_eq!(t.value(0), "say \"hi\"");
        assert_eq!(t.value(1), "last");
        let n = b.column(5).as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(n.value(0), 7);
        assert!(n.is_null(1));
        assert_eq!(b.column(6).null_count(), 2);
        assert!(decode(&columns, "[1]\n").unwrap_err().contains("line 1"));
        assert!(decode(&columns, "{} x\n").is_err());
    }
}
