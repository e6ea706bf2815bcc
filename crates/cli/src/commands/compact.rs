//! `spillway compact`: rewrite the files destinations' streams as their current state.

use anyhow::{Context, Result};
use spillway_core::StreamId;
use spillway_dest_files::FilesDestination;

use crate::args::CompactArgs;
use crate::config::DestinationConfig;
use crate::setup;

/// Runs the command.
pub async fn run(args: &CompactArgs) -> Result<()> {
    let config = setup::load_config(&args.config)?;
    for (i, d) in config.destination.iter().enumerate() {
        let DestinationConfig::Files(files) = d else {
            println!(
                "destination[{i}]: not a files destination; its tables already hold the current state"
            );
            continue;
        };
        let mut dest = FilesDestination::open(files)
            .await
            .with_context(|| format!("destination[{i}]"))?;
        let name = spillway_core::Destination::name(&dest);
        let streams: Vec<String> = match &args.streams {
            Some(list) => list.iter().map(|s| s.trim().to_string()).collect(),
            None => dest.streams(),
        };
        println!("{name}");
        for stream in streams {
            let report = dest
                .compact(&StreamId::parse(&stream))
                .await
                .with_context(|| format!("compacting stream {stream:?} in {name}"))?;
            println!(
                "  {stream}: {} rows, {} part files → {}",
                report.rows, report.parts_before, report.parts_after
            );
        }
    }
    Ok(())
}
