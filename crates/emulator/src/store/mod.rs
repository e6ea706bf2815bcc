//! The in-memory database: tablets of versioned documents plus a global document log
//! (spec §18.1).
//!
//! Every table is stored as a *tablet* keyed by a 16-byte seeded-random tablet id. A tablet keeps,
//! for each document (keyed by its 16-byte internal id), the list of its revisions in commit order,
//! so reads at any retained timestamp are exact (list_snapshot consistency, spec §7.5). The
//! document log records every committed write as `(ts, tablet, internal id, Option<document>)`
//! sorted by `(ts, tablet, internal id)`, which is exactly the order document_deltas walks
//! (spec §8.3) and what a future data-sync implementation needs.
//!
//! Each revision's document is a slice of a shared byte buffer in a compact binary form ([`Doc`],
//! see `codec.rs`; one buffer holds a transaction's documents, `batch.rs`), referenced by both
//! the tablet and the log and written to responses without decoding (`json.rs`); at about
//! 0.9 KB per 1 KB benchmark document all-in, 10 M documents fit in memory.
//!
//! Dropping or replacing a table never writes tombstones: the old tablet just stops existing at
//! the drop timestamp (spec §17.13).

mod batch;
mod codec;
mod doc;
mod json;
mod read;
mod write;

use std::collections::BTreeMap;

use spillway_convex_protocol::Value;
use spillway_convex_protocol::id::DocumentId;

use crate::rng::SplitMix64;
use crate::schema::Shape;

pub(crate) use doc::Doc;
pub(crate) use read::{Row, RowContent};

/// A tablet id: 16 bytes, ordered bytewise (the snapshot traversal order).
pub(crate) type TabletId = [u8; 16];
/// A document's internal id within its table.
pub(crate) type InternalId = [u8; 16];

/// Whether a tablet is exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TabletKind {
    /// A user table: exported.
    User,
    /// A system table (`_scheduled_functions`, …): takes writes and log rows, never exported.
    System,
}

/// A revision: the document as written at `ts`, or `None` for a delete.
#[derive(Clone, Debug)]
pub(crate) struct Revision {
    pub(crate) ts: i64,
    pub(crate) doc: Option<Doc>,
}

/// A document's revisions, ascending by ts. Most documents are written once, so one revision
/// is kept inline instead of in a one-element `Vec` of its own.
#[derive(Clone, Debug)]
pub(crate) enum Revisions {
    /// Exactly one revision.
    One(Revision),
    /// Two or more.
    Many(Vec<Revision>),
}

impl Revisions {
    /// All revisions, ascending by ts.
    pub(crate) fn as_slice(&self) -> &[Revision] {
        match self {
            Revisions::One(r) => std::slice::from_ref(r),
            Revisions::Many(v) => v,
        }
    }

    /// Appends a newer revision.
    fn push(&mut self, rev: Revision) {
        match self {
            Revisions::One(first) => {
                let first = first.clone();
                *self = Revisions::Many(vec![first, rev]);
            }
            Revisions::Many(v) => v.push(rev),
        }
    }

    /// The document as of `ts` with the ts of its visible revision, if it existed then.
    pub(crate) fn at(&self, ts: i64) -> Option<(i64, &Doc)> {
        let rev = self.as_slice().iter().rev().find(|r| r.ts <= ts)?;
        rev.doc.as_ref().map(|d| (rev.ts, d))
    }

    /// The current revision's document, if live.
    fn latest(&self) -> Option<&Doc> {
        self.as_slice().last()?.doc.as_ref()
    }
}

/// A table incarnation.
#[derive(Clone, Debug)]
pub(crate) struct Tablet {
    pub(crate) id: TabletId,
    pub(crate) component: String,
    pub(crate) table: String,
    pub(crate) number: u32,
    pub(crate) kind: TabletKind,
    pub(crate) created_ts: i64,
    pub(crate) deleted_ts: Option<i64>,
    /// Revisions per document.
    pub(crate) docs: BTreeMap<InternalId, Revisions>,
    /// The shape of the live documents, kept the way Convex keeps its table summaries up to
    /// date on every write (so `json_schemas` and `get_table_column_names` do not walk the
    /// table): widened by each insert; `None` after an update or delete, recomputed on the next
    /// read ([`Tablet::live_shape`]).
    pub(crate) summary: Option<Shape>,
}

impl Tablet {
    /// True if the tablet is part of the table mapping at `ts`.
    pub(crate) fn exists_at(&self, ts: i64) -> bool {
        self.created_ts <= ts && self.deleted_ts.is_none_or(|d| d > ts)
    }

    /// True if the tablet has not been dropped or replaced.
    pub(crate) fn is_live(&self) -> bool {
        self.deleted_ts.is_none()
    }

    /// The document's current revision, if live.
    pub(crate) fn latest(&self, internal: &InternalId) -> Option<&Doc> {
        self.docs.get(internal)?.latest()
    }

    /// Live documents at `ts` in id order, with the ts of the visible revision.
    pub(crate) fn docs_at(&self, ts: i64) -> impl Iterator<Item = (i64, &Doc)> {
        self.docs.values().filter_map(move |r| r.at(ts))
    }

