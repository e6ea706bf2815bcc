//! spillway's engine: runs a source into destinations through a bounded channel, committing state with the rows.
