//! Transcoding a value received as JSON straight to its `export_json` text, without building a
//! [`Value`](crate::Value) tree ([`ExportJsonSeed`], [`transcode_map`], [`transcode_seq`]).
//!
//! The output is byte for byte what [`ValueSeed`](crate::value_de::ValueSeed) followed by
//! [`Value::write_json`](crate::Value::write_json)`(Format::ExportJson, ..)` gives, and an input
//! that path refuses is refused here too. One difference is deliberate: a
//! [`Value::Object`](crate::Value::Object) is a `BTreeMap`, so the tree path prints an object's
//! keys sorted bytewise and keeps only the last of duplicate keys, while the transcoder writes
//! keys in input order. It therefore refuses an object whose keys are not strictly increasing
//! bytewise (error message [`UNSORTED_KEYS`]); the caller falls back to the tree path. Convex
//! always sends sorted keys.
//!
//! Strings are borrowed from the input where the deserializer allows and written with
//! `serde_json`'s own escaping; nothing is allocated per value (tagged `$bytes` are decoded in
//! the spare capacity of the output buffer).

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::value::{DecodeError, Format, float_needs_tag};

/// The message of the error returned for an object whose keys are not strictly increasing
/// bytewise (unsorted or duplicate keys). The tree path would accept such an object (sorting
/// its keys, keeping the last duplicate), so a caller seeing this error should decode the value
/// with [`ValueSeed`](crate::value_de::ValueSeed) instead. Deserializers may add a position
/// to the message, so test with `contains`.
pub const UNSORTED_KEYS: &str = "object keys are not in strictly increasing byte order";

/// Deserializes one value received in format `.0` and appends its `export_json` text to `.1`.
///
/// Same text as decoding with [`ValueSeed`](crate::value_de::ValueSeed) and writing the value
/// with [`Value::write_json`](crate::Value::write_json)`(Format::ExportJson, ..)`, including
/// for tagged scalars (`{"$integer": ..}` becomes a bare integer). On error the buffer is left
/// as it was.
///
/// ```
/// use serde::de::DeserializeSeed;
/// use spillway_convex_protocol::Format;
/// use spillway_convex_protocol::json_text::ExportJsonSeed;
///
/// let mut out = Vec::new();
/// let mut d = serde_json::Deserializer::from_str(r#"[5, {"$integer": "AQAAAAAAAAA="}]"#);
/// ExportJsonSeed(Format::ConvexEncodedJson, &mut out).deserialize(&mut d).unwrap();
/// assert_eq!(out, b"[5.0,1]");
/// ```
#[derive(Debug)]
pub struct ExportJsonSeed<'a>(pub Format, pub &'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for ExportJsonSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let ExportJsonSeed(format, out) = self;
        let start = out.len();
        let result = d.deserialize_any(Transcoder {
            format,
            out: &mut *out,
        });
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// What [`transcode_map`] found: an object (its text was appended) or a tagged scalar.
#[derive(Clone, Debug, PartialEq)]
pub enum TranscodedMap {
    /// An ordinary object; its `export_json` text was appended to the buffer.
    Object,
    /// A one-key `{"$integer": ..}` object: an Int64. Nothing was appended.
    Int64(i64),
    /// A one-key `{"$float": ..}` object: a Float64 (any value, also finite ones). Nothing was
    /// appended.
    Float64(f64),
    /// A one-key `{"$bytes": ..}` object: the decoded bytes. Nothing was appended.
    Bytes(Vec<u8>),
}

