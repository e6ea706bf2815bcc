//! `spillway streams`: list the source's streams.

use anyhow::Result;

use crate::args::StreamsArgs;
use crate::setup;

/// Runs the command.
pub async fn run(args: &StreamsArgs) -> Result<()> {
    let config = setup::load_config(&args.config)?;
    let source = setup::build_source(&config, None)?;
    let streams = source.streams().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&streams)?);
        return Ok(());
    }
    if streams.is_empty() {
        println!("no streams (the deployment has no tables matching the selection)");
    }
    for s in &streams {
        println!(
            "{}  primary key: {}  cursor: {}",
            s.id,
            s.primary_key.join(","),
            s.cursor_field.as_deref().unwrap_or("-")
        );
        for (name, ty) in &s.columns {
            println!("    {name}: {ty}");
        }
    }
    Ok(())
}
