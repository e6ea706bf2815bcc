//! Authentication matrix, check order (spec §2.4) and routing (§2.1).
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::*;

const LS: &str = "/api/list_snapshot";

async fn status_code(
    em: &spillway_emulator::Emulator,
    uri: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let (s, body) = send(em, "GET", uri, headers, None).await;
    (
        s.as_u16(),
        if body.is_empty() {
            String::new()
        } else {
            code(&body)
        },
    )
}

/// Headers, query string, expected status, expected error code.
type AuthCase<'a> = (Vec<(&'a str, &'a str)>, &'a str, u16, &'a str);

#[tokio::test]
async fn auth_matrix() {
    let em = emulator();
    let convex = format!("Convex {ADMIN}");
    let lower = format!("cOnVeX {ADMIN}");
    let stripped = "Convex happy-animal-123|test-secret".to_string();
    let restricted = format!("Convex {RESTRICTED}");
    let cases: Vec<AuthCase> = vec![
        (vec![("authorization", &convex)], "", 200, ""),
        (vec![("authorization", &lower)], "", 200, ""),
        (vec![("authorization", &stripped)], "", 200, ""),
        (
            vec![],
            "?adminKey=prod%3Ahappy-animal-123%7Ctest-secret",
            200,
            "",
        ),
        (vec![], "", 403, "BadDeployKey"),
        (
            vec![("authorization", "Convex")],
            "",
            400,
            "InvalidHeaderFailure",
        ),
        (
            vec![("authorization", "Basic abcdef")],
            "",
            400,
            "InvalidAdminKey",
        ),
        (
            vec![("authorization", "Bearer eyJhbGciOi")],
            "",
            401,
            "Unauthenticated",
        ),
        (
            vec![("authorization", "Convex prod:happy-animal-123|wrong")],
            "",
            401,
            "BadAdminKey",
        ),
        (
            vec![("authorization", &restricted)],
            "",
            403,
            "OperationNotPermitted",
        ),
        (
            vec![("convex-client", "nodash")],
            "",
            400,
            "InvalidClientVersion",
        ),
        (
            vec![
                ("authorization", &convex),
                ("convex-client", "airbyte-export-0.4.0"),
            ],
            "",
            200,
            "",
        ),
    ];
    for (headers, query, status, c) in cases {
        let got = status_code(&em, &format!("{LS}{query}"), &headers).await;
        assert_eq!(
            got,
            (status, c.to_string()),
            "headers {headers:?} query {query:?}"
        );
    }
    // Unknown key on the query string too.
    let got = status_code(&em, &format!("{LS}?adminKey=nope"), &[]).await;
    assert_eq!(got, (401, "BadAdminKey".into()));
}

#[tokio::test]
async fn check_order() {
    let em = emulator();
    // GET: query parse errors come before authentication.
    let got = status_code(&em, &format!("{LS}?snapshot=1.5"), &[]).await;
    assert_eq!(got, (400, "BadQueryArgs".into()));
    let got = status_code(
        &em,
        "/api/document_deltas?cursor=abc",
        &[("authorization", "x")],
    )
    .await;
    assert_eq!(got, (400, "BadQueryArgs".into()));
    // Convex-Client is checked before everything.
    let got = status_code(
        &em,
        &format!("{LS}?snapshot=1.5"),
        &[("convex-client", "x")],
    )
    .await;
    assert_eq!(got, (400, "InvalidClientVersion".into()));
    // POST: authentication before body parsing.
    let (s, body) = send(
        &em,
        "POST",
        LS,
        &[("authorization", "Basic abcdef")],
        Some("{"),
    )
    .await;
    assert_eq!((s.as_u16(), code(&body)), (400, "InvalidAdminKey".into()));
    let (s, body) = send(&em, "POST", LS, &[], Some("{")).await;
    assert_eq!((s.as_u16(), code(&body)), (400, "BadJsonBody".into()));
    let auth = format!("Convex {ADMIN}");
    let (s, body) = send(&em, "POST", LS, &[("authorization", &auth)], Some("{}")).await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (400, "BadJsonBody".into()),
        "missing content type"
    );
    assert!(
        json(&body)["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type: application/json")
    );
    let (s, _) = send(
        &em,
        "POST",
        LS,
        &[
            ("authorization", &auth),
            ("content-type", "application/vnd.api+json"),
        ],
        Some("{}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = post(&em, LS, r#"{"snapshot":"x"}"#).await;
    assert_eq!((s.as_u16(), code(&body)), (400, "BadJsonBody".into()));
    // Plan gate before permission: unauthenticated callers see the plan error.
    em.set_streaming_export_enabled(false);
    let got = status_code(&em, LS, &[]).await;
    assert_eq!(got, (403, "StreamingExportNotEnabled".into()));
    let got = status_code(
        &em,
        LS,
        &[("authorization", &format!("Convex {RESTRICTED}"))],
    )
    .await;
    assert_eq!(got, (403, "StreamingExportNotEnabled".into()));
    // ...but a wrong key is still a 401 (authentication comes first).
    let got = status_code(&em, LS, &[("authorization", "Convex nope")]).await;
    assert_eq!(got, (401, "BadAdminKey".into()));
    em.set_streaming_export_enabled(true);
}

#[tokio::test]
async fn routes_and_methods() {
    let em = emulator();
    let (s, body) = get(&em, "/api/test_streaming_export_connection").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "null"));
    let (s, body) = send(&em, "POST", "/api/json_schemas", &[], None).await;
    assert_eq!((s, body.as_str()), (StatusCode::METHOD_NOT_ALLOWED, ""));
    let (s, _) = send(&em, "DELETE", "/api/document_deltas", &[], None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _) = get(&em, "/api/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = post(&em, "/api/document_deltas", "{}").await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (400, "DocumentDeltasCursorRequired".into())
    );
    // Error envelope shape.
    let (_, body) = send(&em, "GET", LS, &[], None).await;
    let v = json(&body);
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert!(v["message"].as_str().unwrap().contains("happy-animal-123"));
}

#[tokio::test]
async fn request_log_records_api_calls_only() {
    let em = emulator();
    get(&em, "/api/list_snapshot?tableName=users&format=json").await;
    send(&em, "GET", "/_emulator/state", &[], None).await;
    post(&em, "/api/document_deltas", r#"{"cursor":1}"#).await;
    let log = em.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/api/list_snapshot");
    assert_eq!(log[0].query, "tableName=users&format=json");
    assert_eq!(log[0].status, 200);
    assert!(
        log[0]
            .headers
            .iter()
            .any(|(k, v)| k == "convex-client" && v == "test-export-1.0.0")
    );
    assert_eq!(log[1].body, r#"{"cursor":1}"#);
    assert_eq!(log[1].status, 400, "cursor 1 is outside retention");
    em.clear_requests();
    assert!(em.requests().is_empty());
}
