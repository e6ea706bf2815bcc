//! The data sync API (spec §12–§14) over real HTTP on 127.0.0.1: by_id and ts pages, the
//! capture rule, reconciliation and truncates, statuses, cursors, sync ids, list_active_syncs,
//! the cursor shim, the on/off switch and the shared check order / fault injection.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{ADMIN, config, fill, insert};
use reqwest::{Client, header};
use serde_json::{Value as Json, json};
use spillway_convex_protocol::Value;
use spillway_convex_protocol::value::Format;
use spillway_emulator::{Emulator, EmulatorConfig, Fault, FaultRule, Mutation, ServerHandle};

const SYNC: &str = "/api/v1/data/sync";
const ACTIVE: &str = "/api/v1/data/list_active_syncs";
const SHIM: &str = "/api/data_sync_cursor_from_deltas";
const CLIENT: &str = "spillway-0.1.0";
const SEC: i64 = 1_000_000_000;

struct Deployment {
    em: Emulator,
    server: ServerHandle,
    http: Client,
}

impl Deployment {
    async fn start(config: EmulatorConfig) -> Deployment {
        let em = Emulator::new(config);
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

    async fn new() -> Deployment {
        Deployment::start(config()).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// An authenticated JSON POST with a `Convex-Client`; status and body text.
    async fn post_as(&self, path: &str, client: &str, body: &Json) -> (u16, String) {
        let resp = self
            .http
            .post(self.url(path))
            .header(header::AUTHORIZATION, format!("Convex {ADMIN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("convex-client", client)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn post(&self, path: &str, body: &Json) -> (u16, String) {
        self.post_as(path, CLIENT, body).await
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(self.url(path))
            .header(header::AUTHORIZATION, format!("Convex {ADMIN}"))
            .header("convex-client", CLIENT)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// One data sync page that must succeed.
    async fn page(&self, cursor: Option<&str>, selection: Option<&Json>) -> Json {
        let mut body = json!({});
        if let Some(c) = cursor {
            body["cursor"] = json!(c);
        }
        if let Some(s) = selection {
            body["selection"] = s.clone();
        }
        let (status, text) = self.post(SYNC, &body).await;
        assert_eq!(status, 200, "{text}");
        let page: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(page["pagination"]["hasMore"], json!(true), "{text}");
        assert!(page["pagination"]["nextCursor"].is_string(), "{text}");
        page
    }

    /// Pages until `upToDate`, applying each to `replica`; returns the pages.
    async fn until_up_to_date(&self, replica: &mut Replica, selection: Option<&Json>) -> Vec<Json> {
        let mut pages = Vec::new();
        loop {
            let page = self.page(replica.cursor.as_deref(), selection).await;
            replica.apply(&page);
            let done = status(&page) == "upToDate";
            pages.push(page);
            if done {
                return pages;
            }
            assert!(pages.len() < 1000, "runaway paging");
        }
    }
}

/// The consumer side: applies truncates, then values, per (component, table).
#[derive(Default)]
struct Replica {
    tables: BTreeMap<(String, String), BTreeMap<String, Json>>,
    truncates: Vec<(String, String)>,
    cursor: Option<String>,
}

fn key(j: &Json) -> (String, String) {
    (
        j["component"].as_str().unwrap().to_string(),
        j["table"].as_str().unwrap().to_string(),
    )
}

impl Replica {
    fn apply(&mut self, page: &Json) {
        for t in page["truncates"].as_array().unwrap() {
            self.tables.insert(key(t), BTreeMap::new());
            self.truncates.push(key(t));
        }
        for v in page["values"].as_array().unwrap() {
            let id = v["value"]["_id"].as_str().unwrap().to_string();
            let table = self.tables.entry(key(v)).or_default();
            if v["deleted"].as_bool().unwrap() {
                table.remove(&id);
            } else {
                table.insert(id, v["value"].clone());
            }
        }
        self.cursor = Some(
            page["pagination"]["nextCursor"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }

    /// Every live table's rows equal `live_documents`; tables the store no longer has are
    /// empty in the replica.
    fn assert_matches(&self, em: &Emulator) {
        let live = em.tables();
        for (c, t) in &live {
            let want: BTreeMap<String, Json> = em
                .live_documents(c, t)
                .into_iter()
                .map(|m| {
                    let id = match &m["_id"] {
                        Value::String(s) => s.clone(),
                        _ => unreachable!(),
                    };
                    let j = Value::Object(m).to_json_string(Format::ExportJson);
                    (id, serde_json::from_str(&j).unwrap())
                })
                .collect();
            let got = self
                .tables
                .get(&(c.clone(), t.clone()))
                .cloned()
                .unwrap_or_default();
            assert_eq!(got, want, "table {c:?}/{t:?}");
        }
        for (k, rows) in &self.tables {
            if !live.contains(k) {
                assert!(rows.is_empty(), "vanished table {k:?} still has rows");
            }
        }
    }
}

fn status(page: &Json) -> &str {
    page["status"]["type"].as_str().unwrap()
}

fn values(page: &Json) -> &Vec<Json> {
    page["values"].as_array().unwrap()
}

fn ids(page: &Json) -> Vec<String> {
    values(page)
        .iter()
        .map(|v| v["value"]["_id"].as_str().unwrap().to_string())
        .collect()
}

fn truncates(page: &Json) -> Vec<(String, String)> {
    page["truncates"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect()
}

fn code(body: &str) -> String {
    let j: Json = serde_json::from_str(body).unwrap();
    j["code"].as_str().unwrap().to_string()
}

fn only(component: &str, tables: &[&str]) -> Json {
    let mut c = json!({"_other": "excluded"});
    for t in tables {
        c[*t] = json!({"_other": "included"});
    }
    let mut s = json!({"_other": "excluded"});
    s[component] = c;
    s
}

fn tk(c: &str, t: &str) -> (String, String) {
    (c.to_string(), t.to_string())
}

#[tokio::test]
async fn cold_sync_with_tiny_pages_truncates_each_table_first_and_converges() {
    let d = Deployment::new().await;
    fill(&d.em, "", "alpha", 5);
    let gone = fill(&d.em, "", "empty", 1);
    d.em.apply(vec![Mutation::Delete {
        id: gone[0].clone(),
    }])
    .unwrap();
    fill(&d.em, "waitlist", "signups", 3);
    d.em.set_data_sync_limits(2, 1 << 20, 1000);

    let mut replica = Replica::default();
    let pages = d.until_up_to_date(&mut replica, None).await;
    replica.assert_matches(&d.em);

    // Every table is truncated exactly once, on or before the page with its first value.
    let mut truncated: Vec<(String, String)> = Vec::new();
    let mut per_table_ids: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for page in &pages {
        truncated.extend(truncates(page));
        for v in values(page) {
            assert!(truncated.contains(&key(v)), "value before truncate: {v}");
            per_table_ids
                .entry(key(v))
                .or_default()
                .push(v["value"]["_id"].as_str().unwrap().to_string());
            assert!(v["value"]["_creationTime"].is_f64());
            assert_eq!(v["deleted"], json!(false));
        }
        assert!(values(page).len() <= 2, "entries limit");
    }
    let mut sorted = truncated.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [tk("", "alpha"), tk("", "empty"), tk("waitlist", "signups")]
    );
    // The empty table got its truncate and no values.
    assert!(!per_table_ids.contains_key(&tk("", "empty")));
    // by_id pages: `_id` order within each table.
    for (t, ids) in &per_table_ids {
        let mut s = ids.clone();
        s.sort();
        assert_eq!(ids, &s, "{t:?} not in _id order");
    }
    assert_eq!(per_table_ids[&tk("", "alpha")].len(), 5);
    // Statuses: snapshotting, then a consistent status at the latest ts.
    assert!(pages.len() >= 5);
    for p in &pages[..pages.len() - 1] {
        assert_eq!(status(p), "snapshotting");
    }
    let last = pages.last().unwrap();
    assert_eq!(last["status"]["snapshotTs"], json!(d.em.current_ts()));
    // The first page's sync id is carried by every later page.
    let sid = &pages[0]["syncId"];
    assert!(pages.iter().all(|p| &p["syncId"] == sid));
    // upToDate again with nothing new.
    let again = d.page(replica.cursor.as_deref(), None).await;
    assert_eq!(status(&again), "upToDate");
    assert!(values(&again).is_empty() && truncates(&again).is_empty());
}

#[tokio::test]
async fn writes_during_snapshot_only_emit_captured_documents_and_converge() {
    let d = Deployment::new().await;
    let mut all = fill(&d.em, "", "t", 12);
    all.sort();
    d.em.set_data_sync_limits(3, 1 << 20, 1000);
    let mut replica = Replica::default();
    let p1 = d.page(None, None).await;
    replica.apply(&p1);
    assert_eq!(
        ids(&p1),
        all[..3].to_vec(),
        "first by_id page: smallest ids"
    );
    // The last id walked is captured (id ≤ last id): the boundary case of the capture rule.
    let captured = all[2].clone();
    let uncaptured = all[11].clone();
    let ts =
        d.em.apply(vec![
            Mutation::Update {
                id: captured.clone(),
                fields: common::fields(&[("i", Value::Int64(100))]),
            },
            Mutation::Update {
                id: uncaptured.clone(),
                fields: common::fields(&[("i", Value::Int64(111))]),
            },
        ])
        .unwrap()
        .ts;
    // Past the freshness window: a ts page, emitting only the captured document's revision.
    d.em.advance_clock(31 * SEC);
    let p2 = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p2);
    assert_eq!(status(&p2), "snapshotting");
    assert_eq!(ids(&p2), std::slice::from_ref(&captured));
    assert_eq!(values(&p2)[0]["ts"], json!(ts));
    assert_eq!(values(&p2)[0]["value"]["i"], json!(100));
    // More writes while by_id continues: a delete of a captured doc and new inserts.
    d.em.apply(vec![
        Mutation::Delete { id: all[1].clone() },
        insert("", "t", &[("i", Value::Int64(7))]),
    ])
    .unwrap();
    let rest = d.until_up_to_date(&mut replica, None).await;
    replica.assert_matches(&d.em);
    // The uncaptured doc arrives once, by_id, already updated (read at a newer synced_ts).
    let seen: Vec<&Json> = rest
        .iter()
        .flat_map(values)
        .filter(|v| v["value"]["_id"] == json!(uncaptured))
        .collect();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["value"]["i"], json!(111));
}

#[tokio::test]
async fn a_large_transaction_is_never_split() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 2);
    d.em.set_data_sync_limits(2, 1 << 20, 2);
    let mut replica = Replica::default();
    d.until_up_to_date(&mut replica, None).await;
    let big =
        d.em.apply(
            (0..7)
                .map(|i| insert("", "t", &[("i", Value::Int64(i))]))
                .collect(),
        )
        .unwrap()
        .ts;
    let small =
        d.em.apply(vec![insert("", "t", &[("i", Value::Int64(9))])])
            .unwrap()
            .ts;
    let p = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p);
    assert_eq!(values(&p).len(), 7, "the whole transaction in one page");
    assert!(values(&p).iter().all(|v| v["ts"] == json!(big)));
    assert_eq!(p["status"], json!({"type": "stale", "snapshotTs": big}));
    let p = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p);
    assert_eq!(values(&p).len(), 1);
    assert_eq!(
        p["status"],
        json!({"type": "upToDate", "snapshotTs": small})
    );
    replica.assert_matches(&d.em);
}

#[tokio::test]
async fn value_shapes_tombstones_and_column_selection() {
    let d = Deployment::new().await;
    let id =
        d.em.apply(vec![insert(
            "",
            "people",
            &[
                ("name", Value::String("Ada".into())),
                ("ssn", Value::String("x".into())),
                ("n", Value::Int64(5)),
                ("f", Value::Float64(5.0)),
            ],
        )])
        .unwrap()
        .ids[0]
            .clone();
    let sel = json!({"_other": "included", "": {"_other": "included",
        "people": {"_other": "included", "ssn": "excluded", "_creationTime": "excluded"}}});
    let (s, text) = d.post(SYNC, &json!({"selection": sel})).await;
    assert_eq!(s, 200, "{text}");
    // Byte-exact value: keys in byte order, export_json numbers, no deselected columns.
    let want = format!(
        r#""values":[{{"component":"","table":"people","ts":{},"deleted":false,"value":{{"_id":"{id}","f":5.0,"n":5,"name":"Ada"}}}}]"#,
        d.em.current_ts()
    );
    assert!(text.contains(&want), "{text}");
    assert!(
        text.starts_with(r#"{"status":{"type":"upToDate","snapshotTs":"#),
        "{text}"
    );
    let page: Json = serde_json::from_str(&text).unwrap();
    let del =
        d.em.apply(vec![Mutation::Delete { id: id.clone() }])
            .unwrap()
            .ts;
    let p = d
        .page(page["pagination"]["nextCursor"].as_str(), Some(&sel))
        .await;
    assert_eq!(
        p["values"],
        json!([{"component": "", "table": "people", "ts": del, "deleted": true,
                "value": {"_id": id}}])
    );
}

#[tokio::test]
async fn selection_changes_add_deselect_and_reselect() {
    let d = Deployment::new().await;
    fill(&d.em, "", "a", 3);
    fill(&d.em, "", "b", 4);
    d.em.set_data_sync_limits(2, 1 << 20, 1000);
    let mut replica = Replica::default();
    let only_a = only("", &["a"]);
    let both = only("", &["a", "b"]);
    d.until_up_to_date(&mut replica, Some(&only_a)).await;
    assert_eq!(replica.truncates, [tk("", "a")]);
    assert!(!replica.tables.contains_key(&tk("", "b")));

    // Adding b: snapshotting again, with one truncate for b only.
    let pages = d.until_up_to_date(&mut replica, Some(&both)).await;
    assert_eq!(status(&pages[0]), "snapshotting");
    assert_eq!(truncates(&pages[0]), [tk("", "b")]);
    assert_eq!(replica.truncates, [tk("", "a"), tk("", "b")]);
    replica.assert_matches(&d.em);

    // Deselecting b: silent, the replica keeps b's rows and gets none of its changes.
    fill(&d.em, "", "b", 1);
    let kept = replica.tables[&tk("", "b")].clone();
    let p = d.page(replica.cursor.as_deref(), Some(&only_a)).await;
    replica.apply(&p);
    assert!(truncates(&p).is_empty() && values(&p).is_empty(), "{p}");
    assert_eq!(status(&p), "upToDate");
    assert_eq!(replica.tables[&tk("", "b")], kept);

    // Reselecting b: truncate and a full re-snapshot.
    let pages = d.until_up_to_date(&mut replica, Some(&both)).await;
    assert_eq!(truncates(&pages[0]), [tk("", "b")]);
    let b_values: usize = pages
        .iter()
        .flat_map(values)
        .filter(|v| key(v) == tk("", "b"))
        .count();
    assert_eq!(b_values, 5);
    replica.assert_matches(&d.em);
}

#[tokio::test]
async fn replace_table_gives_one_truncate_and_only_the_new_tablet() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 4);
    fill(&d.em, "", "u", 2);
    let mut replica = Replica::default();
    d.until_up_to_date(&mut replica, None).await;
    replica.truncates.clear();
    let docs = vec![
        common::fields(&[("new", Value::Boolean(true))]),
        common::fields(&[("new", Value::Boolean(false))]),
    ];
    d.em.replace_table("", "t", docs).unwrap();
    d.em.apply(vec![insert("", "u", &[("i", Value::Int64(1))])])
        .unwrap();
    let pages = d.until_up_to_date(&mut replica, None).await;
    assert_eq!(replica.truncates, [tk("", "t")]);
    assert_eq!(truncates(&pages[0]), [tk("", "t")], "on the page it enters");
    assert_eq!(replica.tables[&tk("", "t")].len(), 2);
    assert!(
        replica.tables[&tk("", "t")]
            .values()
            .all(|v| v["new"].is_boolean())
    );
    replica.assert_matches(&d.em);
}

