//! `spillway sync`.

use std::time::Duration;

use anyhow::{Context, Result};
use spillway_engine::{SyncOptions, SyncReport, follow, sync_once};
use spillway_source_convex::config::parse_duration;

use crate::args::SyncArgs;
use crate::setup::{self, ConfigError};

/// Runs the command.
pub async fn run(args: &SyncArgs) -> Result<()> {
    let config = setup::load_config(&args.config)?;
    let interval: Duration =
        parse_duration(&args.interval).map_err(|e| ConfigError(format!("--interval: {e}")))?;
    let source = setup::build_source(&config, args.streams.as_deref())?;
    let destinations = setup::build_destinations(&config)?;
    let cancel = setup::cancel_on_signal();
    let options = SyncOptions {
        full_refresh: args.full_refresh,
        ..SyncOptions::default()
    };
    // Each destination keeps its own state; this version reads the source once per
    // destination (a single read fanned out to several destinations comes later).
    for mut dest in destinations {
        let name = dest.name();
        if args.follow {
            follow(
                source.clone(),
                dest.as_mut(),
                &options,
                interval,
                &cancel,
                |r| print_report(&name, r),
            )
            .await
            .with_context(|| format!("sync into {name} stopped"))?;
        } else {
            let report = sync_once(source.clone(), dest.as_mut(), &options, &cancel)
                .await
                .with_context(|| format!("sync into {name} failed"))?;
            print_report(&name, &report);
        }
    }
    Ok(())
}

fn print_report(dest: &str, r: &SyncReport) {
    println!("synced into {dest}: {r}");
    for (stream, rows) in &r.per_stream {
        println!("  {stream}: {rows} rows");
    }
    if let Some(c) = &r.last_checkpoint {
        println!("  position: {c}");
    }
}
