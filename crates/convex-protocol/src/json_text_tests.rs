//! The transcoder against the tree path (`ValueSeed` then `write_json(ExportJson)`): a table
//! of cases, pseudo-random nested values in every format (also with whitespace and `\u`
//! escapes in the input), unsorted and duplicate keys, and the field-level entry points.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::*;
use crate::value::{Value, encode_bytes};
use crate::value_de::ValueSeed;

const FORMATS: [Format; 3] = [
    Format::ConvexEncodedJson,
    Format::ExportJson,
    Format::CleanJson,
];

/// The tree path: decode with `ValueSeed`, write export_json.
fn tree(text: &str, format: Format) -> Result<String, String> {
    let mut d = serde_json::Deserializer::from_str(text);
    let value = ValueSeed(format)
        .deserialize(&mut d)
        .map_err(|e| e.to_string())?;
    d.end().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    value.write_json(Format::ExportJson, &mut out);
    Ok(String::from_utf8(out).unwrap())
}

/// The transcoder, appending to a buffer that already holds something; on error the buffer
/// must be as it was.
fn fast(text: &str, format: Format) -> Result<String, String> {
    const PREFIX: &[u8] = b"kept";
    let mut out = PREFIX.to_vec();
    let mut d = serde_json::Deserializer::from_str(text);
    match ExportJsonSeed(format, &mut out).deserialize(&mut d) {
        Ok(()) => {
            d.end().map_err(|e| e.to_string())?;
            assert!(out.starts_with(PREFIX));
            Ok(String::from_utf8(out[PREFIX.len()..].to_vec()).unwrap())
        }
        Err(e) => {
            assert_eq!(out, PREFIX, "the buffer changed on error ({e}) for {text}");
            Err(e.to_string())
        }
    }
}

/// Both paths succeed with the same text, or both fail.
fn assert_agree(text: &str, format: Format) {
    let (slow, quick) = (tree(text, format), fast(text, format));
    match (&slow, &quick) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{text} in {format}"),
        (Err(_), Err(_)) => {}
        _ => panic!("{text} in {format}: tree {slow:?}, transcoder {quick:?}"),
    }
}

