//! One data sync page (spec §12.3): reconciliation of the cursor with the selection and the
//! table set, then either a by_id page or a ts page, then the status.
//!
//! A document is *captured* when its tablet is fully traversed, or it is in the tablet in
//! progress with an id ≤ the last id walked. ts pages emit only revisions of captured
//! documents; everything else is read later by a by_id page at a newer `synced_ts`, so the
//! replica converges without ever seeing a revision twice out of order.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use spillway_convex_protocol::data_sync::{ActiveSyncStatus, DataSyncStatus, TableName};

use super::body::write_value;
use super::cursor::{CapturedTablet, InProgress, SyncState};
use crate::selection::{Columns, ServerSelection};
use crate::store::{Store, Tablet, TabletId, TabletKind};

/// The data sync knobs of spec §15 in force for one page.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Knobs {
    /// `DATA_SYNC_PAGE_SIZE_LIMIT`: values per page (soft).
    pub(crate) entries: usize,
    /// `DATA_SYNC_PAGE_BYTES_LIMIT`: encoded value bytes per page (soft).
    pub(crate) bytes: usize,
    /// `DATA_SYNC_MAX_ROWS_READ`: log rows read per ts page.
    pub(crate) rows_read: usize,
    /// `DATA_SYNC_BY_ID_FRESHNESS_SECONDS` in ns of the logical clock.
    pub(crate) freshness_ns: i64,
}

/// Which kind of page was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageKind {
    ById,
    Ts,
}

/// A computed page: everything but the sealed cursor.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) kind: PageKind,
    pub(crate) status: DataSyncStatus,
    pub(crate) truncates: Vec<TableName>,
    /// Each value already encoded as its JSON object text.
    pub(crate) values: Vec<String>,
    /// The state the next cursor carries.
    pub(crate) state: SyncState,
    /// Progress for `list_active_syncs`.
    pub(crate) progress: ActiveSyncStatus,
}

fn name_of(t: &CapturedTablet) -> TableName {
    TableName {
        component: t.component.clone(),
        table: t.table.clone(),
    }
}

fn captured(t: &Tablet) -> CapturedTablet {
    CapturedTablet {
        tablet: t.id,
        component: t.component.clone(),
        table: t.table.clone(),
    }
}

/// The live exported tablet `id`, if it is selected, with its column filter.
fn live_selected<'a>(
    store: &'a Store,
    selection: &ServerSelection,
    id: &TabletId,
) -> Option<(&'a Tablet, Columns)> {
    let t = store
        .tablets
        .get(id)
        .filter(|t| t.is_live() && t.kind == TabletKind::User)?;
    selection.resolve(&t.component, &t.table).map(|c| (t, c))
}

/// Whether a captured tablet stays in the cursor; pushes a truncate for a dropped table.
///
/// - live and selected: stays;
/// - live but deselected: leaves silently (the consumer keeps its rows, spec §17.31);
/// - gone, with a live successor under the same name (`replace_table`, or a drop followed by
///   re-creation): leaves silently, the successor brings the one truncate when it enters;
/// - gone without successor (`drop_table`) while its name is still selected: leaves with a
///   truncate so the consumer empties it. *(inferred; the spec only says deselected tablets
///   leave silently)*
fn keep(
    store: &Store,
    selection: &ServerSelection,
    t: &CapturedTablet,
    truncates: &mut Vec<TableName>,
) -> bool {
    let live = store
        .tablets
        .get(&t.tablet)
        .is_some_and(|s| s.is_live() && s.kind == TabletKind::User);
    if live {
        return live_selected(store, selection, &t.tablet).is_some();
    }
    if selection.resolve(&t.component, &t.table).is_some()
        && store.live_tablet(&t.component, &t.table).is_none()
    {
        push_truncate(truncates, name_of(t));
    }
    false
}

fn push_truncate(truncates: &mut Vec<TableName>, name: TableName) {
    if !truncates.contains(&name) {
        truncates.push(name);
    }
}

