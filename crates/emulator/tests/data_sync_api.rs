//! The data sync API surface over real HTTP on 127.0.0.1 (spec §12–§14, §2.4): cursor and
//! selection errors, cursors and sync ids, list_active_syncs, the cursor shim, the on/off switch,
//! the check order, the request log and fault injection.
#![allow(clippy::unwrap_used)]

mod common;
mod data_sync_support;

use common::{ADMIN, fill, insert};
use data_sync_support::*;
use reqwest::header;
use serde_json::{Value as Json, json};
use spillway_convex_protocol::Value;
use spillway_emulator::{Fault, FaultRule};

#[tokio::test]
async fn cursor_and_selection_errors() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 3);
    let p = d.page(None, None).await;
    let cursor = p["pagination"]["nextCursor"].as_str().unwrap().to_string();
    assert!(
        cursor
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(&cursor[..2], "01", "version byte 1");

    // Tampered: flip one nibble in the middle.
    let mut t = cursor.clone().into_bytes();
    let mid = t.len() / 2;
    t[mid] = if t[mid] == b'a' { b'b' } else { b'a' };
    for bad in [String::from_utf8(t).unwrap(), "zz".into(), "".into()] {
        let (s, body) = d.post(SYNC, &json!({"cursor": bad})).await;
        assert_eq!((s, code(&body)), (400, "InvalidDataSyncCursor".into()));
    }
    // Wrong JSON type → BadJsonBody.
    let (s, body) = d.post(SYNC, &json!({"cursor": 5})).await;
    assert_eq!((s, code(&body)), (400, "BadJsonBody".into()));

    // Ahead of the latest ts: a cursor from a twin deployment (same seed) whose clock is ahead.
    let twin = Deployment::new().await;
    twin.em.advance_clock(3_600 * SEC);
    let ahead = twin.page(None, None).await;
    let (s, body) = d
        .post(SYNC, &json!({"cursor": ahead["pagination"]["nextCursor"]}))
        .await;
    assert_eq!(
        (s, code(&body)),
        (400, "InvalidDataSyncCursor".into()),
        "{body}"
    );

    // Bad selections.
    for (sel, want) in [
        (json!({"": {"_other": "included"}}), "BadJsonBody"),
        (
            json!({"_other": "included", "": {"t": "excluded"}}),
            "BadJsonBody",
        ),
        (
            json!({"_other": "included", "": {"_other": "included", "bad-name": "excluded"}}),
            "InvalidDataSyncSelection",
        ),
        (
            json!({"_other": "included", "": {"_other": "included", "t": {"_other": "excluded"}}}),
            "InvalidDataSyncSelection",
        ),
        (
            json!({"_other": "included", "": {"_other": "included", "t": {"_other": "included", "_id": "excluded"}}}),
            "InvalidDataSyncSelection",
        ),
    ] {
        let (s, body) = d
            .post(SYNC, &json!({"cursor": cursor, "selection": sel}))
            .await;
        assert_eq!((s, code(&body)), (400, want.to_string()), "{sel}: {body}");
    }

    // Expired: the retention floor moves past the cursor's synced_ts.
    fill(&d.em, "", "t", 1);
    d.em.expire_before(d.em.current_ts());
    let (s, body) = d.post(SYNC, &json!({"cursor": cursor})).await;
    assert_eq!(
        (s, code(&body)),
        (400, "DataSyncCursorExpired".into()),
        "{body}"
    );
    // A fresh sync still works.
    d.page(None, None).await;
}

#[tokio::test]
async fn cursor_differs_every_page_and_sync_ids_follow_the_client() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 1);
    let mut replica = Replica::default();
    d.until_up_to_date(&mut replica, None).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let p = d.page(replica.cursor.as_deref(), None).await;
        assert_eq!(status(&p), "upToDate");
        replica.apply(&p);
        assert!(
            seen.insert(replica.cursor.clone().unwrap()),
            "cursor repeated"
        );
    }

    let uuid_ok = |s: &str| {
        s.len() == 36
            && s.as_bytes()[14] == b'4'
            && s.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
    };
    for (client, prefix) in [
        ("fivetran-export-2.0.2", "fivetran-"),
        ("airbyte-export-0.4.0", "airbyte-"),
        ("spillway-0.1.0", ""),
    ] {
        let (s, text) = d.post_as(SYNC, client, &json!({})).await;
        assert_eq!(s, 200);
        let p: Json = serde_json::from_str(&text).unwrap();
        let id = p["syncId"].as_str().unwrap();
        let rest = id.strip_prefix(prefix).unwrap();
        assert!(uuid_ok(rest), "{id}");
        // Carried in the cursor, whoever calls next.
        let (_, text) = d
            .post_as(
                SYNC,
                CLIENT,
                &json!({"cursor": p["pagination"]["nextCursor"]}),
            )
            .await;
        let next: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(next["syncId"], p["syncId"]);
    }
}

