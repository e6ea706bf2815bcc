//! Realistic, deterministic sample data for demos and tests.
//!
//! Tables: `channels`, `users`, `messages` in the root app and `entries` in component
//! `waitlist`, filled with every value type (Int64, floats, bytes, arrays, nested objects,
//! unicode), plus a few updates and hidden system-table writes.

use std::collections::BTreeMap;

use spillway_convex_protocol::Value;

use crate::errors::EmulatorError;
use crate::mutation::Mutation;
use crate::rng::SplitMix64;
use crate::store::Store;

const FIRST: &[&str] = &[
    "Ada", "Grace", "Linus", "Zoë", "Mårten", "Yuki", "Amara", "Diego",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Torvalds", "Müller", "Sato", "Okafor", "Ruiz",
];
const CITIES: &[&str] = &["Lisbon", "Tōkyō", "Nairobi", "Zürich", "Austin", "Seoul"];
const WORDS: &[&str] = &[
    "ship", "it", "today", "🚀", "looks", "good", "to", "me", "needs", "tests", "方案", "ok",
];
/// Documents per sample transaction.
const TX_SIZE: usize = 100;

fn pick<'a>(rng: &mut SplitMix64, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len() as u64) as usize]
}

fn obj(pairs: Vec<(&str, Value)>) -> BTreeMap<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn insert(table: &str, component: &str, fields: BTreeMap<String, Value>) -> Mutation {
    Mutation::Insert {
        component: component.to_string(),
        table: table.to_string(),
        fields,
    }
}

fn user(rng: &mut SplitMix64, i: usize) -> BTreeMap<String, Value> {
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let tags: Vec<Value> = (0..rng.below(3))
        .map(|_| Value::String(pick(rng, WORDS).to_string()))
        .collect();
    let avatar: Vec<u8> = (0..8).map(|_| rng.below(256) as u8).collect();
    obj(vec![
        ("name", Value::String(format!("{first} {last}"))),
        (
            "email",
            Value::String(format!("{}.{i}@example.com", first.to_lowercase())),
        ),
        ("age", Value::Int64(18 + rng.below(60) as i64)),
        ("score", Value::Float64(rng.below(10_000) as f64 / 100.0)),
        ("active", Value::Boolean(rng.below(4) != 0)),
        ("tags", Value::Array(tags)),
        ("avatar", Value::Bytes(avatar)),
        (
            "profile",
            Value::Object(obj(vec![
                ("city", Value::String(pick(rng, CITIES).to_string())),
                ("followers", Value::Int64(rng.below(1_000_000) as i64)),
            ])),
        ),
    ])
}

fn message(rng: &mut SplitMix64, channels: &[String], users: &[String]) -> BTreeMap<String, Value> {
    let words: Vec<&str> = (0..1 + rng.below(8)).map(|_| pick(rng, WORDS)).collect();
    let channel = channels[rng.below(channels.len() as u64) as usize].clone();
    let author = users[rng.below(users.len() as u64) as usize].clone();
    let edited = if rng.below(5) == 0 {
        Value::Boolean(true)
    } else {
        Value::Null
    };
    obj(vec![
        ("channel", Value::String(channel)),
        ("author", Value::String(author)),
        ("body", Value::String(words.join(" "))),
        ("likes", Value::Int64(rng.below(500) as i64)),
        ("edited", edited),
    ])
}

/// Applies `muts` in transactions of [`TX_SIZE`]; returns the generated ids.
fn apply_batched(store: &mut Store, muts: Vec<Mutation>) -> Result<Vec<String>, EmulatorError> {
    let mut ids = Vec::new();
    let mut muts = muts.into_iter().peekable();
    while muts.peek().is_some() {
        let chunk: Vec<Mutation> = muts.by_ref().take(TX_SIZE).collect();
        ids.extend(store.apply(chunk)?.ids);
    }
    Ok(ids)
}

/// Seeds about `documents` live documents.
pub(crate) fn seed(store: &mut Store, documents: usize) -> Result<(), EmulatorError> {
    let mut rng = SplitMix64::new(0xC0_4E_E5 ^ documents as u64);
    let n_channels = (documents / 20).max(1);
    let n_users = (documents * 3 / 10).max(1);
    let n_entries = documents / 10;
    let n_messages = documents.saturating_sub(n_channels + n_users + n_entries);

    let channels = apply_batched(
        store,
        (0..n_channels)
            .map(|i| {
                insert(
                    "channels",
                    "",
                    obj(vec![
                        (
                            "name",
                            Value::String(format!("#{}-{i}", pick(&mut rng, WORDS))),
                        ),
                        ("isPrivate", Value::Boolean(i % 3 == 0)),
                    ]),
                )
            })
            .collect(),
    )?;
    let users = apply_batched(
        store,
        (0..n_users)
            .map(|i| insert("users", "", user(&mut rng, i)))
            .collect(),
    )?;
    store.write_system_rows(3);
    apply_batched(
        store,
        (0..n_messages)
            .map(|_| insert("messages", "", message(&mut rng, &channels, &users)))
            .collect(),
    )?;
    apply_batched(
        store,
        (0..n_entries)
            .map(|i| {
                insert(
                    "entries",
                    "waitlist",
                    obj(vec![
                        ("email", Value::String(format!("waiting{i}@example.com"))),
                        ("position", Value::Int64(i as i64 + 1)),
                        ("priority", Value::Float64(1.0 / (i as f64 + 1.0))),
                    ]),
                )
            })
            .collect(),
    )?;
    // A few users change their profile later (several revisions in the log).
    let updates: Vec<Mutation> = users
        .iter()
        .step_by(20)
        .enumerate()
        .map(|(i, id)| Mutation::Update {
            id: id.clone(),
            fields: user(&mut rng, i),
        })
        .collect();
    apply_batched(store, updates)?;
    store.write_system_rows(2);
    Ok(())
}
