//! Arbitrary bytes as a `list_snapshot` page and as a `document_deltas` page; every page that
//! parses goes through the source's row → Arrow path (see `spillway_fuzz::check_rows`), and
//! every page the one-pass decoder accepts must give the same batches through the tree decoder
//! (`spillway_fuzz::check_fast_page`); the continuation the reader scans out of a body to fetch
//! ahead, when it finds one, is the decoded page's.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway_convex_protocol::wire::{DocumentDeltasResponse, ListSnapshotResponse};
use spillway_source_convex::decode::{fast_deltas_page, fast_snapshot_page};
use spillway_source_convex::scan::{deltas_continuation, snapshot_continuation};

fuzz_target!(|data: &[u8]| {
    // Scanned on every input (the reader scans bodies before anything has parsed them).
    let (snapshot_scan, deltas_scan) = (snapshot_continuation(data), deltas_continuation(data));
    if let Ok(page) = serde_json::from_slice::<ListSnapshotResponse>(data) {
        spillway_fuzz::check_rows(&page.values);
        if let Some(scanned) = snapshot_scan {
            assert_eq!(scanned, (page.snapshot, page.cursor.clone(), page.has_more));
        }
        if let Ok(fast) = fast_snapshot_page(data) {
            spillway_fuzz::check_fast_page(fast.values, &page.values);
        }
    }
    if let Ok(page) = serde_json::from_slice::<DocumentDeltasResponse>(data) {
        spillway_fuzz::check_rows(&page.values);
        if let Some(scanned) = deltas_scan {
            assert_eq!(scanned, (page.cursor, page.has_more));
        }
        if let Ok(fast) = fast_deltas_page(data) {
            spillway_fuzz::check_fast_page(fast.values, &page.values);
        }
    }
});
