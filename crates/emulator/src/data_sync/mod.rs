//! The data sync API (spec §12–§14): `POST /api/v1/data/sync`, `GET
//! /api/v1/data/list_active_syncs` and `POST /api/data_sync_cursor_from_deltas`.
//!
//! - [`cursor`]: the sync state and its sealed, tamper-evident cursor string; sync ids.
//! - [`pages`]: reconciliation, by_id and ts pages, statuses, progress.
//! - [`body`]: byte-exact response bodies.
//! - [`active`]: progress of recent syncs.
//!
//! The HTTP side (check order, errors) lives in `crate::handlers::data_sync`.

pub(crate) mod active;
pub(crate) mod body;
pub(crate) mod cursor;
pub(crate) mod pages;

use crate::rng::SplitMix64;

use active::{ActiveSyncs, ListPosition};
use cursor::{Purpose, Sealer, SyncState, uuid_v4};

/// Data sync state shared by all requests: cursor keys, the nonce / sync id generator and the
/// progress of active syncs.
#[derive(Debug)]
pub(crate) struct Registry {
    sealer: Sealer,
    rng: SplitMix64,
    pub(crate) active: ActiveSyncs,
}

/// Mixed into the seed so cursor nonces do not repeat the store's id stream.
const RNG_SALT: u64 = 0xDA7A_5C0D;

impl Registry {
    /// Keys and generator derived from the emulator seed.
    pub(crate) fn new(seed: u64) -> Self {
        Registry {
            sealer: Sealer::new(seed),
            rng: SplitMix64::new(seed ^ RNG_SALT),
            active: ActiveSyncs::default(),
        }
    }

    /// A new sync id: `fivetran-<uuid>` / `airbyte-<uuid>` when the `Convex-Client` name
    /// starts with `fivetran` / `airbyte`, else a bare uuid v4 (spec §12.2).
    pub(crate) fn mint_sync_id(&mut self, convex_client: Option<&str>) -> String {
        let uuid = uuid_v4(&mut self.rng);
        match convex_client.map(client_family) {
            Some(Some(prefix)) => format!("{prefix}-{uuid}"),
            _ => uuid,
        }
    }

    /// Seals a sync state into a cursor (fresh nonce).
    pub(crate) fn seal(&mut self, state: &SyncState) -> String {
        state.seal(&self.sealer, &mut self.rng)
    }

    /// Opens a cursor; `None` if it was not sealed by this emulator (tampered, foreign, junk).
    pub(crate) fn open(&self, cursor: &str) -> Option<SyncState> {
        SyncState::open(&self.sealer, cursor)
    }

    /// Seals a `list_active_syncs` position.
    pub(crate) fn seal_position(&mut self, p: &ListPosition) -> String {
        let json = serde_json::to_vec(p).unwrap_or_default();
        self.sealer.seal(Purpose::ActiveSyncs, &mut self.rng, &json)
    }

    /// Opens a `list_active_syncs` cursor.
    pub(crate) fn open_position(&self, s: &str) -> Option<ListPosition> {
        let json = self.sealer.open(Purpose::ActiveSyncs, s)?;
        serde_json::from_slice(&json).ok()
    }
}

/// `fivetran` / `airbyte` from a `Convex-Client` value (`fivetran-export-2.0.2`): its first
/// `-`-separated segment, case-insensitively.
fn client_family(header: &str) -> Option<&'static str> {
    let first = header.split('-').next().unwrap_or_default();
    if first.eq_ignore_ascii_case("fivetran") {
        Some("fivetran")
    } else if first.eq_ignore_ascii_case("airbyte") {
        Some("airbyte")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_id_prefix_follows_the_client() {
        let mut r = Registry::new(1);
        assert!(
            r.mint_sync_id(Some("fivetran-export-2.0.2"))
                .starts_with("fivetran-")
        );
        assert!(
            r.mint_sync_id(Some("Airbyte-export-0.4.0"))
                .starts_with("airbyte-")
        );
        assert_eq!(r.mint_sync_id(Some("spillway-0.1.0")).len(), 36);
        assert_eq!(r.mint_sync_id(None).len(), 36);
    }
}
