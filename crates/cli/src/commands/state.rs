//! `spillway state show|reset`.

use anyhow::{Context, Result};

use crate::args::{StateAction, StateArgs};
use crate::setup;

/// Runs the command.
pub async fn run(args: &StateArgs) -> Result<()> {
    let config = setup::load_config(&args.config)?;
    let source = setup::build_source(&config, None)?;
    let key = source.state_key();
    for mut dest in setup::build_destinations(&config).await? {
        let name = dest.name();
        match args.action {
            StateAction::Show => {
                let states = dest
                    .list_states()
                    .await
                    .with_context(|| format!("reading the states saved in {name}"))?;
                println!("{name}");
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
                dest.reset_state(&key)
                    .await
                    .with_context(|| format!("resetting state in {name}"))?;
                println!("{name}: state {key} removed; the next sync starts with a full snapshot");
            }
        }
    }
    Ok(())
}
