//! The test control plane under `/_emulator/` (never under `/api/`, no auth).
//!
//! | Route | Body | Effect |
//! |---|---|---|
//! | `POST /_emulator/transaction` | `{"mutations":[{"op":"insert","component":"","table":"t","value":{…}}, {"op":"update","id":…,"value":{…}}, {"op":"delete","id":…}]}` | one transaction; values in `export_json` → `{"ts","ids"}` |
//! | `POST /_emulator/advance_clock` | `{"ns":N}` | read ts moves without writes |
//! | `POST /_emulator/seed` | `{"documents":N}` | sample data |
//! | `POST /_emulator/limits` | `{"snapshot":N,"deltas":N}` | page limits |
//! | `POST /_emulator/expire` | `{"before_ts":N}` | retention floors |
//! | `POST /_emulator/drop_table` | `{"component":"","table":"x"}` | drop without tombstones |
//! | `POST /_emulator/system_writes` | `{"rows":N}` | hidden system-table writes |
//! | `POST /_emulator/streaming_export` | `{"enabled":bool}` | plan gate |
//! | `POST /_emulator/data_sync` | `{"enabled":bool?,"entries":N?,"bytes":N?,"rows_read":N?,"freshness_ns":N?}` | data sync routes on/off (off → 404) and knobs; omitted keys unchanged → the settings in force |
//! | `GET /_emulator/requests`, `POST /_emulator/requests/clear` | | request log |
//! | `GET /_emulator/state` | | current ts, tables with counts |
//! | `POST /_emulator/faults` | `{"seed":N?,"latency_ms":N?,"rules":[{"endpoint":"/api/list_snapshot"?,"fault":F,"times":N?,"probability":p?,"after":N?}]}` | sets the seed / latency, appends rules → `{"rules","latency_ms","fired"}`; 400 `{"error"}` naming the bad field |
//! | `POST /_emulator/faults/clear` | | removes rules and latency, releases hangs |
//! | `GET /_emulator/faults` | | `{"rules":active,"latency_ms","fired":[{"path","fault"}]}` |
//!
//! A fault `F` is `{"kind":K}` with `K` one of `snapshot_too_old`, `snapshot_too_new`,
//! `invalid_window`, `data_sync_cursor_expired`, `invalid_data_sync_cursor`,
//! `invalid_list_snapshot_cursor`, `bad_format`, `bad_admin_key`, `bad_deploy_key`,
//! `operation_not_permitted`, `streaming_export_not_enabled`, `internal_server_error`,
//! `table_summaries_unavailable`, `bad_gateway`, `gateway_timeout`, `request_timeout`, `hang`,
//! `reset_mid_body`, `truncated_body`, `non_json_body`; or `{"kind":"error","status":400,
//! "code":"…","message":"…"}`, `{"kind":"rate_limited","retry_after_secs":N?}` (default 1),
//! `{"kind":"slow","ms":N}` (see [`crate::Fault`]).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value as JsonValue, json};
use spillway_convex_protocol::Value;
use spillway_convex_protocol::value::Format;

use crate::errors::EmulatorError;
use crate::faults::control as faults;
use crate::{Emulator, Mutation, lock};

/// Control-plane routes.
pub(crate) fn router(emulator: Emulator) -> Router {
    Router::new()
        .route("/_emulator/transaction", post(transaction))
        .route("/_emulator/advance_clock", post(advance_clock))
        .route("/_emulator/seed", post(seed))
        .route("/_emulator/limits", post(limits))
        .route("/_emulator/expire", post(expire))
        .route("/_emulator/drop_table", post(drop_table))
        .route("/_emulator/system_writes", post(system_writes))
        .route("/_emulator/streaming_export", post(streaming_export))
        .route("/_emulator/data_sync", post(data_sync))
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/requests/clear", post(clear_requests))
        .route("/_emulator/state", get(state))
        .route("/_emulator/faults", post(faults::set).get(faults::fired))
        .route("/_emulator/faults/clear", post(faults::clear))
        .with_state(emulator)
}

fn error(e: EmulatorError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": e.to_string()})),
    )
        .into_response()
}

fn ok(v: JsonValue) -> Response {
    (StatusCode::OK, Json(v)).into_response()
}

#[derive(Deserialize)]
struct TxBody {
    mutations: Vec<TxOp>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum TxOp {
    Insert {
        #[serde(default)]
        component: String,
        table: String,
        value: JsonValue,
    },
    Update {
        id: String,
        value: JsonValue,
    },
    Delete {
        id: String,
    },
}

fn fields(value: &JsonValue) -> Result<BTreeMap<String, Value>, EmulatorError> {
    match Value::from_json(value, Format::ExportJson) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(EmulatorError::BadRequest(format!(
            "`value` must be an object, got {}",
            other.type_name()
        ))),
        Err(e) => Err(EmulatorError::BadRequest(e.to_string())),
    }
}

