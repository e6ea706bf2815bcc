//! `POST /api/v1/data/sync`, `GET /api/v1/data/list_active_syncs` and `POST
//! /api/data_sync_cursor_from_deltas` (spec §12–§14).
//!
//! Check order (spec §2.4): the POST routes authenticate, parse the body (`BadJsonBody`,
//! including a selection without `_other`), gate and authorize; then validate the selection
//! (`InvalidDataSyncSelection`), then the cursor (`InvalidDataSyncCursor`, then
//! `DataSyncCursorExpired`). With [`crate::EmulatorConfig::data_sync_enabled`] off, all three
//! routes answer 404 with an empty body before anything else, like a backend without them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value as Json;
use spillway_convex_protocol::data_sync::{
    ActiveSyncsPagination, CursorFromDeltasRequest, CursorFromDeltasResponse, DataSyncRequest,
    ListActiveSyncsResponse, codes,
};
use spillway_convex_protocol::wire::codes as wire_codes;

use super::{ApiResult, body_fields, get_prelude, post_prelude, respond};
use crate::data_sync::body::page_body;
use crate::data_sync::cursor::{CapturedTablet, SyncState};
use crate::data_sync::pages::{Knobs, next_page};
use crate::errors::ApiError;
use crate::selection::{ServerSelection, StrictSelectionError, from_strict};
use crate::store::Store;
use crate::{DAY_NS, Shared, lock};

/// `DATA_SYNC_ACTIVE_WINDOW`: syncs with a page in the last 3 days are listed.
const ACTIVE_WINDOW_NS: i64 = 3 * DAY_NS;

fn disabled(shared: &Shared) -> Option<Response> {
    (!lock(&shared.config).data_sync_enabled).then(|| StatusCode::NOT_FOUND.into_response())
}

fn selection(j: Option<&Json>) -> Result<ServerSelection, ApiError> {
    from_strict(j).map_err(|e| match e {
        StrictSelectionError::Malformed(m) => ApiError::bad_request(wire_codes::BAD_JSON_BODY, m),
        StrictSelectionError::Invalid(m) => ApiError::bad_request(
            codes::INVALID_DATA_SYNC_SELECTION,
            format!("Invalid selection: {m}"),
        ),
    })
}

fn invalid_cursor(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(codes::INVALID_DATA_SYNC_CURSOR, message)
}

/// Rejects a ts ahead of the latest ts or below the retention floor.
fn check_ts(shared: &Shared, store: &Store, ts: i64) -> Result<(), ApiError> {
    let latest = store.current_ts();
    if ts > latest {
        return Err(invalid_cursor(format!(
            "Data sync cursor timestamp {ts} is ahead of the latest timestamp {latest}."
        )));
    }
    let retention = lock(&shared.config).document_retention_ns;
    let floor = latest.saturating_sub(retention).max(store.deltas_floor);
    if ts < floor {
        return Err(ApiError::bad_request(
            codes::DATA_SYNC_CURSOR_EXPIRED,
            format!(
                "The data sync cursor (timestamp {ts}) is outside the data retention window \
                 (earliest retained timestamp {floor}). Restart the sync without a cursor."
            ),
        ));
    }
    Ok(())
}

pub(super) async fn data_sync(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(r) = disabled(&shared) {
        return r;
    }
    respond((|| {
        let map = post_prelude(&shared, &headers, raw.as_deref(), &body)?;
        let b: DataSyncRequest = body_fields(&map)?;
        let selection = selection(b.selection.as_ref())?;
        let client = headers.get("convex-client").and_then(|v| v.to_str().ok());
        sync_page(&shared, b.cursor.as_deref(), &selection, client)
    })())
}

