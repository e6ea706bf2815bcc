//! Fault injection (spec §18.5): rules that make `/api/*` requests fail the way a real
//! deployment or the cloud proxy in front of it can — §3 errors, 429, 502/504 pages, 408,
//! hangs, resets mid-body, truncated or non-JSON bodies, slowness.
//!
//! Rules are checked in insertion order for every `/api/*` request (never `/_emulator/*`); the
//! first one that fires decides the response. Probabilities are drawn from a seeded generator,
//! so a given seed and request order always fire the same faults.
//!
//! ```no_run
//! use spillway_emulator::{Emulator, EmulatorConfig, Fault, FaultRule};
//! let emulator = Emulator::new(EmulatorConfig::default());
//! // The third list_snapshot page fails once with SnapshotTooOld.
//! emulator.inject(
//!     FaultRule::on("/api/list_snapshot", Fault::snapshot_too_old())
//!         .after(2)
//!         .times(1),
//! );
//! // 20% of all requests hit a random transient fault.
//! emulator.set_fault_seed(7);
//! emulator.inject_all(FaultRule::transient_mix(0.2));
//! ```

pub(crate) mod control;
mod respond;
mod state;

use std::time::Duration;

use spillway_convex_protocol::data_sync::codes as ds_codes;
use spillway_convex_protocol::wire::codes;

pub(crate) use respond::respond;
pub(crate) use state::FaultState;

use crate::errors::{
    BAD_ADMIN_KEY_MESSAGE, INTERNAL_MESSAGE, OPERATION_NOT_PERMITTED_MESSAGE,
    STREAMING_EXPORT_NOT_ENABLED_MESSAGE,
};
use crate::{Emulator, lock};

/// How long [`Fault::Hang`] holds a request: far past any client timeout.
pub(crate) const HANG: Duration = Duration::from_secs(3600);

/// What an injected fault does to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A spec §3 error with its exact status/code/message; the constructors below build the
    /// catalogue ones. The body is the `{"code","message"}` envelope.
    Error {
        /// HTTP status (100–599; anything else is sent as 500).
        status: u16,
        /// The envelope's `code`, e.g. `SnapshotTooOld`.
        code: String,
        /// The envelope's `message`.
        message: String,
    },
    /// 429 with `Retry-After: <secs>` and a JSON envelope with code `RateLimited`.
    RateLimited {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// 502 with a cloud proxy's HTML page.
    BadGateway,
    /// 504 with a cloud proxy's HTML page.
    GatewayTimeout,
    /// 408 with an empty body (the server's own request timeout, spec §2.3).
    RequestTimeout,
    /// Never answer (an hour; released early by [`Emulator::clear_faults`]); the client's
    /// timeout ends the request.
    Hang,
    /// The real response's status line and headers, with `Content-Length` of the full body,
    /// then the first half of the body, then the connection is dropped.
    ResetMidBody,
    /// The real response (status and headers) with only the first half of its body and a
    /// matching `Content-Length`: a complete message carrying truncated JSON.
    TruncatedBody,
    /// 200 with an HTML maintenance page instead of JSON.
    NonJsonBody,
    /// The real response, delayed.
    Slow {
        /// Delay in milliseconds.
        ms: u64,
    },
}

