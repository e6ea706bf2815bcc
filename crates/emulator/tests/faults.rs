//! Fault injection (spec §18.5) observed by a real HTTP client over 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{ADMIN, emulator, fill};
use reqwest::{Client, RequestBuilder, header};
use serde_json::{Value as Json, json};
use spillway_emulator::{Emulator, Fault, FaultRule, ServerHandle};

const LS: &str = "/api/list_snapshot";
const TEST_CONNECTION: &str = "/api/test_streaming_export_connection";
const CLIENT: &str = "spillway-0.1.0";

struct Deployment {
    em: Emulator,
    server: ServerHandle,
    http: Client,
}

impl Deployment {
    /// An emulator with 40 documents, served on a free port.
    async fn start() -> Deployment {
        let em = emulator();
        fill(&em, "", "users", 40);
        let server = em
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let http = Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Deployment { em, server, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// An authenticated GET of `path` (with query).
    fn get(&self, path: &str) -> RequestBuilder {
        self.http
            .get(self.url(path))
            .header(header::AUTHORIZATION, format!("Convex {ADMIN}"))
            .header("convex-client", CLIENT)
    }

    /// Status and body text of an authenticated GET.
    async fn fetch(&self, path: &str) -> (u16, String) {
        let resp = self.get(path).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// POSTs JSON to the control plane.
    async fn control(&self, path: &str, body: &str) -> (u16, Json) {
        let resp = self
            .http
            .post(self.url(path))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }
}

fn fired(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(p, f)| (p.to_string(), f.to_string()))
        .collect()
}

#[tokio::test]
async fn catalogue_errors_have_their_exact_status_code_and_message() {
    let d = Deployment::start().await;
    let cases = [
        (Fault::snapshot_too_old(), 400, "SnapshotTooOld"),
        (Fault::snapshot_too_new(), 400, "SnapshotTooNew"),
        (Fault::invalid_window(), 400, "InvalidWindowToReadDocuments"),
        (
            Fault::data_sync_cursor_expired(),
            400,
            "DataSyncCursorExpired",
        ),
        (
            Fault::invalid_data_sync_cursor(),
            400,
            "InvalidDataSyncCursor",
        ),
        (
            Fault::invalid_list_snapshot_cursor(),
            400,
            "InvalidListSnapshotCursor",
        ),
        (Fault::bad_format(), 400, "BadFormat"),
        (Fault::bad_admin_key(), 401, "BadAdminKey"),
        (Fault::bad_deploy_key(), 403, "BadDeployKey"),
        (
            Fault::operation_not_permitted(),
            403,
            "OperationNotPermitted",
        ),
        (
            Fault::streaming_export_not_enabled(),
            403,
            "StreamingExportNotEnabled",
        ),
        (Fault::internal_server_error(), 500, "InternalServerError"),
        (
            Fault::table_summaries_unavailable(),
            503,
            "TableSummariesUnavailable",
        ),
        (
            Fault::error(418, "Teapot", "short and stout"),
            418,
            "Teapot",
        ),
    ];
    for (fault, status, code) in cases {
        let Fault::Error { message, .. } = &fault else {
            panic!("{fault:?} is not an error")
        };
        let message = message.clone();
        d.em.inject(FaultRule::next(1, fault));
        let resp = d.get(LS).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{code}");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body: Json = resp.json().await.unwrap();
        assert_eq!(body, json!({"code": code, "message": message}));
        assert_eq!(d.fetch(LS).await.0, 200, "{code}: the rule is spent");
    }

    // The injected auth/plan/500 errors say exactly what the real checks say.
    let real = |status: u16, body: String| (status, serde_json::from_str::<Json>(&body).unwrap());
    let injected = |f: Fault| match f {
        Fault::Error {
            status,
            code,
            message,
        } => (status, json!({"code": code, "message": message})),
        other => panic!("{other:?}"),
    };
    let resp = d
        .http
        .get(d.url(LS))
        .header(header::AUTHORIZATION, "Convex prod:happy-animal-123|wrong")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(
        real(status, resp.text().await.unwrap()),
        injected(Fault::bad_admin_key())
    );
    let (s, b) = d.fetch(&format!("{LS}?tableName=bad-name")).await;
    assert_eq!(real(s, b), injected(Fault::internal_server_error()));
    d.em.set_streaming_export_enabled(false);
    let (s, b) = d.fetch(LS).await;
    assert_eq!(real(s, b), injected(Fault::streaming_export_not_enabled()));
}

#[tokio::test]
async fn proxy_style_faults() {
    let d = Deployment::start().await;
    d.em.inject(FaultRule::next(
        1,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
    ));
    let resp = d.get(LS).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["code"], "RateLimited");

    for (fault, status, marker) in [
        (Fault::BadGateway, 502, "502 Bad Gateway"),
        (Fault::GatewayTimeout, 504, "504 Gateway Time-out"),
        (Fault::NonJsonBody, 200, "maintenance"),
    ] {
        d.em.inject(FaultRule::next(1, fault));
        let resp = d.get(LS).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status);
        assert!(
            resp.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let text = resp.text().await.unwrap();
        assert!(
            text.starts_with("<html>") && text.contains(marker),
            "{text}"
        );
        assert!(serde_json::from_str::<Json>(&text).is_err());
    }

    d.em.inject(FaultRule::next(1, Fault::RequestTimeout));
    let (status, body) = d.fetch(LS).await;
    assert_eq!((status, body.as_str()), (408, ""));
    assert_eq!(d.fetch(LS).await.0, 200);
}

#[tokio::test]
async fn reset_mid_body_fails_the_body_read() {
    let d = Deployment::start().await;
    let (_, full) = d.fetch(LS).await;
    assert!(full.len() > 1000);

    d.em.inject(FaultRule::next(1, Fault::ResetMidBody));
    let mut resp = d.get(LS).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(full.len() as u64));
    let mut received = Vec::new();
    let failure = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => panic!("the body read must fail"),
            Err(e) => break e,
        }
    };
    assert!(failure.is_body() || failure.is_decode(), "{failure}");
    assert_eq!(received, full.as_bytes()[..full.len() / 2]);

    // The server keeps serving, and the request is logged with its fault.
    assert_eq!(d.fetch(LS).await, (200, full));
    let log = d.em.requests();
    assert_eq!(log[1].fault.as_deref(), Some("reset_mid_body"));
    assert_eq!(log[1].status, 200);
}

