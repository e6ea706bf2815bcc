//! Building emulator mutations tersely.

use std::collections::BTreeMap;

use spillway_convex_protocol::Value;
use spillway_emulator::Mutation;

/// User fields from `(name, value)` pairs.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> BTreeMap<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// An insert into a root-component table.
pub fn insert<const N: usize>(table: &str, pairs: [(&str, Value); N]) -> Mutation {
    Mutation::Insert {
        component: String::new(),
        table: table.to_string(),
        fields: fields(pairs),
    }
}

/// An update (replacing every user field) of document `id`.
pub fn update<const N: usize>(id: &str, pairs: [(&str, Value); N]) -> Mutation {
    Mutation::Update {
        id: id.to_string(),
        fields: fields(pairs),
    }
}

/// A delete of document `id`.
pub fn delete(id: &str) -> Mutation {
    Mutation::Delete { id: id.to_string() }
}

/// A text value.
pub fn s(text: &str) -> Value {
    Value::String(text.to_string())
}