impl Fault {
    /// A §3 error envelope with any status, code and message.
    pub fn error(status: u16, code: impl Into<String>, message: impl Into<String>) -> Fault {
        Fault::Error {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400 `SnapshotTooOld`: the list_snapshot `snapshot` is past `LIST_SNAPSHOT_MAX_AGE_SECS`.
    pub fn snapshot_too_old() -> Fault {
        Fault::error(
            400,
            codes::SNAPSHOT_TOO_OLD,
            "Snapshot value is too far in the past. Restart the snapshot without a snapshot or \
             cursor.",
        )
    }

    /// 400 `SnapshotTooNew`: the list_snapshot `snapshot` is later than the read ts.
    pub fn snapshot_too_new() -> Fault {
        Fault::error(
            400,
            codes::SNAPSHOT_TOO_NEW,
            "Snapshot value is in the future.",
        )
    }

    /// 400 `InvalidWindowToReadDocuments`: the document_deltas cursor is out of retention.
    pub fn invalid_window() -> Fault {
        Fault::error(
            400,
            codes::INVALID_WINDOW,
            "Trying to read documents at a timestamp older than the earliest retained \
             timestamp. The sync has fallen outside the document retention window; trigger a \
             full resync (Fivetran: \"Re-sync all historical data\"; Airbyte: \"Reset your \
             data\").",
        )
    }

    /// 400 `DataSyncCursorExpired`: a data-sync cursor is out of retention.
    pub fn data_sync_cursor_expired() -> Fault {
        Fault::error(
            400,
            ds_codes::DATA_SYNC_CURSOR_EXPIRED,
            "The data sync cursor is outside the data retention window. Restart the sync \
             without a cursor.",
        )
    }

    /// 400 `InvalidDataSyncCursor`: a data-sync cursor that does not decode.
    pub fn invalid_data_sync_cursor() -> Fault {
        Fault::error(
            400,
            ds_codes::INVALID_DATA_SYNC_CURSOR,
            "Invalid data sync cursor.",
        )
    }

    /// 400 `InvalidListSnapshotCursor`: a list_snapshot cursor not of the §7.3 form.
    pub fn invalid_list_snapshot_cursor() -> Fault {
        Fault::error(
            400,
            codes::INVALID_LIST_SNAPSHOT_CURSOR,
            "Invalid list_snapshot cursor.",
        )
    }

    /// 400 `BadFormat`: an unknown `format` (with the backend's misleading message).
    pub fn bad_format() -> Fault {
        Fault::error(
            400,
            codes::BAD_FORMAT,
            "format param must be one of [`json`]. Got unknown",
        )
    }

    /// 401 `BadAdminKey`: the key is not valid for this deployment.
    pub fn bad_admin_key() -> Fault {
        Fault::error(401, codes::BAD_ADMIN_KEY, BAD_ADMIN_KEY_MESSAGE)
    }

    /// 403 `BadDeployKey`: no key, or an end-user token.
    pub fn bad_deploy_key() -> Fault {
        Fault::error(
            403,
            codes::BAD_DEPLOY_KEY,
            "The provided deploy key was invalid for this deployment. Double check that the \
             environment this key was generated for matches the desired deployment.",
        )
    }

    /// 403 `OperationNotPermitted`: the key lacks `deployment:data:view`.
    pub fn operation_not_permitted() -> Fault {
        Fault::error(
            403,
            codes::OPERATION_NOT_PERMITTED,
            OPERATION_NOT_PERMITTED_MESSAGE,
        )
    }

    /// 403 `StreamingExportNotEnabled`: the plan lacks streaming export.
    pub fn streaming_export_not_enabled() -> Fault {
        Fault::error(
            403,
            codes::STREAMING_EXPORT_NOT_ENABLED,
            STREAMING_EXPORT_NOT_ENABLED_MESSAGE,
        )
    }

    /// 500 `InternalServerError` with the fixed message of an error without metadata.
    pub fn internal_server_error() -> Fault {
        Fault::error(500, codes::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE)
    }

    /// 503 `TableSummariesUnavailable`: shape summaries still bootstrapping (retryable).
    pub fn table_summaries_unavailable() -> Fault {
        Fault::error(
            503,
            codes::TABLE_SUMMARIES_UNAVAILABLE,
            "Table summaries are still being computed. Try again later.",
        )
    }

    /// The transient faults a client should retry through, one of each: 429, 502, 503
    /// `TableSummariesUnavailable`, 504, 408, 500, reset mid-body, truncated body, non-JSON
    /// body and a 100 ms delay. [`Fault::Hang`] is left out (it costs a client timeout).
    pub fn transient() -> Vec<Fault> {
        vec![
            Fault::RateLimited {
                retry_after_secs: 1,
            },
            Fault::BadGateway,
            Fault::table_summaries_unavailable(),
            Fault::GatewayTimeout,
            Fault::RequestTimeout,
            Fault::internal_server_error(),
            Fault::ResetMidBody,
            Fault::TruncatedBody,
            Fault::NonJsonBody,
            Fault::Slow { ms: 100 },
        ]
    }

    /// The name recorded in [`Emulator::faults_fired`] and the request log: the `code` for
    /// [`Fault::Error`] (e.g. `SnapshotTooOld`), otherwise the variant in snake case
    /// (`rate_limited`, `bad_gateway`, `gateway_timeout`, `request_timeout`, `hang`,
    /// `reset_mid_body`, `truncated_body`, `non_json_body`, `slow`).
    pub fn name(&self) -> String {
        match self {
            Fault::Error { code, .. } => code.clone(),
            Fault::RateLimited { .. } => "rate_limited".into(),
            Fault::BadGateway => "bad_gateway".into(),
            Fault::GatewayTimeout => "gateway_timeout".into(),
            Fault::RequestTimeout => "request_timeout".into(),
            Fault::Hang => "hang".into(),
            Fault::ResetMidBody => "reset_mid_body".into(),
            Fault::TruncatedBody => "truncated_body".into(),
            Fault::NonJsonBody => "non_json_body".into(),
            Fault::Slow { .. } => "slow".into(),
        }
    }
}

/// When a [`Fault`] applies.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    /// Only requests whose path equals this (e.g. `/api/list_snapshot`); `None` = every
    /// `/api/` route.
    pub endpoint: Option<String>,
    /// What happens to a request the rule fires on.
    pub fault: Fault,
    /// Fire on at most this many requests, then the rule is spent; `None` = unlimited.
    pub times: Option<u32>,
    /// Fire with this probability per matching request (seeded, see
    /// [`Emulator::set_fault_seed`]); `None` = always.
    pub probability: Option<f64>,
    /// Let the first `after` matching requests through before firing (to hit a given page).
    /// Every matching request counts, including those an earlier rule faulted.
    pub after: u32,
}

impl FaultRule {
    /// `fault` on every `/api/` request, forever.
    pub fn always(fault: Fault) -> FaultRule {
        FaultRule {
            endpoint: None,
            fault,
            times: None,
            probability: None,
            after: 0,
        }
    }

