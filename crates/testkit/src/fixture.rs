//! An emulator on real HTTP plus a DuckDB file in a temp directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use spillway_core::{DestError, StreamId};
use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};
use spillway_emulator::{Emulator, EmulatorConfig, LoggedRequest, ServerHandle};
use spillway_engine::{CancellationToken, EngineError, SyncOptions, SyncReport, sync_once};
use spillway_source_convex::{ApiMode, ConvexConfig, ConvexSource};

use crate::compare::{Mismatch, compare_duckdb_with_emulator};

/// The admin key every fixture emulator accepts.
pub const ADMIN_KEY: &str = "prod:happy-animal-123|fixture-secret";

/// A running emulator (served on 127.0.0.1, random port) and a DuckDB path in a temp dir.
pub struct Fixture {
    /// The emulator, for mutations, limits and the request log.
    pub emulator: Emulator,
    server: Option<ServerHandle>,
    /// Deployment URL the emulator serves.
    pub url: String,
    /// Where the destination lives.
    pub db_path: PathBuf,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Starts an emulator with `config` (its admin keys replaced by [`ADMIN_KEY`]).
    ///
    /// # Panics
    /// If the temp dir or the listener cannot be created (a broken test machine).
    pub async fn start(config: EmulatorConfig) -> Fixture {
        let emulator = Emulator::new(EmulatorConfig {
            admin_keys: vec![ADMIN_KEY.to_string()],
            ..config
        });
        #[allow(clippy::expect_used)]
        let server = emulator
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("start the emulator on 127.0.0.1");
        #[allow(clippy::expect_used)]
        let dir = tempfile::tempdir().expect("create a temp dir");
        Fixture {
            url: server.url().to_string(),
            db_path: dir.path().join("dest.duckdb"),
            emulator,
            server: Some(server),
            dir,
        }
    }

    /// Starts an emulator with default settings.
    pub async fn new() -> Fixture {
        Fixture::start(EmulatorConfig::default()).await
    }

    /// The temp dir (deleted when the fixture drops).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Source settings pointing at the emulator, reading through the legacy API (what most
    /// tests exercise; [`Fixture::source_api`] picks another).
    pub fn convex_config(&self) -> ConvexConfig {
        ConvexConfig {
            api: ApiMode::Legacy,
            ..ConvexConfig::new(&self.url, ADMIN_KEY)
        }
    }

    /// A source over every table reading through `api`.
    ///
    /// # Panics
    /// If the fixture's own config is invalid (a bug in the source or the fixture).
    pub fn source_api(&self, api: ApiMode) -> Arc<ConvexSource> {
        #[allow(clippy::expect_used)]
        Arc::new(
            ConvexSource::try_new(ConvexConfig {
                api,
                ..self.convex_config()
            })
            .expect("valid fixture config"),
        )
    }

    /// A source over every table.
    ///
    /// # Panics
    /// If the fixture's own config is invalid (a bug in the source or the fixture).
    pub fn source(&self) -> Arc<ConvexSource> {
        #[allow(clippy::expect_used)]
        Arc::new(ConvexSource::try_new(self.convex_config()).expect("valid fixture config"))
    }

    /// Opens the destination.
    ///
    /// # Panics
    /// If DuckDB cannot open the file.
    pub fn open_dest(&self) -> DuckDbDestination {
        #[allow(clippy::expect_used)]
        DuckDbDestination::open(&DuckDbConfig::new(self.db_path.clone()))
            .expect("open the DuckDB destination")
    }

    /// One incremental sync of every table into the destination (opened and closed here).
    pub async fn sync(&self) -> Result<SyncReport, EngineError> {
        self.sync_with(self.source(), &SyncOptions::default()).await
    }

    /// One sync of `source` with `options`.
    pub async fn sync_with(
        &self,
        source: Arc<ConvexSource>,
        options: &SyncOptions,
    ) -> Result<SyncReport, EngineError> {
        let mut dest = self.open_dest();
        sync_once(source, &mut dest, options, &CancellationToken::new()).await
    }

    /// Differences between the destination and the emulator's live state.
    pub fn mismatches(&self, only: Option<&[StreamId]>) -> Result<Vec<Mismatch>, DestError> {
        let mut dest = self.open_dest();
        compare_duckdb_with_emulator(&mut dest, &self.emulator, only)
    }

    /// Asserts the destination equals the emulator's live state, cell by cell.
    ///
    /// # Panics
    /// With the list of differences when there are any.
    #[track_caller]
    pub fn assert_synced(&self) {
        #[allow(clippy::expect_used)]
        let diffs = self.mismatches(None).expect("read the destination");
        assert!(
            diffs.is_empty(),
            "destination differs from the emulator ({} differences):\n{}",
            diffs.len(),
            diffs
                .iter()
                .take(30)
                .map(|d| format!("  {d}\n"))
                .collect::<String>()
        );
    }

    /// The logged requests to `path` (e.g. `/api/list_snapshot`), oldest first.
    pub fn calls(&self, path: &str) -> Vec<LoggedRequest> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Stops the server.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}
