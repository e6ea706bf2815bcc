//! Verification and test helpers for spillway.
//!
//! - [`compare`]: does a DuckDB file hold exactly the emulator's live documents? Used by the
//!   tests and by `spillway demo` to prove its copy.
//! - [`Fixture`]: an emulator served over real HTTP on 127.0.0.1 plus a DuckDB file in a temp
//!   directory, with one-call syncs.
//! - [`HookedDestination`]: a destination that fails, stalls or cancels on cue.
//! - [`tables`]: any destination's tables in one shape; [`postgres`]: a throwaway schema.
//! - [`docs`]: terse emulator mutations; [`random`]: seeded random transactions.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod compare;
pub mod docs;
mod dump;
mod fixture;
pub mod hooks;
pub mod postgres;
pub mod random;
pub mod tables;

pub use compare::{Mismatch, compare_duckdb_with_emulator, compare_with_emulator};
pub use dump::dump;
pub use fixture::{ADMIN_KEY, Fixture};
pub use hooks::{HookedDestination, Hooks};

/// Sync options that commit every checkpoint (every page), for tests of page-level resume:
/// the default groups checkpoints into one commit per `commit_interval`.
pub fn per_page() -> spillway_engine::SyncOptions {
    spillway_engine::SyncOptions {
        commit_interval: std::time::Duration::ZERO,
        ..spillway_engine::SyncOptions::default()
    }
}
