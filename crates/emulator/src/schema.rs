//! Shape inference over a table's live documents and its JSON Schema rendering (spec §9, §11).

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};
#[cfg(test)]
use spillway_convex_protocol::Value;
use spillway_convex_protocol::value::Format;
#[cfg(test)]
use spillway_convex_protocol::value::float_needs_tag;

/// The inferred type of a set of values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shape {
    /// No values seen (`false` in JSON Schema).
    Never,
    Null,
    Int64,
    /// `special` = NaN, ±∞ or −0.0 has been seen here.
    Float64 {
        special: bool,
    },
    Boolean,
    String,
    Bytes,
    Array(Box<Shape>),
    /// Fields with an `optional` flag (missing from some objects).
    Object(BTreeMap<String, (Shape, bool)>),
    /// Distinct members, none of which is a union or `Never`.
    Union(Vec<Shape>),
}

impl Shape {
    /// The shape of one value. The store computes shapes from stored documents without
    /// decoding them (`Doc::shape`); this is the reference it is tested against.
    #[cfg(test)]
    pub(crate) fn of(v: &Value) -> Shape {
        match v {
            Value::Null => Shape::Null,
            Value::Int64(_) => Shape::Int64,
            Value::Float64(f) => Shape::Float64 {
                special: float_needs_tag(*f),
            },
            Value::Boolean(_) => Shape::Boolean,
            Value::String(_) => Shape::String,
            Value::Bytes(_) => Shape::Bytes,
            Value::Array(items) => Shape::Array(Box::new(
                items
                    .iter()
                    .fold(Shape::Never, |acc, v| acc.merge(Shape::of(v))),
            )),
            Value::Object(m) => Shape::object_of(m),
        }
    }

    /// The shape of an object's fields (all required).
    #[cfg(test)]
    pub(crate) fn object_of(m: &BTreeMap<String, Value>) -> Shape {
        Shape::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), (Shape::of(v), false)))
                .collect(),
        )
    }

    fn kind(&self) -> u8 {
        match self {
            Shape::Never => 0,
            Shape::Null => 1,
            Shape::Int64 => 2,
            Shape::Float64 { .. } => 3,
            Shape::Boolean => 4,
            Shape::String => 5,
            Shape::Bytes => 6,
            Shape::Array(_) => 7,
            Shape::Object(_) => 8,
            Shape::Union(_) => 9,
        }
    }

    /// The least shape covering both.
    pub(crate) fn merge(self, other: Shape) -> Shape {
        match (self, other) {
            (Shape::Never, x) | (x, Shape::Never) => x,
            (Shape::Union(members), x) | (x, Shape::Union(members)) => {
                let mut out = Shape::Union(members);
                let items = match x {
                    Shape::Union(m) => m,
                    x => vec![x],
                };
                for item in items {
                    out = out.add_member(item);
                }
                out
            }
            (Shape::Float64 { special: a }, Shape::Float64 { special: b }) => {
                Shape::Float64 { special: a || b }
            }
            (Shape::Array(a), Shape::Array(b)) => Shape::Array(Box::new(a.merge(*b))),
            (Shape::Object(a), Shape::Object(b)) => Shape::Object(merge_fields(a, b)),
            (a, b) if a.kind() == b.kind() => a,
            (a, b) => Shape::Union(vec![a, b]),
        }
    }

    fn add_member(self, item: Shape) -> Shape {
        let Shape::Union(mut members) = self else {
            return self.merge(item);
        };
        if let Some(pos) = members.iter().position(|m| m.kind() == item.kind()) {
            let existing = members.remove(pos);
            members.insert(pos, existing.merge(item));
        } else {
            members.push(item);
        }
        Shape::Union(members)
    }

    /// Top-level field names (empty unless an object).
    pub(crate) fn field_names(&self) -> Vec<String> {
        match self {
            Shape::Object(f) => f.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

fn merge_fields(
    mut a: BTreeMap<String, (Shape, bool)>,
    b: BTreeMap<String, (Shape, bool)>,
) -> BTreeMap<String, (Shape, bool)> {
    // A field is optional if it is missing from, or optional in, either side.
    for (k, (_, optional)) in a.iter_mut() {
        if !b.contains_key(k) {
            *optional = true;
        }
    }
    for (k, (shape, opt_b)) in b {
        let merged = match a.remove(&k) {
            Some((s, opt_a)) => (s.merge(shape), opt_a || opt_b),
            None => (shape, true),
        };
        a.insert(k, merged);
    }
    a
}

fn tagged_object(tag: &str) -> Json {
    json!({
        "type": "object",
        "properties": { tag: {"type": "string"} },
        "additionalProperties": false,
        "required": [tag],
    })
}

/// JSON Schema (draft-07 fragment) of a value shape in `format`.
fn schema_of(shape: &Shape, format: Format) -> Json {
    match shape {
        Shape::Never => Json::Bool(false),
        Shape::Null => json!({"type": "null"}),
        Shape::Boolean => json!({"type": "boolean"}),
        Shape::String => json!({"type": "string"}),
        Shape::Int64 => match format {
            Format::CleanJson => {
                json!({"type": "string", "$description": "int64 represented as base10 string"})
            }
            Format::ConvexEncodedJson => tagged_object("$integer"),
            Format::ExportJson => json!({"$description": "int64", "type": "number"}),
        },
        Shape::Float64 { special: false } => json!({"type": "number"}),
        Shape::Float64 { special: true } => match format {
            Format::CleanJson => json!({"anyOf": [{"type": "number"}, {"type": "string"}]}),
            Format::ConvexEncodedJson | Format::ExportJson => {
                json!({"anyOf": [{"type": "number"}, tagged_object("$float")]})
            }
        },
        Shape::Bytes => match format {
            Format::CleanJson => json!({"type": "string", "$description": "base64 bytes"}),
            Format::ConvexEncodedJson | Format::ExportJson => tagged_object("$bytes"),
        },
        Shape::Array(items) => json!({"type": "array", "items": schema_of(items, format)}),
        Shape::Object(fields) => object_schema(fields, Map::new(), Vec::new(), format),
        Shape::Union(members) => {
            // In a fixed order of kinds, whatever order the documents were merged in (the
            // table summary merges in write order, a recomputation in `_id` order).
            let mut members: Vec<&Shape> = members.iter().collect();
            members.sort_by_key(|m| m.kind());
            json!({"anyOf": members.into_iter().map(|m| schema_of(m, format)).collect::<Vec<_>>()})
        }
    }
}

fn object_schema(
    fields: &BTreeMap<String, (Shape, bool)>,
    mut properties: Map<String, Json>,
    mut required: Vec<String>,
    format: Format,
) -> Json {
    for (name, (shape, optional)) in fields {
        properties.insert(name.clone(), schema_of(shape, format));
        if !optional {
            required.push(name.clone());
        }
    }
    required.sort();
    json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
        "required": required,
    })
}

