//! Convex values and their three JSON encodings (spec §5).
//!
//! - [`Format::CleanJson`] (`json`): lossy; Int64 as decimal strings, bytes as base64 strings,
//!   NaN/±Infinity as strings.
//! - [`Format::ConvexEncodedJson`]: lossless; `{"$integer": b64}`, `{"$float": b64}` (only for
//!   −0, ±∞, NaN), `{"$bytes": b64}`; every bare number is a Float64.
//! - [`Format::ExportJson`]: lossless and readable; Int64 as bare integers, floats keep a
//!   fraction or exponent (`5.0`), specials and bytes tagged as in encoded JSON.
//!
//! Encoding goes through `serde_json`, whose float printing (ryu, shortest round trip, `.0` for
//! integral values) is the one Convex itself uses, so output is byte-exact.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// A Convex value (the full type set of spec §5).
#[derive(Clone, Debug)]
pub enum Value {
    /// `null`.
    Null,
    /// A signed 64-bit integer (`v.int64()`).
    Int64(i64),
    /// An IEEE double, including −0.0, NaN and ±∞.
    Float64(f64),
    /// A boolean.
    Boolean(bool),
    /// UTF-8 text.
    String(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An array of values.
    Array(Vec<Value>),
    /// An object; keys are kept in byte order, as Convex serializes them.
    Object(BTreeMap<String, Value>),
}

impl PartialEq for Value {
    /// Structural equality where floats compare by bit pattern, so NaN equals NaN and −0.0 does
    /// not equal 0.0: exactly the distinctions a lossless sync must keep.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Int64(a), Value::Int64(b)) => a == b,
            (Value::Float64(a), Value::Float64(b)) => a.to_bits() == b.to_bits(),
            (Value::Boolean(a), Value::Boolean(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

/// A `format` value accepted by the export endpoints (spec §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `json` / `convex_clean_json`: the lossy default.
    CleanJson,
    /// `convex_encoded_json` / `convex_json`: lossless, tagged.
    ConvexEncodedJson,
    /// `export_json`: lossless, readable (data sync's only format).
    ExportJson,
}

impl Format {
    /// Parses a `format` parameter, accepting the legacy aliases.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" | "convex_clean_json" => Some(Format::CleanJson),
            "convex_encoded_json" | "convex_json" => Some(Format::ConvexEncodedJson),
            "export_json" => Some(Format::ExportJson),
            _ => None,
        }
    }

    /// The canonical name sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::CleanJson => "json",
            Format::ConvexEncodedJson => "convex_encoded_json",
            Format::ExportJson => "export_json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a JSON value could not be decoded into a [`Value`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// A `$integer`/`$float`/`$bytes` tag whose payload is not valid base64 of the right size.
    #[error("invalid `{tag}` payload {payload:?}: {reason}")]
    BadTag {
        /// The tag (`$integer`, …).
        tag: &'static str,
        /// The offending payload, truncated.
        payload: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An object key starting with `$` that is not a known tag.
    #[error("unknown tagged value key `{0}`")]
    UnknownTag(String),
    /// A JSON number that fits neither i64 nor f64.
    #[error("number {0} is out of range")]
    BadNumber(String),
}

impl Value {
    /// Serializes this value in `format` to a compact JSON string.
    pub fn to_json_string(&self, format: Format) -> String {
        serde_json::to_string(&Encoded::new(self, format)).unwrap_or_default()
    }

    /// Writes this value in `format` as compact JSON to `out`.
    pub fn write_json(&self, format: Format, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail and our Serialize impl never errors.
        let _ = serde_json::to_writer(out, &Encoded::new(self, format));
    }

    /// Decodes a JSON value received in `format`.
    ///
    /// Clean JSON is lossy (spec §5): strings stay strings and numbers become Int64 only when
    /// they have no fraction (it cannot be told otherwise without the table's schema).
    pub fn from_json(json: &serde_json::Value, format: Format) -> Result<Value, DecodeError> {
        Ok(match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Boolean(*b),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Number(n) => decode_number(n, format)?,
            serde_json::Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| Value::from_json(v, format))
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(map) => {
                if format != Format::CleanJson
                    && map.len() == 1
                    && let Some((k, v)) = map.iter().next()
                    && k.starts_with('$')
                {
                    return decode_tag(k, v);
                }
                let mut out = BTreeMap::new();
                for (k, v) in map {
                    out.insert(k.clone(), Value::from_json(v, format)?);
                }
                Value::Object(out)
            }
        })
    }

