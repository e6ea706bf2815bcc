//! Benchmark data: deterministic documents of realistic shape, about 0.5–2 KB each in
//! `convex_encoded_json`, across four root-component tables (`customers`, `products`,
//! `orders`, `events`), plus "touch a percentage of the documents" for incremental runs.
//!
//! Every document mixes strings (some unicode), floats, Int64, booleans, nested objects and
//! arrays. Documents are generated and committed in transactions of [`TX_SIZE`], so seeding
//! never holds more than one transaction's worth of new documents besides the store itself.
//!
//! Control plane: `POST /_emulator/bench/touch` with `{"percent": 1.0}` updates that share of
//! every bench table's live documents (bumps `revision` and `updatedAt`) → `{"ts","updated"}`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use spillway_convex_protocol::Value;

use crate::errors::EmulatorError;
use crate::mutation::Mutation;
use crate::rng::SplitMix64;
use crate::{Emulator, lock};

/// Documents per benchmark transaction.
const TX_SIZE: usize = 100;
/// The bench tables and their share of the documents (per mille).
const TABLES: &[(&str, usize)] = &[
    ("customers", 150),
    ("products", 50),
    ("orders", 400),
    ("events", 400),
];

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Linus",
    "Zoë",
    "Mårten",
    "Yuki",
    "Amara",
    "Diego",
    "Ngozi",
    "Søren",
    "Aiko",
    "José",
    "Fatima",
    "Oleksandr",
    "Priya",
    "Chloé",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Torvalds", "Müller", "Sato", "Okafor", "Ruiz", "Nakamura", "Kowalski",
    "Dubois", "Ivanova", "O'Brien", "Öztürk", "Nguyễn",
];
const CITIES: &[&str] = &[
    "Lisbon",
    "Tōkyō",
    "Nairobi",
    "Zürich",
    "Austin",
    "Seoul",
    "São Paulo",
    "Kraków",
    "Reykjavík",
    "Montréal",
];
const COUNTRIES: &[&str] = &["PT", "JP", "KE", "CH", "US", "KR", "BR", "PL", "IS", "CA"];
const WORDS: &[&str] = &[
    "ship",
    "order",
    "today",
    "🚀",
    "looks",
    "good",
    "to",
    "me",
    "needs",
    "review",
    "方案",
    "ok",
    "delivery",
    "fast",
    "quality",
    "café",
    "naïve",
    "über",
    "package",
    "returned",
    "gift",
    "wrap",
    "blue",
    "large",
    "cotton",
    "premium",
    "discount",
    "weekend",
    "Straße",
    "とても",
    "良い",
    "✓",
];
const STATUS: &[&str] = &[
    "pending",
    "paid",
    "shipped",
    "delivered",
    "refunded",
    "cancelled",
];
const EVENT_KINDS: &[&str] = &[
    "page_view",
    "click",
    "add_to_cart",
    "checkout_started",
    "search",
    "signup",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
];
const COLORS: &[&str] = &["red", "blue", "green", "black", "white", "sand", "olive"];
const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const CATEGORIES: &[&str] = &[
    "apparel", "home", "garden", "books", "toys", "kitchen", "sports", "beauty",
];

/// The generator state: a seeded RNG plus ids of rows other tables refer to.
struct Gen {
    rng: SplitMix64,
    customers: Vec<String>,
    products: Vec<String>,
    /// Milliseconds since the epoch of the "current" generated event.
    clock_ms: f64,
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(fields(pairs))
}

fn fields(pairs: Vec<(&str, Value)>) -> BTreeMap<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

