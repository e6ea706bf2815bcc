//! The legacy read loop: a consistent snapshot in pages, then deltas by cursor (spec §7, §8).
//!
//! Every page is followed by a checkpoint: after a snapshot page `(snapshot, cursor)`, after
//! the last snapshot page the deltas cursor `snapshot`, after each deltas page its `cursor`.
//! After applying a deltas page the replica equals the database at `cursor` (spec §8.3 b),
//! so each of these is a safe place to resume.

use std::collections::BTreeSet;

use spillway_convex_protocol::selection::Selection;
use spillway_core::channel::EventSender;
use spillway_core::{Checkpoint, ErrorKind, SourceError, SourceEvent, StreamId};
use tracing::{debug, info, warn};

use crate::ahead::{SnapshotRequest, deltas_pages, snapshot_pages};
use crate::client::ConvexClient;
use crate::columns::PageColumns;
use crate::convert::{decode_row, push_row, row_stream, to_batch};
use crate::decode::{DeltasPage, PageRows, SnapshotPage};
use crate::prefetch::{Pipeline, next_or};
use crate::retry::RetryPolicy;
use crate::state::{ConvexState, DeltaCursor, Position, SnapshotCursor, SnapshotTs};

/// How many automatic snapshot restarts one run may make before giving up (spec §17.5: do
/// not loop).
pub(crate) const MAX_RESTARTS: u32 = 3;

/// One run of the read loop.
pub(crate) struct Reader<'a> {
    pub client: &'a ConvexClient,
    pub selection: &'a Selection,
    pub retry: &'a RetryPolicy,
    pub out: EventSender,
    pub resnapshot_on_expiry: bool,
    /// Unselected tables already warned about.
    pub warned: BTreeSet<StreamId>,
}

pub(crate) fn closed() -> SourceError {
    SourceError::new(
        ErrorKind::Internal,
        "the sync stopped while the source was sending",
    )
}

