//! The write path: transactions, table drops and `--replace`-style tablet swaps.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use spillway_convex_protocol::Value;
use spillway_convex_protocol::id::DocumentId;

use super::batch::{DocBatch, Slot};
use super::{InternalId, LogEntry, Revision, Revisions, Store, Tablet, TabletId, TabletKind};
use crate::errors::EmulatorError;
use crate::mutation::{Applied, Mutation, validate_fields, validate_names};
use crate::schema::Shape;

/// Name of the hidden system table that receives background writes.
pub(crate) const SYSTEM_TABLE: &str = "_scheduled_functions";

/// A transaction being built: new tablets and the final value of every written document.
struct Staged {
    new_tablets: Vec<Tablet>,
    /// Every document the transaction encoded (a rewritten one stays as unused bytes).
    batch: DocBatch,
    writes: BTreeMap<(TabletId, InternalId), Option<Slot>>,
    creation_time: f64,
    first_insert: bool,
}

impl Store {
    /// Applies `tx` atomically at one new commit ts.
    pub(crate) fn apply(&mut self, tx: Vec<Mutation>) -> Result<Applied, EmulatorError> {
        let mut staged = self.stage();
        let mut ids = Vec::new();
        for m in tx {
            match m {
                Mutation::Insert {
                    component,
                    table,
                    fields,
                } => {
                    validate_names(&component, &table)?;
                    validate_fields(&fields)?;
                    let tablet =
                        self.staged_tablet(&mut staged, &component, &table, TabletKind::User);
                    ids.push(self.stage_insert(&mut staged, tablet, fields, None, None));
                }
                Mutation::Update { id, fields } => {
                    validate_fields(&fields)?;
                    let (tablet, internal, (id, creation_time)) = self.lookup(&staged, &id)?;
                    let new = staged.batch.push(&id, creation_time, &fields);
                    staged.writes.insert((tablet, internal), Some(new));
                }
                Mutation::Delete { id } => {
                    let (tablet, internal, _) = self.lookup(&staged, &id)?;
                    staged.writes.insert((tablet, internal), None);
                }
            }
        }
        let ts = self.commit(staged, &[]);
        Ok(Applied { ts, ids })
    }

    /// Inserts `rows` documents into the hidden system table in one transaction. Their log rows
    /// count against the document_deltas budget but are never exported.
    pub(crate) fn write_system_rows(&mut self, rows: usize) -> i64 {
        let mut staged = self.stage();
        let tablet = self.staged_tablet(&mut staged, "", SYSTEM_TABLE, TabletKind::System);
        for i in 0..rows {
            let mut fields = BTreeMap::new();
            fields.insert("name".to_string(), Value::String("jobs.js:run".into()));
            fields.insert("attempt".to_string(), Value::Int64(i as i64));
            self.stage_insert(&mut staged, tablet, fields, None, None);
        }
        self.commit(staged, &[])
    }

    /// Drops a user table (no tombstones on the legacy API, spec §17.13).
    pub(crate) fn drop_table(
        &mut self,
        component: &str,
        table: &str,
    ) -> Result<i64, EmulatorError> {
        let id = self
            .live_tablet(component, table)
            .map(|t| t.id)
            .ok_or_else(|| EmulatorError::NoSuchTable {
                component: component.to_string(),
                table: table.to_string(),
            })?;
        let staged = self.stage();
        Ok(self.commit(staged, &[id]))
    }

    /// Replaces a table's contents with `docs` under a new tablet (same name and table number),
    /// like `npx convex import --replace`. Documents may carry `_id` (of this table) and
    /// `_creationTime` to re-insert with their original identity.
    pub(crate) fn replace_table(
        &mut self,
        component: &str,
        table: &str,
        docs: Vec<BTreeMap<String, Value>>,
    ) -> Result<i64, EmulatorError> {
        validate_names(component, table)?;
        let old = self.live_tablet(component, table).map(|t| (t.id, t.number));
        let number = match old {
            Some((_, n)) => n,
            None => self.alloc_number(TabletKind::User),
        };
        let mut staged = self.stage();
        let tablet_id = self.fresh_tablet_id();
        staged.new_tablets.push(Tablet {
            id: tablet_id,
            component: component.to_string(),
            table: table.to_string(),
            number,
            kind: TabletKind::User,
            created_ts: 0,
            deleted_ts: None,
            docs: BTreeMap::new(),
            summary: Some(Shape::Never),
        });
        for mut fields in docs {
            let internal = match fields.remove("_id") {
                Some(Value::String(s)) => {
                    let id =
                        DocumentId::decode(&s).map_err(|_| EmulatorError::InvalidId(s.clone()))?;
                    if id.table_number != number || id.internal == [0; 16] {
                        return Err(EmulatorError::InvalidId(s));
                    }
                    Some(id.internal)
                }
                Some(_) => return Err(EmulatorError::BadRequest("`_id` must be a string".into())),
                None => None,
            };
            let creation_time = match fields.remove("_creationTime") {
                Some(Value::Float64(f)) if f.is_finite() => Some(f),
                Some(_) => {
                    return Err(EmulatorError::BadRequest(
                        "`_creationTime` must be a finite float64".into(),
                    ));
                }
                None => None,
            };
            validate_fields(&fields)?;
            self.stage_insert(&mut staged, tablet_id, fields, internal, creation_time);
        }
        let dropped: Vec<TabletId> = old.map(|(id, _)| id).into_iter().collect();
        Ok(self.commit(staged, &dropped))
    }

