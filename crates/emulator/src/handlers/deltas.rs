//! `GET|POST /api/document_deltas` (spec §8).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use spillway_convex_protocol::wire::codes;

use super::{
    ApiResult, body_fields, get_prelude, parse_format, post_prelude, query_selection_map, respond,
};
use crate::encode::deltas_body;
use crate::errors::ApiError;
use crate::selection::from_legacy;
use crate::{Shared, lock};

#[derive(Deserialize)]
struct Query {
    cursor: Option<i64>,
    format: Option<String>,
    #[serde(rename = "tableName")]
    table_name_camel: Option<String>,
    table_name: Option<String>,
    component: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    cursor: Option<i64>,
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
        document_deltas(&shared, q.cursor, q.format, &sel)
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
        document_deltas(&shared, b.cursor, b.format, &map)
    })())
}

fn document_deltas(
    shared: &Shared,
    cursor: Option<i64>,
    format: Option<String>,
    selection: &Map<String, Json>,
) -> ApiResult {
    let selection = from_legacy(selection).map_err(|e| ApiError::internal(e.0))?;
    let Some(cursor) = cursor else {
        return Err(ApiError::bad_request(
            codes::DOCUMENT_DELTAS_CURSOR_REQUIRED,
            "document_deltas requires a cursor: pass the `snapshot` of a finished list_snapshot \
             traversal or the `cursor` of the previous document_deltas page.",
        ));
    };
    if cursor < 0 {
        return Err(ApiError::internal(format!("negative cursor {cursor}")));
    }
    let (limit, retention) = {
        let c = lock(&shared.config);
        (c.deltas_page_limit, c.document_retention_ns)
    };
    let page = {
        let store = lock(&shared.store);
        let upper = store.current_ts();
        let floor = upper.saturating_sub(retention).max(store.deltas_floor);
        if cursor < floor {
            return Err(ApiError::bad_request(
                codes::INVALID_WINDOW,
                format!(
                    "Trying to read documents at timestamp {cursor}, but the earliest retained \
                     timestamp is {floor}. The sync has fallen outside the document retention \
                     window; trigger a full resync (Fivetran: \"Re-sync all historical data\"; \
                     Airbyte: \"Reset your data\")."
                ),
            ));
        }
        store.deltas_page(&selection, cursor, upper, limit)
    };
    let format = parse_format(format.as_deref())?;
    Ok(deltas_body(&page.rows, page.cursor, page.has_more, format))
}
