//! `GET|POST /api/list_snapshot` (spec §7).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use spillway_convex_protocol::id::DocumentId;
use spillway_convex_protocol::wire::{SnapshotCursorBody, codes};

use super::{
    ApiResult, body_fields, get_prelude, parse_format, post_prelude, query_selection_map, respond,
};
use crate::encode::snapshot_body;
use crate::errors::ApiError;
use crate::selection::{ServerSelection, from_legacy};
use crate::store::{InternalId, TabletId, parse_tablet_id, tablet_id_string};
use crate::{Shared, lock};

#[derive(Deserialize)]
struct Query {
    snapshot: Option<i64>,
    cursor: Option<String>,
    format: Option<String>,
    #[serde(rename = "tableName")]
    table_name_camel: Option<String>,
    table_name: Option<String>,
    component: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    snapshot: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

pub(super) async fn get_handler(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let q: Query = get_prelude(&shared, &headers, raw.as_deref())?;
        let sel = query_selection_map(
            q.table_name_camel.as_deref(),
            q.table_name.as_deref(),
            q.component.as_deref(),
        );
        list_snapshot(&shared, q.snapshot, q.cursor, q.format, &sel)
    })())
}

pub(super) async fn post_handler(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    respond((|| {
        let map = post_prelude(&shared, &headers, raw.as_deref(), &body)?;
        let b: Body = body_fields(&map)?;
        list_snapshot(&shared, b.snapshot, b.cursor, b.format, &map)
    })())
}

fn parse_cursor(c: &str) -> Result<(TabletId, InternalId), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            codes::INVALID_LIST_SNAPSHOT_CURSOR,
            format!("Invalid list_snapshot cursor: {c}"),
        )
    };
    let body = SnapshotCursorBody::decode(c).ok_or_else(invalid)?;
    let tablet = parse_tablet_id(&body.tablet).ok_or_else(invalid)?;
    let id = DocumentId::decode(&body.id).map_err(|_| invalid())?;
    Ok((tablet, id.internal))
}

fn list_snapshot(
    shared: &Shared,
    snapshot: Option<i64>,
    cursor: Option<String>,
    format: Option<String>,
    selection: &Map<String, Json>,
) -> ApiResult {
    let selection: ServerSelection = from_legacy(selection).map_err(|e| ApiError::internal(e.0))?;
    if let Some(s) = snapshot.filter(|s| *s < 0) {
        return Err(ApiError::internal(format!("negative snapshot {s}")));
    }
    let (limit, max_age) = {
        let c = lock(&shared.config);
        (c.snapshot_page_limit, c.snapshot_max_age_ns)
    };
    let page = {
        let store = lock(&shared.store);
        let now = store.current_ts();
        let snapshot = match snapshot {
            Some(s) if s > now => {
                return Err(ApiError::bad_request(
                    codes::SNAPSHOT_TOO_NEW,
                    format!("Snapshot value {s} is in the future."),
                ));
            }
            Some(s) if s < now.saturating_sub(max_age).max(store.snapshot_floor) => {
                return Err(ApiError::bad_request(
                    codes::SNAPSHOT_TOO_OLD,
                    format!(
                        "Snapshot value {s} is too far in the past. Restart the snapshot \
                         without a snapshot or cursor."
                    ),
                ));
            }
            Some(s) => s,
            None => now,
        };
        let cursor = cursor.as_deref().map(parse_cursor).transpose()?;
        (
            snapshot,
            store.snapshot_page(&selection, snapshot, cursor, limit),
        )
    };
    let (snapshot, page) = page;
    // The format is parsed only after the page is computed (spec §7.1).
    let format = parse_format(format.as_deref())?;
    let cursor = page.cursor.map(|(tablet, number, internal)| {
        SnapshotCursorBody {
            tablet: tablet_id_string(&tablet),
            id: DocumentId::new(number, internal).encode(),
        }
        .encode()
    });
    Ok(snapshot_body(
        &page.rows,
        snapshot,
        cursor.as_deref(),
        page.has_more,
        format,
    ))
}
