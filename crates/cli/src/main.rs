//! The `spillway` binary: parses arguments, builds the engine's pieces from the config, prints
//! results and errors. Nothing more.

mod args;
mod commands;
mod config;
mod config_errors;
mod config_modes;
mod memory;
mod setup;

use std::process::ExitCode;

use clap::Parser;
use spillway_core::ErrorKind;
use spillway_engine::EngineError;

use crate::args::{Cli, Command};

/// Exit codes: distinct for config/usage, auth and runtime failures.
mod exit {
    pub const RUNTIME: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const AUTH: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    setup::init_logging(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Check(a) => commands::check::run(&a).await,
            Command::Streams(a) => commands::streams::run(&a).await,
            Command::Sync(a) => commands::sync::run(&a).await,
            Command::State(a) => commands::state::run(&a).await,
            Command::Compact(a) => commands::compact::run(&a).await,
            Command::Emulator(a) => commands::emulator::run(&a).await,
            Command::Demo(a) => commands::demo::run(&a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        let kind = if let Some(e) = cause.downcast_ref::<EngineError>() {
            if matches!(e, EngineError::Interrupted { .. }) {
                return exit::INTERRUPTED;
            }
            e.kind()
        } else if let Some(e) = cause.downcast_ref::<spillway_core::SourceError>() {
            e.kind
        } else if let Some(e) = cause.downcast_ref::<spillway_core::DestError>() {
            e.kind
        } else if cause.downcast_ref::<setup::ConfigError>().is_some() {
            ErrorKind::Config
        } else {
            continue;
        };
        return match kind {
            ErrorKind::Config => exit::CONFIG,
            ErrorKind::Auth => exit::AUTH,
            _ => exit::RUNTIME,
        };
    }
    exit::RUNTIME
}