fn sync_page(
    shared: &Shared,
    cursor: Option<&str>,
    selection: &ServerSelection,
    client: Option<&str>,
) -> ApiResult {
    let knobs = {
        let c = lock(&shared.config);
        Knobs {
            entries: c.data_sync_page_entries,
            bytes: c.data_sync_page_bytes,
            rows_read: c.data_sync_max_rows_read,
            freshness_ns: c.data_sync_by_id_freshness_ns,
        }
    };
    let opened = match cursor {
        Some(c) => Some(
            lock(&shared.data_sync)
                .open(c)
                .ok_or_else(|| invalid_cursor("Failed to decrypt the data sync cursor."))?,
        ),
        None => None,
    };
    let (page, now) = {
        let store = lock(&shared.store);
        let state = match opened {
            Some(state) => {
                check_ts(shared, &store, state.synced_ts)?;
                state
            }
            None => {
                let id = lock(&shared.data_sync).mint_sync_id(client);
                SyncState::new(id, store.current_ts())
            }
        };
        (
            next_page(&store, selection, state, &knobs),
            store.current_ts(),
        )
    };
    tracing::debug!(
        sync_id = %page.state.sync_id,
        kind = ?page.kind,
        values = page.values.len(),
        truncates = page.truncates.len(),
        status = page.status.name(),
        "Data sync page."
    );
    let mut registry = lock(&shared.data_sync);
    let next = registry.seal(&page.state);
    registry
        .active
        .record(&page.state.sync_id, now, page.progress.clone());
    Ok(page_body(
        &page.status,
        &page.truncates,
        &page.values,
        &page.state.sync_id,
        next,
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u64>,
    cursor: Option<String>,
}

pub(super) async fn list_active_syncs(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(r) = disabled(&shared) {
        return r;
    }
    respond((|| {
        let q: ListQuery = get_prelude(&shared, &headers, raw.as_deref())?;
        let limit = q.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request(
                codes::LIMIT_OUT_OF_RANGE,
                format!("limit must be between 1 and 100, got {limit}"),
            ));
        }
        // Lock order everywhere: store before data sync registry.
        let now = lock(&shared.store).current_ts();
        let mut registry = lock(&shared.data_sync);
        let after = match q.cursor.as_deref() {
            Some(c) => Some(registry.open_position(c).ok_or_else(|| {
                ApiError::bad_request(codes::INVALID_CURSOR, "Failed to parse cursor")
            })?),
            None => None,
        };
        let page =
            registry
                .active
                .list(now.saturating_sub(ACTIVE_WINDOW_NS), after, limit as usize);
        let next_cursor = page.next.map(|p| registry.seal_position(&p));
        let response = ListActiveSyncsResponse {
            syncs: page.syncs,
            pagination: ActiveSyncsPagination {
                has_more: next_cursor.is_some(),
                next_cursor,
            },
        };
        Ok(serde_json::to_string(&response).unwrap_or_default())
    })())
}

pub(super) async fn cursor_from_deltas(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(r) = disabled(&shared) {
        return r;
    }
    respond((|| {
        let map = post_prelude(&shared, &headers, raw.as_deref(), &body)?;
        let b: CursorFromDeltasRequest = body_fields(&map)?;
        let selection = selection(b.selection.as_ref())?;
        if b.cursor < 0 {
            return Err(invalid_cursor(format!(
                "{} is not a valid timestamp",
                b.cursor
            )));
        }
        let client = headers.get("convex-client").and_then(|v| v.to_str().ok());
        let state = {
            let store = lock(&shared.store);
            check_ts(&shared, &store, b.cursor)?;
            // Every tablet selected now is fully synced as of the legacy cursor: the next page is
            // a ts page from there (spec §14).
            let done = store
                .live_user_tablets()
                .filter(|t| selection.resolve(&t.component, &t.table).is_some())
                .map(|t| CapturedTablet {
                    tablet: t.id,
                    component: t.component.clone(),
                    table: t.table.clone(),
                })
                .collect();
            let id = lock(&shared.data_sync).mint_sync_id(client);
            SyncState {
                done,
                ..SyncState::new(id, b.cursor)
            }
        };
        let cursor = lock(&shared.data_sync).seal(&state);
        Ok(serde_json::to_string(&CursorFromDeltasResponse { cursor }).unwrap_or_default())
    })())
}