/// Reconciles the cursor with the request's selection and the current table set.
fn reconcile(
    store: &Store,
    selection: &ServerSelection,
    state: &mut SyncState,
    truncates: &mut Vec<TableName>,
) {
    state.done.retain(|t| keep(store, selection, t, truncates));
    if let Some(ip) = &state.in_progress
        && !keep(store, selection, &ip.captured, truncates)
    {
        state.in_progress = None;
        state.documents_in_current_table = 0;
    }
}

/// If nothing is in progress, the next selected tablet not yet traversed (tablet-id order)
/// enters the cursor, with its truncate.
fn enter_next(
    store: &Store,
    selection: &ServerSelection,
    state: &mut SyncState,
    truncates: &mut Vec<TableName>,
) {
    if state.in_progress.is_some() {
        return;
    }
    let done: HashSet<TabletId> = state.done.iter().map(|t| t.tablet).collect();
    let next = store
        .live_user_tablets()
        .filter(|t| !done.contains(&t.id))
        .find(|t| selection.resolve(&t.component, &t.table).is_some());
    if let Some(t) = next {
        let c = captured(t);
        push_truncate(truncates, name_of(&c));
        state.in_progress = Some(InProgress {
            captured: c,
            last_id: None,
        });
        state.documents_in_current_table = 0;
    }
}

/// Computes the page after `state` (already checked against retention and the latest ts).
pub(crate) fn next_page(
    store: &Store,
    selection: &ServerSelection,
    mut state: SyncState,
    knobs: &Knobs,
) -> Page {
    let latest = store.current_ts();
    let mut truncates = Vec::new();
    reconcile(store, selection, &mut state, &mut truncates);
    enter_next(store, selection, &mut state, &mut truncates);
    let by_id =
        state.in_progress.is_some() && latest.saturating_sub(state.synced_ts) < knobs.freshness_ns;
    let (kind, values) = if by_id {
        let values = by_id_page(store, selection, &mut state, knobs);
        enter_next(store, selection, &mut state, &mut truncates);
        (PageKind::ById, values)
    } else {
        (PageKind::Ts, ts_page(store, selection, &mut state, knobs))
    };
    state.documents_synced += values.len() as u64;
    let status = match (&state.in_progress, state.synced_ts < latest) {
        (Some(_), _) => DataSyncStatus::Snapshotting,
        (None, true) => DataSyncStatus::Stale {
            snapshot_ts: state.synced_ts,
        },
        (None, false) => DataSyncStatus::UpToDate {
            snapshot_ts: state.synced_ts,
        },
    };
    let progress = progress(store, selection, &state, &status);
    Page {
        kind,
        status,
        truncates,
        values,
        state,
        progress,
    }
}

/// Reads the tablet in progress at `synced_ts` after the last id, in `_id` order. Marks it
/// traversed when it runs out before a limit.
fn by_id_page(
    store: &Store,
    selection: &ServerSelection,
    state: &mut SyncState,
    knobs: &Knobs,
) -> Vec<String> {
    let mut values = Vec::new();
    let Some(ip) = state.in_progress.as_mut() else {
        return values;
    };
    // Reconciliation left only a live, selected tablet in progress.
    let Some((tablet, columns)) = live_selected(store, selection, &ip.captured.tablet) else {
        return values;
    };
    let lower = match ip.last_id {
        Some(id) => Bound::Excluded(id),
        None => Bound::Unbounded,
    };
    let mut bytes = 0usize;
    let mut limited = false;
    for (internal, revs) in tablet.docs.range((lower, Bound::Unbounded)) {
        let Some((ts, doc)) = revs.at(state.synced_ts) else {
            continue;
        };
        let v = write_value(tablet, ts, doc.id(), Some(doc), &columns);
        bytes += v.len();
        values.push(v);
        ip.last_id = Some(*internal);
        if values.len() >= knobs.entries.max(1) || bytes > knobs.bytes {
            limited = true;
            break;
        }
    }
    state.documents_in_current_table += values.len() as u64;
    if !limited {
        // Exhausted: the whole tablet is captured as of `synced_ts`.
        let c = ip.captured.clone();
        let at = state.done.partition_point(|d| d.tablet < c.tablet);
        state.done.insert(at, c);
        state.in_progress = None;
    }
    values
}

