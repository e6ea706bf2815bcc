//! `GET /api/json_schemas` (spec §9), `GET /api/test_streaming_export_connection` (§10) and
//! `GET /api/get_table_column_names` (§11).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use spillway_convex_protocol::wire::{TableColumnNames, TableColumns};

use super::{get_prelude, parse_format, respond};
use crate::schema::{Shape, table_schema};
use crate::{Shared, lock};

#[derive(Deserialize)]
struct SchemaQuery {
    #[serde(rename = "deltaSchema")]
    delta_schema: Option<bool>,
    #[serde(rename = "byComponent")]
    by_component: Option<bool>,
    format: Option<String>,
}

/// Query of routes without parameters (unknown keys are ignored).
#[derive(Deserialize)]
struct NoQuery {}

/// Merged shapes of every live exported table at the current ts: component → table → shape.
fn table_shapes(shared: &Shared) -> BTreeMap<String, BTreeMap<String, Shape>> {
    let mut store = lock(&shared.store);
    let mut out: BTreeMap<String, BTreeMap<String, Shape>> = BTreeMap::new();
    for tablet in store.live_user_tablets_mut() {
        let shape = tablet.live_shape();
        out.entry(tablet.component.clone())
            .or_default()
            .insert(tablet.table.clone(), shape);
    }
    out
}

pub(super) async fn json_schemas(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        let q: SchemaQuery = get_prelude(&shared, &headers, raw.as_deref())?;
        let format = parse_format(q.format.as_deref())?;
        let delta = q.delta_schema.unwrap_or(false);
        let shapes = table_shapes(&shared);
        let mut top = Map::new();
        for (component, tables) in shapes {
            let mut per = Map::new();
            for (table, shape) in tables {
                per.insert(table.clone(), table_schema(&table, &shape, format, delta));
            }
            if q.by_component.unwrap_or(false) {
                top.insert(component, Json::Object(per));
            } else {
                // Later components overwrite same-named tables (spec §9.2).
                top.extend(per);
            }
        }
        Ok(Json::Object(top).to_string())
    })())
}

pub(super) async fn test_connection(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    respond(get_prelude::<NoQuery>(&shared, &headers, raw.as_deref()).map(|_| "null".to_string()))
}

pub(super) async fn column_names(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    respond((|| {
        get_prelude::<NoQuery>(&shared, &headers, raw.as_deref())?;
        let by_component = table_shapes(&shared)
            .into_iter()
            .map(|(component, tables)| {
                let list = tables
                    .into_iter()
                    .map(|(name, shape)| {
                        let mut columns = shape.field_names();
                        columns.push("_creationTime".into());
                        columns.push("_id".into());
                        columns.sort();
                        TableColumns { name, columns }
                    })
                    .collect();
                (component, list)
            })
            .collect();
        Ok(serde_json::to_string(&TableColumnNames { by_component }).unwrap_or_default())
    })())
}