    /// A short name of this value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int64(_) => "int64",
            Value::Float64(_) => "float64",
            Value::Boolean(_) => "boolean",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

fn decode_number(n: &serde_json::Number, format: Format) -> Result<Value, DecodeError> {
    match format {
        // Encoded JSON: every bare number is a Float64 (Int64 is always tagged).
        Format::ConvexEncodedJson => n
            .as_f64()
            .map(Value::Float64)
            .ok_or_else(|| DecodeError::BadNumber(n.to_string())),
        // Export/clean JSON keep the lexical distinction: an integer literal is an Int64.
        Format::ExportJson | Format::CleanJson => {
            if let Some(i) = n.as_i64() {
                Ok(Value::Int64(i))
            } else {
                n.as_f64()
                    .map(Value::Float64)
                    .ok_or_else(|| DecodeError::BadNumber(n.to_string()))
            }
        }
    }
}

fn decode_tag(tag: &str, payload: &serde_json::Value) -> Result<Value, DecodeError> {
    let (name, text): (&'static str, &str) = match (tag, payload.as_str()) {
        ("$integer", Some(s)) => ("$integer", s),
        ("$float", Some(s)) => ("$float", s),
        ("$bytes", Some(s)) => ("$bytes", s),
        ("$integer" | "$float" | "$bytes", None) => {
            return Err(DecodeError::BadTag {
                tag: static_tag(tag),
                payload: truncate(&payload.to_string()),
                reason: "payload must be a base64 string",
            });
        }
        _ => return Err(DecodeError::UnknownTag(tag.to_string())),
    };
    let bytes = B64.decode(text).map_err(|_| DecodeError::BadTag {
        tag: name,
        payload: truncate(text),
        reason: "not standard padded base64",
    })?;
    if name == "$bytes" {
        return Ok(Value::Bytes(bytes));
    }
    let raw: [u8; 8] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| DecodeError::BadTag {
            tag: name,
            payload: truncate(text),
            reason: "must encode exactly 8 bytes",
        })?;
    Ok(if name == "$integer" {
        Value::Int64(i64::from_le_bytes(raw))
    } else {
        Value::Float64(f64::from_le_bytes(raw))
    })
}

fn static_tag(tag: &str) -> &'static str {
    match tag {
        "$integer" => "$integer",
        "$float" => "$float",
        _ => "$bytes",
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Base64 (standard alphabet, padded) of the little-endian bytes of an Int64.
pub fn encode_int64_tag(i: i64) -> String {
    B64.encode(i.to_le_bytes())
}

/// Base64 (standard alphabet, padded) of the little-endian bytes of a Float64.
pub fn encode_float64_tag(f: f64) -> String {
    B64.encode(f.to_le_bytes())
}

/// Base64 (standard alphabet, padded) of raw bytes.
pub fn encode_bytes(b: &[u8]) -> String {
    B64.encode(b)
}

/// True for the floats that lossless formats must tag: −0.0, NaN and ±∞.
pub fn float_needs_tag(f: f64) -> bool {
    !f.is_finite() || (f == 0.0 && f.is_sign_negative())
}

/// A value paired with the format to serialize it in; implements [`Serialize`].
pub struct Encoded<'a> {
    value: &'a Value,
    format: Format,
}

impl<'a> Encoded<'a> {
    /// Wraps `value` for serialization in `format`.
    pub fn new(value: &'a Value, format: Format) -> Self {
        Encoded { value, format }
    }
}

/// Writes a finite float the way Convex does: ryu's shortest round-trip form (`5.0`, `1e20`,
/// `-0.0`). Newer `serde_json` releases print exponents as `1e+20`, so it is not used here.
fn serialize_finite_float<S: Serializer>(s: S, f: f64) -> Result<S::Ok, S::Error> {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(f);
    match serde_json::value::RawValue::from_string(text.to_string()) {
        Ok(raw) => raw.serialize(s),
        Err(_) => s.serialize_f64(f),
    }
}

/// Formats a finite float exactly as Convex prints it (see [`Value`] encodings).
pub fn format_float(f: f64) -> String {
    ryu::Buffer::new().format_finite(f).to_string()
}

