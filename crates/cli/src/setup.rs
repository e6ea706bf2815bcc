//! Shared plumbing: logging, building sources and destinations from the config, signals.

use std::sync::Arc;

use anyhow::{Context, Result};
use spillway_core::{Destination, Source, StreamId};
use spillway_dest_duckdb::DuckDbDestination;
use spillway_dest_files::FilesDestination;
use spillway_dest_postgres::PostgresDestination;
use spillway_engine::CancellationToken;
use spillway_source_convex::ConvexSource;
use tracing_subscriber::EnvFilter;

use crate::args::ConfigArg;
use crate::config::{self, Config, DestinationConfig, SourceConfig};

/// A configuration problem (exit code 2).
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The crates whose logs the verbosity flags raise.
const OUR_CRATES: &[&str] = &[
    "spillway",
    "spillway_engine",
    "spillway_source_convex",
    "spillway_dest_duckdb",
    "spillway_dest_postgres",
    "spillway_dest_files",
];

/// Logs go to stderr; `RUST_LOG` overrides the verbosity flags.
pub fn init_logging(verbose: u8, quiet: bool) {
    // Other crates at `base`, spillway's own at `ours`.
    let (base, ours) = match (quiet, verbose) {
        (true, _) => ("error", "error"),
        (_, 0) => ("warn", "info"),
        (_, 1) => ("info", "debug"),
        _ => ("debug", "trace"),
    };
    let default = std::iter::once(base.to_string())
        .chain(OUR_CRATES.iter().map(|c| format!("{c}={ours}")))
        .collect::<Vec<_>>()
        .join(",");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Loads the config, mapping failures to [`ConfigError`].
pub fn load_config(arg: &ConfigArg) -> Result<Config> {
    config::load(&arg.config).map_err(|e| ConfigError(format!("{e:#}")).into())
}

/// Builds the source, optionally restricted to `streams`.
pub fn build_source(config: &Config, streams: Option<&[String]>) -> Result<Arc<dyn Source>> {
    match &config.source {
        SourceConfig::Convex(c) => {
            let mut source = ConvexSource::try_new(c.clone())?;
            if let Some(list) = streams {
                let ids: Vec<StreamId> = list
                    .iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(StreamId::parse)
                    .collect();
                for id in &ids {
                    if let Some(allowed) = source.selected()
                        && !allowed.contains(id)
                    {
                        return Err(ConfigError(format!(
                            "--streams names {id}, which is not in source.tables"
                        ))
                        .into());
                    }
                }
                source = source.with_streams(ids);
            }
            Ok(Arc::new(source))
        }
    }
}

/// Opens every destination (connecting to Postgres), in config order.
pub async fn build_destinations(config: &Config) -> Result<Vec<Box<dyn Destination>>> {
    let mut out: Vec<Box<dyn Destination>> = Vec::new();
    for (i, d) in config.destination.iter().enumerate() {
        let opened: Result<Box<dyn Destination>, spillway_core::DestError> = match d {
            // DuckDB's memory is capped at half of `memory_limit` unless the destination sets
            // its own: DuckDB spills what does not fit to disk. (With a primary-key index, which
            // DuckDB keeps in memory whole, a 128 MB cap failed a 10 M-document sync; tables
            // have no such index since.)
            DestinationConfig::Duckdb(c) => {
                let mut c = c.clone();
                c.memory_limit = c.memory_limit.or(Some(config.memory_limit / 2));
                DuckDbDestination::open(&c).map(|x| Box::new(x) as Box<dyn Destination>)
            }
            DestinationConfig::Files(c) => FilesDestination::open(c)
                .await
                .map(|x| Box::new(x) as Box<dyn Destination>),
            DestinationConfig::Postgres(c) => PostgresDestination::connect(c)
                .await
                .map(|x| Box::new(x) as Box<dyn Destination>),
        };
        out.push(opened.with_context(|| format!("destination[{i}]"))?);
    }
    Ok(out)
}

/// A token cancelled by Ctrl-C or SIGTERM.
pub fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    t.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::warn!(
            "Stop requested; abandoning the current page (nothing partial is committed)."
        );
        t.cancel();
    });
    token
}
