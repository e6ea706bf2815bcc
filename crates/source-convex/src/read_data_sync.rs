//! The data sync read loop (spec §12–§14), and the choice between it and the legacy API.
//!
//! Every page is one checkpoint: its `truncates` (sent first, so the destination applies them
//! before the page's values, in the same transaction), its values, then the page's
//! `nextCursor`. A run ends at the first `upToDate` page. A destination synced through the
//! legacy API moves over without re-reading: its deltas cursor is converted with
//! `data_sync_cursor_from_deltas`.

use std::collections::BTreeSet;

use spillway_convex_protocol::data_sync::DataSyncStatus;
use spillway_core::{ErrorKind, SourceError, SourceEvent};
use tracing::{debug, info, warn};

use crate::client::ApiError;
use crate::columns::PageColumns;
use crate::config::ApiMode;
use crate::convert::{decode_sync_value, push_row, stream_of};
use crate::decode::{SyncPage, SyncRows};
use crate::prefetch::Prefetch;
use crate::read::{MAX_RESTARTS, Reader};
use crate::state::{ConvexState, DataSyncCursor, DeltaCursor, Position, STATE_VERSION};

/// Whether the deployment answered that it has no such route (an older backend, or a plan
/// without data sync behind a proxy that hides it).
fn not_offered(e: &ApiError) -> bool {
    e.status == Some(404)
}

fn required(e: ApiError) -> SourceError {
    SourceError::new(
        ErrorKind::Config,
        format!(
            "{}. This deployment does not offer the data sync API: set source.api = \"auto\" or \
             \"legacy\"",
            e.message
        ),
    )
}

