//! The `/api/*` routes of the streaming export API (spec §2.1), legacy and data sync, and their shared request
//! plumbing: `Convex-Client` check, query/body parsing and the check order of §2.4 (the request
//! log and fault injection wrap them, see [`crate::request_log`]).

mod data_sync;
mod deltas;
mod schemas;
mod snapshot;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use spillway_convex_protocol::data_sync::paths as ds_paths;
use spillway_convex_protocol::value::Format;
use spillway_convex_protocol::wire::{codes, paths};

use crate::auth::{authenticate, authorize, check_client_version};
use crate::errors::ApiError;
use crate::{Shared, lock};

/// The export routes with the request log / fault injection and `Convex-Client` middleware.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            paths::LIST_SNAPSHOT,
            get(snapshot::get_handler).post(snapshot::post_handler),
        )
        .route(
            paths::DOCUMENT_DELTAS,
            get(deltas::get_handler).post(deltas::post_handler),
        )
        .route(paths::JSON_SCHEMAS, get(schemas::json_schemas))
        .route(paths::TEST_CONNECTION, get(schemas::test_connection))
        .route(paths::TABLE_COLUMN_NAMES, get(schemas::column_names))
        .route(ds_paths::DATA_SYNC, post(data_sync::data_sync))
        .route(
            ds_paths::LIST_ACTIVE_SYNCS,
            get(data_sync::list_active_syncs),
        )
        .route(
            ds_paths::CURSOR_FROM_DELTAS,
            post(data_sync::cursor_from_deltas),
        )
        .layer(middleware::from_fn(client_version))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            crate::request_log::log_and_inject,
        ))
        .with_state(shared)
}

/// Global middleware: `Convex-Client` must be well formed (spec §2.2, check 0 of §2.4).
async fn client_version(req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/api/")
        && let Err(e) = check_client_version(req.headers())
    {
        return e.into_response();
    }
    next.run(req).await
}

/// Handler result: a ready JSON body or an error envelope.
pub(crate) type ApiResult = Result<String, ApiError>;

pub(crate) fn respond(result: ApiResult) -> Response {
    match result {
        Ok(body) => crate::errors::json_response(body),
        Err(e) => e.into_response(),
    }
}

/// GET flow (spec §2.4): parse the query string, then authenticate, gate and authorize.
pub(crate) fn get_prelude<Q: DeserializeOwned>(
    shared: &Shared,
    headers: &HeaderMap,
    raw_query: Option<&str>,
) -> Result<Q, ApiError> {
    let query: Q = serde_urlencoded::from_str(raw_query.unwrap_or_default()).map_err(|e| {
        ApiError::bad_request(
            codes::BAD_QUERY_ARGS,
            format!("Failed to deserialize query string: {e}"),
        )
    })?;
    let config = lock(&shared.config).clone();
    let identity = authenticate(headers, raw_query, &config)?;
    authorize(identity, &config)?;
    Ok(query)
}

/// POST flow (spec §2.4): authenticate, then parse the JSON body (an object), then gate and
/// authorize.
pub(crate) fn post_prelude(
    shared: &Shared,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: &Bytes,
) -> Result<Map<String, Json>, ApiError> {
    let config = lock(&shared.config).clone();
    let identity = authenticate(headers, raw_query, &config)?;
    if !is_json_content_type(headers) {
        return Err(ApiError::bad_request(
            codes::BAD_JSON_BODY,
            "Expected request with `Content-Type: application/json`",
        ));
    }
    let json: Json = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            codes::BAD_JSON_BODY,
            format!("Failed to deserialize the JSON body into the target type: {e}"),
        )
    })?;
    let Json::Object(map) = json else {
        return Err(ApiError::bad_request(
            codes::BAD_JSON_BODY,
            "Failed to deserialize the JSON body into the target type: expected an object",
        ));
    };
    authorize(identity, &config)?;
    Ok(map)
}

/// Deserializes typed fields out of a body object (unknown keys ignored) → `BadJsonBody`.
pub(crate) fn body_fields<T: DeserializeOwned>(map: &Map<String, Json>) -> Result<T, ApiError> {
    serde_json::from_value(Json::Object(map.clone())).map_err(|e| {
        ApiError::bad_request(
            codes::BAD_JSON_BODY,
            format!("Failed to deserialize the JSON body into the target type: {e}"),
        )
    })
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses `format` (default `json`); unknown → 400 `BadFormat` with the backend's message.
pub(crate) fn parse_format(format: Option<&str>) -> Result<Format, ApiError> {
    match format {
        None => Ok(Format::CleanJson),
        Some(f) => Format::parse(f).ok_or_else(|| {
            ApiError::bad_request(
                codes::BAD_FORMAT,
                format!("format param must be one of [`json`]. Got {f}"),
            )
        }),
    }
}

/// The legacy selection keys of a GET query, as a JSON object for [`crate::selection`].
pub(crate) fn query_selection_map(
    table_name: Option<&str>,
    table_name_snake: Option<&str>,
    component: Option<&str>,
) -> Map<String, Json> {
    let mut m = Map::new();
    if let Some(t) = table_name {
        m.insert("tableName".into(), Json::String(t.to_string()));
    }
    if let Some(t) = table_name_snake {
        m.insert("table_name".into(), Json::String(t.to_string()));
    }
    if let Some(c) = component {
        m.insert("component".into(), Json::String(c.to_string()));
    }
    m
}