fn tagged<S: Serializer>(s: S, tag: &str, payload: &str) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(1))?;
    m.serialize_entry(tag, payload)?;
    m.end()
}

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let format = self.format;
        match self.value {
            Value::Null => s.serialize_unit(),
            Value::Boolean(b) => s.serialize_bool(*b),
            Value::String(t) => s.serialize_str(t),
            Value::Int64(i) => match format {
                Format::CleanJson => s.serialize_str(&i.to_string()),
                Format::ConvexEncodedJson => tagged(s, "$integer", &encode_int64_tag(*i)),
                Format::ExportJson => s.serialize_i64(*i),
            },
            Value::Float64(f) => match format {
                Format::CleanJson if f.is_nan() => s.serialize_str("NaN"),
                Format::CleanJson if *f == f64::INFINITY => s.serialize_str("Infinity"),
                Format::CleanJson if *f == f64::NEG_INFINITY => s.serialize_str("-Infinity"),
                Format::ConvexEncodedJson | Format::ExportJson if float_needs_tag(*f) => {
                    tagged(s, "$float", &encode_float64_tag(*f))
                }
                Format::CleanJson | Format::ConvexEncodedJson | Format::ExportJson => {
                    serialize_finite_float(s, *f)
                }
            },
            Value::Bytes(b) => match format {
                Format::CleanJson => s.serialize_str(&encode_bytes(b)),
                Format::ConvexEncodedJson | Format::ExportJson => {
                    tagged(s, "$bytes", &encode_bytes(b))
                }
            },
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Encoded::new(item, format))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, &Encoded::new(v, format))?;
                }
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value, f: Format) -> String {
        v.to_json_string(f)
    }

    #[test]
    fn int64_encodings_match_spec_examples() {
        assert_eq!(
            enc(&Value::Int64(1), Format::ConvexEncodedJson),
            r#"{"$integer":"AQAAAAAAAAA="}"#
        );
        assert_eq!(
            enc(&Value::Int64(-1), Format::ConvexEncodedJson),
            r#"{"$integer":"//////////8="}"#
        );
        assert_eq!(enc(&Value::Int64(42), Format::CleanJson), r#""42""#);
        assert_eq!(enc(&Value::Int64(42), Format::ExportJson), "42");
    }

    #[test]
    fn float_specials_match_spec_examples() {
        let e = Format::ConvexEncodedJson;
        assert_eq!(
            enc(&Value::Float64(f64::NAN), e),
            r#"{"$float":"AAAAAAAA+H8="}"#
        );
        assert_eq!(
            enc(&Value::Float64(f64::INFINITY), e),
            r#"{"$float":"AAAAAAAA8H8="}"#
        );
        assert_eq!(
            enc(&Value::Float64(f64::NEG_INFINITY), e),
            r#"{"$float":"AAAAAAAA8P8="}"#
        );
        assert_eq!(
            enc(&Value::Float64(-0.0), e),
            r#"{"$float":"AAAAAAAAAIA="}"#
        );
        assert_eq!(enc(&Value::Float64(-0.0), Format::CleanJson), "-0.0");
        assert_eq!(enc(&Value::Float64(5.0), Format::ExportJson), "5.0");
        assert_eq!(enc(&Value::Float64(1e20), Format::CleanJson), "1e20");
        assert_eq!(
            enc(&Value::Float64(f64::NAN), Format::CleanJson),
            r#""NaN""#
        );
        assert_eq!(
            enc(&Value::Float64(f64::NEG_INFINITY), Format::CleanJson),
            r#""-Infinity""#
        );
    }

    #[test]
    fn lossless_formats_round_trip_every_type() {
        let mut obj = BTreeMap::new();
        obj.insert("a".to_string(), Value::Int64(i64::MIN));
        obj.insert("b".to_string(), Value::Bytes(vec![0, 255, 1]));
        obj.insert("c".to_string(), Value::String("héllo \u{0} 😀".into()));
        let values = vec![
            Value::Null,
            Value::Int64(i64::MAX),
            Value::Int64(0),
            Value::Float64(0.1),
            Value::Float64(-0.0),
            Value::Float64(f64::NAN),
            Value::Float64(f64::INFINITY),
            Value::Float64(5.0),
            Value::Float64(f64::MIN_POSITIVE),
            Value::Boolean(false),
            Value::String(String::new()),
            Value::Bytes(vec![]),
            Value::Array(vec![Value::Int64(1), Value::Float64(1.0)]),
            Value::Object(obj),
        ];
        for format in [Format::ConvexEncodedJson, Format::ExportJson] {
            for v in &values {
                let text = enc(v, format);
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    &Value::from_json(&json, format).unwrap(),
                    v,
                    "{format}: {text}"
                );
            }
        }
    }

    #[test]
    fn bad_tags_are_errors_not_panics() {
        let j: serde_json::Value = serde_json::from_str(r#"{"$integer":"AQ=="}"#).unwrap();
        assert!(Value::from_json(&j, Format::ConvexEncodedJson).is_err());
        let j: serde_json::Value = serde_json::from_str(r#"{"$integer":"!!"}"#).unwrap();
        assert!(Value::from_json(&j, Format::ConvexEncodedJson).is_err());
        let j: serde_json::Value = serde_json::from_str(r#"{"$nope":"x"}"#).unwrap();
        assert!(Value::from_json(&j, Format::ConvexEncodedJson).is_err());
    }

    #[test]
    fn encoded_bare_numbers_are_floats() {
        let j: serde_json::Value = serde_json::from_str("3").unwrap();
        assert_eq!(
            Value::from_json(&j, Format::ConvexEncodedJson).unwrap(),
            Value::Float64(3.0)
        );
        assert_eq!(
            Value::from_json(&j, Format::ExportJson).unwrap(),
            Value::Int64(3)
        );
    }
}
