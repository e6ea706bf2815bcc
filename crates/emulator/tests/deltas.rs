//! document_deltas: budget, transactions never split, cursors, tombstones, retention (spec §8).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use common::*;
use spillway_convex_protocol::Value;
use spillway_convex_protocol::value::Format;
use spillway_emulator::{Emulator, Mutation};

async fn deltas(em: &Emulator, cursor: i64, extra: &str) -> serde_json::Value {
    let (s, body) = get(em, &format!("/api/document_deltas?cursor={cursor}{extra}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    json(&body)
}

fn n_values(page: &serde_json::Value) -> usize {
    page["values"].as_array().unwrap().len()
}

#[tokio::test]
async fn budget_and_transactions_never_split() {
    let em = emulator();
    let start = em.current_ts();
    em.set_limits(1024, 3);
    let ts1 = em
        .apply(
            (0..5)
                .map(|i| insert("", "t", &[("i", Value::Int64(i))]))
                .collect(),
        )
        .unwrap()
        .ts;
    let _ts2 = em
        .apply(
            (0..2)
                .map(|i| insert("", "t", &[("i", Value::Int64(i))]))
                .collect(),
        )
        .unwrap()
        .ts;
    let ts3 = em
        .apply(vec![insert("", "t", &[("i", Value::Int64(9))])])
        .unwrap()
        .ts;
    let p1 = deltas(&em, start, "").await;
    assert_eq!(
        n_values(&p1),
        5,
        "a transaction larger than the page is delivered whole"
    );
    assert_eq!(
        (
            p1["cursor"].as_i64().unwrap(),
            p1["hasMore"].as_bool().unwrap()
        ),
        (ts1, true)
    );
    let p2 = deltas(&em, ts1, "").await;
    assert_eq!(n_values(&p2), 3);
    assert_eq!(
        (
            p2["cursor"].as_i64().unwrap(),
            p2["hasMore"].as_bool().unwrap()
        ),
        (ts3, false)
    );
    // Caught up: cursor = current ts, which advances without writes.
    let p3 = deltas(&em, ts3, "").await;
    assert_eq!(
        (
            n_values(&p3),
            p3["cursor"].as_i64().unwrap(),
            p3["hasMore"].as_bool().unwrap()
        ),
        (0, ts3, false)
    );
    em.advance_clock(5_000);
    let p4 = deltas(&em, ts3, "").await;
    assert_eq!(p4["cursor"].as_i64().unwrap(), ts3 + 5_000);
    // Values within a page are ordered by (ts, id).
    let ids: Vec<(i64, String)> = p1["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["_ts"].as_i64().unwrap(),
                v["_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[tokio::test]
async fn budget_counts_unselected_and_system_rows() {
    let em = emulator();
    let start = em.current_ts();
    em.set_limits(1024, 4);
    let sys = em.write_system_rows(3);
    let other = em
        .apply(
            (0..3)
                .map(|i| insert("", "other", &[("i", Value::Int64(i))]))
                .collect(),
        )
        .unwrap()
        .ts;
    let mine = em
        .apply(vec![insert("", "mine", &[("i", Value::Int64(1))])])
        .unwrap()
        .ts;
    // 3 system rows + 1 row of `other` hit the budget: the `other` transaction completes,
    // then the page ends with no values.
    let p1 = deltas(&em, start, "&tableName=mine").await;
    assert_eq!(
        (
            n_values(&p1),
            p1["cursor"].as_i64().unwrap(),
            p1["hasMore"].as_bool().unwrap()
        ),
        (0, other, true)
    );
    assert!(sys < other);
    let p2 = deltas(&em, other, "&tableName=mine").await;
    assert_eq!(
        (
            n_values(&p2),
            p2["cursor"].as_i64().unwrap(),
            p2["hasMore"].as_bool().unwrap()
        ),
        (1, em.current_ts(), false)
    );
    assert_eq!(p2["values"][0]["_ts"].as_i64().unwrap(), mine);
    // Unfiltered, system rows are still invisible.
    em.set_limits(1024, 128);
    let all = deltas(&em, start, "").await;
    assert_eq!(n_values(&all), 4);
}

#[tokio::test]
async fn cursor_rules_and_vanished_tablets() {
    let em = emulator();
    let start = em.current_ts();
    // Future cursor: no values, current ts (the cursor moves backwards).
    let p = deltas(&em, start + 1_000_000_000, "").await;
    assert_eq!(
        (
            n_values(&p),
            p["cursor"].as_i64().unwrap(),
            p["hasMore"].as_bool().unwrap()
        ),
        (0, start, false)
    );
    // Rows of dropped tablets are skipped silently; replaced tables stream only the new tablet.
    let x = fill(&em, "", "x", 2);
    let y = fill(&em, "", "y", 2);
    em.apply(vec![Mutation::Delete { id: y[0].clone() }])
        .unwrap();
    em.drop_table("", "x").unwrap();
    let mut keep = em.live_documents("", "y")[0].clone();
    keep.remove("_creationTime");
    em.replace_table("", "y", vec![keep, fields(&[("i", Value::Int64(100))])])
        .unwrap();
    let p = deltas(&em, start, "&format=convex_encoded_json").await;
    let rows = p["values"].as_array().unwrap();
    assert!(rows.iter().all(|v| v["_table"] == "y"));
    assert!(
        rows.iter().all(|v| v["_deleted"] == false),
        "no tombstones for vanished tablets"
    );
    assert_eq!(rows.len(), 2, "only the new tablet's inserts survive");
    assert!(
        rows.iter().any(|v| v["_id"] == y[1].as_str()),
        "re-imported with its original _id"
    );
    assert!(
        !rows
            .iter()
            .any(|v| x.iter().any(|id| v["_id"] == id.as_str()))
    );
    let (s, body) = get(&em, "/api/document_deltas").await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (400, "DocumentDeltasCursorRequired".into())
    );
    let (s, body) = get(
        &em,
        &format!("/api/document_deltas?cursor={start}&format=yaml"),
    )
    .await;
    assert_eq!((s.as_u16(), code(&body)), (400, "BadFormat".into()));
}

#[tokio::test]
async fn retention_errors() {
    let em = emulator();
    let start = em.current_ts();
    fill(&em, "", "t", 1);
    let now = em.current_ts();
    em.expire_before(now);
    let (s, body) = get(&em, &format!("/api/document_deltas?cursor={start}")).await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (400, "InvalidWindowToReadDocuments".into())
    );
    assert!(json(&body)["message"].as_str().unwrap().contains("resync"));
    let (s, _) = get(&em, &format!("/api/document_deltas?cursor={now}")).await;
    assert_eq!(s, StatusCode::OK);
    em.advance_clock(14 * 86_400 * 1_000_000_000 + 1);
    let (s, body) = get(&em, &format!("/api/document_deltas?cursor={now}")).await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (400, "InvalidWindowToReadDocuments".into())
    );
}

/// Snapshot, concurrent writes, then deltas at a tiny page size: replaying reproduces the store.
#[tokio::test]
async fn snapshot_plus_deltas_replay_equals_store() {
    let em = emulator();
    em.seed_sample(200).unwrap();
    em.set_limits(7, 5);
    let mut replica: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let key = |v: &serde_json::Value| {
        format!(
            "{}/{}",
            v["_component"].as_str().unwrap(),
            v["_table"].as_str().unwrap()
        )
    };
    let strip = |v: &serde_json::Value| {
        let mut m = match Value::from_json(v, Format::ExportJson).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        for k in ["_component", "_table", "_ts", "_deleted"] {
            m.remove(k);
        }
        m
    };
    let mut snapshot = None;
    let mut cursor: Option<String> = None;
    let mut wrote = false;
    loop {
        let mut uri = "/api/list_snapshot?format=export_json".to_string();
        if let Some(s) = snapshot {
            uri.push_str(&format!("&snapshot={s}"));
        }
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let page = json(&get(&em, &uri).await.1);
        for v in page["values"].as_array().unwrap() {
            replica.insert(
                format!("{}#{}", key(v), v["_id"].as_str().unwrap()),
                strip(v),
            );
        }
        snapshot = page["snapshot"].as_i64();
        if !wrote {
            // Writes during the traversal: update, delete, insert, a big transaction.
            wrote = true;
            let users = em.live_documents("", "users");
            let id = |i: usize| match &users[i]["_id"] {
                Value::String(s) => s.clone(),
                _ => unreachable!(),
            };
            em.apply(vec![
                Mutation::Update {
                    id: id(0),
                    fields: fields(&[("name", Value::String("renamed".into()))]),
                },
                Mutation::Delete { id: id(1) },
            ])
            .unwrap();
            em.apply(
                (0..12)
                    .map(|i| {
                        insert(
                            "waitlist",
                            "entries",
                            &[("position", Value::Int64(1000 + i))],
                        )
                    })
                    .collect(),
            )
            .unwrap();
            em.write_system_rows(9);
        }
        if page["hasMore"] == false {
            break;
        }
        cursor = page["cursor"].as_str().map(str::to_string);
    }
    let mut cursor = snapshot.unwrap();
    loop {
        let page = deltas(&em, cursor, "&format=export_json").await;
        for v in page["values"].as_array().unwrap() {
            let k = format!("{}#{}", key(v), v["_id"].as_str().unwrap());
            if v["_deleted"] == true {
                replica.remove(&k);
            } else {
                replica.insert(k, strip(v));
            }
        }
        cursor = page["cursor"].as_i64().unwrap();
        if page["hasMore"] == false {
            break;
        }
    }
    let mut expected = BTreeMap::new();
    for (c, t) in em.tables() {
        for doc in em.live_documents(&c, &t) {
            let Value::String(id) = &doc["_id"] else {
                unreachable!()
            };
            expected.insert(format!("{c}/{t}#{id}"), doc.clone());
        }
    }
    assert_eq!(replica.len(), expected.len());
    assert!(replica == expected);
}
