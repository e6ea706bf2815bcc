//! Decoding a [`Value`] straight from JSON tokens, without building a `serde_json::Value`
//! tree first ([`ValueSeed`]). Same rules as [`Value::from_json`]: a one-key object whose key
//! starts with `$` is a tagged scalar (lossless formats), numbers follow the format.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::value::{Format, Value};

/// Deserializes one [`Value`] received in the given format.
#[derive(Clone, Copy, Debug)]
pub struct ValueSeed(pub Format);

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl ValueSeed {
    fn int(self, i: i64) -> Value {
        match self.0 {
            // Encoded JSON: every bare number is a Float64 (Int64 is always tagged).
            Format::ConvexEncodedJson => Value::Float64(i as f64),
            Format::ExportJson | Format::CleanJson => Value::Int64(i),
        }
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a Convex value in {}", self.0)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Boolean(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(self.int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => self.int(i),
            Err(_) => Value::Float64(u as f64),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float64(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = BTreeMap::new();
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Value::Object(out));
        };
        let value = map.next_value_seed(self)?;
        if self.0 != Format::CleanJson && first.starts_with('$') {
            match map.next_key::<String>()? {
                // A tagged scalar: `{"$integer": "…"}`.
                None => {
                    let payload = match value {
                        Value::String(s) => serde_json::Value::String(s),
                        other => serde_json::Value::String(format!("<{}>", other.type_name())),
                    };
                    return Value::from_json(
                        &serde_json::Value::Object([(first, payload)].into_iter().collect()),
                        self.0,
                    )
                    .map_err(de::Error::custom);
                }
                Some(second) => {
                    let v2 = map.next_value_seed(self)?;
                    out.insert(first, value);
                    out.insert(second, v2);
                }
            }
        } else {
            out.insert(first, value);
        }
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeSeed;

    use super::*;

    fn both(text: &str, format: Format) -> (Result<Value, String>, Result<Value, String>) {
        let tree: serde_json::Value = serde_json::from_str(text).unwrap();
        let slow = Value::from_json(&tree, format).map_err(|e| e.to_string());
        let mut d = serde_json::Deserializer::from_str(text);
        let fast = ValueSeed(format)
            .deserialize(&mut d)
            .map_err(|e| e.to_string());
        (slow, fast)
    }

    #[test]
    fn agrees_with_the_tree_decoder() {
        let cases = [
            r#"null"#,
            r#"true"#,
            r#"42"#,
            r#"-7"#,
            r#"18446744073709551615"#,
            r#"5.0"#,
            r#"-0.0"#,
            r#""héllo 🚀""#,
            r#"[1, "a", [2.5, null]]"#,
            r#"{"$integer": "AQAAAAAAAAA="}"#,
            r#"{"$float": "AAAAAAAA+H8="}"#,
            r#"{"$bytes": "AAEC"}"#,
            r#"{"a": {"$integer": "//////////8="}, "b": [{"$bytes": ""}]}"#,
            r#"{"$x": 1, "y": 2}"#,
            r#"{"y": 2, "$x": 1}"#,
            r#"{}"#,
        ];
        for format in [
            Format::ConvexEncodedJson,
            Format::ExportJson,
            Format::CleanJson,
        ] {
            for text in cases {
                let (slow, fast) = both(text, format);
                assert_eq!(
                    format!("{slow:?}"),
                    format!("{fast:?}"),
                    "{text} in {format}"
                );
            }
        }
        for bad in [
            r#"{"$integer": 1}"#,
            r#"{"$nope": "x"}"#,
            r#"{"$bytes": "!!"}"#,
        ] {
            let (slow, fast) = both(bad, Format::ConvexEncodedJson);
            assert!(slow.is_err() && fast.is_err(), "{bad}");
        }
    }
}
