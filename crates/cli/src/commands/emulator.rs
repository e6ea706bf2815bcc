//! `spillway emulator`: serve the bundled Convex-compatible emulator until Ctrl-C.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use spillway_emulator::{Emulator, EmulatorConfig};

use crate::args::EmulatorArgs;
use crate::setup;

/// The deploy key the emulator accepts unless told otherwise. Not a secret: it only opens the
/// local emulator.
pub const DEFAULT_KEY: &str = "dev:spillway-emulator|0123456789abcdef";

/// Runs the command.
pub async fn run(args: &EmulatorArgs) -> Result<()> {
    let key = args
        .deploy_key
        .clone()
        .unwrap_or_else(|| DEFAULT_KEY.to_string());
    let emulator = Emulator::new(EmulatorConfig {
        admin_keys: vec![key.clone()],
        ..EmulatorConfig::default()
    });
    if args.sample > 0 {
        emulator
            .seed_sample(args.sample)
            .context("seeding sample data")?;
    }
    if args.bench_docs > 0 {
        let started = std::time::Instant::now();
        emulator
            .seed_bench(args.bench_docs)
            .context("seeding benchmark data")?;
        println!(
            "seeded {} benchmark documents in {:.1?}",
            args.bench_docs,
            started.elapsed()
        );
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let server = emulator
        .serve(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is the port in use? try --port 0)"))?;
    println!("Convex emulator listening on {}", server.url());
    if args.deploy_key.is_none() {
        println!("deploy key: {key}");
    } else {
        println!("deploy key: the one given with --deploy-key");
    }
    println!(
        "tables: {}",
        emulator
            .tables()
            .iter()
            .map(|(c, t)| if c.is_empty() {
                t.clone()
            } else {
                format!("{c}/{t}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "control plane: {}/_emulator/state (Ctrl-C to stop)",
        server.url()
    );
    setup::cancel_on_signal().cancelled().await;
    server.shutdown().await;
    Ok(())
}
