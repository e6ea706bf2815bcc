//! One stored document revision, kept as a slice of a shared byte buffer: `_creationTime`
//! (8 bytes, little-endian f64 bits), the encoded `_id` (varint length, ASCII), then the user
//! fields as the entries of one object in the binary form of [`super::codec`]. About a third of
//! the size of the same document as a tree of `Value`s, and written to a response without
//! decoding (see [`super::json`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use spillway_convex_protocol::Value;
use spillway_convex_protocol::value::{Format, float_needs_tag};

use super::codec::{Reader, encode_fields, put_varint, tag};
use super::json::{write_float64, write_str, write_value};
use crate::schema::Shape;
use crate::selection::Columns;

/// A document revision's content: a slice of a shared chunk (see [`super::batch`]);
/// cloning shares the chunk.
#[derive(Clone, Debug)]
pub(crate) struct Doc {
    chunk: Arc<[u8]>,
    start: u32,
    len: u32,
}

/// Appends one encoded document (the layout above) to `buf`.
pub(super) fn encode_doc(
    buf: &mut Vec<u8>,
    id: &str,
    creation_time: f64,
    fields: &BTreeMap<String, Value>,
) {
    buf.extend_from_slice(&creation_time.to_bits().to_le_bytes());
    put_varint(buf, id.len() as u64);
    buf.extend_from_slice(id.as_bytes());
    encode_fields(fields, buf);
}

/// The `_id` and `_creationTime` of an encoded document, and a reader at its fields.
pub(super) fn header(bytes: &[u8]) -> (&str, f64, Reader<'_>) {
    let mut r = Reader::new(bytes);
    let creation_time = r.float64();
    let id = std::str::from_utf8(r.bytes()).unwrap_or_default();
    (id, creation_time, r)
}

impl Doc {
    /// The document at `start..start + len` of `chunk`.
    pub(super) fn in_chunk(chunk: &Arc<[u8]>, start: u32, len: u32) -> Doc {
        Doc {
            chunk: chunk.clone(),
            start,
            len,
        }
    }

    /// Encodes a document on its own.
    #[cfg(test)]
    pub(crate) fn new(id: &str, creation_time: f64, fields: &BTreeMap<String, Value>) -> Doc {
        let mut buf = Vec::new();
        encode_doc(&mut buf, id, creation_time, fields);
        let len = buf.len() as u32;
        Doc::in_chunk(&Arc::from(buf), 0, len)
    }

    fn bytes(&self) -> &[u8] {
        let start = self.start as usize;
        self.chunk
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }

    /// `_creationTime` in milliseconds.
    pub(crate) fn creation_time(&self) -> f64 {
        header(self.bytes()).1
    }

    fn id_and_fields(&self) -> (&str, Reader<'_>) {
        let (id, _, r) = header(self.bytes());
        (id, r)
    }

    /// The encoded `_id`.
    pub(crate) fn id(&self) -> &str {
        self.id_and_fields().0
    }

    /// The user fields, decoded.
    pub(crate) fn fields(&self) -> BTreeMap<String, Value> {
        self.id_and_fields().1.fields()
    }

    /// The shape of the user fields (as `Shape::object_of` of the decoded fields).
    pub(crate) fn shape(&self) -> Shape {
        object_shape(&mut self.id_and_fields().1)
    }

    /// Appends the document's keys as `"key":value` entries in byte order, `_creationTime`
    /// (when `columns` include it) and `_id` (always) sorted in among the user fields the
    /// columns include. Entries are separated by commas; `comma_first` puts one before the
    /// first entry too.
    pub(crate) fn write_entries(
        &self,
        columns: &Columns,
        format: Format,
        out: &mut Vec<u8>,
        comma_first: bool,
    ) {
        const META: [&[u8]; 2] = [b"_creationTime", b"_id"];
        let all = matches!(columns, Columns::All);
        let (id, creation, mut r) = header(self.bytes());
        // Index into META of the next metadata key still to write.
        let mut meta = if columns.includes("_creationTime") {
            0
        } else {
            1
        };
        let mut comma = comma_first;
        let mut sep = |out: &mut Vec<u8>| {
            if comma {
                out.push(b',');
            }
            comma = true;
        };
        let write_meta = |i: usize, out: &mut Vec<u8>| {
            write_str(out, META[i]);
            out.push(b':');
            if i == 0 {
                write_float64(out, creation, format);
            } else {
                write_str(out, id.as_bytes());
            }
        };
        for _ in 0..r.count() {
            let key = r.bytes();
            while meta < META.len() && META[meta] < key {
                sep(out);
                write_meta(meta, out);
                meta += 1;
            }
            if all || columns.includes(std::str::from_utf8(key).unwrap_or_default()) {
                sep(out);
                write_str(out, key);
                out.push(b':');
                write_value(&mut r, format, out);
            } else {
                r.skip_value();
            }
        }
        for i in meta..META.len() {
            sep(out);
            write_meta(i, out);
        }
    }
}

