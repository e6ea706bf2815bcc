//! Seeded random transactions for the emulator, so a failure reproduces from its seed.

use std::collections::BTreeMap;

use spillway_convex_protocol::Value;
use spillway_emulator::Mutation;

use crate::Fixture;
use crate::docs::{delete, s};

/// xorshift64*, so a failure reproduces from its seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The tables random transactions write: three root tables and one in a component.
pub const TABLES: [(&str, &str); 4] = [("", "a"), ("", "b"), ("", "c"), ("comp", "d")];

/// Up to four user fields of random types (Int64 over the whole range, floats, text, bools,
/// null, bytes, arrays); a field may be absent.
pub fn random_fields(rng: &mut Rng) -> BTreeMap<String, Value> {
    let mut f = BTreeMap::new();
    for name in ["x", "y", "z", "w"] {
        let v = match rng.below(9) {
            0 => continue, // field absent
            // Any Int64: beyond ±2^53 a mix with floats must widen to JSON, not DOUBLE.
            1 => Value::Int64(rng.next_u64() as i64),
            2 => Value::Float64((rng.below(1000) as f64) / 7.0),
            3 => s(&format!("t{}", rng.below(100))),
            4 => Value::Boolean(rng.below(2) == 0),
            5 => Value::Null,
            6 => Value::Bytes(vec![rng.below(256) as u8; rng.below(4)]),
            7 => Value::Array(vec![Value::Int64(rng.below(5) as i64), s("e")]),
            // Mostly integers in `x`, so widening happens now and then rather than at once.
            _ => Value::Int64(rng.below(100) as i64),
        };
        f.insert(name.to_string(), v);
    }
    f
}

/// The `_id` of every live document of the fixture's emulator.
pub fn live_ids(fx: &Fixture) -> Vec<String> {
    let mut ids = Vec::new();
    for (component, table) in fx.emulator.tables() {
        for doc in fx.emulator.live_documents(&component, &table) {
            if let Some(Value::String(id)) = doc.get("_id") {
                ids.push(id.clone());
            }
        }
    }
    ids
}

/// A transaction of `size` random operations: inserts, updates replacing every field, deletes
/// and delete + re-insert; `live` (ids that may be updated or deleted) is kept current.
pub fn random_tx(rng: &mut Rng, live: &mut Vec<String>, size: usize) -> Vec<Mutation> {
    let mut tx = Vec::new();
    for _ in 0..size {
        let op = if live.is_empty() { 0 } else { rng.below(10) };
        match op {
            0..=3 => {
                let (component, table) = TABLES[rng.below(TABLES.len())];
                tx.push(Mutation::Insert {
                    component: component.into(),
                    table: table.into(),
                    fields: random_fields(rng),
                });
            }
            4..=6 => {
                let id = live[rng.below(live.len())].clone();
                tx.push(Mutation::Update {
                    id,
                    fields: random_fields(rng),
                });
            }
            7 | 8 => {
                let id = live.swap_remove(rng.below(live.len()));
                tx.push(delete(&id));
            }
            _ => {
                // Delete + re-insert of the same content (Convex gives it a new _id).
                let id = live.swap_remove(rng.below(live.len()));
                tx.push(delete(&id));
                let (component, table) = TABLES[rng.below(TABLES.len())];
                tx.push(Mutation::Insert {
                    component: component.into(),
                    table: table.into(),
                    fields: random_fields(rng),
                });
            }
        }
    }
    tx
}