impl Reader<'_> {
    /// Reads through the API `mode` says, from `resume` (see the module docs). `stale_tables`
    /// are truncated when a new sync starts from scratch.
    pub async fn run_api(
        &mut self,
        mode: ApiMode,
        resume: Option<ConvexState>,
        stale_tables: BTreeSet<String>,
    ) -> Result<(), SourceError> {
        if mode == ApiMode::Legacy {
            return self.run(resume, stale_tables).await.map(|_| ());
        }
        let must = mode == ApiMode::DataSync;
        let Some(state) = resume else {
            return match self
                .data_sync(None, BTreeSet::new(), stale_tables.clone())
                .await
            {
                Err(Fallback::NotOffered(_)) if !must => {
                    info!(
                        "The deployment does not offer data sync; reading through the legacy API."
                    );
                    self.run(None, stale_tables).await.map(|_| ())
                }
                r => r.map_err(|e| e.into_error()),
            };
        };
        match state.position {
            Position::DataSync { cursor, .. } => self
                .data_sync(Some(cursor.0), state.tables_seen, BTreeSet::new())
                .await
                .map_err(|e| match e {
                    Fallback::NotOffered(e) => SourceError::new(
                        ErrorKind::Config,
                        format!(
                            "{}. The saved position is a data sync cursor but the deployment no \
                             longer offers data sync: run `spillway state reset` to re-read \
                             everything through the legacy API",
                            e.message
                        ),
                    ),
                    Fallback::Failed(e) => e,
                }),
            Position::Deltas { cursor } => self.migrate(cursor, state.tables_seen, must).await,
            Position::Snapshot { .. } => {
                // Finish the legacy snapshot (its pages are committed), then move over.
                let (cursor, seen) = self.run(Some(state), BTreeSet::new()).await?;
                self.migrate(cursor, seen, must).await
            }
        }
    }

    /// Moves a destination at legacy deltas `cursor` to data sync without re-reading
    /// (spec §14); when the deployment cannot, goes on with the legacy API (`auto`).
    async fn migrate(
        &mut self,
        cursor: DeltaCursor,
        seen: BTreeSet<String>,
        must: bool,
    ) -> Result<(), SourceError> {
        let client = self.client;
        let selection = self.selection;
        let minted = self
            .retry
            .run("data_sync_cursor_from_deltas", || {
                client.cursor_from_deltas(cursor.0, selection)
            })
            .await;
        match minted {
            Ok(c) => {
                info!(
                    cursor = cursor.0,
                    "Switching from the legacy API to data sync at the saved deltas cursor (nothing is re-read)."
                );
                self.data_sync(Some(c), seen, BTreeSet::new())
                    .await
                    .map_err(Fallback::into_error)
            }
            Err(e) if not_offered(&e) && !must => {
                debug!("The deployment does not offer data sync; continuing with the legacy API.");
                let resume = ConvexState {
                    version: STATE_VERSION,
                    api: "legacy".into(),
                    position: Position::Deltas { cursor },
                    tables_seen: seen,
                };
                self.run(Some(resume), BTreeSet::new()).await.map(|_| ())
            }
            Err(e) if not_offered(&e) => Err(required(e)),
            Err(e) if e.kind == ErrorKind::Expired && self.resnapshot_on_expiry => {
                warn!(error = %e.message, "The saved legacy cursor is out of the server's retention; starting a new data sync (tables are truncated as they are reloaded).");
                self.data_sync(None, BTreeSet::new(), seen)
                    .await
                    .map_err(Fallback::into_error)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Pages `/api/v1/data/sync` from `cursor` (or a new sync) until `upToDate`. `stale` tables
    /// are truncated on the first page of a new sync (they may have vanished on the server).
    async fn data_sync(
        &mut self,
        mut cursor: Option<String>,
        mut seen: BTreeSet<String>,
        mut stale: BTreeSet<String>,
    ) -> Result<(), Fallback> {
        if cursor.is_none() {
            info!("Starting a data sync: a full snapshot through /api/v1/data/sync.");
        }
        let mut restarts = 0;
        let mut page_no = 0u64;
        let mut ahead = Prefetch::none();
        loop {
            page_no += 1;
            let client = self.client;
            let selection = self.selection;
            let retry = self.retry;
            let c = cursor.clone();
            let page = match ahead
                .take_or(|| retry.run("data sync", || client.data_sync(c.as_deref(), selection)))
                .await
            {
                Ok(p) => {
                    // Ask for the next page while this one is converted and written.
                    if !matches!(p.status, DataSyncStatus::UpToDate { .. })
                        && !p.next_cursor.is_empty()
                    {
                        let (client, selection, retry) =
                            (client.clone(), selection.clone(), retry.clone());
                        let next = p.next_cursor.clone();
                        ahead.start(async move {
                            retry
                                .run("data sync", || client.data_sync(Some(&next), &selection))
                                .await
                        });
                    }
                    p
                }
                // Only before anything was read: later, a 404 is an error like any other.
                Err(e) if not_offered(&e) && page_no == 1 => {
                    return Err(Fallback::NotOffered(e));
                }
                Err(e) if e.kind == ErrorKind::Expired && cursor.is_some() => {
                    if !self.resnapshot_on_expiry {
                        return Err(Fallback::Failed(SourceError::new(
                            ErrorKind::Expired,
                            format!(
                                "{}. The saved position has expired and source.resnapshot_on_expiry \
                                 is false: run `spillway sync --full-refresh` to re-read everything",
                                e.message
                            ),
                        )));
                    }
                    restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(Fallback::Failed(e.into()));
                    }
                    warn!(error = %e.message, "The saved data sync cursor is no longer usable; starting a new sync (tables are truncated as they are reloaded).");
                    stale.append(&mut seen);
                    cursor = None;
                    continue;
                }
                Err(e) => return Err(Fallback::Failed(e.into())),
            };
            let where_ = format!("data sync {} page {page_no}", page.sync_id);
            self.truncate_stale(std::mem::take(&mut stale), &mut seen)
                .await
                .map_err(Fallback::Failed)?;
            let next = page.next_cursor.clone();
            let (status, sync_id) = (page.status, page.sync_id.clone());
            let truncates = page.truncates.len();
            let rows = self
                .apply_page(page, &mut seen, &where_)
                .await
                .map_err(Fallback::Failed)?;
            if next.is_empty() {
                return Err(Fallback::Failed(SourceError::new(
                    ErrorKind::Data,
                    format!("{where_}: the page has no nextCursor (protocol violation)"),
                )));
            }
            debug!(
                page = page_no,
                rows,
                truncates,
                status = status.name(),
                "Data sync page read."
            );
            self.checkpoint(ConvexState {
                version: STATE_VERSION,
                api: "data_sync".into(),
                position: Position::DataSync {
                    cursor: DataSyncCursor(next.clone()),
                    sync_id,
                    status: status.name().into(),
                    snapshot_ts: status.snapshot_ts(),
                },
                tables_seen: seen.clone(),
            })
            .await
            .map_err(Fallback::Failed)?;
            cursor = Some(next);
            if let DataSyncStatus::UpToDate { snapshot_ts } = status {
                info!(
                    snapshot_ts,
                    pages = page_no,
                    "Data sync up to date: the destination is a consistent snapshot."
                );
                return Ok(());
            }
        }
    }

    /// Sends a page: its truncates first, then its values grouped by stream.
    async fn apply_page(
        &mut self,
        page: SyncPage,
        seen: &mut BTreeSet<String>,
        where_: &str,
    ) -> Result<usize, SourceError> {
        for t in &page.truncates {
            let stream = stream_of(&t.component, &t.table)
                .map_err(|m| SourceError::new(ErrorKind::Data, format!("{where_}: {m}")))?;
            if self.selected(&stream) {
                info!(stream = %stream, "The server truncates the table (a new or replaced table, or a new snapshot of it); reloading it.");
                seen.insert(stream.qualified());
                self.send(SourceEvent::Truncate(stream)).await?;
            }
        }
        let decoded = match page.values {
            SyncRows::Decoded(page) => page,
            SyncRows::Raw(values) => {
                let mut page = PageColumns::default();
                for v in &values {
                    let (stream, row) = decode_sync_value(v, where_)?;
                    if self.selected(&stream) {
                        push_row(page.stream(&stream), &row)?;
                    }
                }
                page
            }
        };
        self.send_grouped(decoded, seen, false).await
    }
}

/// How a data sync read failed: the deployment lacks the API (the caller may fall back), or
/// anything else.
enum Fallback {
    NotOffered(ApiError),
    Failed(SourceError),
}

impl Fallback {
    fn into_error(self) -> SourceError {
        match self {
            Fallback::NotOffered(e) => required(e),
            Fallback::Failed(e) => e,
        }
    }
}