/// The schema of one table (spec §9.2), from the merged shape of its live documents.
pub(crate) fn table_schema(table: &str, shape: &Shape, format: Format, delta: bool) -> Json {
    let mut properties = Map::new();
    properties.insert(
        "_id".into(),
        json!({"$description": format!("Id({table})"), "type": "string"}),
    );
    properties.insert("_creationTime".into(), json!({"type": "number"}));
    if delta {
        properties.insert("_table".into(), json!({"type": "string"}));
        properties.insert("_component".into(), json!({"type": "string"}));
        properties.insert("_ts".into(), json!({"type": "integer"}));
        properties.insert("_deleted".into(), json!({"type": "boolean"}));
    }
    let empty = BTreeMap::new();
    let fields = match shape {
        Shape::Object(f) => f,
        _ => &empty,
    };
    let mut schema = object_schema(
        fields,
        properties,
        vec!["_creationTime".to_string(), "_id".to_string()],
        format,
    );
    if let Json::Object(m) = &mut schema {
        m.insert(
            "$schema".into(),
            Json::String("http://json-schema.org/draft-07/schema#".into()),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn optional_fields_and_unions() {
        let a = Shape::object_of(&obj(&[("x", Value::Int64(1)), ("y", Value::Null)]));
        let b = Shape::object_of(&obj(&[("x", Value::Float64(f64::NAN))]));
        let s = Shape::Never.merge(a).merge(b);
        let Shape::Object(f) = &s else { panic!() };
        assert!(!f["x"].1 && f["y"].1);
        assert_eq!(
            f["x"].0,
            Shape::Union(vec![Shape::Int64, Shape::Float64 { special: true }])
        );
        let schema = table_schema("t", &s, Format::CleanJson, true);
        assert_eq!(schema["required"], json!(["_creationTime", "_id", "x"]));
        assert_eq!(schema["properties"]["_ts"], json!({"type": "integer"}));
        assert_eq!(
            schema["properties"]["x"]["anyOf"][1],
            json!({"anyOf": [{"type": "number"}, {"type": "string"}]})
        );
    }
}
