//! list_snapshot: byte-exact bodies, paging (spec §7.4), consistency (§7.5), errors, selections.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine as _;
use common::*;
use spillway_convex_protocol::Value;
use spillway_emulator::{Emulator, Mutation};

const T1: i64 = 1_700_000_000_001_000_000;

fn fixed_doc() -> Vec<(&'static str, Value)> {
    let mut g = BTreeMap::new();
    g.insert("x".to_string(), Value::Float64(-0.0));
    vec![
        ("Z", Value::Float64(1e20)),
        ("a", Value::Int64(1)),
        ("b", Value::Float64(5.0)),
        ("c", Value::Float64(f64::NAN)),
        ("d", Value::Bytes(vec![1, 2, 3])),
        ("e", Value::String("héllo 🚀 \"q\"".into())),
        ("f", Value::Array(vec![Value::Null, Value::Boolean(true)])),
        ("g", Value::Object(g)),
    ]
}

#[tokio::test]
async fn byte_exact_bodies_in_all_formats() {
    let em = emulator();
    let applied = em.apply(vec![insert("", "t", &fixed_doc())]).unwrap();
    assert_eq!(applied.ts, T1);
    let id = &applied.ids[0];
    assert_eq!(id.len(), 32);
    let head = format!(
        r#"{{"values":[{{"_component":"","_table":"t","_ts":{T1},"Z":1e20,"_creationTime":1700000000000.0,"_id":"{id}","#
    );
    let tail = format!(r#"}}],"snapshot":{T1},"cursor":null,"hasMore":false}}"#);
    let cases = [
        (
            "json",
            r#""a":"1","b":5.0,"c":"NaN","d":"AQID","e":"héllo 🚀 \"q\"","f":[null,true],"g":{"x":-0.0}"#,
        ),
        (
            "convex_clean_json",
            r#""a":"1","b":5.0,"c":"NaN","d":"AQID","e":"héllo 🚀 \"q\"","f":[null,true],"g":{"x":-0.0}"#,
        ),
        (
            "convex_encoded_json",
            r#""a":{"$integer":"AQAAAAAAAAA="},"b":5.0,"c":{"$float":"AAAAAAAA+H8="},"d":{"$bytes":"AQID"},"e":"héllo 🚀 \"q\"","f":[null,true],"g":{"x":{"$float":"AAAAAAAAAIA="}}"#,
        ),
        (
            "convex_json",
            r#""a":{"$integer":"AQAAAAAAAAA="},"b":5.0,"c":{"$float":"AAAAAAAA+H8="},"d":{"$bytes":"AQID"},"e":"héllo 🚀 \"q\"","f":[null,true],"g":{"x":{"$float":"AAAAAAAAAIA="}}"#,
        ),
        (
            "export_json",
            r#""a":1,"b":5.0,"c":{"$float":"AAAAAAAA+H8="},"d":{"$bytes":"AQID"},"e":"héllo 🚀 \"q\"","f":[null,true],"g":{"x":{"$float":"AAAAAAAAAIA="}}"#,
        ),
    ];
    for (format, fields) in cases {
        let (s, body) = get(&em, &format!("/api/list_snapshot?format={format}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body, format!("{head}{fields}{tail}"), "format {format}");
    }
    // Default format is clean JSON; POST gives the same bytes.
    let (_, body) = post(&em, "/api/list_snapshot", "{}").await;
    assert_eq!(body, format!("{head}{}{tail}", cases[0].1));

    // document_deltas: `_deleted` after `_ts`; tombstones carry only `_id`.
    let start = T1 - 1_000_000;
    let (_, body) = get(
        &em,
        &format!("/api/document_deltas?cursor={start}&format=export_json"),
    )
    .await;
    let expected = format!(
        r#"{{"values":[{{"_component":"","_table":"t","_ts":{T1},"_deleted":false,"Z":1e20,"_creationTime":1700000000000.0,"_id":"{id}",{}}}],"cursor":{T1},"hasMore":false}}"#,
        cases[4].1
    );
    assert_eq!(body, expected);
    let t2 = em
        .apply(vec![Mutation::Delete { id: id.clone() }])
        .unwrap()
        .ts;
    let (_, body) = get(&em, &format!("/api/document_deltas?cursor={T1}")).await;
    assert_eq!(
        body,
        format!(
            r#"{{"values":[{{"_component":"","_table":"t","_ts":{t2},"_deleted":true,"_id":"{id}"}}],"cursor":{t2},"hasMore":false}}"#
        )
    );
}

fn tablet_order(em: &Emulator) -> Vec<(String, String)> {
    let state = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(send(em, "GET", "/_emulator/state", &[], None))
    });
    let mut tables: Vec<(Vec<u8>, String, String)> = json(&state.1)["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t["tablet"].as_str().unwrap())
                .unwrap();
            (
                bytes,
                t["component"].as_str().unwrap().into(),
                t["table"].as_str().unwrap().into(),
            )
        })
        .collect();
    tables.sort();
    tables.into_iter().map(|(_, c, t)| (c, t)).collect()
}