#[test]
fn agrees_with_the_tree_path() {
    let cases = [
        r#"null"#,
        r#"true"#,
        r#"false"#,
        r#"0"#,
        r#"42"#,
        r#"-7"#,
        r#"-0"#,
        r#"9007199254740993"#,
        r#"9223372036854775807"#,
        r#"9223372036854775808"#,
        r#"-9223372036854775808"#,
        r#"-9223372036854775809"#,
        r#"18446744073709551615"#,
        r#"18446744073709551616"#,
        r#"5.0"#,
        r#"-0.0"#,
        r#"0.1"#,
        r#"1e20"#,
        r#"1E+20"#,
        r#"1.5e-7"#,
        r#"5e-324"#,
        r#"1.7976931348623157e308"#,
        r#"1e400"#,
        r#"123456789012345678901234567890"#,
        r#""""#,
        r#""héllo 🚀""#,
        r#""\u00e9\u00E9\ud83d\ude80\/\"\\\b\f\n\r\t\u0000\u001f\u007f\u2028""#,
        r#""\ud800""#,
        r#"[]"#,
        r#"[[]]"#,
        r#"[1, "a", [2.5, null], {}]"#,
        r#"{}"#,
        r#"{"a": {}}"#,
        r#"{"$integer": "AQAAAAAAAAA="}"#,
        r#"{"$integer": "//////////8="}"#,
        r#"{"$integer": "AAAAAAAAAIA="}"#,
        r#"{"$integer": "AQ=="}"#,
        r#"{"$integer": "AQAAAAAAAAAA"}"#,
        r#"{"$integer": "!!"}"#,
        r#"{"$integer": 1}"#,
        r#"{"$integer": null}"#,
        r#"{"$integer": ["AQAAAAAAAAA="]}"#,
        r#"{"$integer": {"$integer": "AQAAAAAAAAA="}}"#,
        r#"{"$integer": {"$nope": "x"}, "b": 1}"#,
        r#"{"$integer": "\u0041QAAAAAAAAA="}"#,
        r#"{"$integer": "AQAAAAAAAA\n="}"#,
        r#"{"\u0024integer": "AQAAAAAAAAA="}"#,
        r#"{"$float": "AAAAAAAA+H8="}"#,
        r#"{"$float": "AQAAAAAA+H8="}"#,
        r#"{"$float": "AAAAAAAA8H8="}"#,
        r#"{"$float": "AAAAAAAA8P8="}"#,
        r#"{"$float": "AAAAAAAAAIA="}"#,
        r#"{"$float": "AAAAAAAAAAA="}"#,
        r#"{"$float": "AAAAAAAA+D8="}"#,
        r#"{"$float": "AAAAAAAA+D"}"#,
        r#"{"$bytes": ""}"#,
        r#"{"$bytes": "AAEC"}"#,
        r#"{"$bytes": "AA=="}"#,
        r#"{"$bytes": "AAE="}"#,
        r#"{"$bytes": "AB=="}"#,
        r#"{"$bytes": "AAF="}"#,
        r#"{"$bytes": "AA"}"#,
        r#"{"$bytes": "AA="}"#,
        r#"{"$bytes": "A"}"#,
        r#"{"$bytes": "AA==AA=="}"#,
        r#"{"$bytes": "AA AA"}"#,
        r#"{"$bytes": "-_8="}"#,
        r#"{"$bytes": "+/8="}"#,
        r#"{"$bytes": 5}"#,
        r#"{"$nope": "x"}"#,
        r#"{"$": "x"}"#,
        r#"{"$\n": "x"}"#,
        r#"{"$x": 1, "y": 2}"#,
        r#"{"$integer": "AQAAAAAAAAA=", "b": 1}"#,
        r#"{"$bytes": "!!", "$float": 1}"#,
        r#"{"$integer": 1, "$nope": {"$bytes": "AAEC"}}"#,
        r#"{"": 0, "a": {"$integer": "//////////8="}, "b": [{"$bytes": ""}]}"#,
        r#"{"\t": 1, "\n": 2, "\"": 3, "\\": 4, "é": 5, "😀": 6}"#,
        r#"{"a\"": 1, "a\\": 2}"#,
        r#"{"a": 1, "a\u0000": 2}"#,
        r#"[{"$float": "AAAAAAAAAIA="}, {"$integer": "AQAAAAAAAAA="}, {"$bytes": "AA=="}]"#,
        r#"{"k": [1, 2.0, -3, 1e2, 18446744073709551615, "s", null, true]}"#,
        r#"[1, 2"#,
        r#"{"a": 1"#,
        r#"{"a" 1}"#,
        r#"[1,]"#,
    ];
    for format in FORMATS {
        for text in cases {
            assert_agree(text, format);
        }
    }
}

