//! `spillway state show|reset`.

use anyhow::{Context, Result};
use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};

use crate::args::{StateAction, StateArgs};
use crate::config::DestinationConfig;
use crate::setup;

/// Runs the command.
pub async fn run(args: &StateArgs) -> Result<()> {
    let config = setup::load_config(&args.config)?;
    let source = setup::build_source(&config, None)?;
    let key = source.state_key();
    for d in &config.destination {
        let DestinationConfig::Duckdb(s) = d;
        let mut dest = DuckDbDestination::open(&DuckDbConfig {
            path: s.path.clone().into(),
        })?;
        match args.action {
            StateAction::Show => {
                let states = dest.list_states()?;
                println!("duckdb:{}", s.path);
                if states.is_empty() {
                    println!("  no saved state (the next sync starts with a full snapshot)");
                }
                for (k, state, description, updated) in states {
                    let marker = if k == key { " (this config)" } else { "" };
                    println!("  {k}{marker}: {description} — updated {updated}");
                    println!("    {}", serde_json::to_string(&state.0)?);
                }
            }
            StateAction::Reset => {
                use spillway_core::Destination;
                dest.reset_state(&key)
                    .await
                    .with_context(|| format!("resetting state in {}", s.path))?;
                println!(
                    "duckdb:{}: state {key} removed; the next sync starts with a full snapshot",
                    s.path
                );
            }
        }
    }
    Ok(())
}