    fn stage(&self) -> Staged {
        // Transaction start = current read ts (spec §4.1, §18.2), in ms; never below the last
        // creation time handed out so creation times stay unique.
        let start_ms = (self.clock / 1000) as f64 / 1000.0;
        Staged {
            new_tablets: Vec::new(),
            batch: DocBatch::default(),
            writes: BTreeMap::new(),
            creation_time: start_ms,
            first_insert: true,
        }
    }

    fn alloc_number(&mut self, kind: TabletKind) -> u32 {
        match kind {
            TabletKind::User => {
                let n = self.next_table_number;
                self.next_table_number += 1;
                n
            }
            TabletKind::System => {
                let n = self.next_system_table_number;
                self.next_system_table_number += 1;
                n
            }
        }
    }

    fn fresh_tablet_id(&mut self) -> TabletId {
        loop {
            let id = self.rng.next_id_bytes();
            if !self.tablets.contains_key(&id) {
                return id;
            }
        }
    }

    /// The live (or newly staged) tablet for a table name, creating one if needed.
    fn staged_tablet(
        &mut self,
        staged: &mut Staged,
        component: &str,
        table: &str,
        kind: TabletKind,
    ) -> TabletId {
        let existing = self
            .tablets
            .values()
            .chain(staged.new_tablets.iter())
            .find(|t| t.is_live() && t.kind == kind && t.component == component && t.table == table)
            .map(|t| t.id);
        if let Some(id) = existing {
            return id;
        }
        let id = self.fresh_tablet_id();
        let number = self.alloc_number(kind);
        staged.new_tablets.push(Tablet {
            id,
            component: component.to_string(),
            table: table.to_string(),
            number,
            kind,
            created_ts: 0,
            deleted_ts: None,
            docs: BTreeMap::new(),
            summary: Some(Shape::Never),
        });
        id
    }

    fn tablet_number(&self, staged: &Staged, tablet: &TabletId) -> u32 {
        self.tablets
            .get(tablet)
            .or_else(|| staged.new_tablets.iter().find(|t| t.id == *tablet))
            .map_or(0, |t| t.number)
    }

    fn stage_insert(
        &mut self,
        staged: &mut Staged,
        tablet: TabletId,
        fields: BTreeMap<String, Value>,
        internal: Option<InternalId>,
        creation_time: Option<f64>,
    ) -> String {
        let internal = internal.unwrap_or_else(|| self.rng.next_id_bytes());
        let number = self.tablet_number(staged, &tablet);
        let id = DocumentId::new(number, internal).encode();
        let creation_time = creation_time.unwrap_or_else(|| {
            // First insert: max(tx start, just above the last creation time); later inserts of
            // the same transaction take the next representable f64 (spec §4.1).
            let t = if staged.first_insert {
                staged.creation_time.max(self.last_creation_time.next_up())
            } else {
                staged.creation_time.next_up()
            };
            staged.first_insert = false;
            staged.creation_time = t;
            self.last_creation_time = t;
            t
        });
        let slot = staged.batch.push(&id, creation_time, &fields);
        staged.writes.insert((tablet, internal), Some(slot));
        id
    }

    /// Finds a live document by id, looking at the transaction's own writes first.
    fn lookup(
        &self,
        staged: &Staged,
        id: &str,
    ) -> Result<(TabletId, InternalId, (String, f64)), EmulatorError> {
        let parsed =
            DocumentId::decode(id).map_err(|_| EmulatorError::InvalidId(id.to_string()))?;
        let tablet = self
            .tablets
            .values()
            .chain(staged.new_tablets.iter())
            .find(|t| t.is_live() && t.number == parsed.table_number)
            .ok_or_else(|| EmulatorError::NotFound(id.to_string()))?;
        let key = (tablet.id, parsed.internal);
        let current = match staged.writes.get(&key) {
            Some(w) => w.map(|slot| staged.batch.id_and_creation_time(slot)),
            None => tablet
                .latest(&parsed.internal)
                .map(|d| (d.id().to_string(), d.creation_time())),
        };
        current
            .map(|d| (tablet.id, parsed.internal, d))
            .ok_or_else(|| EmulatorError::NotFound(id.to_string()))
    }

    /// Commits staged writes and tablet drops at a new ts; returns the ts.
    fn commit(&mut self, staged: Staged, dropped: &[TabletId]) -> i64 {
        let ts = self.next_commit_ts();
        for mut t in staged.new_tablets {
            t.created_ts = ts;
            self.tablets.insert(t.id, t);
        }
        for id in dropped {
            if let Some(t) = self.tablets.get_mut(id) {
                t.deleted_ts = Some(ts);
            }
        }
        let batch = staged.batch.seal();
        // BTreeMap order = (tablet, internal id): the log's order within one ts (spec §8.3).
        for ((tablet_id, internal), slot) in staged.writes {
            let doc = slot.and_then(|s| batch.doc(s));
            let Some(tablet) = self.tablets.get_mut(&tablet_id) else {
                continue;
            };
            let existed = tablet.latest(&internal).is_some();
            if doc.is_none() && !existed {
                // Inserted and deleted inside one transaction: nothing was ever committed.
                continue;
            }
            tablet.summary = match (&doc, existed) {
                (Some(d), false) => tablet.summary.take().map(|s| s.merge(d.shape())),
                _ => None,
            };
            let rev = Revision {
                ts,
                doc: doc.clone(),
            };
            match tablet.docs.entry(internal) {
                Entry::Occupied(mut e) => e.get_mut().push(rev),
                Entry::Vacant(e) => {
                    e.insert(Revisions::One(rev));
                }
            }
            self.log.push(LogEntry {
                ts,
                tablet: tablet_id,
                internal,
                doc,
            });
        }
        ts
    }
}
