//! The compact binary form in which the store keeps document values.
//!
//! Each value is one tag byte followed by its payload: nothing for null and booleans, a zigzag
//! LEB128 varint for Int64, the 8 little-endian bytes of a Float64 (so −0.0 and every NaN
//! payload survive), a varint length then the raw bytes for strings and bytes, a varint count
//! then the items for arrays, and a varint count then `(varint key length, key, value)` entries
//! in key byte order for objects. A document's user fields are stored as the entries of one
//! object. The buffers are only ever written by [`encode_fields`], so readers trust them: a
//! malformed buffer (a bug) reads as nulls and empty strings rather than panicking.

use std::collections::BTreeMap;

use spillway_convex_protocol::Value;

/// Tag bytes of the encoded values.
pub(super) mod tag {
    /// `null`.
    pub(crate) const NULL: u8 = 0;
    /// Int64, zigzag varint.
    pub(crate) const INT64: u8 = 1;
    /// Float64, 8 bytes little-endian.
    pub(crate) const FLOAT64: u8 = 2;
    /// `false`.
    pub(crate) const FALSE: u8 = 3;
    /// `true`.
    pub(crate) const TRUE: u8 = 4;
    /// UTF-8 text: varint length, bytes.
    pub(crate) const STRING: u8 = 5;
    /// Raw bytes: varint length, bytes.
    pub(crate) const BYTES: u8 = 6;
    /// Array: varint count, items.
    pub(crate) const ARRAY: u8 = 7;
    /// Object: varint count, `(key, value)` entries in key byte order.
    pub(crate) const OBJECT: u8 = 8;
}

/// Appends `v` as an unsigned LEB128 varint.
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends the encoded form of `v`.
pub(super) fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(tag::NULL),
        Value::Int64(i) => {
            out.push(tag::INT64);
            put_varint(out, ((*i << 1) ^ (*i >> 63)) as u64);
        }
        Value::Float64(f) => {
            out.push(tag::FLOAT64);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Boolean(false) => out.push(tag::FALSE),
        Value::Boolean(true) => out.push(tag::TRUE),
        Value::String(s) => {
            out.push(tag::STRING);
            put_bytes(out, s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(tag::BYTES);
            put_bytes(out, b);
        }
        Value::Array(items) => {
            out.push(tag::ARRAY);
            put_varint(out, items.len() as u64);
            for item in items {
                encode_value(item, out);
            }
        }
        Value::Object(map) => {
            out.push(tag::OBJECT);
            encode_fields(map, out);
        }
    }
}

/// Appends the entries of an object (count, then key/value pairs in key byte order).
pub(super) fn encode_fields(fields: &BTreeMap<String, Value>, out: &mut Vec<u8>) {
    put_varint(out, fields.len() as u64);
    // BTreeMap<String, _> iterates in byte order, the order every export body uses.
    for (k, v) in fields {
        put_bytes(out, k.as_bytes());
        encode_value(v, out);
    }
}

