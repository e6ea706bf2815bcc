//! A protocol-faithful emulator of Convex's streaming export API (spec
//! `convex-streaming-export.md` §2–14: the legacy routes and data sync), served with axum.
//!
//! The emulator keeps an in-memory, versioned document store with a global document log and a
//! deterministic logical clock, and serves `/api/list_snapshot`, `/api/document_deltas`,
//! `/api/json_schemas`, `/api/test_streaming_export_connection` and
//! `/api/get_table_column_names` byte-for-byte like the backend does, plus the data sync API
//! (`/api/v1/data/sync`, `/api/v1/data/list_active_syncs`, `/api/data_sync_cursor_from_deltas`). Tests drive it through the
//! Rust API below or the HTTP control plane under `/_emulator/`, and can make any `/api/*`
//! request fail on purpose ([`Fault`], [`FaultRule`], [`Emulator::inject`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use spillway_emulator::{Emulator, EmulatorConfig};
//! let emulator = Emulator::new(EmulatorConfig::default());
//! emulator.seed_sample(100).ok();
//! let server = emulator.serve("127.0.0.1:0".parse().unwrap()).await?;
//! println!("deployment at {}", server.url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod auth;
mod bench_data;
mod control;
mod data_sync;
mod encode;
mod errors;
mod faults;
mod handlers;
mod mutation;
mod request_log;
mod rng;
mod sample;
mod schema;
mod selection;
mod server;
mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use spillway_convex_protocol::Value;

pub use errors::EmulatorError;
pub use faults::{Fault, FaultRule};
pub use mutation::{Applied, Mutation};
pub use request_log::LoggedRequest;
pub use server::ServerHandle;

use store::Store;

/// Nanoseconds per day.
pub(crate) const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// Emulator settings. Every server knob of the spec is configurable.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Full admin keys (e.g. `prod:happy-animal-123|<secret>`). Display prefixes are stripped
    /// before comparing (spec §2.2).
    pub admin_keys: Vec<String>,
    /// Valid keys lacking `deployment:data:view` (→ 403 `OperationNotPermitted`).
    pub restricted_keys: Vec<String>,
    /// The plan gate; `false` → 403 `StreamingExportNotEnabled`.
    pub streaming_export_enabled: bool,
    /// `SNAPSHOT_LIST_LIMIT`: rows per list_snapshot page (default 1024).
    pub snapshot_page_limit: usize,
    /// `DOCUMENT_DELTAS_LIMIT`: log rows per document_deltas page (default 128).
    pub deltas_page_limit: usize,
    /// The logical clock's initial read ts (ns).
    pub clock_start_ns: i64,
    /// Minimum distance between commit timestamps (ns).
    pub clock_step_ns: i64,
    /// `LIST_SNAPSHOT_MAX_AGE_SECS` in ns (default 5 days).
    pub snapshot_max_age_ns: i64,
    /// `DOCUMENT_RETENTION_DELAY` in ns (default 14 days).
    pub document_retention_ns: i64,
    /// Seed of tablet ids and document ids.
    pub seed: u64,
    /// Deployment name used in messages (e.g. `happy-animal-123`).
    pub deployment_name: String,
    /// Whether the data sync routes exist; `false` → 404 on all three, like an older backend
    /// (clients fall back to the legacy API). Default `true`.
    pub data_sync_enabled: bool,
    /// `DATA_SYNC_PAGE_SIZE_LIMIT`: values per data sync page, soft (default 16384).
    pub data_sync_page_entries: usize,
    /// `DATA_SYNC_PAGE_BYTES_LIMIT`: encoded value bytes per data sync page, soft: the page
    /// stops after the value that takes the total past it (default 64 MiB).
    pub data_sync_page_bytes: usize,
    /// `DATA_SYNC_MAX_ROWS_READ`: log rows read per data sync ts page (default 32768).
    pub data_sync_max_rows_read: usize,
    /// `DATA_SYNC_BY_ID_FRESHNESS_SECONDS` in ns of the logical clock: by_id pages only while
    /// `latest − synced_ts` is below it (default 30 s).
    pub data_sync_by_id_freshness_ns: i64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            admin_keys: vec!["prod:happy-animal-123|emulator-admin-secret".to_string()],
            restricted_keys: Vec::new(),
            streaming_export_enabled: true,
            snapshot_page_limit: 1024,
            deltas_page_limit: 128,
            clock_start_ns: 1_700_000_000_000_000_000,
            clock_step_ns: 1_000_000,
            snapshot_max_age_ns: 5 * DAY_NS,
            document_retention_ns: 14 * DAY_NS,
            seed: 0x5EED_C0FFEE,
            deployment_name: "happy-animal-123".to_string(),
            data_sync_enabled: true,
            data_sync_page_entries: 16384,
            data_sync_page_bytes: 64 << 20,
            data_sync_max_rows_read: 32768,
            data_sync_by_id_freshness_ns: 30_000_000_000,
        }
    }
}

/// State shared by the Rust API and the HTTP handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) config: Mutex<EmulatorConfig>,
    pub(crate) requests: Mutex<Vec<LoggedRequest>>,
    pub(crate) faults: Mutex<faults::FaultState>,
    /// Data sync cursor keys, nonce generator and active-sync progress. Lock after `store`.
    pub(crate) data_sync: Mutex<data_sync::Registry>,
    /// Wakes requests held by [`Fault::Hang`] (on [`Emulator::clear_faults`]).
    pub(crate) hang_release: tokio::sync::Notify,
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not wedge the emulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running-or-not emulated deployment; cheap to clone (all clones share state).
#[derive(Clone, Debug)]
pub struct Emulator {
    pub(crate) shared: Arc<Shared>,
}

