//! Command-line arguments (clap derive). Parsing only; `main` resolves them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Move data out of Convex into DuckDB, Postgres and files — snapshot, then changes —
/// resumably, without losing or duplicating a row.
#[derive(Debug, Parser)]
#[command(name = "spillway", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config, then probe the source and every destination.
    Check(ConfigArg),
    /// List the source's streams with primary key, cursor and columns.
    Streams(StreamsArgs),
    /// Copy the source into the destinations: a full snapshot the first time, then only changes.
    Sync(SyncArgs),
    /// Show or reset the saved position (stored inside each destination).
    State(StateArgs),
    /// Rewrite each stream of the files destinations as its current state (latest version per
    /// _id, deletions applied) in as few part files as possible.
    Compact(CompactArgs),
    /// Run the bundled Convex-compatible emulator (for tests, demos and benchmarks).
    Emulator(EmulatorArgs),
    /// Quickstart: start the emulator with sample data in-process and sync it into a DuckDB file.
    Demo(DemoArgs),
}

/// `-c/--config`.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Path of the TOML config file.
    // Global, so that `state show -c FILE` works as well as `state -c FILE show`.
    #[arg(short, long, default_value = "spillway.toml", global = true)]
    pub config: PathBuf,
}

/// `streams` arguments.
#[derive(Debug, Args)]
pub struct StreamsArgs {
    /// The config file.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `sync` arguments.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The config file.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only these streams (comma-separated; `component/table` for component tables).
    #[arg(long, value_delimiter = ',')]
    pub streams: Option<Vec<String>>,
    /// Ignore the saved position and re-read everything (tables are truncated as they reload).
    #[arg(long)]
    pub full_refresh: bool,
    /// Keep polling for changes after catching up.
    #[arg(long)]
    pub follow: bool,
    /// Poll interval with --follow (e.g. 30s, 5m).
    #[arg(long, default_value = "30s", requires = "follow")]
    pub interval: String,
}

/// `compact` arguments.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The config file.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only these streams (comma-separated; default: every stream of each files destination).
    #[arg(long, value_delimiter = ',')]
    pub streams: Option<Vec<String>>,
}

/// `state` arguments.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The config file.
    #[command(flatten)]
    pub config: ConfigArg,
    /// What to do.
    #[command(subcommand)]
    pub action: StateAction,
}

/// `state` actions.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Print the saved positions of every destination.
    Show,
    /// Delete this source's saved position: the next sync starts with a full snapshot.
    Reset,
}

/// `emulator` arguments.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3210)]
    pub port: u16,
    /// Seed this many sample documents across several tables.
    #[arg(long, default_value_t = 0)]
    pub sample: usize,
    /// Seed this many benchmark documents (0.5–2 KB each) into customers, products, orders and
    /// events; `POST /_emulator/bench/touch {"percent":1}` then updates 1% of them.
    #[arg(long, default_value_t = 0)]
    pub bench_docs: usize,
    /// The deploy key to accept (default: a fixed development key, printed at start).
    #[arg(long, env = "SPILLWAY_EMULATOR_KEY", hide_env_values = true)]
    pub deploy_key: Option<String>,
}

/// `demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The DuckDB file to write.
    #[arg(long, default_value = "demo.duckdb")]
    pub path: PathBuf,
    /// Number of sample documents.
    #[arg(long, default_value_t = 2000)]
    pub sample: usize,
}