/// Transcodes the object whose entries `map` yields (from a [`Visitor::visit_map`]) received
/// in `format`, where a one-key `$integer`/`$float`/`$bytes` object is a scalar (lossless
/// formats only): an object's `export_json` text is appended to `out`
/// ([`TranscodedMap::Object`]); a tagged scalar is returned as a value and `out` is unchanged.
///
/// Equivalent to `ValueSeed(format).visit_map(map)` followed, for an object, by
/// `write_json(Format::ExportJson, out)`; it fails where that fails, and also on unsorted or
/// duplicate keys ([`UNSORTED_KEYS`]). On error `out` is left as it was.
///
/// ```
/// use std::fmt;
/// use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
/// use spillway_convex_protocol::Format;
/// use spillway_convex_protocol::json_text::{TranscodedMap, transcode_map};
///
/// struct Field<'a>(&'a mut Vec<u8>);
/// impl<'de> Visitor<'de> for Field<'_> {
///     type Value = TranscodedMap;
///     fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("an object")
///     }
///     fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TranscodedMap, A::Error> {
///         transcode_map(Format::ExportJson, map, self.0)
///     }
/// }
///
/// let mut out = Vec::new();
/// let mut d = serde_json::Deserializer::from_str(r#"{"$integer": "AQAAAAAAAAA="}"#);
/// assert_eq!(d.deserialize_map(Field(&mut out)).unwrap(), TranscodedMap::Int64(1));
/// assert!(out.is_empty());
/// let mut d = serde_json::Deserializer::from_str(r#"{"a": 1, "b": [2.5]}"#);
/// assert_eq!(d.deserialize_map(Field(&mut out)).unwrap(), TranscodedMap::Object);
/// assert_eq!(out, br#"{"a":1,"b":[2.5]}"#);
/// ```
pub fn transcode_map<'de, A: MapAccess<'de>>(
    format: Format,
    map: A,
    out: &mut Vec<u8>,
) -> Result<TranscodedMap, A::Error> {
    let start = out.len();
    let result = match object(format, map, out) {
        Ok(Map::Object) => return Ok(TranscodedMap::Object),
        Err(e) => Err(e),
        Ok(Map::Int64(i)) => Ok(TranscodedMap::Int64(i)),
        Ok(Map::Float64(f)) => Ok(TranscodedMap::Float64(f)),
        Ok(Map::Bytes { decoded, .. }) => Ok(TranscodedMap::Bytes(out[decoded].to_vec())),
    };
    out.truncate(start);
    result
}