/// Tables a(3), b(empty), c(10), waitlist/entries(5).
fn paging_fixture() -> (Emulator, BTreeMap<(String, String), usize>) {
    let em = emulator();
    fill(&em, "", "alpha", 3);
    let b = fill(&em, "", "beta", 1);
    em.apply(vec![Mutation::Delete { id: b[0].clone() }])
        .unwrap();
    fill(&em, "", "gamma", 10);
    fill(&em, "waitlist", "entries", 5);
    let sizes = [
        ("", "alpha", 3),
        ("", "beta", 0),
        ("", "gamma", 10),
        ("waitlist", "entries", 5),
    ]
    .into_iter()
    .map(|(c, t, n)| ((c.to_string(), t.to_string()), n))
    .collect();
    (em, sizes)
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_at_small_limits() {
    let (em, sizes) = paging_fixture();
    let order = tablet_order(&em);
    let mut by_name = order.clone();
    by_name.sort();
    assert_ne!(
        order, by_name,
        "seed 42 should give a tablet order different from name order"
    );
    for limit in [1usize, 2, 7, 1024] {
        em.set_limits(limit, 128);
        let pages = snapshot_pages(&em, "").await;
        let expected_pages: usize = order.iter().map(|k| sizes[k] / limit + 1).sum();
        assert_eq!(pages.len(), expected_pages, "limit {limit}");
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut ids: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for page in &pages {
            let values = page["values"].as_array().unwrap();
            assert!(values.len() <= limit);
            assert_eq!(page["snapshot"], pages[0]["snapshot"]);
            for v in values {
                let key = (
                    v["_component"].as_str().unwrap().to_string(),
                    v["_table"].as_str().unwrap().to_string(),
                );
                assert!(v.get("_deleted").is_none());
                if seen.last() != Some(&key) {
                    seen.push(key.clone());
                }
                ids.entry(key)
                    .or_default()
                    .push(v["_id"].as_str().unwrap().to_string());
            }
        }
        // Tables come in tablet-id order, each contiguous, ids ascending, all docs once.
        let non_empty: Vec<_> = order.iter().filter(|k| sizes[*k] > 0).cloned().collect();
        assert_eq!(seen, non_empty);
        for (k, list) in &ids {
            let mut sorted = list.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(&sorted, list);
            assert_eq!(list.len(), sizes[k]);
        }
    }
    // The empty table yields an empty page with hasMore: true at limit 1024.
    em.set_limits(1024, 128);
    let pages = snapshot_pages(&em, "").await;
    let beta_pos = order.iter().position(|k| k.1 == "beta").unwrap();
    assert_eq!(pages[beta_pos]["values"].as_array().unwrap().len(), 0);
    assert!(beta_pos == pages.len() - 1 || pages[beta_pos]["hasMore"] == true);
}

#[tokio::test]
async fn cursor_format_and_idempotence() {
    let (em, _) = paging_fixture();
    em.set_limits(2, 128);
    let (_, body) = get(&em, "/api/list_snapshot").await;
    let page = json(&body);
    let cursor = page["cursor"].as_str().unwrap();
    let parsed = json(cursor);
    assert_eq!(parsed["tablet"].as_str().unwrap().len(), 22);
    assert!(cursor.starts_with(r#"{"tablet":""#));
    let uri = format!(
        "/api/list_snapshot?snapshot={}&cursor={}",
        page["snapshot"],
        urlencode(cursor)
    );
    let a = get(&em, &uri).await;
    let b = get(&em, &uri).await;
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_is_consistent_while_writing() {
    let (em, _) = paging_fixture();
    let before: BTreeMap<(String, String), usize> = em
        .tables()
        .into_iter()
        .map(|(c, t)| {
            let n = em.live_documents(&c, &t).len();
            ((c, t), n)
        })
        .collect();
    em.set_limits(2, 128);
    let (_, body) = get(&em, "/api/list_snapshot").await;
    let first = json(&body);
    let snapshot = first["snapshot"].as_i64().unwrap();
    // Concurrent writes: updates, deletes, inserts, a new table, a dropped table.
    let gamma = em.live_documents("", "gamma");
    let gid = |i: usize| gamma[i]["_id"].clone();
    let Value::String(g0) = gid(0) else { panic!() };
    let Value::String(g1) = gid(1) else { panic!() };
    em.apply(vec![
        Mutation::Update {
            id: g0,
            fields: fields(&[("i", Value::Int64(-1))]),
        },
        Mutation::Delete { id: g1 },
        insert("", "gamma", &[("i", Value::Int64(99))]),
        insert("", "delta", &[("i", Value::Int64(0))]),
    ])
    .unwrap();
    em.drop_table("waitlist", "entries").unwrap();
    em.replace_table("", "alpha", vec![fields(&[("i", Value::Int64(7))])])
        .unwrap();
    // Continue the traversal at the old snapshot.
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut page = first;
    loop {
        for v in page["values"].as_array().unwrap() {
            let key = (
                v["_component"].as_str().unwrap().to_string(),
                v["_table"].as_str().unwrap().to_string(),
            );
            assert!(v["_ts"].as_i64().unwrap() <= snapshot);
            if key.1 == "gamma" {
                assert_ne!(v["i"], "-1", "update after the snapshot must be invisible");
            }
            *counts.entry(key).or_default() += 1;
        }
        if page["hasMore"] == false {
            break;
        }
        let uri = format!(
            "/api/list_snapshot?snapshot={snapshot}&cursor={}",
            urlencode(page["cursor"].as_str().unwrap())
        );
        let (s, body) = get(&em, &uri).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        page = json(&body);
    }
    let expected: BTreeMap<_, _> = before.into_iter().filter(|(_, n)| *n > 0).collect();
    assert_eq!(counts, expected);
    // A fresh snapshot sees the new state.
    let pages = snapshot_pages(&em, "").await;
    let tables: std::collections::BTreeSet<String> = pages
        .iter()
        .flat_map(|p| {
            p["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["_table"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(tables.contains("delta") && !tables.contains("entries"));
    assert_eq!(em.live_documents("", "alpha").len(), 1);
}

#[tokio::test]
async fn snapshot_errors() {
    let (em, _) = paging_fixture();
    let now = em.current_ts();
    let err = |uri: String| {
        let em = em.clone();
        async move {
            let (s, body) = get(&em, &uri).await;
            (
                s.as_u16(),
                code(&body),
                json(&body)["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }
    };
    let (s, c, m) = err(format!("/api/list_snapshot?snapshot={}", now + 1)).await;
    assert_eq!(
        (s, c.as_str(), m),
        (
            400,
            "SnapshotTooNew",
            format!("Snapshot value {} is in the future.", now + 1)
        )
    );
    // Format is parsed after the page: SnapshotTooNew wins over BadFormat.
    let (_, c, _) = err(format!(
        "/api/list_snapshot?snapshot={}&format=xml",
        now + 1
    ))
    .await;
    assert_eq!(c, "SnapshotTooNew");
    let (s, c, m) = err("/api/list_snapshot?format=xml".into()).await;
    assert_eq!(
        (s, c.as_str(), m.as_str()),
        (
            400,
            "BadFormat",
            "format param must be one of [`json`]. Got xml"
        )
    );
    let (s, c, _) = err("/api/list_snapshot?cursor=abc".into()).await;
    assert_eq!((s, c.as_str()), (400, "InvalidListSnapshotCursor"));
    let bad = urlencode(r#"{"tablet":"!!","id":"x"}"#);
    let (s, c, _) = err(format!("/api/list_snapshot?cursor={bad}")).await;
    assert_eq!((s, c.as_str()), (400, "InvalidListSnapshotCursor"));
    for uri in [
        "/api/list_snapshot?snapshot=-1",
        "/api/list_snapshot?tableName=bad-name",
        "/api/list_snapshot?component=a//b",
        "/api/document_deltas?cursor=-5",
    ] {
        let (s, c, m) = err(uri.into()).await;
        assert_eq!(
            (s, c.as_str(), m.as_str()),
            (
                500,
                "InternalServerError",
                "Your request couldn't be completed. Try again later."
            ),
            "{uri}"
        );
    }
    // Retention: expire_before and the 5-day max age.
    em.expire_before(now);
    let (_, c, _) = err(format!("/api/list_snapshot?snapshot={}", now - 1)).await;
    assert_eq!(c, "SnapshotTooOld");
    let (s, _, _) = err(format!("/api/list_snapshot?snapshot={now}")).await;
    assert_eq!(s, 200);
    em.advance_clock(5 * 86_400 * 1_000_000_000 + 1);
    let (_, c, m) = err(format!("/api/list_snapshot?snapshot={now}")).await;
    assert_eq!(c, "SnapshotTooOld");
    assert!(m.contains("too far in the past"));
}

#[tokio::test]
async fn selection_forms() {
    let (em, sizes) = paging_fixture();
    let all: usize = sizes.values().sum();
    let count = |body: &str| json(body)["values"].as_array().unwrap().len();
    let tables = |body: &str| {
        json(body)["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                format!(
                    "{}/{}",
                    v["_component"].as_str().unwrap(),
                    v["_table"].as_str().unwrap()
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
    };
    // Walk everything with a given POST body (selection forms); returns concatenated values.
    async fn walk_post(em: &Emulator, extra: &str) -> String {
        let mut out = Vec::new();
        let mut body = format!("{{{extra}}}");
        loop {
            let (s, text) = post(em, "/api/list_snapshot", &body).await;
            assert_eq!(s, StatusCode::OK, "{text}");
            let page = json(&text);
            out.extend(page["values"].as_array().unwrap().clone());
            if page["hasMore"] == false {
                break;
            }
            let sep = if extra.is_empty() { "" } else { "," };
            body = format!(
                "{{{extra}{sep}\"snapshot\":{},\"cursor\":{}}}",
                page["snapshot"],
                serde_json::to_string(page["cursor"].as_str().unwrap()).unwrap()
            );
        }
        serde_json::json!({"values": out}).to_string()
    }
    let b = walk_post(&em, "").await;
    assert_eq!(count(&b), all);
    let b = walk_post(&em, r#""tableName":"gamma""#).await;
    assert_eq!(tables(&b), ["/gamma".to_string()].into());
    let b = walk_post(&em, r#""table_name":"entries","component":"waitlist""#).await;
    assert_eq!(count(&b), 5);
    let b = walk_post(&em, r#""tableName":"entries""#).await;
    assert_eq!(count(&b), 0, "a table name alone means the root component");
    let b = walk_post(&em, r#""component":"waitlist""#).await;
    assert_eq!(tables(&b), ["waitlist/entries".to_string()].into());
    // Silent select-everything: misspelled key, malformed selection.
    let b = walk_post(&em, r#""tablename":"gamma""#).await;
    assert_eq!(count(&b), all);
    let b = walk_post(&em, r#""selection":{"":{"_other":"included"}}"#).await;
    assert_eq!(count(&b), all);
    let b = walk_post(&em, r#""selection":{"_other":"bogus"},"tableName":"alpha""#).await;
    assert_eq!(
        tables(&b),
        ["/alpha".to_string()].into(),
        "falls through to the table form"
    );
    // Full selection with column filtering and aliases.
    let sel = r#""selection":{"_other":"excl","":{"_other":"excluded","gamma":{"_other":"incl","_creationTime":"excluded","i":"excluded"}}}"#;
    let b = walk_post(&em, sel).await;
    let v = json(&b);
    let first = v["values"][0].as_object().unwrap();
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["_component", "_id", "_table", "_ts"]
    );
    assert_eq!(count(&b), 10);
    // Excluding `_id` is a 500 on the legacy routes.
    let (s, body) = post(&em, "/api/list_snapshot", r#"{"selection":{"_other":"included","":{"_other":"included","gamma":{"_other":"excluded","i":"included"}}}}"#).await;
    assert_eq!(
        (s.as_u16(), code(&body)),
        (500, "InternalServerError".into())
    );
    // GET: `selection` is not a query form, so it selects everything.
    let (_, body) = get(&em, "/api/list_snapshot?selection=%7B%7D&tablename=gamma").await;
    assert_eq!(body, get(&em, "/api/list_snapshot").await.1);
    // Nothing matches: empty final page at the current ts.
    let (_, body) = get(&em, "/api/list_snapshot?tableName=nosuchtable").await;
    assert_eq!(
        body,
        format!(
            r#"{{"values":[],"snapshot":{},"cursor":null,"hasMore":false}}"#,
            em.current_ts()
        )
    );
}