#[tokio::test]
async fn truncated_body_is_complete_but_not_json() {
    let d = Deployment::start().await;
    let (_, full) = d.fetch(LS).await;
    d.em.inject(FaultRule::next(1, Fault::TruncatedBody));
    let resp = d.get(LS).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some((full.len() / 2) as u64));
    let text = resp.text().await.unwrap();
    assert_eq!(text, full[..full.len() / 2]);
    assert!(serde_json::from_str::<Json>(&text).is_err());
}

#[tokio::test]
async fn hang_times_out_the_client() {
    let d = Deployment::start().await;
    d.em.inject(FaultRule::on(TEST_CONNECTION, Fault::Hang).times(1));
    let impatient = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = impatient
        .get(d.url(TEST_CONNECTION))
        .header(header::AUTHORIZATION, format!("Convex {ADMIN}"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Logged without a response; other requests are served meanwhile.
    let log = d.em.requests();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].fault.as_deref(), log[0].status), (Some("hang"), 0));
    assert_eq!(d.fetch(TEST_CONNECTION).await, (200, "null".to_string()));
    assert_eq!(d.em.faults_fired(), fired(&[(TEST_CONNECTION, "hang")]));

    // clear_faults releases a hanging request, which then gets its real response.
    d.em.inject(FaultRule::next(1, Fault::Hang));
    let waiting = tokio::spawn(d.get(TEST_CONNECTION).send());
    while d.em.faults_fired().len() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    d.em.clear_faults();
    let resp = waiting.await.unwrap().unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // A request whose client gave up does not hold up shutdown.
    d.em.inject(FaultRule::next(1, Fault::Hang));
    let _ = impatient
        .get(d.url(TEST_CONNECTION))
        .send()
        .await
        .unwrap_err();
    tokio::time::timeout(Duration::from_secs(10), d.server.shutdown())
        .await
        .expect("shutdown waited for the hung request");
}

#[tokio::test]
async fn slow_and_latency_delay_api_responses_only() {
    let d = Deployment::start().await;
    let (_, full) = d.fetch(LS).await;
    d.em.inject(FaultRule::next(1, Fault::Slow { ms: 400 }));
    let started = Instant::now();
    assert_eq!(d.fetch(LS).await, (200, full.clone()));
    assert!(started.elapsed() >= Duration::from_millis(400));

    d.em.set_latency(Duration::from_millis(1500));
    let started = Instant::now();
    let resp = d.http.get(d.url("/_emulator/state")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_millis(1500));
    let started = Instant::now();
    assert_eq!(d.fetch(LS).await, (200, full));
    assert!(started.elapsed() >= Duration::from_millis(1500));

    d.em.set_latency(Duration::ZERO);
    let started = Instant::now();
    d.fetch(LS).await;
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn times_after_and_endpoint_pick_the_requests() {
    let d = Deployment::start().await;
    d.em.inject(FaultRule::on(LS, Fault::BadGateway).after(2).times(2));
    let mut statuses = Vec::new();
    for path in [LS, TEST_CONNECTION, LS, TEST_CONNECTION, LS, LS, LS] {
        statuses.push(d.fetch(path).await.0);
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 502, 502, 200]);
    assert_eq!(
        d.em.faults_fired(),
        fired(&[(LS, "bad_gateway"), (LS, "bad_gateway")])
    );
    let faults: Vec<Option<String>> = d.em.requests().into_iter().map(|r| r.fault).collect();
    let bg = Some("bad_gateway".to_string());
    assert_eq!(faults, vec![None, None, None, None, bg.clone(), bg, None]);

    // Rules are checked in order; the first that fires wins.
    d.em.clear_faults_fired();
    d.em.inject(FaultRule::next(1, Fault::RequestTimeout));
    d.em.inject(FaultRule::next(2, Fault::GatewayTimeout));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(d.fetch(LS).await.0);
    }
    assert_eq!(statuses, [408, 504, 504, 200]);
    assert_eq!(
        d.em.faults_fired(),
        fired(&[
            (LS, "request_timeout"),
            (LS, "gateway_timeout"),
            (LS, "gateway_timeout")
        ])
    );
}

