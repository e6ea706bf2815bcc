//! The read path: list_snapshot pages (spec §7.4) and document_deltas pages (spec §8.3).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Doc, InternalId, Store, TabletId, TabletKind};
use crate::selection::{Columns, ServerSelection};

/// One exported row, before encoding.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// Shared by every row of the tablet in one page.
    pub(crate) component: Arc<str>,
    /// Shared by every row of the tablet in one page.
    pub(crate) table: Arc<str>,
    pub(crate) ts: i64,
    pub(crate) content: RowContent,
    pub(crate) columns: Arc<Columns>,
}

/// What a row carries besides its metadata.
#[derive(Clone, Debug)]
pub(crate) enum RowContent {
    /// The document as written.
    Live(Doc),
    /// A delete: only the encoded `_id`.
    Deleted(String),
}

/// A list_snapshot page.
#[derive(Debug)]
pub(crate) struct SnapshotPage {
    pub(crate) rows: Vec<Row>,
    /// `(tablet, table number, internal id)`: everything up to and including it is done.
    pub(crate) cursor: Option<(TabletId, u32, InternalId)>,
    pub(crate) has_more: bool,
}

/// A document_deltas page.
#[derive(Debug)]
pub(crate) struct DeltasPage {
    pub(crate) rows: Vec<Row>,
    pub(crate) cursor: i64,
    pub(crate) has_more: bool,
}

impl Store {
    /// Computes one list_snapshot page at `snapshot` (spec §7.4). `cursor` is exclusive.
    pub(crate) fn snapshot_page(
        &self,
        selection: &ServerSelection,
        snapshot: i64,
        cursor: Option<(TabletId, InternalId)>,
        limit: usize,
    ) -> SnapshotPage {
        let limit = limit.max(1);
        // Selected tablets as of `snapshot`, in tablet-id byte order (BTreeMap order), from the
        // cursor's tablet on.
        let mut tablets = self
            .tablets
            .values()
            .filter(|t| t.kind == TabletKind::User && t.exists_at(snapshot))
            .filter(|t| cursor.is_none_or(|(c, _)| t.id >= c))
            .filter_map(|t| selection.resolve(&t.component, &t.table).map(|c| (t, c)));
        let Some((tablet, columns)) = tablets.next() else {
            return SnapshotPage {
                rows: Vec::new(),
                cursor: None,
                has_more: false,
            };
        };
        let after = cursor.filter(|(c, _)| *c == tablet.id).map(|(_, id)| id);
        let columns = Arc::new(columns);
        let component: Arc<str> = Arc::from(tablet.component.as_str());
        let table: Arc<str> = Arc::from(tablet.table.as_str());
        let lower = match after {
            Some(id) => std::ops::Bound::Excluded(id),
            None => std::ops::Bound::Unbounded,
        };
        let range = tablet.docs.range((lower, std::ops::Bound::Unbounded));
        let mut rows = Vec::new();
        for (internal, revs) in range {
            let Some((ts, doc)) = revs.at(snapshot) else {
                continue;
            };
            rows.push(Row {
                component: component.clone(),
                table: table.clone(),
                ts,
                content: RowContent::Live(doc.clone()),
                columns: columns.clone(),
            });
            if rows.len() >= limit {
                // Stopping mid-table: resume after the last id returned.
                return SnapshotPage {
                    rows,
                    cursor: Some((tablet.id, tablet.number, *internal)),
                    has_more: true,
                };
            }
        }
        // Tablet exhausted: point at the next tablet's minimum id, or finish.
        match tablets.next() {
            Some((next, _)) => SnapshotPage {
                rows,
                cursor: Some((next.id, next.number, [0u8; 16])),
                has_more: true,
            },
            None => SnapshotPage {
                rows,
                cursor: None,
                has_more: false,
            },
        }
    }

    /// Computes one document_deltas page for the log window `(cursor, upper]` (spec §8.3).
    pub(crate) fn deltas_page(
        &self,
        selection: &ServerSelection,
        cursor: i64,
        upper: i64,
        limit: usize,
    ) -> DeltasPage {
        let limit = limit.max(1);
        let start = self.log.partition_point(|e| e.ts <= cursor);
        // Table identity is resolved with the table mapping as of `upper`; rows of tablets that
        // no longer exist then are dropped (but still count as read).
        type Resolved = Option<(Arc<Columns>, Arc<str>, Arc<str>)>;
        let mut resolved: HashMap<TabletId, Resolved> = HashMap::new();
        let mut rows = Vec::new();
        let mut rows_read = 0usize;
        let mut last_ts: Option<i64> = None;
        let mut has_more = false;
        for entry in self.log[start..].iter().take_while(|e| e.ts <= upper) {
            if let Some(t) = last_ts
                && entry.ts > t
            {
                has_more = true;
                break;
            }
            rows_read += 1;
            let tablet = self.tablets.get(&entry.tablet);
            let target = resolved
                .entry(entry.tablet)
                .or_insert_with(|| {
                    let t = tablet.filter(|t| t.kind == TabletKind::User && t.exists_at(upper))?;
                    let columns = selection.resolve(&t.component, &t.table)?;
                    Some((
                        Arc::new(columns),
                        Arc::from(t.component.as_str()),
                        Arc::from(t.table.as_str()),
                    ))
                })
                .clone();
            if let (Some((columns, component, table)), Some(tablet)) = (target, tablet) {
                rows.push(Row {
                    component,
                    table,
                    ts: entry.ts,
                    content: match &entry.doc {
                        Some(d) => RowContent::Live(d.clone()),
                        None => RowContent::Deleted(tablet.encode_id(&entry.internal)),
                    },
                    columns,
                });
            }
            if last_ts.is_none() && (rows_read >= limit || rows.len() >= limit) {
                // Budget hit: finish this transaction, then stop (transactions never split).
                last_ts = Some(entry.ts);
            }
        }
        DeltasPage {
            rows,
            cursor: last_ts.unwrap_or(upper),
            has_more,
        }
    }
}
