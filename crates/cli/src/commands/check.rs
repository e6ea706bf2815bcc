//! `spillway check`: validate the config, probe the source and each destination.

use anyhow::{Context, Result};

use crate::args::ConfigArg;
use crate::setup;

/// Runs the command.
pub async fn run(arg: &ConfigArg) -> Result<()> {
    let config = setup::load_config(arg)?;
    let source = setup::build_source(&config, None)?;
    println!("config {}: ok", arg.config.display());
    source.check().await.context("source check failed")?;
    println!(
        "source {}: ok (streaming export reachable, key accepted)",
        source.state_key()
    );
    for mut dest in setup::build_destinations(&config).await? {
        let name = dest.name();
        dest.check()
            .await
            .with_context(|| format!("destination {name}"))?;
        println!("destination {name}: ok");
    }
    Ok(())
}
