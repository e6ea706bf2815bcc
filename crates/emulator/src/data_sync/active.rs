//! Progress of recent data syncs for `GET /api/v1/data/list_active_syncs` (spec §13).
//!
//! Every page served records its sync's progress (the backend throttles these writes; the
//! emulator records every page, so the list never lags). `lastUpdated` is the logical clock in
//! unix ms at the page. Ties in `lastUpdated` (pages within one logical millisecond) are broken
//! by page order, most recent first, so the order is total and the list cursor exact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spillway_convex_protocol::data_sync::{ActiveSync, ActiveSyncStatus};

/// One sync's latest progress.
#[derive(Clone, Debug)]
struct Record {
    last_updated_ms: i64,
    /// Global page counter at its last page (tie-break).
    seq: u64,
    status: ActiveSyncStatus,
}

/// Position in the list: the last entry of the previous list page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListPosition {
    last_updated_ms: i64,
    seq: u64,
}

/// The syncs that fetched pages, by sync id.
#[derive(Debug, Default)]
pub(crate) struct ActiveSyncs {
    records: BTreeMap<String, Record>,
    seq: u64,
}

/// One page of the list.
#[derive(Debug)]
pub(crate) struct ListPage {
    pub(crate) syncs: Vec<ActiveSync>,
    /// Where the next list page starts, if more syncs follow.
    pub(crate) next: Option<ListPosition>,
}

impl ActiveSyncs {
    /// Records a page of `sync_id` served at logical ts `now_ns`.
    pub(crate) fn record(&mut self, sync_id: &str, now_ns: i64, status: ActiveSyncStatus) {
        self.seq += 1;
        self.records.insert(
            sync_id.to_string(),
            Record {
                last_updated_ms: now_ns / 1_000_000,
                seq: self.seq,
                status,
            },
        );
    }

    /// Syncs with a page at or after `since_ns`, most recent first, after `after`.
    pub(crate) fn list(
        &self,
        since_ns: i64,
        after: Option<ListPosition>,
        limit: usize,
    ) -> ListPage {
        let since_ms = since_ns / 1_000_000;
        let mut all: Vec<(&String, &Record)> = self
            .records
            .iter()
            .filter(|(_, r)| r.last_updated_ms >= since_ms)
            .collect();
        all.sort_by_key(|(_, r)| std::cmp::Reverse((r.last_updated_ms, r.seq)));
        let rest: Vec<(&String, &Record)> = all
            .into_iter()
            .filter(|(_, r)| {
                after.is_none_or(|p| (r.last_updated_ms, r.seq) < (p.last_updated_ms, p.seq))
            })
            .collect();
        let page = &rest[..rest.len().min(limit)];
        let next = (rest.len() > page.len())
            .then(|| page.last())
            .flatten()
            .map(|(_, r)| ListPosition {
                last_updated_ms: r.last_updated_ms,
                seq: r.seq,
            });
        ListPage {
            syncs: page
                .iter()
                .map(|(id, r)| ActiveSync {
                    sync_id: (*id).clone(),
                    last_updated: r.last_updated_ms,
                    status: r.status.clone(),
                })
                .collect(),
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(n: u64) -> ActiveSyncStatus {
        ActiveSyncStatus::UpToDate {
            total_tables: 1,
            num_documents_synced: n,
            synced_ts: 1,
        }
    }

    #[test]
    fn most_recent_first_with_window_and_paging() {
        let mut a = ActiveSyncs::default();
        a.record("old", 1_000_000, up(0));
        a.record("x", 5_000_000, up(1));
        a.record("y", 5_000_000, up(2));
        a.record("z", 9_000_000, up(3));
        let ids = |p: &ListPage| {
            p.syncs
                .iter()
                .map(|s| s.sync_id.clone())
                .collect::<Vec<_>>()
        };
        let p1 = a.list(2_000_000, None, 2);
        assert_eq!(ids(&p1), ["z", "y"]);
        let p2 = a.list(2_000_000, p1.next, 2);
        assert_eq!(ids(&p2), ["x"]);
        assert!(p2.next.is_none());
        // A sync's newer page moves it to the front.
        a.record("x", 9_500_000, up(4));
        assert_eq!(ids(&a.list(0, None, 10)), ["x", "z", "y", "old"]);
    }
}