    /// The shape of the live documents (see [`Tablet::summary`]).
    pub(crate) fn live_shape(&mut self) -> Shape {
        if let Some(shape) = &self.summary {
            return shape.clone();
        }
        let shape = self
            .docs
            .values()
            .filter_map(|r| r.latest())
            .fold(Shape::Never, |acc, d| acc.merge(d.shape()));
        self.summary = Some(shape.clone());
        shape
    }

    /// The encoded id of `internal` in this tablet.
    pub(crate) fn encode_id(&self, internal: &InternalId) -> String {
        DocumentId::new(self.number, *internal).encode()
    }
}

/// One row of the global document log.
#[derive(Clone, Debug)]
pub(crate) struct LogEntry {
    pub(crate) ts: i64,
    pub(crate) tablet: TabletId,
    pub(crate) internal: InternalId,
    pub(crate) doc: Option<Doc>,
}

/// The whole database plus its logical clock.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) tablets: BTreeMap<TabletId, Tablet>,
    pub(crate) log: Vec<LogEntry>,
    /// Current read ts: the last commit ts, or later if the clock was advanced.
    clock: i64,
    step: i64,
    last_creation_time: f64,
    rng: SplitMix64,
    next_table_number: u32,
    next_system_table_number: u32,
    /// Snapshots older than this fail with `SnapshotTooOld` (set by `expire_before`).
    pub(crate) snapshot_floor: i64,
    /// Deltas cursors older than this fail with `InvalidWindowToReadDocuments`.
    pub(crate) deltas_floor: i64,
}

/// First table number of user tables (spec §4.2: user table numbers are > 10000).
const FIRST_USER_TABLE_NUMBER: u32 = 10001;
/// First table number of system tables.
const FIRST_SYSTEM_TABLE_NUMBER: u32 = 1;

impl Store {
    /// An empty store whose clock starts at `clock_start` and steps by `clock_step` per commit.
    pub(crate) fn new(seed: u64, clock_start: i64, clock_step: i64) -> Self {
        Store {
            tablets: BTreeMap::new(),
            log: Vec::new(),
            clock: clock_start,
            step: clock_step.max(1),
            last_creation_time: f64::MIN,
            rng: SplitMix64::new(seed),
            next_table_number: FIRST_USER_TABLE_NUMBER,
            next_system_table_number: FIRST_SYSTEM_TABLE_NUMBER,
            snapshot_floor: i64::MIN,
            deltas_floor: i64::MIN,
        }
    }

    /// The current read timestamp.
    pub(crate) fn current_ts(&self) -> i64 {
        self.clock
    }

    /// Moves the read ts forward without writing.
    pub(crate) fn advance_clock(&mut self, ns: i64) {
        self.clock = self.clock.saturating_add(ns.max(0));
    }

    /// Allocates the next commit ts. Always strictly above every read ts handed out so far, so
    /// a snapshot read at the current ts can never miss a later commit.
    fn next_commit_ts(&mut self) -> i64 {
        self.clock = self.clock.saturating_add(self.step);
        self.clock
    }

    /// The live tablet of a user table, if any.
    pub(crate) fn live_tablet(&self, component: &str, table: &str) -> Option<&Tablet> {
        self.tablets.values().find(|t| {
            t.is_live()
                && t.kind == TabletKind::User
                && t.component == component
                && t.table == table
        })
    }

    /// Live exported tables, sorted by (component, table).
    pub(crate) fn tables(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .tablets
            .values()
            .filter(|t| t.is_live() && t.kind == TabletKind::User)
            .map(|t| (t.component.clone(), t.table.clone()))
            .collect();
        out.sort();
        out
    }

    /// Live exported tablets (current table mapping).
    pub(crate) fn live_user_tablets(&self) -> impl Iterator<Item = &Tablet> {
        self.tablets
            .values()
            .filter(|t| t.is_live() && t.kind == TabletKind::User)
    }

    /// [`Store::live_user_tablets`], mutable (for their summaries).
    pub(crate) fn live_user_tablets_mut(&mut self) -> impl Iterator<Item = &mut Tablet> {
        self.tablets
            .values_mut()
            .filter(|t| t.is_live() && t.kind == TabletKind::User)
    }

    /// Current documents of a table as objects including `_id` and `_creationTime`.
    pub(crate) fn live_documents(
        &self,
        component: &str,
        table: &str,
    ) -> Vec<BTreeMap<String, Value>> {
        let Some(tablet) = self.live_tablet(component, table) else {
            return Vec::new();
        };
        let mut out: Vec<BTreeMap<String, Value>> = tablet
            .docs_at(self.clock)
            .map(|(_, d)| {
                let mut m = d.fields();
                m.insert("_id".into(), Value::String(d.id().to_string()));
                m.insert("_creationTime".into(), Value::Float64(d.creation_time()));
                m
            })
            .collect();
        out.sort_by(|a, b| id_of(a).cmp(id_of(b)));
        out
    }
}

fn id_of(m: &BTreeMap<String, Value>) -> &str {
    match m.get("_id") {
        Some(Value::String(s)) => s,
        _ => "",
    }
}

/// Formats a tablet id the way cursors carry it: unpadded URL-safe base64 (22 chars).
pub(crate) fn tablet_id_string(id: &TabletId) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// Parses a tablet id from its 22-char cursor form.
pub(crate) fn parse_tablet_id(s: &str) -> Option<TabletId> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    bytes.try_into().ok()
}
