//! `spillway demo`: the quickstart. Starts the emulator in-process with sample data, syncs it
//! into a DuckDB file, checks the copy and prints a query to try.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use spillway_core::StreamId;
use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};
use spillway_emulator::{Emulator, EmulatorConfig};
use spillway_engine::{SyncOptions, sync_once};
use spillway_source_convex::{ConvexConfig, ConvexSource};
use spillway_testkit::compare_duckdb_with_emulator;

use crate::args::DemoArgs;
use crate::commands::emulator::DEFAULT_KEY;
use crate::setup;

/// Runs the command.
pub async fn run(args: &DemoArgs) -> Result<()> {
    let emulator = Emulator::new(EmulatorConfig {
        admin_keys: vec![DEFAULT_KEY.to_string()],
        ..EmulatorConfig::default()
    });
    emulator
        .seed_sample(args.sample)
        .context("seeding sample data")?;
    let server = emulator
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot start the emulator on 127.0.0.1")?;
    println!(
        "Started a Convex emulator at {} with {} sample documents.",
        server.url(),
        args.sample
    );

    let source = Arc::new(ConvexSource::try_new(ConvexConfig::new(
        server.url(),
        DEFAULT_KEY,
    ))?);
    let mut dest = DuckDbDestination::open(&DuckDbConfig::new(args.path.clone()))?;
    let cancel = setup::cancel_on_signal();
    // A full refresh, so rerunning the demo into the same file starts from a clean copy.
    let options = SyncOptions {
        full_refresh: true,
        ..SyncOptions::default()
    };
    let report = sync_once(source, &mut dest, &options, &cancel)
        .await
        .context("demo sync failed")?;
    println!("Synced into {}: {report}", args.path.display());

    for (component, table) in emulator.tables() {
        let stream = StreamId::new(component.clone(), table.clone());
        let expected = emulator.live_documents(&component, &table).len();
        let actual = dest.row_count(&stream.qualified())?;
        println!(
            "  {:<24} {actual:>7} rows (emulator: {expected})",
            stream.qualified()
        );
    }
    // Cell by cell, not just counts: the demo proves its own copy.
    let mismatches = compare_duckdb_with_emulator(&mut dest, &emulator, None)?;
    server.shutdown().await;
    if !mismatches.is_empty() {
        for m in mismatches.iter().take(20) {
            eprintln!("  mismatch: {m}");
        }
        bail!(
            "{} differences between {} and the emulator",
            mismatches.len(),
            args.path.display()
        );
    }
    println!("Verified: every table equals the emulator's data, cell by cell.");
    println!();
    println!("Try it:");
    println!(
        "  duckdb {} \"SELECT author, count(*) AS n FROM messages GROUP BY ALL ORDER BY n DESC LIMIT 5\"",
        args.path.display()
    );
    println!(
        "or from Python: import duckdb; duckdb.connect('{}').sql('SHOW TABLES').show()",
        args.path.display()
    );
    Ok(())
}