#[tokio::test]
async fn drop_table_truncates_it() {
    let d = Deployment::new().await;
    fill(&d.em, "", "keep", 2);
    fill(&d.em, "", "doomed", 3);
    let mut replica = Replica::default();
    d.until_up_to_date(&mut replica, None).await;
    d.em.drop_table("", "doomed").unwrap();
    let p = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p);
    assert_eq!(truncates(&p), [tk("", "doomed")]);
    assert!(values(&p).is_empty());
    assert_eq!(status(&p), "upToDate");
    assert!(replica.tables[&tk("", "doomed")].is_empty());
    replica.assert_matches(&d.em);
    // Only once: the tablet has left the cursor.
    let p = d.page(replica.cursor.as_deref(), None).await;
    assert!(truncates(&p).is_empty());
}

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
async fn freshness_knob_picks_by_id_or_ts_pages() {
    let d = Deployment::new().await;
    let mut all = fill(&d.em, "", "t", 6);
    all.sort();
    d.em.set_data_sync_limits(2, 1 << 20, 1000);
    let mut replica = Replica::default();
    let p1 = d.page(None, None).await;
    replica.apply(&p1);
    assert_eq!(ids(&p1), all[..2].to_vec());
    // Within 30 s of synced_ts: by_id.
    d.em.advance_clock(29 * SEC);
    let p2 = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p2);
    assert_eq!(ids(&p2), all[2..4].to_vec());
    // 30 s or more behind: a ts page (no writes, so no values), which catches synced_ts up.
    d.em.advance_clock(SEC);
    let p3 = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p3);
    assert!(values(&p3).is_empty());
    assert_eq!(status(&p3), "snapshotting");
    // Caught up: by_id again, then done.
    let p4 = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p4);
    assert_eq!(ids(&p4), all[4..].to_vec());
    // The knob is also settable through the control plane.
    let resp = d
        .http
        .post(d.url("/_emulator/data_sync"))
        .json(&json!({"freshness_ns": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(d.em.config().data_sync_by_id_freshness_ns, 1);
    d.until_up_to_date(&mut replica, None).await;
    replica.assert_matches(&d.em);
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

#[tokio::test]
async fn page_bytes_limit_is_soft() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 3);
    // One byte: every page stops after the value that crosses it, so one value per page.
    d.em.set_data_sync_limits(100, 1, 1000);
    let mut replica = Replica::default();
    let pages = d.until_up_to_date(&mut replica, None).await;
    let sizes: Vec<usize> = pages.iter().map(|p| values(p).len()).collect();
    assert_eq!(sizes, [1, 1, 1, 0]);
    replica.assert_matches(&d.em);
    // ts pages too, but a transaction stays whole.
    d.em.apply(
        (0..3)
            .map(|i| insert("", "t", &[("i", Value::Int64(i))]))
            .collect(),
    )
    .unwrap();
    fill(&d.em, "", "t", 1);
    let p = d.page(replica.cursor.as_deref(), None).await;
    assert_eq!(values(&p).len(), 3);
    assert_eq!(status(&p), "stale");
}

/// A tiny deterministic generator for the interleaving test.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn interleaved_writes_replaces_and_drops_converge() {
    let d = Deployment::new().await;
    fill(&d.em, "", "a", 7);
    fill(&d.em, "", "b", 5);
    fill(&d.em, "waitlist", "c", 4);
    d.em.set_data_sync_limits(3, 1 << 20, 4);
    let mut rng = Lcg(9);
    let mut replica = Replica::default();
    let tables = [("", "a"), ("", "b"), ("waitlist", "c")];
    let mut up_to_date_checks = 0;
    for step in 0..120 {
        let page = d.page(replica.cursor.as_deref(), None).await;
        replica.apply(&page);
        if status(&page) == "upToDate" {
            // Nothing was written since the page: the replica is the live database.
            replica.assert_matches(&d.em);
            up_to_date_checks += 1;
        }
        if step >= 100 {
            continue;
        }
        let (c, t) = tables[rng.below(3) as usize];
        let live = d.em.live_documents(c, t);
        let pick = |rng: &mut Lcg| match &live[rng.below(live.len() as u64) as usize]["_id"] {
            Value::String(s) => s.clone(),
            _ => unreachable!(),
        };
        match rng.below(10) {
            0..=2 => {
                fill(&d.em, c, t, 1 + rng.below(4) as usize);
            }
            3 | 4 if !live.is_empty() => {
                let id = pick(&mut rng);
                d.em.apply(vec![Mutation::Update {
                    id,
                    fields: common::fields(&[("i", Value::Int64(step))]),
                }])
                .unwrap();
            }
            5 if !live.is_empty() => {
                let id = pick(&mut rng);
                d.em.apply(vec![Mutation::Delete { id }]).unwrap();
            }
            6 => {
                let docs = (0..rng.below(3))
                    .map(|i| common::fields(&[("r", Value::Int64(i as i64))]))
                    .collect();
                d.em.replace_table(c, t, docs).unwrap();
            }
            7 if d.em.tables().contains(&tk(c, t)) => {
                d.em.drop_table(c, t).unwrap();
            }
            8 => d.em.advance_clock(31 * SEC),
            _ => {}
        }
    }
    d.until_up_to_date(&mut replica, None).await;
    replica.assert_matches(&d.em);
    assert!(up_to_date_checks > 0);
}
