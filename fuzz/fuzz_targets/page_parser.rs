//! Arbitrary bytes as a `list_snapshot` page and as a `document_deltas` page; every page that
//! parses goes through the source's row → Arrow path (see `spillway_fuzz::check_rows`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway_convex_protocol::wire::{DocumentDeltasResponse, ListSnapshotResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = serde_json::from_slice::<ListSnapshotResponse>(data) {
        spillway_fuzz::check_rows(&page.values);
    }
    if let Ok(page) = serde_json::from_slice::<DocumentDeltasResponse>(data) {
        spillway_fuzz::check_rows(&page.values);
    }
});