/// Statuses of 30 requests under a 50% 502 rule with `seed`, and the fired log.
async fn random_run(seed: u64) -> (Vec<u16>, Vec<(String, String)>) {
    let d = Deployment::start().await;
    d.em.set_fault_seed(seed);
    d.em.inject(FaultRule::random(0.5, Fault::BadGateway));
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(d.fetch(TEST_CONNECTION).await.0);
    }
    (statuses, d.em.faults_fired())
}

#[tokio::test]
async fn probability_is_deterministic_for_a_seed() {
    let (a, fired_a) = random_run(11).await;
    let (b, fired_b) = random_run(11).await;
    let (c, _) = random_run(12).await;
    assert_eq!(a, b);
    assert_eq!(fired_a, fired_b);
    assert_ne!(a, c);
    let hits = a.iter().filter(|s| **s == 502).count();
    assert_eq!(hits, fired_a.len());
    assert!((5..=25).contains(&hits), "{hits} of 30");
}

#[tokio::test]
async fn transient_mix_picks_among_retryable_faults() {
    let d = Deployment::start().await;
    d.em.set_fault_seed(1);
    d.em.inject_all(FaultRule::transient_mix(1.0));
    for _ in 0..40 {
        // Some of these fail mid-body; only the log matters here.
        if let Ok(resp) = d.get(LS).send().await {
            let _ = resp.bytes().await;
        }
    }
    let names: std::collections::BTreeSet<String> =
        d.em.faults_fired().into_iter().map(|(_, f)| f).collect();
    assert_eq!(d.em.faults_fired().len(), 40, "every request faulted");
    assert!(names.len() >= 6, "{names:?}");
    assert!(!names.contains("hang"));
    let allowed: Vec<String> = Fault::transient().iter().map(Fault::name).collect();
    assert!(names.iter().all(|n| allowed.contains(n)), "{names:?}");

    d.em.clear_faults();
    assert_eq!(d.fetch(LS).await.0, 200);
}

#[tokio::test]
async fn control_plane_configures_faults() {
    let d = Deployment::start().await;
    let (status, summary) = d
        .control(
            "/_emulator/faults",
            r#"{"seed":5,"latency_ms":0,"rules":[
                {"endpoint":"/api/list_snapshot","fault":{"kind":"rate_limited","retry_after_secs":2},"times":1},
                {"endpoint":"/api/test_streaming_export_connection","fault":{"kind":"error","status":400,"code":"Custom","message":"injected"},"after":1,"times":1},
                {"endpoint":"/api/list_snapshot","fault":{"kind":"snapshot_too_old"},"times":1,"probability":1.0}
            ]}"#,
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["rules"], 3);

    let resp = d.get(LS).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
    let (status, body) = d.fetch(LS).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Json>(&body).unwrap()["code"],
        "SnapshotTooOld"
    );
    assert_eq!(d.fetch(LS).await.0, 200);
    assert_eq!(d.fetch(TEST_CONNECTION).await.0, 200);
    let (status, body) = d.fetch(TEST_CONNECTION).await;
    assert_eq!(
        (status, serde_json::from_str::<Json>(&body).unwrap()),
        (400, json!({"code": "Custom", "message": "injected"}))
    );

    let resp = d.http.get(d.url("/_emulator/faults")).send().await.unwrap();
    let summary: Json = resp.json().await.unwrap();
    assert_eq!(summary["rules"], 0);
    assert_eq!(
        summary["fired"],
        json!([
            {"path": LS, "fault": "rate_limited"},
            {"path": LS, "fault": "SnapshotTooOld"},
            {"path": TEST_CONNECTION, "fault": "Custom"},
        ])
    );

    let (status, summary) = d
        .control(
            "/_emulator/faults",
            r#"{"latency_ms":5,"rules":[{"fault":{"kind":"bad_gateway"}}]}"#,
        )
        .await;
    assert_eq!(
        (status, &summary["rules"], &summary["latency_ms"]),
        (200, &json!(1), &json!(5))
    );
    assert_eq!(d.fetch(LS).await.0, 502);
    let (status, summary) = d.control("/_emulator/faults/clear", "").await;
    assert_eq!(
        (status, &summary["rules"], &summary["latency_ms"]),
        (200, &json!(0), &json!(0))
    );
    assert_eq!(d.fetch(LS).await.0, 200);
}