impl Emulator {
    /// An empty deployment.
    pub fn new(config: EmulatorConfig) -> Self {
        let store = Store::new(config.seed, config.clock_start_ns, config.clock_step_ns);
        let faults = faults::FaultState::new(config.seed);
        let data_sync = data_sync::Registry::new(config.seed);
        Emulator {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                config: Mutex::new(config),
                requests: Mutex::new(Vec::new()),
                faults: Mutex::new(faults),
                data_sync: Mutex::new(data_sync),
                hang_release: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The axum app: `/api/*` export routes plus the `/_emulator/*` control plane.
    pub fn router(&self) -> axum::Router {
        handlers::router(self.shared.clone())
            .merge(control::router(self.clone()))
            .merge(bench_data::router(self.clone()))
    }

    /// Binds `addr` (port 0 picks a free port), serves in a background task and returns at once.
    pub async fn serve(&self, addr: std::net::SocketAddr) -> std::io::Result<ServerHandle> {
        server::serve(self.router(), addr).await
    }

    /// Commits `tx` as one transaction with one commit ts.
    pub fn apply(&self, tx: Vec<Mutation>) -> Result<Applied, EmulatorError> {
        lock(&self.shared.store).apply(tx)
    }

    /// Moves the current read ts forward by `ns` without writing.
    pub fn advance_clock(&self, ns: i64) {
        lock(&self.shared.store).advance_clock(ns);
    }

    /// Loads realistic sample data (several tables, one inside component `waitlist`, system-table
    /// writes), about `documents` documents in total.
    pub fn seed_sample(&self, documents: usize) -> Result<(), EmulatorError> {
        sample::seed(&mut lock(&self.shared.store), documents)
    }

    /// Drops a table at a new commit ts, without tombstones (spec §17.13); returns the ts.
    pub fn drop_table(&self, component: &str, table: &str) -> Result<i64, EmulatorError> {
        lock(&self.shared.store).drop_table(component, table)
    }

    /// Replaces a table by a new tablet with `docs` (like `import --replace`); returns the ts.
    /// Documents may carry `_id` (of this table) and `_creationTime` to keep their identity.
    pub fn replace_table(
        &self,
        component: &str,
        table: &str,
        docs: Vec<BTreeMap<String, Value>>,
    ) -> Result<i64, EmulatorError> {
        lock(&self.shared.store).replace_table(component, table, docs)
    }

    /// Inserts `rows` documents into a hidden system table in one transaction (their log rows
    /// use document_deltas budget but are never exported); returns the commit ts.
    pub fn write_system_rows(&self, rows: usize) -> i64 {
        lock(&self.shared.store).write_system_rows(rows)
    }

    /// Changes the page limits (values below 1 are treated as 1).
    pub fn set_limits(&self, snapshot_page_limit: usize, deltas_page_limit: usize) {
        let mut c = lock(&self.shared.config);
        c.snapshot_page_limit = snapshot_page_limit.max(1);
        c.deltas_page_limit = deltas_page_limit.max(1);
    }

    /// Turns the data sync routes on or off (off: 404 like a backend without them).
    pub fn set_data_sync_enabled(&self, on: bool) {
        lock(&self.shared.config).data_sync_enabled = on;
    }

    /// Changes the data sync page limits: values per page, encoded value bytes per page and
    /// log rows read per ts page (values below 1 are treated as 1).
    pub fn set_data_sync_limits(&self, entries: usize, bytes: usize, rows_read: usize) {
        let mut c = lock(&self.shared.config);
        c.data_sync_page_entries = entries.max(1);
        c.data_sync_page_bytes = bytes.max(1);
        c.data_sync_max_rows_read = rows_read.max(1);
    }

    /// Changes the by_id freshness window (ns of the logical clock; spec §15
    /// `DATA_SYNC_BY_ID_FRESHNESS_SECONDS`).
    pub fn set_data_sync_freshness(&self, ns: i64) {
        lock(&self.shared.config).data_sync_by_id_freshness_ns = ns;
    }

    /// Flips the plan gate.
    pub fn set_streaming_export_enabled(&self, on: bool) {
        lock(&self.shared.config).streaming_export_enabled = on;
    }

    /// Expires history: snapshots, deltas cursors and data sync cursors older than `ts` fail
    /// with `SnapshotTooOld` / `InvalidWindowToReadDocuments` / `DataSyncCursorExpired`.
    pub fn expire_before(&self, ts: i64) {
        let mut s = lock(&self.shared.store);
        s.snapshot_floor = s.snapshot_floor.max(ts);
        s.deltas_floor = s.deltas_floor.max(ts);
    }

    /// Current documents of a table, including `_id` and `_creationTime`, sorted by `_id`.
    pub fn live_documents(&self, component: &str, table: &str) -> Vec<BTreeMap<String, Value>> {
        lock(&self.shared.store).live_documents(component, table)
    }

    /// `(component, table)` of every live exported table, sorted.
    pub fn tables(&self) -> Vec<(String, String)> {
        lock(&self.shared.store).tables()
    }

    /// The current read timestamp.
    pub fn current_ts(&self) -> i64 {
        lock(&self.shared.store).current_ts()
    }

    /// The `/api/*` request log, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// A snapshot of the settings currently in force.
    pub fn config(&self) -> EmulatorConfig {
        lock(&self.shared.config).clone()
    }
}
