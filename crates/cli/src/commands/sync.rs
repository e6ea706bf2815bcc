//! `spillway sync`: one read fanned out to every destination.

use std::time::Duration;

use anyhow::{Result, anyhow};
use spillway_engine::{DestinationRun, DynDestination, SyncOptions, follow_fan_out, sync_fan_out};
use spillway_source_convex::config::parse_duration;
use tracing::info;

use crate::args::SyncArgs;
use crate::memory::{in_flight_budget, peak_rss_line};
use crate::setup::{self, ConfigError};

/// Runs the command.
pub async fn run(args: &SyncArgs) -> Result<()> {
    let config = setup::load_config(&args.config)?;
    let interval: Duration =
        parse_duration(&args.interval).map_err(|e| ConfigError(format!("--interval: {e}")))?;
    if config.full_read && args.follow {
        return Err(ConfigError(format!(
            "{}: write_mode = \"replace\" reloads every table on each run, so it cannot follow \
             changes incrementally (--follow); use upsert or overwrite-delete-stale with --follow, \
             or run replace syncs on a schedule",
            args.config.config.display()
        ))
        .into());
    }
    let source = setup::build_source(&config, args.streams.as_deref())?;
    let mut destinations = setup::build_destinations(&config).await?;
    let cancel = setup::cancel_on_signal();
    if config.full_read && !args.full_refresh {
        info!("write_mode = \"replace\": reading every table again.");
    }
    let options = SyncOptions {
        full_refresh: args.full_refresh || config.full_read,
        commit_interval: config.commit_interval,
        max_in_flight_bytes: in_flight_budget(config.memory_limit),
    };
    let mut dests: Vec<&mut DynDestination> = destinations.iter_mut().map(|d| d.as_mut()).collect();
    if args.follow {
        follow_fan_out(source, &mut dests, &options, interval, &cancel, |runs| {
            runs.iter().for_each(print_run);
            println!("{}", peak_rss_line());
        })
        .await
        .map_err(|e| anyhow!(e).context("sync stopped"))
    } else {
        let runs = sync_fan_out(source, &mut dests, &options, &cancel).await;
        runs.iter().for_each(print_run);
        println!("{}", peak_rss_line());
        // Every destination's outcome is printed; the first failure is the command's error.
        match runs.into_iter().find_map(|r| r.error.map(|e| (r.name, e))) {
            None => Ok(()),
            Some((name, e)) => Err(anyhow!(e).context(format!("sync into {name} failed"))),
        }
    }
}

fn print_run(run: &DestinationRun) {
    let r = &run.report;
    match &run.error {
        None => println!("synced into {}: {r}", run.name),
        Some(_) => println!("FAILED {}: {r} before the failure", run.name),
    }
    for (stream, rows) in &r.per_stream {
        println!("  {stream}: {rows} rows");
    }
    if let Some(c) = &r.last_checkpoint {
        println!("  position: {c}");
    }
}