/// The shape of one encoded value (as `Shape::of` of the decoded value).
fn value_shape(r: &mut Reader<'_>) -> Shape {
    match r.byte() {
        tag::INT64 => {
            r.int64();
            Shape::Int64
        }
        tag::FLOAT64 => Shape::Float64 {
            special: float_needs_tag(r.float64()),
        },
        tag::FALSE | tag::TRUE => Shape::Boolean,
        tag::STRING => {
            r.bytes();
            Shape::String
        }
        tag::BYTES => {
            r.bytes();
            Shape::Bytes
        }
        tag::ARRAY => {
            let n = r.count();
            Shape::Array(Box::new(
                (0..n).fold(Shape::Never, |acc, _| acc.merge(value_shape(r))),
            ))
        }
        tag::OBJECT => object_shape(r),
        _ => Shape::Null,
    }
}

/// The shape of encoded object entries (as `Shape::object_of`).
fn object_shape(r: &mut Reader<'_>) -> Shape {
    let n = r.count();
    Shape::Object(
        (0..n)
            .map(|_| {
                let k = String::from_utf8_lossy(r.bytes()).into_owned();
                (k, (value_shape(r), false))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::codec::tests::{random_text, random_value};
    use super::*;
    use crate::rng::SplitMix64;
    use crate::selection::Inclusion;

    /// What the store wrote before documents were encoded: every key sorted by bytes.
    fn reference(
        id: &str,
        creation: f64,
        fields: &BTreeMap<String, Value>,
        columns: &Columns,
        format: Format,
    ) -> Vec<u8> {
        let creation = Value::Float64(creation);
        let id = Value::String(id.to_string());
        let mut keys: Vec<(&str, &Value)> = Vec::new();
        if columns.includes("_creationTime") {
            keys.push(("_creationTime", &creation));
        }
        keys.push(("_id", &id));
        keys.extend(
            fields
                .iter()
                .filter(|(k, _)| columns.includes(k))
                .map(|(k, v)| (k.as_str(), v)),
        );
        keys.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut out = Vec::new();
        for (k, v) in keys {
            out.push(b',');
            let _ = serde_json::to_writer(&mut out, k);
            out.push(b':');
            v.write_json(format, &mut out);
        }
        out
    }

    #[test]
    fn entries_match_the_sorted_value_tree_for_any_columns() {
        let mut rng = SplitMix64::new(3);
        let names = ["A", "Zed", "a", "_x", "id", "b\"q", "é", "0"];
        for round in 0..500 {
            let mut fields = BTreeMap::new();
            for _ in 0..rng.below(6) {
                let k = if rng.below(2) == 0 {
                    names[rng.below(names.len() as u64) as usize].to_string()
                } else {
                    random_text(&mut rng)
                };
                fields.insert(k, random_value(&mut rng, 2));
            }
            let mut listed = BTreeMap::new();
            for k in fields.keys().cloned().chain(["_creationTime".to_string()]) {
                match rng.below(3) {
                    0 => listed.insert(k, Inclusion::Included),
                    1 => listed.insert(k, Inclusion::Excluded),
                    _ => None,
                };
            }
            let columns = if round % 3 == 0 {
                Columns::All
            } else {
                Columns::Filter {
                    other: if rng.below(2) == 0 {
                        Inclusion::Included
                    } else {
                        Inclusion::Excluded
                    },
                    listed,
                }
            };
            let creation = 1_700_000_000_000.0 + rng.below(1000) as f64 / 8.0;
            let id = "k57bg3rd1h3wsdmkbkrrr8mkn97z5qwm";
            let doc = Doc::new(id, creation, &fields);
            assert_eq!(doc.id(), id);
            assert_eq!(doc.creation_time().to_bits(), creation.to_bits());
            assert_eq!(doc.fields(), fields);
            assert_eq!(doc.shape(), Shape::object_of(&fields));
            for format in [
                Format::CleanJson,
                Format::ConvexEncodedJson,
                Format::ExportJson,
            ] {
                let mut ours = Vec::new();
                doc.write_entries(&columns, format, &mut ours, true);
                let want = reference(id, creation, &fields, &columns, format);
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&want)
                );
                let mut no_comma = Vec::new();
                doc.write_entries(&columns, format, &mut no_comma, false);
                assert_eq!(no_comma, ours[1..]);
            }
        }
    }
}