/// A cursor over an encoded buffer, consuming it from the front.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// The next byte (`0`, a null tag, at the end).
    pub(super) fn byte(&mut self) -> u8 {
        match self.buf.split_first() {
            Some((b, rest)) => {
                self.buf = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next `n` bytes (fewer at the end).
    pub(super) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.buf.split_at(n.min(self.buf.len()));
        self.buf = rest;
        head
    }

    /// The next unsigned varint.
    pub(super) fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte();
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            if b & 0x80 == 0 || self.buf.is_empty() {
                return v;
            }
            shift += 7;
        }
    }

    /// A varint count, capped by the bytes left (every element takes at least one byte), so a
    /// malformed buffer cannot ask for a huge allocation.
    pub(super) fn count(&mut self) -> usize {
        (self.varint() as usize).min(self.buf.len())
    }

    /// A length-prefixed byte string.
    pub(super) fn bytes(&mut self) -> &'a [u8] {
        let n = self.varint() as usize;
        self.take(n)
    }

    /// A zigzag-encoded Int64 payload.
    pub(super) fn int64(&mut self) -> i64 {
        let z = self.varint();
        ((z >> 1) as i64) ^ -((z & 1) as i64)
    }

    /// A Float64 payload.
    pub(super) fn float64(&mut self) -> f64 {
        let mut raw = [0u8; 8];
        let b = self.take(8);
        raw[..b.len()].copy_from_slice(b);
        f64::from_bits(u64::from_le_bytes(raw))
    }

    /// Skips one value.
    pub(super) fn skip_value(&mut self) {
        match self.byte() {
            tag::INT64 => {
                self.varint();
            }
            tag::FLOAT64 => {
                self.take(8);
            }
            tag::STRING | tag::BYTES => {
                self.bytes();
            }
            tag::ARRAY => {
                for _ in 0..self.count() {
                    self.skip_value();
                }
            }
            tag::OBJECT => {
                for _ in 0..self.count() {
                    self.bytes();
                    self.skip_value();
                }
            }
            _ => {}
        }
    }

    /// Decodes one value.
    pub(super) fn value(&mut self) -> Value {
        match self.byte() {
            tag::INT64 => Value::Int64(self.int64()),
            tag::FLOAT64 => Value::Float64(self.float64()),
            tag::FALSE => Value::Boolean(false),
            tag::TRUE => Value::Boolean(true),
            tag::STRING => Value::String(text(self.bytes())),
            tag::BYTES => Value::Bytes(self.bytes().to_vec()),
            tag::ARRAY => {
                let n = self.count();
                Value::Array((0..n).map(|_| self.value()).collect())
            }
            tag::OBJECT => Value::Object(self.fields()),
            _ => Value::Null,
        }
    }

    /// Decodes the entries of an object (what [`encode_fields`] wrote).
    pub(super) fn fields(&mut self) -> BTreeMap<String, Value> {
        let n = self.count();
        (0..n)
            .map(|_| {
                let k = text(self.bytes());
                (k, self.value())
            })
            .collect()
    }
}

/// Stored text back as a `String` (always valid UTF-8: it came from a `String`).
pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// A random value of every type, nested up to `depth`.
    pub(crate) fn random_value(rng: &mut SplitMix64, depth: u32) -> Value {
        let pick = rng.below(if depth == 0 { 6 } else { 8 });
        match pick {
            0 => Value::Null,
            1 => Value::Int64(match rng.below(4) {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => rng.below(300) as i64 - 150,
                _ => rng.next_u64() as i64,
            }),
            2 => Value::Float64(match rng.below(8) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => -0.0,
                4 => 0.0,
                5 => 1e20,
                6 => (rng.below(10_000) as f64) / 7.0,
                _ => f64::from_bits(rng.next_u64()),
            }),
            3 => Value::Boolean(rng.below(2) == 0),
            4 => Value::String(random_text(rng)),
            5 => Value::Bytes((0..rng.below(12)).map(|_| rng.next_u64() as u8).collect()),
            6 => Value::Array(
                (0..rng.below(4))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.below(4))
                    .map(|_| (random_text(rng), random_value(rng, depth - 1)))
                    .collect(),
            ),
        }
    }

    /// Text mixing ASCII, JSON escapes, control characters and multi-byte characters.
    pub(crate) fn random_text(rng: &mut SplitMix64) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "_", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "😀",
            "方", "\u{2028}", " ", "$integer",
        ];
        (0..rng.below(6))
            .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
            .collect()
    }

    #[test]
    fn values_round_trip_bit_for_bit() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..2000 {
            let v = random_value(&mut rng, 3);
            let mut buf = Vec::new();
            encode_value(&v, &mut buf);
            let mut r = Reader::new(&buf);
            assert_eq!(r.value(), v);
            assert!(r.buf.is_empty());
            let mut r = Reader::new(&buf);
            r.skip_value();
            assert!(r.buf.is_empty());
        }
    }
}
