//! Shared helpers for the emulator's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use spillway_convex_protocol::Value;
use spillway_emulator::{Emulator, EmulatorConfig, Mutation};
use tower::ServiceExt;

pub const ADMIN: &str = "prod:happy-animal-123|test-secret";
pub const RESTRICTED: &str = "prod:happy-animal-123|viewer-secret";

pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        admin_keys: vec![ADMIN.to_string()],
        restricted_keys: vec![RESTRICTED.to_string()],
        seed: 42,
        ..EmulatorConfig::default()
    }
}

pub fn emulator() -> Emulator {
    Emulator::new(config())
}

/// Sends one request through the router; returns status and body text.
pub async fn send(
    em: &Emulator,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let resp = em.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// An authenticated GET.
pub async fn get(em: &Emulator, uri: &str) -> (StatusCode, String) {
    send(
        em,
        "GET",
        uri,
        &[
            ("authorization", &format!("Convex {ADMIN}")),
            ("convex-client", "test-export-1.0.0"),
        ],
        None,
    )
    .await
}

/// An authenticated JSON POST.
pub async fn post(em: &Emulator, uri: &str, body: &str) -> (StatusCode, String) {
    send(
        em,
        "POST",
        uri,
        &[
            ("authorization", &format!("Convex {ADMIN}")),
            ("content-type", "application/json"),
        ],
        Some(body),
    )
    .await
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap()
}

/// `{"code": …}` of an error body.
pub fn code(body: &str) -> String {
    json(body)["code"].as_str().unwrap_or_default().to_string()
}

pub fn fields(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn insert(component: &str, table: &str, pairs: &[(&str, Value)]) -> Mutation {
    Mutation::Insert {
        component: component.to_string(),
        table: table.to_string(),
        fields: fields(pairs),
    }
}

/// Inserts `n` documents `{i: Int64}` into a table in one transaction; returns the ids.
pub fn fill(em: &Emulator, component: &str, table: &str, n: usize) -> Vec<String> {
    let tx = (0..n)
        .map(|i| insert(component, table, &[("i", Value::Int64(i as i64))]))
        .collect();
    em.apply(tx).unwrap().ids
}

/// Walks list_snapshot from scratch with GET `extra` params; returns every page body as JSON.
pub async fn snapshot_pages(em: &Emulator, extra: &str) -> Vec<serde_json::Value> {
    let mut pages = Vec::new();
    let mut snapshot: Option<i64> = None;
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = format!("/api/list_snapshot?format=json{extra}");
        if let Some(s) = snapshot {
            uri.push_str(&format!("&snapshot={s}"));
        }
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let (status, body) = get(em, &uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = json(&body);
        snapshot = page["snapshot"].as_i64();
        cursor = page["cursor"].as_str().map(str::to_string);
        let more = page["hasMore"].as_bool().unwrap();
        assert_eq!(
            more,
            cursor.is_some(),
            "cursor null iff hasMore false: {body}"
        );
        pages.push(page);
        if !more {
            return pages;
        }
        assert!(pages.len() < 10_000, "runaway paging");
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
