//! Bad input from the server: a 200 whose body is HTML, bytes that are not UTF-8 inside a
//! string, a value with an unknown `$` type tag, a document far over 1 MiB on the wire, and a
//! field whose type changes on every page. Each is handled or stops the sync with an error
//! that names the endpoint or the stream, page, row and field; never a panic; what was
//! committed before stays committed, and a rerun against a sane server converges.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use common::{edited, json_response, serve_rewritten};
use serde_json::json;
use spillway_convex_protocol::Value;
use spillway_core::ErrorKind;
use spillway_emulator::EmulatorConfig;
use spillway_engine::EngineError;
use spillway_source_convex::retry::RetryPolicy;
use spillway_source_convex::{ApiMode, ConvexConfig, ConvexSource};
use spillway_testkit::docs::insert;
use spillway_testkit::{ADMIN_KEY, Fixture};

/// A source reading the fixture's emulator through `rewrite`, with a short retry budget.
async fn rogue(
    fx: &Fixture,
    rewrite: impl Fn(usize, &[u8]) -> Option<Response> + Send + Sync + 'static,
) -> Arc<ConvexSource> {
    let (url, _) = serve_rewritten(fx, rewrite).await;
    let source = ConvexSource::try_new(ConvexConfig {
        api: ApiMode::Legacy,
        ..ConvexConfig::new(url, ADMIN_KEY)
    })
    .unwrap();
    Arc::new(source.with_retry(RetryPolicy {
        initial: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(20),
        total: std::time::Duration::from_secs(20),
    }))
}

/// 200 sample documents served 10 per snapshot page.
async fn paged() -> Fixture {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: 10,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(200).unwrap();
    fx
}

/// Syncs through `source` expecting a source error of `kind`; checks that the first page's
/// checkpoint stayed committed, that a rerun against the plain emulator converges, and
/// returns the error's message.
async fn fails_after_the_first_page(
    fx: &Fixture,
    source: Arc<ConvexSource>,
    kind: ErrorKind,
) -> String {
    let err = fx
        .sync_with(source, &spillway_testkit::per_page())
        .await
        .unwrap_err();
    let EngineError::Source(e) = &err else {
        panic!("expected a source error, got {err}")
    };
    assert_eq!(e.kind, kind, "{e}");
    assert!(!e.message.contains("panicked"), "{e}");
    let mut dest = fx.open_dest();
    let states = dest.list_states().unwrap();
    assert_eq!(
        states.len(),
        1,
        "the first page's checkpoint is committed: {states:?}"
    );
    drop(dest);
    fx.sync().await.unwrap();
    fx.assert_synced();
    e.message.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_body_with_status_200_is_retried_then_named() {
    let fx = paged().await;
    let source = rogue(&fx, |call, _| {
        (call >= 1).then(|| {
            (
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>Down for maintenance</body></html>",
            )
                .into_response()
        })
    })
    .await;
    let message = fails_after_the_first_page(&fx, source, ErrorKind::Transient).await;
    assert!(message.contains("/api/list_snapshot"), "{message}");
    assert!(message.contains("not the expected JSON"), "{message}");
    assert!(
        message.contains("Down for maintenance"),
        "shows the body: {message}"
    );
    assert!(message.contains("gave up after 6 attempts"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bytes_that_are_not_utf8_inside_a_string_are_named() {
    let fx = paged().await;
    let source = rogue(&fx, |call, body| {
        (call >= 1).then(|| {
            let mut bad = body.to_vec();
            let at = bad.windows(7).position(|w| w == b"\"_id\":\"").unwrap() + 7;
            bad[at] = 0xFF;
            json_response(bad)
        })
    })
    .await;
    let message = fails_after_the_first_page(&fx, source, ErrorKind::Transient).await;
    assert!(message.contains("/api/list_snapshot"), "{message}");
    assert!(message.contains("not the expected JSON"), "{message}");
    assert!(message.contains("not valid UTF-8 at byte"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_with_an_unknown_type_tag_names_stream_row_and_field() {
    let fx = paged().await;
    let source = rogue(&fx, |call, body| {
        (call == 1).then(|| {
            edited(body, |page| {
                page["values"][0]["amount"] = json!({"$decimal128": "AAAA"})
            })
        })
    })
    .await;
    let message = fails_after_the_first_page(&fx, source, ErrorKind::Data).await;
    assert!(message.contains("stream "), "{message}");
    assert!(message.contains("page 2"), "{message}");
    assert!(message.contains("field `amount`"), "{message}");
    assert!(message.contains("$decimal128"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_far_over_1_mib_on_the_wire_are_synced() {
    let fx = Fixture::new().await;
    // Bytes as large as the emulator's 1 MiB document limit allows (it counts the encoded size).
    let big = Value::Bytes((0..780_000u32).map(|i| (i % 251) as u8).collect());
    fx.emulator
        .apply(vec![insert("blobs", [("data", big)])])
        .unwrap();
    fx.sync().await.unwrap();
    fx.assert_synced();
    // And a server that sends 8 MiB of text in one value (no client-side size limit).
    let fx = paged().await;
    let text: String = "ü€😀a".repeat(8 << 20 >> 4);
    let source = {
        let text = text.clone();
        rogue(&fx, move |call, body| {
            (call == 0).then(|| edited(body, |page| page["values"][0]["huge"] = json!(text)))
        })
        .await
    };
    fx.sync_with(source, &spillway_testkit::per_page())
        .await
        .unwrap();
    let mut dest = fx.open_dest();
    let rows = dest
        .query_json("SELECT table_name FROM duckdb_columns() WHERE column_name = 'huge'")
        .unwrap();
    let table = rows[0]["table_name"].as_str().unwrap().to_string();
    let got = dest
        .query_json(&format!(
            "SELECT huge FROM \"{table}\" WHERE huge IS NOT NULL"
        ))
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["huge"].as_str().unwrap(),
        text,
        "the 8 MiB value round-trips"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_field_whose_type_changes_on_every_page_keeps_every_value() {
    let fx = Fixture::start(EmulatorConfig {
        deltas_page_limit: 1,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator
        .apply(vec![insert("drift", [("v", Value::Boolean(true))])])
        .unwrap();
    fx.sync().await.unwrap();
    let values = [
        Value::Int64(i64::MAX),
        Value::String("text".into()),
        Value::Float64(2.5),
        Value::Int64(-7),
        Value::Bytes(vec![0, 159, 146, 150]),
        Value::Array(vec![Value::Int64(1), Value::Null]),
        Value::Object([("k".to_string(), Value::Float64(f64::NAN))].into()),
        Value::Null,
        Value::Float64(-0.0),
        Value::Boolean(false),
    ];
    // One transaction per value: with one row per deltas page, every page has a new type.
    for v in values {
        fx.emulator
            .apply(vec![insert("drift", [("v", v)])])
            .unwrap();
    }
    let report = fx
        .sync_with(fx.source(), &spillway_testkit::per_page())
        .await
        .unwrap();
    assert!(report.checkpoints >= 10, "{report:?}");
    fx.assert_synced();
}