/// Walks the log from `synced_ts`+1 to the latest ts, emitting revisions of captured
/// documents, never splitting a transaction; advances `synced_ts`.
fn ts_page(
    store: &Store,
    selection: &ServerSelection,
    state: &mut SyncState,
    knobs: &Knobs,
) -> Vec<String> {
    let latest = store.current_ts();
    let done: HashSet<TabletId> = state.done.iter().map(|t| t.tablet).collect();
    let partial = state
        .in_progress
        .as_ref()
        .and_then(|ip| ip.last_id.map(|l| (ip.captured.tablet, l)));
    let mut columns: HashMap<TabletId, Option<Arc<Columns>>> = HashMap::new();
    let start = store.log.partition_point(|e| e.ts <= state.synced_ts);
    let mut values = Vec::new();
    let (mut bytes, mut rows_read) = (0usize, 0usize);
    let mut boundary: Option<i64> = None;
    let mut stopped = false;
    for entry in store.log[start..].iter().take_while(|e| e.ts <= latest) {
        if boundary.is_some_and(|b| entry.ts > b) {
            stopped = true;
            break;
        }
        rows_read += 1;
        let is_captured = done.contains(&entry.tablet)
            || partial.is_some_and(|(t, last)| t == entry.tablet && entry.internal <= last);
        if is_captured {
            let cols = columns
                .entry(entry.tablet)
                .or_insert_with(|| {
                    live_selected(store, selection, &entry.tablet).map(|(_, c)| Arc::new(c))
                })
                .clone();
            if let (Some(cols), Some(tablet)) = (cols, store.tablets.get(&entry.tablet)) {
                let id = match &entry.doc {
                    Some(d) => std::borrow::Cow::Borrowed(d.id()),
                    None => std::borrow::Cow::Owned(tablet.encode_id(&entry.internal)),
                };
                let v = write_value(tablet, entry.ts, &id, entry.doc.as_ref(), &cols);
                bytes += v.len();
                values.push(v);
            }
        }
        if boundary.is_none()
            && (rows_read >= knobs.rows_read.max(1)
                || values.len() >= knobs.entries.max(1)
                || bytes > knobs.bytes)
        {
            // Budget spent: finish this transaction, then stop at its ts.
            boundary = Some(entry.ts);
        }
    }
    state.synced_ts = match (stopped, boundary) {
        (true, Some(b)) => b,
        _ => latest,
    };
    values
}

/// Progress counters for `list_active_syncs` (spec §13), as of the latest ts.
fn progress(
    store: &Store,
    selection: &ServerSelection,
    state: &SyncState,
    status: &DataSyncStatus,
) -> ActiveSyncStatus {
    let latest = store.current_ts();
    let selected: Vec<&Tablet> = store
        .live_user_tablets()
        .filter(|t| selection.resolve(&t.component, &t.table).is_some())
        .collect();
    let total_tables = selected.len() as u64;
    let count = |t: &Tablet| t.docs_at(latest).count() as u64;
    match status {
        DataSyncStatus::Snapshotting => {
            let current = state.in_progress.as_ref().map(|ip| &ip.captured);
            let current_total = current
                .and_then(|c| store.tablets.get(&c.tablet))
                .map_or(0, count);
            ActiveSyncStatus::Snapshotting {
                num_tables_synced: state.done.len() as u64,
                total_tables,
                current_component: current.map(|c| c.component.clone()).unwrap_or_default(),
                current_table: current.map(|c| c.table.clone()).unwrap_or_default(),
                num_documents_in_current_table: state.documents_in_current_table,
                total_documents_in_current_table: current_total,
                num_documents_synced: state.documents_synced,
                total_documents: selected.iter().map(|t| count(t)).sum(),
            }
        }
        DataSyncStatus::Stale { snapshot_ts } => ActiveSyncStatus::Stale {
            total_tables,
            num_documents_synced: state.documents_synced,
            synced_ts: *snapshot_ts,
        },
        DataSyncStatus::UpToDate { snapshot_ts } => ActiveSyncStatus::UpToDate {
            total_tables,
            num_documents_synced: state.documents_synced,
            synced_ts: *snapshot_ts,
        },
    }
}