async fn transaction(State(em): State<Emulator>, Json(body): Json<TxBody>) -> Response {
    let tx: Result<Vec<Mutation>, EmulatorError> = body
        .mutations
        .into_iter()
        .map(|op| {
            Ok(match op {
                TxOp::Insert {
                    component,
                    table,
                    value,
                } => Mutation::Insert {
                    component,
                    table,
                    fields: fields(&value)?,
                },
                TxOp::Update { id, value } => Mutation::Update {
                    id,
                    fields: fields(&value)?,
                },
                TxOp::Delete { id } => Mutation::Delete { id },
            })
        })
        .collect();
    match tx.and_then(|tx| em.apply(tx)) {
        Ok(applied) => ok(json!({"ts": applied.ts, "ids": applied.ids})),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct Ns {
    ns: i64,
}

async fn advance_clock(State(em): State<Emulator>, Json(b): Json<Ns>) -> Response {
    em.advance_clock(b.ns);
    ok(json!({"ts": em.current_ts()}))
}

#[derive(Deserialize)]
struct Seed {
    documents: usize,
}

async fn seed(State(em): State<Emulator>, Json(b): Json<Seed>) -> Response {
    match em.seed_sample(b.documents) {
        Ok(()) => ok(json!({"ts": em.current_ts()})),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct Limits {
    snapshot: Option<usize>,
    deltas: Option<usize>,
}

async fn limits(State(em): State<Emulator>, Json(b): Json<Limits>) -> Response {
    let current = em.config();
    em.set_limits(
        b.snapshot.unwrap_or(current.snapshot_page_limit),
        b.deltas.unwrap_or(current.deltas_page_limit),
    );
    let c = em.config();
    ok(json!({"snapshot": c.snapshot_page_limit, "deltas": c.deltas_page_limit}))
}

#[derive(Deserialize)]
struct Expire {
    before_ts: i64,
}

async fn expire(State(em): State<Emulator>, Json(b): Json<Expire>) -> Response {
    em.expire_before(b.before_ts);
    ok(json!({"before_ts": b.before_ts}))
}

#[derive(Deserialize)]
struct TableRef {
    #[serde(default)]
    component: String,
    table: String,
}

async fn drop_table(State(em): State<Emulator>, Json(b): Json<TableRef>) -> Response {
    match em.drop_table(&b.component, &b.table) {
        Ok(ts) => ok(json!({"ts": ts})),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct Rows {
    rows: usize,
}

async fn system_writes(State(em): State<Emulator>, Json(b): Json<Rows>) -> Response {
    ok(json!({"ts": em.write_system_rows(b.rows)}))
}

#[derive(Deserialize)]
struct Enabled {
    enabled: bool,
}

async fn streaming_export(State(em): State<Emulator>, Json(b): Json<Enabled>) -> Response {
    em.set_streaming_export_enabled(b.enabled);
    ok(json!({"enabled": b.enabled}))
}

#[derive(Deserialize)]
struct DataSyncSettings {
    enabled: Option<bool>,
    entries: Option<usize>,
    bytes: Option<usize>,
    rows_read: Option<usize>,
    freshness_ns: Option<i64>,
}

async fn data_sync(State(em): State<Emulator>, Json(b): Json<DataSyncSettings>) -> Response {
    let c = em.config();
    if let Some(on) = b.enabled {
        em.set_data_sync_enabled(on);
    }
    em.set_data_sync_limits(
        b.entries.unwrap_or(c.data_sync_page_entries),
        b.bytes.unwrap_or(c.data_sync_page_bytes),
        b.rows_read.unwrap_or(c.data_sync_max_rows_read),
    );
    if let Some(ns) = b.freshness_ns {
        em.set_data_sync_freshness(ns);
    }
    let c = em.config();
    ok(json!({
        "enabled": c.data_sync_enabled,
        "entries": c.data_sync_page_entries,
        "bytes": c.data_sync_page_bytes,
        "rows_read": c.data_sync_max_rows_read,
        "freshness_ns": c.data_sync_by_id_freshness_ns,
    }))
}

async fn requests(State(em): State<Emulator>) -> Response {
    ok(serde_json::to_value(em.requests()).unwrap_or(JsonValue::Null))
}

async fn clear_requests(State(em): State<Emulator>) -> Response {
    em.clear_requests();
    ok(json!({}))
}

async fn state(State(em): State<Emulator>) -> Response {
    let store = lock(&em.shared.store);
    let now = store.current_ts();
    let tables: Vec<JsonValue> = store
        .live_user_tablets()
        .map(|t| {
            json!({
                "component": t.component,
                "table": t.table,
                "count": t.docs_at(now).count(),
                "tablet": crate::store::tablet_id_string(&t.id),
                "tableNumber": t.number,
            })
        })
        .collect();
    ok(json!({"ts": now, "tables": tables, "logRows": store.log.len()}))
}