#[tokio::test]
async fn list_active_syncs_orders_pages_and_limits() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 3);
    for (s, c) in [
        ("limit=0", "LimitOutOfRange"),
        ("limit=101", "LimitOutOfRange"),
    ] {
        let (st, body) = d.get(&format!("{ACTIVE}?{s}")).await;
        assert_eq!((st, code(&body)), (400, c.to_string()));
    }
    let (st, body) = d.get(&format!("{ACTIVE}?cursor=abcd")).await;
    assert_eq!((st, code(&body)), (400, "InvalidCursor".to_string()));
    let (st, body) = d.get(&format!("{ACTIVE}?limit=x")).await;
    assert_eq!((st, code(&body)), (400, "BadQueryArgs".to_string()));

    let mut syncs = Vec::new();
    let mut at_ms = Vec::new();
    for _ in 0..3 {
        let p = d.page(None, None).await;
        syncs.push(p["syncId"].as_str().unwrap().to_string());
        at_ms.push(d.em.current_ts() / 1_000_000);
        d.em.advance_clock(SEC);
    }
    let (st, text) = d.get(&format!("{ACTIVE}?limit=2")).await;
    assert_eq!(st, 200, "{text}");
    let l: Json = serde_json::from_str(&text).unwrap();
    let got: Vec<&str> = l["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["syncId"].as_str().unwrap())
        .collect();
    assert_eq!(got, [syncs[2].as_str(), syncs[1].as_str()]);
    assert_eq!(l["pagination"]["hasMore"], json!(true));
    let first = &l["syncs"][0];
    assert_eq!(first["status"]["type"], json!("upToDate"));
    assert_eq!(first["status"]["totalTables"], json!(1));
    assert_eq!(first["status"]["numDocumentsSynced"], json!(3));
    assert_eq!(first["lastUpdated"], json!(at_ms[2]));
    assert_eq!(l["syncs"][1]["lastUpdated"], json!(at_ms[1]));

    let next = l["pagination"]["nextCursor"].as_str().unwrap();
    let (_, text) = d.get(&format!("{ACTIVE}?limit=2&cursor={next}")).await;
    let l2: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(l2["syncs"][0]["syncId"], json!(syncs[0]));
    assert_eq!(l2["syncs"].as_array().unwrap().len(), 1);
    assert!(
        text.ends_with(r#""pagination":{"hasMore":false}}"#),
        "{text}"
    );

    // Default limit, and the 3-day window.
    let (_, text) = d.get(ACTIVE).await;
    let all: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(all["syncs"].as_array().unwrap().len(), 3);
    d.em.advance_clock(3 * 86_400 * SEC + SEC);
    let (_, text) = d.get(ACTIVE).await;
    assert_eq!(text, r#"{"syncs":[],"pagination":{"hasMore":false}}"#);
}

#[tokio::test]
async fn list_active_syncs_reports_snapshotting_progress() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 5);
    d.em.set_data_sync_limits(2, 1 << 20, 1000);
    let p = d.page(None, None).await;
    let (_, text) = d.get(ACTIVE).await;
    let l: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(
        l["syncs"][0]["status"],
        json!({"type": "snapshotting", "numTablesSynced": 0, "totalTables": 1,
               "currentComponent": "", "currentTable": "t",
               "numDocumentsInCurrentTable": 2, "totalDocumentsInCurrentTable": 5,
               "numDocumentsSynced": 2, "totalDocuments": 5})
    );
    assert_eq!(l["syncs"][0]["syncId"], p["syncId"]);
}

