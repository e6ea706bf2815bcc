//! A Postgres schema of one test on the machine's server, dropped when the test ends.

use std::sync::atomic::{AtomicU32, Ordering};

use spillway_dest_postgres::PostgresConfig;
use tokio_postgres::NoTls;

/// The test server: `SPILLWAY_TEST_POSTGRES_URL`, else the machine's Postgres (trust auth,
/// database `test`; `scripts/services.sh` starts it).
pub fn postgres_url() -> String {
    std::env::var("SPILLWAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A schema of its own (`spw_tk_<tag>_<pid>_<n>`); dropped with everything in it on drop.
pub struct PgSchema {
    /// The schema's name.
    pub name: String,
}

impl PgSchema {
    /// A fresh schema name for `tag` (created by the destination on connect).
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        PgSchema {
            name: format!("spw_tk_{tag}_{}_{n}", std::process::id()),
        }
    }

    /// A destination config writing to this schema.
    pub fn config(&self) -> PostgresConfig {
        PostgresConfig::new(postgres_url()).with_schema(&self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own: Drop cannot await, and the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok((client, conn)) = tokio_postgres::connect(&postgres_url(), NoTls).await
                else {
                    return;
                };
                tokio::spawn(conn);
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await;
            });
        })
        .join();
    }
}