impl Reader<'_> {
    /// Reads from `resume` (or a fresh snapshot) up to the present. `stale_tables` (qualified
    /// names) are truncated when a fresh snapshot starts. Returns the last deltas cursor and
    /// the tables seen (what a switch to data sync starts from).
    pub async fn run(
        &mut self,
        resume: Option<ConvexState>,
        mut stale_tables: BTreeSet<String>,
    ) -> Result<(DeltaCursor, BTreeSet<String>), SourceError> {
        let mut state = resume;
        let mut restarts = 0;
        // Tables the destination holds from an expired position are truncated at the start of
        // the re-snapshot even if the server no longer lists them or they are now empty, so
        // rows deleted while the position was expired do not survive.
        loop {
            let result = match &state {
                None => self.snapshot(None, std::mem::take(&mut stale_tables)).await,
                Some(s) => match &s.position {
                    Position::Snapshot { snapshot, cursor } => {
                        info!(
                            snapshot = snapshot.0,
                            "Resuming the snapshot from the saved cursor."
                        );
                        self.snapshot(Some((*snapshot, cursor.clone())), s.tables_seen.clone())
                            .await
                    }
                    Position::Deltas { cursor } => {
                        self.deltas(*cursor, s.tables_seen.clone()).await
                    }
                    Position::DataSync { .. } => {
                        return Err(SourceError::new(
                            ErrorKind::Config,
                            "the saved position is a data sync cursor, which the legacy API cannot \
                             continue: set source.api = \"auto\" (or \"data_sync\"), or run \
                             `spillway state reset` to re-read everything through the legacy API",
                        ));
                    }
                },
            };
            match result {
                Ok(end) => return Ok(end),
                Err(e) if e.kind == ErrorKind::Expired && self.resnapshot_on_expiry => {
                    restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(SourceError::new(
                            ErrorKind::Expired,
                            format!(
                                "{}; the snapshot was restarted {MAX_RESTARTS} times in this run and expired each time",
                                e.message
                            ),
                        ));
                    }
                    warn!(error = %e.message, "The saved position has expired on the server; restarting with a full snapshot (tables are truncated as they are reloaded).");
                    if let Some(s) = state.take() {
                        stale_tables = s.tables_seen;
                    }
                }
                Err(e) if e.kind == ErrorKind::Expired => {
                    return Err(SourceError::new(
                        ErrorKind::Expired,
                        format!(
                            "{}. The saved position has expired and source.resnapshot_on_expiry is false: \
                             run `spillway sync --full-refresh` to re-read everything",
                            e.message
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) async fn send(&self, event: SourceEvent) -> Result<(), SourceError> {
        self.out.send(event).await.map_err(|_| closed())
    }

    /// Announces the selected tables at the start of a fresh snapshot, so empty tables exist
    /// in the destination and every table is truncated before it is reloaded.
    async fn announce_tables(&mut self, seen: &mut BTreeSet<String>) -> Result<(), SourceError> {
        let names = match self.client.table_column_names().await {
            Ok(n) => n,
            Err(e) => {
                debug!(error = %e.message, "Table list unavailable; tables will be created as their rows arrive.");
                return Ok(());
            }
        };
        for (component, tables) in names.by_component {
            for t in tables {
                let stream = StreamId::new(component.clone(), t.name);
                if self.selection.contains(&stream.namespace, &stream.name) {
                    self.first_sight(&stream, seen).await?;
                    let empty = to_batch(&stream, &[])?;
                    self.send(SourceEvent::Batch(empty)).await?;
                }
            }
        }
        Ok(())
    }

    /// At the start of a new snapshot: truncates the selected `stale` tables (qualified
    /// names the previous position had seen), even if the server no longer lists them.
    pub(crate) async fn truncate_stale(
        &self,
        stale: BTreeSet<String>,
        seen: &mut BTreeSet<String>,
    ) -> Result<(), SourceError> {
        for table in stale {
            let stream = StreamId::parse(&table);
            if self.selection.contains(&stream.namespace, &stream.name) {
                self.first_sight(&stream, seen).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn first_sight(
        &self,
        stream: &StreamId,
        seen: &mut BTreeSet<String>,
    ) -> Result<(), SourceError> {
        if seen.insert(stream.qualified()) {
            self.send(SourceEvent::Truncate(stream.clone())).await?;
        }
        Ok(())
    }

    /// Groups a page's rows by stream (order within a stream kept), dropping rows of tables
    /// that were not selected (spec §17.33), and sends them.
    async fn emit_rows(
        &mut self,
        values: PageRows,
        seen: &mut BTreeSet<String>,
        where_: &str,
    ) -> Result<usize, SourceError> {
        let page = match values {
            PageRows::Decoded(page) => page,
            PageRows::Raw(values) => {
                let mut page = PageColumns::default();
                for value in &values {
                    let stream = row_stream(value)
                        .map_err(|m| SourceError::new(ErrorKind::Data, format!("{where_}: {m}")))?;
                    if !self.selected(&stream) {
                        continue;
                    }
                    let row = decode_row(value, &stream, where_)?;
                    push_row(page.stream(&stream), &row)?;
                }
                page
            }
        };
        self.send_grouped(page, seen, true).await
    }

    /// Whether `stream` was selected; warns once about rows of a table that was not (the
    /// server should never send them, spec §17.33).
    pub(crate) fn selected(&mut self, stream: &StreamId) -> bool {
        if self.selection.contains(&stream.namespace, &stream.name) {
            return true;
        }
        if self.warned.insert(stream.clone()) {
            warn!(stream = %stream, "The server returned rows of a table that was not selected; ignoring them.");
        }
        false
    }

    /// Sends one batch per selected stream, recording it in `seen` — and truncating a stream seen for
    /// the first time when `truncate_new` (the legacy API's `tablesSeen` rule; data sync says
    /// itself what to truncate). Returns the number of rows.
    pub(crate) async fn send_grouped(
        &mut self,
        page: PageColumns,
        seen: &mut BTreeSet<String>,
        truncate_new: bool,
    ) -> Result<usize, SourceError> {
        let mut rows = 0;
        for (stream, table) in page.into_sorted() {
            if !self.selected(&stream) {
                continue;
            }
            if truncate_new {
                self.first_sight(&stream, seen).await?;
            } else {
                seen.insert(stream.qualified());
            }
            rows += table.len();
            let batch = table.finish(&stream)?;
            self.send(SourceEvent::Batch(batch)).await?;
        }
        Ok(rows)
    }

    pub(crate) async fn checkpoint(&self, state: ConvexState) -> Result<(), SourceError> {
        let description = state.describe();
        self.send(SourceEvent::Checkpoint(Checkpoint {
            state: state.to_source_state(),
            description,
        }))
        .await
    }

    async fn snapshot(
        &mut self,
        resume: Option<(SnapshotTs, SnapshotCursor)>,
        mut seen: BTreeSet<String>,
    ) -> Result<(DeltaCursor, BTreeSet<String>), SourceError> {
        let (mut snapshot, mut cursor) = match resume {
            Some((s, c)) => (Some(s.0), Some(c.0)),
            None => {
                info!("Starting a full snapshot.");
                let stale = std::mem::take(&mut seen);
                self.truncate_stale(stale, &mut seen).await?;
                self.announce_tables(&mut seen).await?;
                (None, None)
            }
        };
        let mut page_no = 0u64;
        let mut ahead: Option<Pipeline<SnapshotPage>> = None;
        loop {
            page_no += 1;
            let (client, selection, retry) = (self.client, self.selection, self.retry);
            let (s, c) = (snapshot, cursor.clone());
            let page = next_or(&mut ahead, || {
                retry.run("list_snapshot", || {
                    client.list_snapshot(s, c.as_deref(), selection)
                })
            })
            .await?;
            if ahead.as_ref().is_none_or(Pipeline::ended)
                && page.has_more
                && let Some(next) = &page.cursor
            {
                let first = SnapshotRequest {
                    snapshot: page.snapshot,
                    cursor: next.clone(),
                };
                ahead = Some(snapshot_pages(client, selection, retry, first));
            }
            let SnapshotPage {
                values,
                snapshot: at,
                cursor: next,
                has_more,
            } = page;
            if let Some(expected) = snapshot
                && at != expected
            {
                return Err(SourceError::new(
                    ErrorKind::Data,
                    format!(
                        "list_snapshot answered at snapshot {at} although {expected} was requested; refusing to mix two snapshots",
                    ),
                ));
            }
            snapshot = Some(at);
            let where_ = format!("snapshot {at} page {page_no}");
            let rows = self.emit_rows(values, &mut seen, &where_).await?;
            debug!(page = page_no, rows, has_more, "Snapshot page read.");
            if has_more {
                let next = next.ok_or_else(|| {
                    SourceError::new(
                        ErrorKind::Data,
                        format!("{where_}: the server said hasMore but sent no cursor (protocol violation)"),
                    )
                })?;
                cursor = Some(next.clone());
                self.checkpoint(ConvexState {
                    version: crate::state::STATE_VERSION,
                    api: "legacy".into(),
                    position: Position::Snapshot {
                        snapshot: SnapshotTs(at),
                        cursor: SnapshotCursor(next),
                    },
                    tables_seen: seen.clone(),
                })
                .await?;
            } else {
                info!(
                    snapshot = at,
                    pages = page_no,
                    "Snapshot complete; reading changes since it."
                );
                let cursor = DeltaCursor(at);
                self.checkpoint(deltas_state(cursor, &seen)).await?;
                return self.deltas(cursor, seen).await;
            }
        }
    }

    async fn deltas(
        &mut self,
        mut cursor: DeltaCursor,
        mut seen: BTreeSet<String>,
    ) -> Result<(DeltaCursor, BTreeSet<String>), SourceError> {
        let mut page_no = 0u64;
        let mut ahead: Option<Pipeline<DeltasPage>> = None;
        loop {
            page_no += 1;
            let (client, selection, retry) = (self.client, self.selection, self.retry);
            let c = cursor.0;
            let page = next_or(&mut ahead, || {
                retry.run("document_deltas", || client.document_deltas(c, selection))
            })
            .await?;
            if ahead.as_ref().is_none_or(Pipeline::ended) && page.has_more {
                ahead = Some(deltas_pages(client, selection, retry, page.cursor));
            }
            let DeltasPage {
                values,
                cursor: next,
                has_more,
            } = page;
            let where_ = format!("deltas after cursor {c}");
            let rows = self.emit_rows(values, &mut seen, &where_).await?;
            debug!(
                page = page_no,
                rows,
                cursor = next,
                has_more,
                "Deltas page read."
            );
            // The server's cursor is saved verbatim, never max(_ts) (spec §17.7).
            cursor = DeltaCursor(next);
            self.checkpoint(deltas_state(cursor, &seen)).await?;
            if !has_more {
                return Ok((cursor, seen));
            }
        }
    }
}

fn deltas_state(cursor: DeltaCursor, seen: &BTreeSet<String>) -> ConvexState {
    ConvexState {
        version: crate::state::STATE_VERSION,
        api: "legacy".into(),
        position: Position::Deltas { cursor },
        tables_seen: seen.clone(),
    }
}