#[tokio::test]
async fn cursor_from_deltas_resumes_with_ts_pages() {
    let d = Deployment::new().await;
    fill(&d.em, "", "a", 3);
    fill(&d.em, "", "b", 2);
    let legacy = d.em.current_ts();
    let later =
        d.em.apply(vec![insert("", "a", &[("i", Value::Int64(50))])])
            .unwrap();
    let only_a = only("", &["a"]);
    let (s, text) = d
        .post(SHIM, &json!({"cursor": legacy, "selection": only_a}))
        .await;
    assert_eq!(s, 200, "{text}");
    let c: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(c.as_object().unwrap().len(), 1);
    let cursor = c["cursor"].as_str().unwrap();
    let p = d.page(Some(cursor), Some(&only_a)).await;
    assert!(truncates(&p).is_empty());
    assert_eq!(ids(&p), later.ids);
    assert_eq!(
        p["status"],
        json!({"type": "upToDate", "snapshotTs": later.ts})
    );
    // b joins the selection later: snapshotted with a truncate.
    let both = only("", &["a", "b"]);
    let p2 = d
        .page(p["pagination"]["nextCursor"].as_str(), Some(&both))
        .await;
    assert_eq!(truncates(&p2), [tk("", "b")]);
    assert_eq!(values(&p2).len(), 2);

    for (body, want) in [
        (json!({"cursor": -1}), "InvalidDataSyncCursor"),
        (
            json!({"cursor": d.em.current_ts() + 1}),
            "InvalidDataSyncCursor",
        ),
        (
            json!({"cursor": legacy, "selection": {"_other": "included", "a//b": "excluded"}}),
            "InvalidDataSyncSelection",
        ),
        (json!({"cursor": "x"}), "BadJsonBody"),
    ] {
        let (s, text) = d.post(SHIM, &body).await;
        assert_eq!((s, code(&text)), (400, want.to_string()), "{body}");
    }
    d.em.expire_before(legacy + 1);
    let (s, text) = d.post(SHIM, &json!({"cursor": legacy})).await;
    assert_eq!((s, code(&text)), (400, "DataSyncCursorExpired".to_string()));
}

#[tokio::test]
async fn disabled_data_sync_answers_404_on_all_routes() {
    let d = Deployment::new().await;
    d.em.set_data_sync_enabled(false);
    let (s, body) = d.post(SYNC, &json!({})).await;
    assert_eq!((s, body.as_str()), (404, ""));
    assert_eq!(d.get(ACTIVE).await.0, 404);
    assert_eq!(d.post(SHIM, &json!({"cursor": 1})).await.0, 404);
    // The legacy routes are untouched.
    assert_eq!(d.get("/api/test_streaming_export_connection").await.0, 200);
    // The control plane turns it back on.
    let resp = d
        .http
        .post(d.url("/_emulator/data_sync"))
        .json(&json!({"enabled": true, "entries": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(d.em.config().data_sync_page_entries, 7);
    assert_eq!(d.post(SYNC, &json!({})).await.0, 200);
}

#[tokio::test]
async fn check_order_request_log_and_faults() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 2);
    // No key → 403 BadDeployKey; plan off → 403 StreamingExportNotEnabled (before permission).
    let resp = d
        .http
        .post(d.url(SYNC))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(code(&resp.text().await.unwrap()), "BadDeployKey");
    d.em.set_streaming_export_enabled(false);
    let (s, body) = d.get(ACTIVE).await;
    assert_eq!((s, code(&body)), (403, "StreamingExportNotEnabled".into()));
    d.em.set_streaming_export_enabled(true);
    // Wrong content type → BadJsonBody.
    let resp = d
        .http
        .post(d.url(SYNC))
        .header(header::AUTHORIZATION, format!("Convex {ADMIN}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(code(&resp.text().await.unwrap()), "BadJsonBody");

    d.em.inject(FaultRule::on(SYNC, Fault::data_sync_cursor_expired()).times(1));
    d.em.inject(FaultRule::on(SYNC, Fault::internal_server_error()).times(1));
    let (s, body) = d.post(SYNC, &json!({})).await;
    assert_eq!((s, code(&body)), (400, "DataSyncCursorExpired".into()));
    let (s, body) = d.post(SYNC, &json!({})).await;
    assert_eq!((s, code(&body)), (500, "InternalServerError".into()));
    let (s, _) = d.post(SYNC, &json!({})).await;
    assert_eq!(s, 200);
    let log: Vec<_> =
        d.em.requests()
            .into_iter()
            .filter(|r| r.path == SYNC)
            .collect();
    assert_eq!(log.len(), 5);
    assert_eq!(log[2].fault.as_deref(), Some("DataSyncCursorExpired"));
    assert_eq!(log[4].status, 200);
    assert_eq!(log[4].body_json, Some(json!({})));
}