#[test]
fn known_texts() {
    let e = Format::ConvexEncodedJson;
    let x = Format::ExportJson;
    assert_eq!(fast("5", e).unwrap(), "5.0");
    assert_eq!(fast("5", x).unwrap(), "5");
    assert_eq!(fast("-0", x).unwrap(), r#"{"$float":"AAAAAAAAAIA="}"#);
    assert_eq!(
        fast("18446744073709551615", x).unwrap(),
        "1.8446744073709552e19"
    );
    assert_eq!(fast(r#"{"$integer": "//////////8="}"#, e).unwrap(), "-1");
    assert_eq!(fast(r#"{"$float": "AAAAAAAA+D8="}"#, e).unwrap(), "1.5");
    assert_eq!(
        fast(r#"{"$float": "AAAAAAAA+H8="}"#, e).unwrap(),
        r#"{"$float":"AAAAAAAA+H8="}"#
    );
    assert_eq!(
        fast(r#"{"$bytes": "AAEC"}"#, x).unwrap(),
        r#"{"$bytes":"AAEC"}"#
    );
    assert_eq!(fast(r#""\u00e9\/""#, x).unwrap(), "\"é/\"");
    assert_eq!(
        fast(r#"{"$x": 1, "y": [2, {}]}"#, e).unwrap(),
        r#"{"$x":1.0,"y":[2.0,{}]}"#
    );
    assert!(fast(r#"{"$integer": "AQ=="}"#, e).is_err());
    assert!(fast(r#"{"$nope": "x"}"#, x).is_err());
    assert_eq!(
        fast(r#"{"$nope": "x"}"#, Format::CleanJson).unwrap(),
        r#"{"$nope":"x"}"#
    );
}

#[test]
fn unsorted_and_duplicate_keys_are_errors() {
    let cases = [
        r#"{"b": 1, "a": 2}"#,
        r#"{"a": 1, "a": 2}"#,
        r#"{"a": 1, "b": 2, "b": 3}"#,
        r#"[1, {"x": {"b": 1, "a": 2}}]"#,
        r#"{"$x": 1, "$x": 2}"#,
        r#"{"$integer": "AQAAAAAAAAA=", "$integer": "AQAAAAAAAAA="}"#,
        r#"{"$integer": "AQAAAAAAAAA=", "$bytes": "AA=="}"#,
        r#"{"b": 1, "$integer": "AQAAAAAAAAA="}"#,
        r#"{"\n": 1, "\t": 2}"#,
        r#"{"\n": 1, "\n": 2}"#,
        r#"{"\u000a": 1, "\n": 2}"#,
        r#"{"a\\": 1, "a\"": 2}"#,
        r#"{"é": 1, "z": 2}"#,
        r#"{"a\u0000": 1, "a": 2}"#,
        r#"{"\u001f": 1, "\u0000": 2}"#,
    ];
    for format in FORMATS {
        for text in cases {
            assert!(tree(text, format).is_ok(), "{text} in {format}");
            let err = fast(text, format).unwrap_err();
            assert!(err.contains(UNSORTED_KEYS), "{text} in {format}: {err}");
        }
    }
}

/// A pseudo-random generator (splitmix64): the same values on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn int(&mut self) -> i64 {
        match self.below(4) {
            0 => self.pick(&[
                0,
                1,
                -1,
                i64::MIN,
                i64::MAX,
                1 << 53,
                (1 << 53) + 1,
                -(1 << 53) - 1,
            ]),
            1 => self.next() as i64,
            _ => self.below(2001) as i64 - 1000,
        }
    }

    fn float(&mut self) -> f64 {
        match self.below(4) {
            0 => self.pick(&[
                0.0,
                -0.0,
                f64::NAN,
                -f64::NAN,
                f64::from_bits(0x7ff8_0000_0000_0001),
                f64::INFINITY,
                f64::NEG_INFINITY,
                5.0,
                1e20,
                1e21,
                1e-7,
                0.1,
                f64::MIN_POSITIVE,
                5e-324,
                f64::MAX,
                f64::MIN,
                9007199254740993.0,
                1.8446744073709552e19,
            ]),
            1 => f64::from_bits(self.next()),
            2 => (self.below(2001) as f64 - 1000.0) / 8.0,
            _ => self.int() as f64,
        }
    }

    fn string(&mut self) -> String {
        const POOL: &[char] = &[
            'a', 'b', 'z', 'A', '0', ' ', '$', '/', 'é', 'ß', '😀', '\u{2028}', '\u{ffff}', '"',
            '\\', '\n', '\t', '\r', '\u{0}', '\u{8}', '\u{c}', '\u{1f}', '\u{7f}',
        ];
        let len = self.below(7);
        (0..len).map(|_| self.pick(POOL)).collect()
    }

    fn key(&mut self) -> String {
        match self.below(6) {
            0 => self
                .pick(&["$integer", "$float", "$bytes", "$x", "$", "", "a", "_id"])
                .to_string(),
            _ => self.string(),
        }
    }

    fn bytes(&mut self) -> Vec<u8> {
        let len = self.below(11);
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn value(&mut self, depth: usize) -> Value {
        let kinds = if depth == 0 { 7 } else { 10 };
        match self.below(kinds) {
            0 => Value::Null,
            1 => Value::Boolean(self.below(2) == 0),
            2 => Value::Int64(self.int()),
            3 => Value::Float64(self.float()),
            4 => Value::String(self.string()),
            5 => Value::Bytes(self.bytes()),
            // Strings that are valid tag payloads, for objects that turn out to be tags.
            6 => Value::String(encode_bytes(&self.bytes())),
            7 => Value::Array((0..self.below(5)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let mut map = BTreeMap::new();
                for _ in 0..self.below(5) {
                    map.insert(self.key(), self.value(depth - 1));
                }
                Value::Object(map)
            }
        }
    }
}

/// The same JSON with whitespace after punctuation and some string characters written as
/// `\u` escapes (or `\/`), which the decoder must undo.
fn scramble(text: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut chars = text.chars();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if !in_string {
            out.push(c);
            in_string = c == '"';
            if matches!(c, '[' | '{' | ',' | ':') && rng.below(4) == 0 {
                out.push_str(rng.pick(&[" ", "\n", "\t ", "\r\n  "]));
            }
            continue;
        }
        match c {
            '\\' => {
                out.push(c);
                let e = chars.next().unwrap();
                out.push(e);
                if e == 'u' {
                    out.extend(chars.by_ref().take(4));
                }
            }
            '"' => {
                out.push(c);
                in_string = false;
            }
            '/' if rng.below(2) == 0 => out.push_str("\\/"),
            c if rng.below(3) == 0 => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    if rng.below(2) == 0 {
                        write!(out, "\\u{unit:04x}").unwrap();
                    } else {
                        write!(out, "\\u{unit:04X}").unwrap();
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `json` with every object's keys in reverse order.
fn reversed(json: &serde_json::Value, out: &mut String) -> bool {
    let mut multi = false;
    match json {
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                multi |= reversed(item, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            multi |= map.len() > 1;
            out.push('{');
            for (i, (k, v)) in map.iter().rev().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                multi |= reversed(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
    }
    multi
}

#[test]
fn random_values_agree_with_the_tree_path() {
    let mut rng = Rng(0x5eed_1234);
    let mut succeeded = 0;
    for _ in 0..4000 {
        let depth = rng.below(5);
        let value = rng.value(depth);
        for format in FORMATS {
            let text = value.to_json_string(format);
            assert_agree(&text, format);
            succeeded += usize::from(fast(&text, format).is_ok());
            let scrambled = scramble(&text, &mut rng);
            assert_agree(&scrambled, format);
            // The same text (error positions differ).
            assert_eq!(
                fast(&scrambled, format).ok(),
                fast(&text, format).ok(),
                "{scrambled} in {format}"
            );
        }
    }
    // Most generated values are valid (only `$`-keyed one-key objects may not be).
    assert!(succeeded > 10_000, "only {succeeded} values transcoded");
}

#[test]
fn random_unsorted_objects_are_errors() {
    let mut rng = Rng(0xdead_beef);
    let mut unsorted = 0;
    for _ in 0..2000 {
        let depth = 1 + rng.below(4);
        let value = rng.value(depth);
        for format in FORMATS {
            let json: serde_json::Value =
                serde_json::from_str(&value.to_json_string(format)).unwrap();
            let mut text = String::new();
            let multi = reversed(&json, &mut text);
            let Ok(want) = tree(&text, format) else {
                assert!(fast(&text, format).is_err(), "{text} in {format}");
                continue;
            };
            if multi {
                let err = fast(&text, format).unwrap_err();
                assert!(err.contains(UNSORTED_KEYS), "{text} in {format}: {err}");
                unsorted += 1;
            } else {
                assert_eq!(fast(&text, format).unwrap(), want, "{text} in {format}");
            }
        }
    }
    assert!(unsorted > 500, "only {unsorted} unsorted objects");
}

/// What a field's value decodes to through the field-level entry points.
#[derive(Debug, PartialEq)]
enum FieldOut {
    Text(String),
    Int64(i64),
    Float64(u64),
    Bytes(Vec<u8>),
}

/// A field-value visitor as the source writes one: arrays and objects through
/// `transcode_seq`/`transcode_map` into a shared buffer.
struct Field<'a>(Format, &'a mut Vec<u8>);

impl<'de> Visitor<'de> for Field<'_> {
    type Value = FieldOut;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array or object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FieldOut, A::Error> {
        let start = self.1.len();
        transcode_seq(self.0, seq, self.1)?;
        Ok(FieldOut::Text(
            String::from_utf8(self.1[start..].to_vec()).unwrap(),
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldOut, A::Error> {
        let start = self.1.len();
        Ok(match transcode_map(self.0, map, self.1)? {
            TranscodedMap::Object => {
                FieldOut::Text(String::from_utf8(self.1[start..].to_vec()).unwrap())
            }
            TranscodedMap::Int64(i) => FieldOut::Int64(i),
            TranscodedMap::Float64(f) => FieldOut::Float64(f.to_bits()),
            TranscodedMap::Bytes(b) => FieldOut::Bytes(b),
        })
    }
}

fn field_fast(text: &str, format: Format, out: &mut Vec<u8>) -> Result<FieldOut, String> {
    let before = out.clone();
    let mut d = serde_json::Deserializer::from_str(text);
    let result = d.deserialize_any(Field(format, out));
    match &result {
        Ok(FieldOut::Text(_)) => {}
        _ => assert_eq!(*out, before, "{text}: the buffer changed"),
    }
    result.map_err(|e| e.to_string())
}

fn field_tree(text: &str, format: Format) -> Result<FieldOut, String> {
    let mut d = serde_json::Deserializer::from_str(text);
    let value = ValueSeed(format)
        .deserialize(&mut d)
        .map_err(|e| e.to_string())?;
    Ok(match value {
        Value::Int64(i) => FieldOut::Int64(i),
        Value::Float64(f) => FieldOut::Float64(f.to_bits()),
        Value::Bytes(b) => FieldOut::Bytes(b),
        other => FieldOut::Text(other.to_json_string(Format::ExportJson)),
    })
}

#[test]
fn field_entry_points_return_tagged_scalars_as_values() {
    let e = Format::ConvexEncodedJson;
    let mut out = b"[]".to_vec();
    let cases = [
        (r#"{"$integer": "//////////8="}"#, Ok(FieldOut::Int64(-1))),
        (
            r#"{"$float": "AAAAAAAA+D8="}"#,
            Ok(FieldOut::Float64(1.5f64.to_bits())),
        ),
        (
            r#"{"$float": "AAAAAAAAAIA="}"#,
            Ok(FieldOut::Float64((-0.0f64).to_bits())),
        ),
        (r#"{"$bytes": "AAEC"}"#, Ok(FieldOut::Bytes(vec![0, 1, 2]))),
        (r#"{"$bytes": ""}"#, Ok(FieldOut::Bytes(vec![]))),
        (r#"{}"#, Ok(FieldOut::Text("{}".into()))),
        (
            r#"[{"$bytes": "AAEC"}, 1]"#,
            Ok(FieldOut::Text(r#"[{"$bytes":"AAEC"},1.0]"#.into())),
        ),
        (r#"{"$integer": "AQ=="}"#, Err(())),
        (r#"{"b": 1, "a": 2}"#, Err(())),
        (r#"[{"b": 1, "a": 2}]"#, Err(())),
    ];
    for (text, want) in cases {
        let got = field_fast(text, e, &mut out);
        assert_eq!(
            got.as_ref().map_err(|_| ()),
            want.as_ref().map_err(|_| ()),
            "{text}"
        );
        out.truncate(2);
    }
}

#[test]
fn random_fields_agree_with_the_tree_path() {
    let mut rng = Rng(42);
    let mut out = Vec::new();
    let mut checked = 0;
    for _ in 0..3000 {
        let depth = 1 + rng.below(4);
        let value = rng.value(depth);
        for format in FORMATS {
            let text = value.to_json_string(format);
            if !text.starts_with(['[', '{']) {
                continue;
            }
            out.clear();
            let quick = field_fast(&text, format, &mut out);
            let slow = field_tree(&text, format);
            match (&quick, &slow) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text} in {format}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{text} in {format}: transcoder {quick:?}, tree {slow:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 3000, "only {checked} fields");
}

#[test]
fn unescape_undoes_serde_json_escaping() {
    let all: String = (0u8..0x80).map(char::from).collect();
    let escaped = serde_json::to_string(&all).unwrap();
    let inner = &escaped.as_bytes()[1..escaped.len() - 1];
    assert!(Unescape(inner.iter()).eq(all.bytes()));
}
