//! Micro benchmark: export_json text of nested values, through the tree (`ValueSeed` then
//! `write_json`) and through the transcoder (`ExportJsonSeed`), from the same input texts.
//!
//! `cargo run --release -p spillway-convex-protocol --example json_text_bench [values]`

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize as _;
use serde::de::DeserializeSeed;
use spillway_convex_protocol::json_text::ExportJsonSeed;
use spillway_convex_protocol::value_de::ValueSeed;
use spillway_convex_protocol::{Format, Value};

/// A document-like nested value: an object of scalars, a small array and a sub-object.
fn nested(i: u64) -> Value {
    let mut inner = BTreeMap::new();
    inner.insert(
        "city".to_string(),
        Value::String(format!("City number {i}")),
    );
    inner.insert("zip".to_string(), Value::Int64((i * 7919 % 100_000) as i64));
    let mut map = BTreeMap::new();
    map.insert("address".to_string(), Value::Object(inner));
    map.insert("active".to_string(), Value::Boolean(i.is_multiple_of(2)));
    map.insert("score".to_string(), Value::Float64(i as f64 / 7.0));
    map.insert(
        "tags".to_string(),
        Value::Array(vec![
            Value::String("alpha".into()),
            Value::String(format!("tag-{}", i % 13)),
            Value::Int64(i as i64),
        ]),
    );
    map.insert(
        "name".to_string(),
        Value::String(format!("Person {i} \"quoted\"")),
    );
    map.insert("raw".to_string(), Value::Bytes(i.to_le_bytes().to_vec()));
    Value::Object(map)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    for format in [Format::ConvexEncodedJson, Format::ExportJson] {
        let texts: Vec<String> = (0..n).map(|i| nested(i).to_json_string(format)).collect();
        let bytes: usize = texts.iter().map(String::len).sum();
        let mut out = Vec::new();

        let t = Instant::now();
        let mut tree_len = 0;
        for text in &texts {
            out.clear();
            let mut d = serde_json::Deserializer::from_str(text);
            let value = ValueSeed(format).deserialize(&mut d).expect("valid input");
            value.write_json(Format::ExportJson, &mut out);
            tree_len += out.len();
        }
        let tree = t.elapsed();

        let t = Instant::now();
        let mut fast_len = 0;
        for text in &texts {
            out.clear();
            let mut d = serde_json::Deserializer::from_str(text);
            ExportJsonSeed(format, &mut out)
                .deserialize(&mut d)
                .expect("valid input");
            fast_len += out.len();
        }
        let fast = t.elapsed();

        // The floor: parsing alone.
        let t = Instant::now();
        for text in &texts {
            let mut d = serde_json::Deserializer::from_str(text);
            serde::de::IgnoredAny::deserialize(&mut d).expect("valid input");
        }
        let parse = t.elapsed();

        assert_eq!(tree_len, fast_len);
        let mb = bytes as f64 / 1e6;
        println!(
            "{format}: {n} values, {mb:.1} MB: tree {:.0} ms ({:.0} MB/s), transcoder {:.0} ms ({:.0} MB/s), {:.2}x; parsing alone {:.0} ms",
            tree.as_secs_f64() * 1e3,
            mb / tree.as_secs_f64(),
            fast.as_secs_f64() * 1e3,
            mb / fast.as_secs_f64(),
            tree.as_secs_f64() / fast.as_secs_f64(),
            parse.as_secs_f64() * 1e3,
        );
    }
}
