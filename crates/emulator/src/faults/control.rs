//! The fault routes of the control plane (table in [`crate::control`]): `POST /_emulator/faults`,
//! `POST /_emulator/faults/clear`, `GET /_emulator/faults`.
//!
//! Bodies are validated field by field so a 400 names the offending field, e.g.
//! `rules[1].fault.kind: unknown variant "nope", …`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json, json};

use super::{Fault, FaultRule};
use crate::{Emulator, lock};

/// A fault as JSON: `{"kind": "...", ...}`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum FaultJson {
    Error {
        status: u16,
        code: String,
        message: String,
    },
    SnapshotTooOld,
    SnapshotTooNew,
    InvalidWindow,
    DataSyncCursorExpired,
    InvalidDataSyncCursor,
    InvalidListSnapshotCursor,
    BadFormat,
    BadAdminKey,
    BadDeployKey,
    OperationNotPermitted,
    StreamingExportNotEnabled,
    InternalServerError,
    TableSummariesUnavailable,
    RateLimited {
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    BadGateway,
    GatewayTimeout,
    RequestTimeout,
    Hang,
    ResetMidBody,
    TruncatedBody,
    NonJsonBody,
    Slow {
        ms: u64,
    },
}

fn one() -> u64 {
    1
}

impl From<FaultJson> for Fault {
    fn from(f: FaultJson) -> Fault {
        match f {
            FaultJson::Error {
                status,
                code,
                message,
            } => Fault::Error {
                status,
                code,
                message,
            },
            FaultJson::SnapshotTooOld => Fault::snapshot_too_old(),
            FaultJson::SnapshotTooNew => Fault::snapshot_too_new(),
            FaultJson::InvalidWindow => Fault::invalid_window(),
            FaultJson::DataSyncCursorExpired => Fault::data_sync_cursor_expired(),
            FaultJson::InvalidDataSyncCursor => Fault::invalid_data_sync_cursor(),
            FaultJson::InvalidListSnapshotCursor => Fault::invalid_list_snapshot_cursor(),
            FaultJson::BadFormat => Fault::bad_format(),
            FaultJson::BadAdminKey => Fault::bad_admin_key(),
            FaultJson::BadDeployKey => Fault::bad_deploy_key(),
            FaultJson::OperationNotPermitted => Fault::operation_not_permitted(),
            FaultJson::StreamingExportNotEnabled => Fault::streaming_export_not_enabled(),
            FaultJson::InternalServerError => Fault::internal_server_error(),
            FaultJson::TableSummariesUnavailable => Fault::table_summaries_unavailable(),
            FaultJson::RateLimited { retry_after_secs } => Fault::RateLimited { retry_after_secs },
            FaultJson::BadGateway => Fault::BadGateway,
            FaultJson::GatewayTimeout => Fault::GatewayTimeout,
            FaultJson::RequestTimeout => Fault::RequestTimeout,
            FaultJson::Hang => Fault::Hang,
            FaultJson::ResetMidBody => Fault::ResetMidBody,
            FaultJson::TruncatedBody => Fault::TruncatedBody,
            FaultJson::NonJsonBody => Fault::NonJsonBody,
            FaultJson::Slow { ms } => Fault::Slow { ms },
        }
    }
}

/// A validated `POST /_emulator/faults` body.
#[derive(Debug, PartialEq)]
struct FaultsRequest {
    seed: Option<u64>,
    latency_ms: Option<u64>,
    rules: Vec<FaultRule>,
}

/// Takes `key` out of `obj` and deserializes it; the error names `path`.
fn take<T: DeserializeOwned>(
    obj: &mut Map<String, Json>,
    key: &str,
    path: &str,
) -> Result<Option<T>, String> {
    match obj.remove(key) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| format!("{path}: {e}")),
    }
}

/// Fails on keys left in `obj` after every known one was taken.
fn no_leftovers(obj: &Map<String, Json>, prefix: &str) -> Result<(), String> {
    match obj.keys().next() {
        Some(key) => Err(format!("{prefix}{key}: unknown field")),
        None => Ok(()),
    }
}

fn object(value: Json, path: &str) -> Result<Map<String, Json>, String> {
    match value {
        Json::Object(m) => Ok(m),
        _ => Err(format!("{path}: expected an object")),
    }
}

fn parse_rule(value: Json, at: &str) -> Result<FaultRule, String> {
    let mut obj = object(value, at)?;
    let fault_json: FaultJson =
        take(&mut obj, "fault", &format!("{at}.fault"))?.ok_or(format!("{at}.fault: missing"))?;
    let fault = Fault::from(fault_json);
    if let Fault::Error { status, .. } = &fault
        && !(100..=599).contains(status)
    {
        return Err(format!("{at}.fault.status: {status} is not an HTTP status"));
    }
    let endpoint: Option<String> = take(&mut obj, "endpoint", &format!("{at}.endpoint"))?;
    if let Some(e) = &endpoint
        && !e.starts_with("/api/")
    {
        return Err(format!("{at}.endpoint: {e:?} is not a path under /api/"));
    }
    let probability: Option<f64> = take(&mut obj, "probability", &format!("{at}.probability"))?;
    if let Some(p) = probability
        && !(0.0..=1.0).contains(&p)
    {
        return Err(format!("{at}.probability: {p} is not between 0 and 1"));
    }
    let rule = FaultRule {
        endpoint,
        fault,
        times: take(&mut obj, "times", &format!("{at}.times"))?,
        probability,
        after: take(&mut obj, "after", &format!("{at}.after"))?.unwrap_or(0),
    };
    no_leftovers(&obj, &format!("{at}."))?;
    Ok(rule)
}