impl Gen {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.below(items.len() as u64) as usize]
    }

    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.rng.below((hi - lo).max(1) as u64) as i64
    }

    fn money(&mut self, max_cents: u64) -> f64 {
        self.rng.below(max_cents) as f64 / 100.0
    }

    fn sentence(&mut self, min: u64, max: u64) -> String {
        let n = min + self.rng.below(max - min + 1);
        (0..n)
            .map(|_| self.pick(WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn words(&mut self, max: u64, from: &[&str]) -> Value {
        let n = self.rng.below(max + 1);
        Value::Array((0..n).map(|_| s(self.pick(from))).collect())
    }

    fn tick(&mut self) -> f64 {
        self.clock_ms += 1.0 + self.rng.below(60_000) as f64;
        self.clock_ms
    }

    fn address(&mut self) -> Value {
        let street = format!("{} {}", self.int(1, 400), self.pick(LAST));
        obj(vec![
            ("street", s(format!("{street} Street"))),
            ("city", s(self.pick(CITIES))),
            ("postcode", s(format!("{:05}", self.rng.below(100_000)))),
            ("country", s(self.pick(COUNTRIES))),
            (
                "geo",
                obj(vec![
                    ("lat", Value::Float64(self.rng.next_f64() * 180.0 - 90.0)),
                    ("lng", Value::Float64(self.rng.next_f64() * 360.0 - 180.0)),
                ]),
            ),
        ])
    }

    fn customer(&mut self, i: usize) -> BTreeMap<String, Value> {
        let (first, last) = (self.pick(FIRST), self.pick(LAST));
        fields(vec![
            ("name", s(format!("{first} {last}"))),
            (
                "email",
                s(format!("{}.{i}@example.com", first.to_lowercase())),
            ),
            (
                "phone",
                s(format!("+{} {}", self.int(1, 99), self.rng.below(1 << 40))),
            ),
            ("lifetimeValue", Value::Float64(self.money(5_000_000))),
            ("orderCount", Value::Int64(self.int(0, 500))),
            ("loyaltyPoints", Value::Int64(self.int(0, 1 << 40))),
            ("vip", Value::Boolean(self.rng.below(10) == 0)),
            ("address", self.address()),
            (
                "preferences",
                obj(vec![
                    ("newsletter", Value::Boolean(self.rng.below(2) == 0)),
                    ("language", s(self.pick(&["en", "pt", "ja", "de", "fr"]))),
                    ("currency", s(self.pick(&["EUR", "USD", "JPY", "CHF"]))),
                    ("categories", self.words(4, CATEGORIES)),
                ]),
            ),
            ("tags", self.words(5, WORDS)),
            ("bio", s(self.sentence(10, 40))),
            ("signedUpAt", Value::Float64(self.tick())),
            ("revision", Value::Int64(0)),
        ])
    }

    fn product(&mut self, i: usize) -> BTreeMap<String, Value> {
        let variants = (0..1 + self.rng.below(4))
            .map(|_| {
                obj(vec![
                    ("color", s(self.pick(COLORS))),
                    ("size", s(self.pick(SIZES))),
                    ("stock", Value::Int64(self.int(0, 1000))),
                ])
            })
            .collect();
        fields(vec![
            ("sku", s(format!("SKU-{i:08}"))),
            ("title", s(self.sentence(2, 6))),
            ("description", s(self.sentence(30, 90))),
            ("priceCents", Value::Int64(self.int(99, 100_000))),
            ("rating", Value::Float64(1.0 + self.rng.next_f64() * 4.0)),
            ("stock", Value::Int64(self.int(0, 10_000))),
            ("categories", self.words(3, CATEGORIES)),
            (
                "attributes",
                obj(vec![
                    ("weightGrams", Value::Int64(self.int(10, 20_000))),
                    (
                        "material",
                        s(self.pick(&["cotton", "steel", "oak", "glass"])),
                    ),
                    (
                        "dimensions",
                        obj(vec![
                            ("w", Value::Float64(self.money(10_000))),
                            ("h", Value::Float64(self.money(10_000))),
                            ("d", Value::Float64(self.money(10_000))),
                        ]),
                    ),
                ]),
            ),
            ("variants", Value::Array(variants)),
            ("active", Value::Boolean(self.rng.below(8) != 0)),
            ("revision", Value::Int64(0)),
        ])
    }

    fn order(&mut self) -> BTreeMap<String, Value> {
        let n_items = 1 + self.rng.below(5);
        let mut subtotal = 0.0;
        let items = (0..n_items)
            .map(|_| {
                let price = self.money(20_000);
                let qty = self.int(1, 5);
                subtotal += price * qty as f64;
                obj(vec![
                    ("productId", s(self.reference(false))),
                    ("name", s(self.sentence(2, 4))),
                    ("quantity", Value::Int64(qty)),
                    ("unitPrice", Value::Float64(price)),
                    (
                        "options",
                        obj(vec![
                            ("color", s(self.pick(COLORS))),
                            ("size", s(self.pick(SIZES))),
                            ("giftWrap", Value::Boolean(self.rng.below(5) == 0)),
                        ]),
                    ),
                ])
            })
            .collect();
        let tax = (subtotal * 0.2 * 100.0).round() / 100.0;
        fields(vec![
            ("customerId", s(self.reference(true))),
            ("status", s(self.pick(STATUS))),
            ("currency", s(self.pick(&["EUR", "USD", "JPY", "CHF"]))),
            ("items", Value::Array(items)),
            ("subtotal", Value::Float64(subtotal)),
            ("tax", Value::Float64(tax)),
            (
                "totalCents",
                Value::Int64(((subtotal + tax) * 100.0).round() as i64),
            ),
            (
                "shipping",
                obj(vec![
                    ("method", s(self.pick(&["standard", "express", "pickup"]))),
                    ("address", self.address()),
                    (
                        "trackingNumber",
                        s(format!("1Z{:016X}", self.rng.next_u64())),
                    ),
                    ("estimatedDays", Value::Int64(self.int(1, 14))),
                ]),
            ),
            ("notes", s(self.sentence(0, 12))),
            ("placedAt", Value::Float64(self.tick())),
            ("revision", Value::Int64(0)),
        ])
    }

    fn event(&mut self) -> BTreeMap<String, Value> {
        let experiments = (0..self.rng.below(4))
            .map(|i| {
                obj(vec![
                    ("name", s(format!("exp-{}", self.int(100, 999) + i as i64))),
                    ("variant", s(self.pick(&["control", "a", "b"]))),
                ])
            })
            .collect();
        let kind = self.pick(EVENT_KINDS);
        fields(vec![
            ("kind", s(kind)),
            ("customerId", s(self.reference(true))),
            (
                "sessionId",
                s(format!(
                    "{:016x}{:016x}",
                    self.rng.next_u64(),
                    self.rng.next_u64()
                )),
            ),
            ("userAgent", s(self.pick(AGENTS))),
            (
                "url",
                s(format!(
                    "/{}/{}?ref={}",
                    self.pick(CATEGORIES),
                    self.int(1, 1 << 20),
                    self.pick(WORDS)
                )),
            ),
            ("durationMs", Value::Float64(self.money(10_000_000))),
            ("sequence", Value::Int64(self.int(0, i64::MAX >> 8))),
            (
                "payload",
                obj(vec![
                    ("element", s(format!("#{}-{}", kind, self.int(1, 50)))),
                    (
                        "coordinates",
                        obj(vec![
                            ("x", Value::Int64(self.int(0, 3840))),
                            ("y", Value::Int64(self.int(0, 2160))),
                        ]),
                    ),
                    ("experiments", Value::Array(experiments)),
                    ("query", s(self.sentence(0, 6))),
                ]),
            ),
            ("labels", self.words(4, WORDS)),
            ("at", Value::Float64(self.tick())),
            ("revision", Value::Int64(0)),
        ])
    }

    /// The id of an existing customer (or product), or a made-up one before any exist.
    fn reference(&mut self, customer: bool) -> String {
        let ids = if customer {
            &self.customers
        } else {
            &self.products
        };
        if ids.is_empty() {
            return format!("{:032x}", self.rng.next_u64());
        }
        ids[self.rng.below(ids.len() as u64) as usize].clone()
    }

    fn document(&mut self, table: &str, i: usize) -> BTreeMap<String, Value> {
        match table {
            "customers" => self.customer(i),
            "products" => self.product(i),
            "orders" => self.order(),
            _ => self.event(),
        }
    }
}

/// How many documents each bench table gets out of `n` (they add up to `n`).
fn split(n: usize) -> Vec<(&'static str, usize)> {
    let mut out: Vec<(&str, usize)> = TABLES
        .iter()
        .map(|(t, per_mille)| (*t, n * per_mille / 1000))
        .collect();
    let assigned: usize = out.iter().map(|(_, c)| c).sum();
    if let Some(last) = out.last_mut() {
        last.1 += n - assigned;
    }
    out
}

impl Emulator {
    /// Loads `n` benchmark documents (deterministic for a given `n`) into the root-component
    /// tables `customers`, `products`, `orders` and `events`.
    pub fn seed_bench(&self, n: usize) -> Result<(), EmulatorError> {
        let mut g = Gen {
            rng: SplitMix64::new(0xBE_AC4 ^ n as u64),
            customers: Vec::new(),
            products: Vec::new(),
            clock_ms: 1_700_000_000_000.0,
        };
        for (table, count) in split(n) {
            let mut done = 0;
            while done < count {
                let tx: Vec<Mutation> = (done..count.min(done + TX_SIZE))
                    .map(|i| Mutation::Insert {
                        component: String::new(),
                        table: table.to_string(),
                        fields: g.document(table, i),
                    })
                    .collect();
                done += tx.len();
                let ids = self.apply(tx)?.ids;
                match table {
                    "customers" => g.customers.extend(ids),
                    "products" => g.products.extend(ids),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Updates `percent` % of the live documents of every bench table (every k-th document in
    /// id order, bumping `revision` and `updatedAt`), in transactions of [`TX_SIZE`]; returns the
    /// number of documents updated.
    pub fn bench_touch(&self, percent: f64) -> Result<usize, EmulatorError> {
        if !(percent > 0.0 && percent <= 100.0) {
            return Err(EmulatorError::BadRequest(format!(
                "percent must be in (0, 100], got {percent}"
            )));
        }
        let every = ((100.0 / percent).round() as usize).max(1);
        let updates: Vec<Mutation> = {
            let store = lock(&self.shared.store);
            let now = store.current_ts();
            store
                .live_user_tablets()
                .filter(|t| t.component.is_empty() && TABLES.iter().any(|(n, _)| *n == t.table))
                .flat_map(|t| t.docs_at(now).step_by(every).map(|(_, d)| d.clone()))
                .map(|d| {
                    let mut fields = d.fields();
                    let rev = match fields.get("revision") {
                        Some(Value::Int64(r)) => *r,
                        _ => 0,
                    };
                    fields.insert("revision".into(), Value::Int64(rev + 1));
                    fields.insert("updatedAt".into(), Value::Float64(d.creation_time() + 1.0));
                    Mutation::Update {
                        id: d.id().to_string(),
                        fields,
                    }
                })
                .collect()
        };
        let updated = updates.len();
        let mut it = updates.into_iter().peekable();
        while it.peek().is_some() {
            self.apply(it.by_ref().take(TX_SIZE).collect())?;
        }
        Ok(updated)
    }
}

#[derive(Deserialize)]
struct Touch {
    percent: f64,
}

async fn touch(State(em): State<Emulator>, Json(b): Json<Touch>) -> Response {
    match em.bench_touch(b.percent) {
        Ok(updated) => (
            StatusCode::OK,
            Json(json!({"ts": em.current_ts(), "updated": updated})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// `POST /_emulator/bench/touch`.
pub(crate) fn router(emulator: Emulator) -> Router {
    Router::new()
        .route("/_emulator/bench/touch", post(touch))
        .with_state(emulator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmulatorConfig;
    use spillway_convex_protocol::value::Format;

    #[test]
    fn documents_are_half_to_two_kilobytes_and_deterministic() {
        let em = Emulator::new(EmulatorConfig::default());
        em.seed_bench(2000).unwrap();
        let mut total = 0;
        let mut count = 0;
        for (table, expected) in split(2000) {
            let docs = em.live_documents("", table);
            assert_eq!(docs.len(), expected, "{table}");
            let sizes: Vec<usize> = docs
                .iter()
                .map(|d| {
                    Value::Object(d.clone())
                        .to_json_string(Format::ConvexEncodedJson)
                        .len()
                })
                .collect();
            let avg = sizes.iter().sum::<usize>() / sizes.len();
            assert!((400..=2000).contains(&avg), "{table}: average {avg} bytes");
            assert!(sizes.iter().all(|s| *s <= 2500), "{table}: {sizes:?}");
            total += sizes.iter().sum::<usize>();
            count += sizes.len();
        }
        let avg = total / count;
        assert!((500..=2000).contains(&avg), "average {avg} bytes");
        let again = Emulator::new(EmulatorConfig::default());
        again.seed_bench(2000).unwrap();
        assert_eq!(
            again.live_documents("", "orders"),
            em.live_documents("", "orders")
        );
    }

    #[test]
    fn touch_updates_the_requested_share() {
        let em = Emulator::new(EmulatorConfig::default());
        em.seed_bench(1000).unwrap();
        let before = em.current_ts();
        // Every 100th document of each table, from the first: 2 + 1 + 4 + 4.
        assert_eq!(em.bench_touch(1.0).unwrap(), 11);
        assert!(em.current_ts() > before);
        let revised = em
            .live_documents("", "events")
            .iter()
            .filter(|d| d.get("revision") == Some(&Value::Int64(1)))
            .count();
        assert_eq!(revised, 4);
        assert!(em.bench_touch(0.0).is_err());
    }
}
