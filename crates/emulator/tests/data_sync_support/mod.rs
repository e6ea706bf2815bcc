//! Helpers of the data sync integration tests: a served deployment with a real HTTP client,
//! and [`Replica`], a consumer that applies pages (truncates, then values).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Client, header};
use serde_json::{Value as Json, json};
use spillway_convex_protocol::Value;
use spillway_convex_protocol::value::Format;
use spillway_emulator::{Emulator, EmulatorConfig, ServerHandle};

use crate::common::{ADMIN, config};

pub const SYNC: &str = "/api/v1/data/sync";
pub const ACTIVE: &str = "/api/v1/data/list_active_syncs";
pub const SHIM: &str = "/api/data_sync_cursor_from_deltas";
pub const CLIENT: &str = "spillway-0.1.0";
pub const SEC: i64 = 1_000_000_000;

pub struct Deployment {
    pub em: Emulator,
    pub server: ServerHandle,
    pub http: Client,
}

impl Deployment {
    pub async fn start(config: EmulatorConfig) -> Deployment {
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

    pub async fn new() -> Deployment {
        Deployment::start(config()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// An authenticated JSON POST with a `Convex-Client`; status and body text.
    pub async fn post_as(&self, path: &str, client: &str, body: &Json) -> (u16, String) {
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

    pub async fn post(&self, path: &str, body: &Json) -> (u16, String) {
        self.post_as(path, CLIENT, body).await
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
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
    pub async fn page(&self, cursor: Option<&str>, selection: Option<&Json>) -> Json {
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
    pub async fn until_up_to_date(
        &self,
        replica: &mut Replica,
        selection: Option<&Json>,
    ) -> Vec<Json> {
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
pub struct Replica {
    pub tables: BTreeMap<(String, String), BTreeMap<String, Json>>,
    pub truncates: Vec<(String, String)>,
    pub cursor: Option<String>,
}

pub fn key(j: &Json) -> (String, String) {
    (
        j["component"].as_str().unwrap().to_string(),
        j["table"].as_str().unwrap().to_string(),
    )
}

impl Replica {
    pub fn apply(&mut self, page: &Json) {
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
    pub fn assert_matches(&self, em: &Emulator) {
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

pub fn status(page: &Json) -> &str {
    page["status"]["type"].as_str().unwrap()
}

pub fn values(page: &Json) -> &Vec<Json> {
    page["values"].as_array().unwrap()
}

pub fn ids(page: &Json) -> Vec<String> {
    values(page)
        .iter()
        .map(|v| v["value"]["_id"].as_str().unwrap().to_string())
        .collect()
}

pub fn truncates(page: &Json) -> Vec<(String, String)> {
    page["truncates"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect()
}

pub fn code(body: &str) -> String {
    let j: Json = serde_json::from_str(body).unwrap();
    j["code"].as_str().unwrap().to_string()
}

pub fn only(component: &str, tables: &[&str]) -> Json {
    let mut c = json!({"_other": "excluded"});
    for t in tables {
        c[*t] = json!({"_other": "included"});
    }
    let mut s = json!({"_other": "excluded"});
    s[component] = c;
    s
}

pub fn tk(c: &str, t: &str) -> (String, String) {
    (c.to_string(), t.to_string())
}