    /// `fault` on the next `n` `/api/` requests.
    pub fn next(n: u32, fault: Fault) -> FaultRule {
        FaultRule::always(fault).times(n)
    }

    /// `fault` on every request to `endpoint` (e.g. `/api/document_deltas`).
    pub fn on(endpoint: impl Into<String>, fault: Fault) -> FaultRule {
        FaultRule::always(fault).on_endpoint(endpoint)
    }

    /// `fault` on each `/api/` request with probability `p`.
    pub fn random(p: f64, fault: Fault) -> FaultRule {
        FaultRule::always(fault).with_probability(p)
    }

    /// Restricts the rule to requests whose path is `endpoint`.
    pub fn on_endpoint(mut self, endpoint: impl Into<String>) -> FaultRule {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Spends the rule after it fired `n` times.
    pub fn times(mut self, n: u32) -> FaultRule {
        self.times = Some(n);
        self
    }

    /// Lets the first `n` matching requests through.
    pub fn after(mut self, n: u32) -> FaultRule {
        self.after = n;
        self
    }

    /// Fires with probability `p` per matching request.
    pub fn with_probability(mut self, p: f64) -> FaultRule {
        self.probability = Some(p);
        self
    }

    /// Rules under which each `/api/` request hits one of [`Fault::transient`] with total
    /// probability `p` (clamped to 0–1), each kind equally likely. Chain
    /// [`FaultRule::on_endpoint`] over the items to restrict them.
    pub fn transient_mix(p: f64) -> Vec<FaultRule> {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let faults = Fault::transient();
        let share = p / faults.len() as f64;
        faults
            .into_iter()
            .enumerate()
            .map(|(i, fault)| {
                // Rule i is reached only when rules 0..i did not fire (probability
                // 1 - i·share), so this conditional probability gives it `share` overall.
                let reached = 1.0 - i as f64 * share;
                let q = if reached > 0.0 {
                    (share / reached).min(1.0)
                } else {
                    1.0
                };
                FaultRule::random(q, fault)
            })
            .collect()
    }
}

impl Emulator {
    /// Adds a fault rule after the existing ones (the first rule that fires wins).
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.shared.faults).push(rule);
    }

    /// Adds several rules in order (e.g. [`FaultRule::transient_mix`]).
    pub fn inject_all(&self, rules: impl IntoIterator<Item = FaultRule>) {
        let mut faults = lock(&self.shared.faults);
        for rule in rules {
            faults.push(rule);
        }
    }

    /// Restarts the generator behind [`FaultRule::probability`] from `seed` (by default it
    /// starts from [`crate::EmulatorConfig::seed`]).
    pub fn set_fault_seed(&self, seed: u64) {
        lock(&self.shared.faults).reseed(seed);
    }

    /// Removes every rule, resets the latency to zero and releases hanging requests (which then
    /// get their real response). The log of [`Emulator::faults_fired`] is kept.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        self.shared.hang_release.notify_waiters();
    }

    /// Delays every `/api/` response by `latency` (a slow server); zero by default.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.faults).latency = latency;
    }

    /// `(path, fault name)` of every injected fault, oldest first (names: [`Fault::name`]).
    pub fn faults_fired(&self) -> Vec<(String, String)> {
        lock(&self.shared.faults).fired.clone()
    }

    /// Empties the log of [`Emulator::faults_fired`].
    pub fn clear_faults_fired(&self) {
        lock(&self.shared.faults).fired.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_mix_splits_the_probability_evenly() {
        let rules = FaultRule::transient_mix(0.5);
        let mut reach = 1.0;
        for rule in &rules {
            let q = rule.probability.unwrap();
            assert!((reach * q - 0.05).abs() < 1e-12);
            reach *= 1.0 - q;
        }
        assert!((reach - 0.5).abs() < 1e-12);
        assert!(!rules.iter().any(|r| r.fault == Fault::Hang));
        assert!(
            FaultRule::transient_mix(1.0)
                .iter()
                .all(|r| r.probability.unwrap() <= 1.0)
        );
    }
}
