//! Helpers shared by the integration tests: batches built with Arrow, and a destination in a
//! schema of its own (dropped when the test ends, even by a panic) on the machine's Postgres.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
pub use spillway_core::testing::*;
use spillway_dest_postgres::{PostgresConfig, PostgresDestination};
use tokio_postgres::NoTls;

/// The test server: `SPILLWAY_TEST_POSTGRES_URL`, else the machine's Postgres.
pub fn url() -> String {
    std::env::var("SPILLWAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Prefix of the schemas the tests create.
const PREFIX: &str = "spw_test_";

/// A schema of one test; dropped (with everything in it) when this guard drops.
pub struct TestSchema {
    pub name: String,
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own: Drop cannot await, and the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let Ok((client, conn)) = tokio_postgres::connect(&url(), NoTls).await else {
                    return;
                };
                tokio::spawn(conn);
                let _ = client
                    .batch_execute(&format!(
                        "SET lock_timeout = '30s'; DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
                    ))
                    .await;
            });
        })
        .join();
    }
}

/// How to bring Postgres up, for failure messages.
pub fn how_to_start() -> String {
    format!(
        "Postgres is needed at {} (set SPILLWAY_TEST_POSTGRES_URL to use another). Start it with \
         `scripts/services.sh` (it runs `pg_ctlcluster --skip-systemctl-redirect \
         $(ls /etc/postgresql) main start` and creates the database `test`)",
        url()
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh schema name, unique across parallel tests and processes.
fn schema_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let secs = now_secs();
    format!(
        "{PREFIX}{secs}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new schema guard and a configuration writing into it (nothing created yet).
pub fn config() -> (TestSchema, PostgresConfig) {
    let schema = TestSchema {
        name: schema_name(),
    };
    let cfg = PostgresConfig::new(url()).with_schema(&schema.name);
    (schema, cfg)
}

/// Connects to `cfg`, failing the test with how to start Postgres if it is down.
pub async fn connect(cfg: &PostgresConfig) -> PostgresDestination {
    match PostgresDestination::connect(cfg).await {
        Ok(d) => d,
        Err(e) => panic!("{e}\n{}", how_to_start()),
    }
}

/// Drops the schemas of test processes that died more than an hour ago (once per process):
/// a killed test never ran its guard's `Drop`.
async fn drop_stale_schemas() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    let c = client().await;
    let rows = c
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&PREFIX],
        )
        .await
        .unwrap();
    for r in rows {
        let name: String = r.get(0);
        let born = name[PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|s| s.parse::<u64>().ok());
        if born.is_some_and(|b| b + 3600 < now_secs()) {
            let _ = c
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .await;
        }
    }
}

/// A destination in a schema of its own. Keep the guard alive for the whole test (bind it
/// first, so it drops last).
pub async fn open() -> (TestSchema, PostgresConfig, PostgresDestination) {
    drop_stale_schemas().await;
    let (schema, cfg) = config();
    let dest = connect(&cfg).await;
    (schema, cfg, dest)
}

/// A plain client on the test server, for what the destination does not expose.
pub async fn client() -> tokio_postgres::Client {
    let (client, conn) = match tokio_postgres::connect(&url(), NoTls).await {
        Ok(c) => c,
        Err(e) => panic!("{e}\n{}", how_to_start()),
    };
    tokio::spawn(conn);
    client
}

/// A string literal for SQL.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// All rows of `table` ordered by `_id`.
pub async fn rows(dest: &mut PostgresDestination, table: &str) -> Vec<Map<String, Value>> {
    let sql = format!(
        "SELECT * FROM {} ORDER BY _id COLLATE \"C\"",
        dest.table_ref(table)
    );
    dest.query_json(&sql).await.unwrap()
}

/// `(column, Postgres type)` of `table` as `"name type"` strings.
pub async fn columns(dest: &mut PostgresDestination, table: &str) -> Vec<String> {
    dest.columns(table)
        .await
        .unwrap()
        .into_iter()
        .map(|(n, t)| format!("{n} {t}"))
        .collect()
}

/// The text Postgres holds for `column` of row `id` (`column::text`).
pub async fn stored_text(
    dest: &mut PostgresDestination,
    table: &str,
    column: &str,
    id: &str,
) -> Option<String> {
    let sql = format!(
        "SELECT \"{column}\"::text AS v FROM {} WHERE _id = {}",
        dest.table_ref(table),
        lit(id)
    );
    let rows = dest.query_json(&sql).await.unwrap();
    rows.first()
        .and_then(|r| r["v"].as_str().map(str::to_string))
}

/// A destination in a schema of its own, writing streams in `modes`.
pub async fn open_with(
    modes: spillway_core::WriteModes,
) -> (TestSchema, PostgresConfig, PostgresDestination) {
    drop_stale_schemas().await;
    let (schema, cfg) = config();
    let cfg = cfg.with_modes(modes);
    let dest = connect(&cfg).await;
    (schema, cfg, dest)
}

/// `(_id, _ts, x)` of every row of `table` (`x` null when the table has no such column),
/// ordered by `_id` then `_ts`, read through a connection of its own (what another reader
/// sees); `[]` when the table does not exist.
pub async fn reader_view(schema: &str, table: &str) -> Vec<(String, i64, Value)> {
    let c = client().await;
    let exists: bool = c
        .query_one(
            "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
            &[&schema, &table],
        )
        .await
        .unwrap()
        .get(0);
    if !exists {
        return Vec::new();
    }
    let sql = format!(
        "SELECT _id, _ts, to_json(t)->'x' FROM \"{schema}\".\"{table}\" AS t \
         ORDER BY _id COLLATE \"C\", _ts"
    );
    c.query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                r.get::<_, i64>(1),
                r.get::<_, Option<Value>>(2).unwrap_or(Value::Null),
            )
        })
        .collect()
}