fn parse(body: &[u8]) -> Result<FaultsRequest, String> {
    let value: Json = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    let mut obj = object(value, "body")?;
    let seed = take(&mut obj, "seed", "seed")?;
    let latency_ms = take(&mut obj, "latency_ms", "latency_ms")?;
    let rules_json: Vec<Json> = take(&mut obj, "rules", "rules")?.unwrap_or_default();
    no_leftovers(&obj, "")?;
    let rules = rules_json
        .into_iter()
        .enumerate()
        .map(|(i, r)| parse_rule(r, &format!("rules[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(FaultsRequest {
        seed,
        latency_ms,
        rules,
    })
}

fn summary(em: &Emulator) -> Json {
    let state = lock(&em.shared.faults);
    let fired: Vec<Json> = state
        .fired
        .iter()
        .map(|(path, fault)| json!({"path": path, "fault": fault}))
        .collect();
    json!({
        "rules": state.active_rules(),
        "latency_ms": u64::try_from(state.latency.as_millis()).unwrap_or(u64::MAX),
        "fired": fired,
    })
}

/// `POST /_emulator/faults`: seed, latency, then the rules appended (all or nothing).
pub(crate) async fn set(State(em): State<Emulator>, body: Bytes) -> Response {
    match parse(&body) {
        Ok(req) => {
            if let Some(seed) = req.seed {
                em.set_fault_seed(seed);
            }
            if let Some(ms) = req.latency_ms {
                em.set_latency(Duration::from_millis(ms));
            }
            em.inject_all(req.rules);
            (StatusCode::OK, axum::Json(summary(&em))).into_response()
        }
        Err(message) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": message })),
        )
            .into_response(),
    }
}

/// `POST /_emulator/faults/clear`.
pub(crate) async fn clear(State(em): State<Emulator>) -> Response {
    em.clear_faults();
    (StatusCode::OK, axum::Json(summary(&em))).into_response()
}

/// `GET /_emulator/faults`: active rule count, latency and the fired log.
pub(crate) async fn fired(State(em): State<Emulator>) -> Response {
    (StatusCode::OK, axum::Json(summary(&em))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_every_shape() {
        let req = parse(
            br#"{"seed":3,"latency_ms":5,"rules":[
                {"endpoint":"/api/list_snapshot","fault":{"kind":"rate_limited","retry_after_secs":2},"times":1},
                {"fault":{"kind":"error","status":400,"code":"X","message":"m"},"probability":0.5,"after":2},
                {"fault":{"kind":"snapshot_too_old"}},
                {"fault":{"kind":"slow","ms":10}}]}"#,
        )
        .unwrap();
        assert_eq!(req.seed, Some(3));
        assert_eq!(req.latency_ms, Some(5));
        assert_eq!(
            req.rules,
            vec![
                FaultRule::on(
                    "/api/list_snapshot",
                    Fault::RateLimited {
                        retry_after_secs: 2
                    }
                )
                .times(1),
                FaultRule::random(0.5, Fault::error(400, "X", "m")).after(2),
                FaultRule::always(Fault::snapshot_too_old()),
                FaultRule::always(Fault::Slow { ms: 10 }),
            ]
        );
        assert_eq!(parse(b"{}").unwrap().rules, vec![]);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err("nope").starts_with("body:"));
        assert!(err("[]").starts_with("body:"));
        assert!(err(r#"{"seed":"x"}"#).starts_with("seed:"));
        assert!(err(r#"{"latency_ms":-1}"#).starts_with("latency_ms:"));
        assert!(err(r#"{"bogus":1}"#).starts_with("bogus:"));
        assert!(err(r#"{"rules":{}}"#).starts_with("rules:"));
        assert!(err(r#"{"rules":[{}]}"#).starts_with("rules[0].fault:"));
        let e = err(r#"{"rules":[{"fault":{"kind":"hang"}},{"fault":{"kind":"nope"}}]}"#);
        assert!(
            e.starts_with("rules[1].fault:") && e.contains("nope"),
            "{e}"
        );
        let e = err(r#"{"rules":[{"fault":{"kind":"slow"}}]}"#);
        assert!(e.starts_with("rules[0].fault:") && e.contains("ms"), "{e}");
        let e = err(r#"{"rules":[{"fault":{"kind":"hang"},"probability":2}]}"#);
        assert!(e.starts_with("rules[0].probability:"), "{e}");
        let e = err(r#"{"rules":[{"fault":{"kind":"hang"},"endpoint":"/_emulator/state"}]}"#);
        assert!(e.starts_with("rules[0].endpoint:"), "{e}");
        let e =
            err(r#"{"rules":[{"fault":{"kind":"error","status":99,"code":"X","message":""}}]}"#);
        assert!(e.starts_with("rules[0].fault.status:"), "{e}");
        let e = err(r#"{"rules":[{"fault":{"kind":"hang"},"times":-1}]}"#);
        assert!(e.starts_with("rules[0].times:"), "{e}");
        let e = err(r#"{"rules":[{"fault":{"kind":"hang"},"tims":1}]}"#);
        assert!(e.starts_with("rules[0].tims:"), "{e}");
    }
}