#[tokio::test]
async fn control_plane_rejects_bad_bodies_naming_the_field() {
    let d = Deployment::start().await;
    let cases = [
        ("not json", "body"),
        (r#"{"latency_ms":"slow"}"#, "latency_ms"),
        (r#"{"seed":-1}"#, "seed"),
        (r#"{"rule":[]}"#, "rule"),
        (r#"{"rules":[{"fault":{"kind":"slow"}}]}"#, "rules[0].fault"),
        (
            r#"{"rules":[{"fault":{"kind":"hang"},"probability":1.5}]}"#,
            "rules[0].probability",
        ),
        (
            r#"{"rules":[{"fault":{"kind":"hang"}},{"fault":{"kind":"explode"}}]}"#,
            "rules[1].fault",
        ),
        (
            r#"{"rules":[{"fault":{"kind":"hang"},"endpoint":"/_emulator/state"}]}"#,
            "rules[0].endpoint",
        ),
        (
            r#"{"rules":[{"fault":{"kind":"hang"},"after":"x"}]}"#,
            "rules[0].after",
        ),
    ];
    for (body, field) in cases {
        let (status, reply) = d.control("/_emulator/faults", body).await;
        assert_eq!(status, 400, "{body}");
        let message = reply["error"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: {message}"
        );
    }
    // Nothing of a rejected body was installed (a hang would time this out).
    assert_eq!(d.fetch(LS).await.0, 200);
    assert!(d.em.faults_fired().is_empty());
}

#[tokio::test]
async fn faults_never_apply_to_the_control_plane() {
    let d = Deployment::start().await;
    d.em.inject(FaultRule::on("/_emulator/state", Fault::Hang));
    d.em.inject(FaultRule::always(Fault::BadGateway));
    assert_eq!(d.fetch(LS).await.0, 502);
    for path in [
        "/_emulator/state",
        "/_emulator/requests",
        "/_emulator/faults",
    ] {
        let resp = d.http.get(d.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let _: Json = resp.json().await.unwrap();
    }
    let (status, _) = d.control("/_emulator/faults/clear", "").await;
    assert_eq!(status, 200);
    assert_eq!(d.fetch(LS).await.0, 200);
    assert_eq!(d.em.faults_fired(), fired(&[(LS, "bad_gateway")]));
}

#[tokio::test]
async fn request_log_shows_faults_and_clients_but_never_the_key() {
    let d = Deployment::start().await;
    d.em.inject(FaultRule::next(1, Fault::BadGateway));
    assert_eq!(d.fetch(LS).await.0, 502);
    let cursor = d.em.current_ts();
    let resp = d
        .http
        .post(d.url("/api/document_deltas"))
        .header(header::AUTHORIZATION, format!("Convex {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(format!(r#"{{"cursor":{cursor}}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let key = common::urlencode(ADMIN);
    let resp = d
        .http
        .get(d.url(&format!("{TEST_CONNECTION}?adminKey={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let log = d.em.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].path.as_str(), log[0].status, log[0].fault.as_deref()),
        (LS, 502, Some("bad_gateway"))
    );
    assert_eq!(log[0].convex_client.as_deref(), Some(CLIENT));
    assert_eq!(log[0].authorization.as_deref(), Some("present"));
    assert!(
        log[0]
            .headers
            .contains(&("authorization".to_string(), "present".to_string()))
    );
    assert_eq!(log[1].method, "POST");
    assert_eq!(log[1].body_json, Some(json!({ "cursor": cursor })));
    assert_eq!((log[1].fault.as_deref(), log[1].status), (None, 200));
    assert_eq!(log[1].convex_client, None);
    assert_eq!(log[2].authorization, None);
    assert_eq!(log[2].query, "adminKey=present");
    assert_eq!(log[2].body_json, None);

    let secret = "test-secret";
    assert!(!serde_json::to_string(&log).unwrap().contains(secret));
    let text = d
        .http
        .get(d.url("/_emulator/requests"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("bad_gateway") && !text.contains(secret),
        "{text}"
    );
}