/// Transcodes the array whose elements `seq` yields (from a [`Visitor::visit_seq`]) received in
/// `format`, appending its `export_json` text to `out`.
///
/// Equivalent to `ValueSeed(format).visit_seq(seq)` followed by
/// `write_json(Format::ExportJson, out)`; it fails where that fails, and also on an object
/// with unsorted or duplicate keys inside ([`UNSORTED_KEYS`]). On error `out` is left as it
/// was.
pub fn transcode_seq<'de, A: SeqAccess<'de>>(
    format: Format,
    seq: A,
    out: &mut Vec<u8>,
) -> Result<(), A::Error> {
    let start = out.len();
    let result = array(format, seq, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The visitor (and seed) of one value: appends its text to `out`, leaving garbage on error.
struct Transcoder<'a> {
    format: Format,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Transcoder<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

// Mirrors `ValueSeed`'s visitor method for method (the ones it leaves to their defaults are
// left to theirs here), so both accept and refuse the same token streams.
impl<'de> Visitor<'de> for Transcoder<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a Convex value in {}", self.format)
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E>(self, i: i64) -> Result<(), E> {
        write_int_literal(self.format, i, self.out);
        Ok(())
    }

    fn visit_u64<E>(self, u: u64) -> Result<(), E> {
        match i64::try_from(u) {
            Ok(i) => write_int_literal(self.format, i, self.out),
            Err(_) => write_float(u as f64, self.out),
        }
        Ok(())
    }

    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        write_float(f, self.out);
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        write_str(s, self.out);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        array(self.format, seq, self.out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let start = self.out.len();
        match object(self.format, map, self.out)? {
            Map::Object => {}
            Map::Int64(i) => {
                self.out.truncate(start);
                write_int(i, self.out);
            }
            Map::Float64(f) => {
                self.out.truncate(start);
                write_float(f, self.out);
            }
            Map::Bytes { payload, decoded } => {
                // `out[start..]` is `{"$bytes":"<payload>` then the decoded bytes: re-encode
                // them (the tree path's canonical base64) over the payload.
                debug_assert_eq!(&self.out[start..payload.start], br#"{"$bytes":""#);
                let len = encoded_len(decoded.len());
                let at = self.out.len();
                self.out.resize(at + len, 0);
                let (head, tail) = self.out.split_at_mut(at);
                let written = B64.encode_slice(&head[decoded], tail).unwrap_or(0);
                debug_assert_eq!(written, len);
                self.out.copy_within(at..at + len, payload.start);
                self.out.truncate(payload.start + len);
                self.out.extend_from_slice(b"\"}");
            }
        }
        Ok(())
    }
}

/// An integer literal: a Float64 in encoded JSON (every bare number is), else an Int64.
fn write_int_literal(format: Format, i: i64, out: &mut Vec<u8>) {
    match format {
        Format::ConvexEncodedJson => write_float(i as f64, out),
        Format::ExportJson | Format::CleanJson => write_int(i, out),
    }
}

/// An Int64 in export_json: a bare integer.
fn write_int(i: i64, out: &mut Vec<u8>) {
    // The tree path's serializer (itoa); writing into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &i);
}

/// A Float64 in export_json: ryu's shortest form, or `{"$float": ..}` for −0.0, NaN and ±∞.
fn write_float(f: f64, out: &mut Vec<u8>) {
    if float_needs_tag(f) {
        let mut b64 = [0u8; 12];
        let n = B64.encode_slice(f.to_le_bytes(), &mut b64).unwrap_or(0);
        out.extend_from_slice(br#"{"$float":""#);
        out.extend_from_slice(&b64[..n]);
        out.extend_from_slice(b"\"}");
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    }
}

/// A JSON string with `serde_json`'s escaping (the tree path's serializer).
fn write_str(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes exactly these bytes; a string without them is copied as is. The
    // scan has no early exit so that it vectorizes.
    let escapes = s
        .bytes()
        .fold(false, |e, b| e | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if escapes {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn encoded_len(bytes: usize) -> usize {
    base64::encoded_len(bytes, true).unwrap_or(usize::MAX)
}

fn array<'de, A: SeqAccess<'de>>(
    format: Format,
    mut seq: A,
    out: &mut Vec<u8>,
) -> Result<(), A::Error> {
    out.push(b'[');
    let mut first = true;
    loop {
        if !first {
            out.push(b',');
        }
        let seed = Transcoder {
            format,
            out: &mut *out,
        };
        if seq.next_element_seed(seed)?.is_none() {
            if !first {
                out.pop();
            }
            break;
        }
        first = false;
    }
    out.push(b']');
    Ok(())
}

/// What [`object`] found. For a tagged scalar, `out` holds garbage after the object's start.
enum Map {
    /// An object, written.
    Object,
    Int64(i64),
    Float64(f64),
    /// `out[start..]` is `{"$bytes":"<payload>`, then the decoded bytes (`out[decoded]`).
    Bytes {
        payload: Range<usize>,
        decoded: Range<usize>,
    },
}

/// Mirrors `ValueSeed::visit_map`: the first value is transcoded before it is known whether a
/// `$` first key makes the object a tagged scalar (no second key).
fn object<'de, A: MapAccess<'de>>(
    format: Format,
    mut map: A,
    out: &mut Vec<u8>,
) -> Result<Map, A::Error> {
    out.push(b'{');
    let Some(first) = map.next_key_seed(KeySeed { out, prev: None })? else {
        out.push(b'}');
        return Ok(Map::Object);
    };
    let value_start = out.len();
    map.next_value_seed(Transcoder { format, out })?;
    let mut prev = first;
    if format != Format::CleanJson && first.dollar {
        let seed = KeySeed {
            out,
            prev: Some(first),
        };
        match map.next_key_seed(seed)? {
            None => return tag(first, value_start, out).map_err(de::Error::custom),
            Some(second) => {
                map.next_value_seed(Transcoder { format, out })?;
                prev = second;
            }
        }
    }
    loop {
        let seed = KeySeed {
            out,
            prev: Some(prev),
        };
        let Some(key) = map.next_key_seed(seed)? else {
            break;
        };
        map.next_value_seed(Transcoder { format, out })?;
        prev = key;
    }
    out.push(b'}');
    Ok(Map::Object)
}

/// Decodes the one-key object `{key: value}` written at the end of `out` (the value from
/// `value_start`) as a tagged scalar, exactly as `Value::from_json` does.
fn tag(key: Key, value_start: usize, out: &mut Vec<u8>) -> Result<Map, DecodeError> {
    // An escaped key has a backslash in its text, so it matches no tag, as its raw text
    // would not either.
    let name: &'static str = match &out[key.range()] {
        b"$integer" => "$integer",
        b"$float" => "$float",
        b"$bytes" => "$bytes",
        other => {
            let raw: Vec<u8> = Unescape(other.iter()).collect();
            return Err(DecodeError::UnknownTag(
                String::from_utf8_lossy(&raw).into_owned(),
            ));
        }
    };
    let bad = |payload: &[u8], reason| DecodeError::BadTag {
        tag: name,
        payload: String::from_utf8_lossy(payload).chars().take(40).collect(),
        reason,
    };
    if out[value_start] != b'"' {
        return Err(bad(&out[value_start..], "payload must be a base64 string"));
    }
    // The string's escaped text: equal to the string unless it holds a character that JSON
    // escapes, none of which is base64 (then both fail to decode).
    let payload = value_start + 1..out.len() - 1;
    let at = out.len();
    out.resize(at + base64::decoded_len_estimate(payload.len()), 0);
    let (head, tail) = out.split_at_mut(at);
    let decoded = match B64.decode_slice(&head[payload.clone()], tail) {
        Ok(n) => at..at + n,
        Err(_) => return Err(bad(&out[payload], "not standard padded base64")),
    };
    out.truncate(decoded.end);
    if name == "$bytes" {
        return Ok(Map::Bytes { payload, decoded });
    }
    let Ok(raw) = <[u8; 8]>::try_from(&out[decoded]) else {
        return Err(bad(&out[payload], "must encode exactly 8 bytes"));
    };
    Ok(if name == "$integer" {
        Map::Int64(i64::from_le_bytes(raw))
    } else {
        Map::Float64(f64::from_le_bytes(raw))
    })
}

/// A key as written to the output.
#[derive(Clone, Copy)]
struct Key {
    /// Where its escaped text (without quotes) is in the output.
    text: (usize, usize),
    /// Whether that text differs from the key (it had characters JSON escapes).
    escaped: bool,
    /// Whether the key starts with `$`.
    dollar: bool,
}

impl Key {
    fn range(self) -> Range<usize> {
        self.text.0..self.text.1
    }
}

/// Reads one object key (as `String`'s `Deserialize` does), checks that it sorts after the
/// previous key and writes it (`,"key":`).
struct KeySeed<'a> {
    out: &'a mut Vec<u8>,
    prev: Option<Key>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_string(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
        if let Some(prev) = self.prev {
            let text = &self.out[prev.range()];
            let order = if prev.escaped {
                s.bytes().cmp(Unescape(text.iter()))
            } else {
                s.as_bytes().cmp(text)
            };
            if order != Ordering::Greater {
                return Err(E::custom(UNSORTED_KEYS));
            }
            self.out.push(b',');
        }
        let start = self.out.len() + 1;
        write_str(s, self.out);
        let end = self.out.len() - 1;
        self.out.push(b':');
        Ok(Key {
            text: (start, end),
            escaped: end - start != s.len(),
            dollar: s.starts_with('$'),
        })
    }

    // As `String`'s visitor: bytes are accepted when they are UTF-8.
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Key, E> {
        match std::str::from_utf8(v) {
            Ok(s) => self.visit_str(s),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
        }
    }
}

/// The bytes of a string from its text as `serde_json` escapes it (`\"`, `\\`, `\b`, `\f`,
/// `\n`, `\r`, `\t`, `\u00XX`).
struct Unescape<'a>(std::slice::Iter<'a, u8>);

impl Iterator for Unescape<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.0.next()?;
        if b != b'\\' {
            return Some(b);
        }
        Some(match *self.0.next()? {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                // Only control characters are written as `\u00XX`.
                let mut v = 0u32;
                for _ in 0..4 {
                    v = v * 16 + (*self.0.next()? as char).to_digit(16).unwrap_or(0);
                }
                v as u8
            }
            other => other,
        })
    }
}

#[cfg(test)]
#[path = "json_text_tests.rs"]
mod tests;
