//! Airbyte's own `source-convex` connector (from PyPI, pinned) against the emulator: check,
//! discover, a full read and an incremental read from its saved state. The benchmark points
//! that connector at the emulator, so the emulator must serve its GET/`format=json` dialect.
//!
//! The connector is installed once into `$SPILLWAY_CACHE/airbyte-venv` (about 20 s; needs
//! python3 and PyPI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value as Json, json};
use spillway_convex_protocol::Value;
use spillway_testkit::docs::{delete, insert, s};
use spillway_testkit::{ADMIN_KEY, Fixture};

const CONNECTOR: &str = "airbyte-source-convex==0.4.51";

/// The connector's executable, installing it on first use.
fn connector() -> PathBuf {
    let cache = std::env::var_os("SPILLWAY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/spillway"));
    let venv = cache.join("airbyte-venv");
    let exe = venv.join("bin/source-convex");
    if !exe.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is needed for this test")
            .success();
        assert!(ok, "python3 -m venv failed");
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", CONNECTOR])
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install {CONNECTOR} failed");
    }
    exe
}

/// Runs the connector; returns its Airbyte messages.
fn run(exe: &Path, args: &[&str], dir: &Path) -> Vec<Json> {
    let out = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "source-convex {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let messages: Vec<Json> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for m in &messages {
        let error = &m["trace"]["error"];
        assert!(error.is_null(), "connector reported an error: {error}");
    }
    messages
}

/// [`run`] on a blocking thread.
async fn run_async(exe: &Path, args: &[&str], dir: &Path) -> Vec<Json> {
    let (exe, dir) = (exe.to_path_buf(), dir.to_path_buf());
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&exe, &args, &dir)
    })
    .await
    .unwrap()
}

fn records(messages: &[Json]) -> BTreeMap<String, Vec<Json>> {
    let mut out: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for m in messages.iter().filter(|m| m["type"] == "RECORD") {
        let r = &m["record"];
        out.entry(r["stream"].as_str().unwrap().to_string())
            .or_default()
            .push(r["data"].clone());
    }
    out
}

fn root_ids(fx: &Fixture, table: &str) -> BTreeSet<String> {
    fx.emulator
        .live_documents("", table)
        .iter()
        .map(|d| match &d["_id"] {
            Value::String(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn airbyte_source_convex_reads_the_emulator() {
    let exe = connector();
    let fx = Fixture::new().await;
    fx.emulator.seed_sample(300).unwrap();
    let dir = fx.dir().to_path_buf();
    let config = json!({"deployment_url": fx.url, "access_key": ADMIN_KEY});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let check = run_async(&exe, &["check", "--config", "config.json"], &dir).await;
    let discover = run_async(&exe, &["discover", "--config", "config.json"], &dir).await;
    assert!(
        check
            .iter()
            .any(|m| m["connectionStatus"]["status"] == "SUCCEEDED"),
        "{check:?}"
    );
    let streams = discover
        .iter()
        .find(|m| m["type"] == "CATALOG")
        .map(|m| m["catalog"]["streams"].as_array().unwrap().clone())
        .unwrap();
    let names: BTreeSet<&str> = streams
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.is_superset(&BTreeSet::from(["channels", "messages", "users"])),
        "{names:?}"
    );
    let catalog = json!({"streams": streams.iter().map(|s| json!({
        "stream": s, "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
        "cursor_field": ["_ts"], "primary_key": [["_id"]],
    })).collect::<Vec<_>>()});
    std::fs::write(dir.join("catalog.json"), catalog.to_string()).unwrap();

    // Full read: every root-component document, once.
    let read = [
        "read",
        "--config",
        "config.json",
        "--catalog",
        "catalog.json",
    ];
    let first = run_async(&exe, &read, &dir).await;
    let got = records(&first);
    for table in ["channels", "messages", "users"] {
        let ids: BTreeSet<String> = got[table]
            .iter()
            .map(|r| r["_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, root_ids(&fx, table), "{table}");
        assert_eq!(got[table].len(), ids.len(), "{table}: duplicates");
    }
    let paths: BTreeSet<String> = fx
        .emulator
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(paths.contains("/api/list_snapshot"), "{paths:?}");

    // Incremental read from the connector's saved state (the last STATE message of each
    // stream; the legacy form is one global blob): exactly the changes come back.
    let states: Vec<Json> = first
        .iter()
        .filter(|m| m["type"] == "STATE")
        .map(|m| m["state"].clone())
        .collect();
    let mut per_stream: BTreeMap<String, Json> = BTreeMap::new();
    for st in &states {
        if let Some(name) = st["stream"]["stream_descriptor"]["name"].as_str() {
            per_stream.insert(name.to_string(), st.clone());
        }
    }
    let state = if per_stream.is_empty() {
        states.last().unwrap()["data"].clone()
    } else {
        Json::Array(per_stream.into_values().collect())
    };
    std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
    let user = root_ids(&fx, "users").into_iter().next().unwrap();
    fx.emulator
        .apply(vec![delete(&user), insert("users", [("name", s("new"))])])
        .unwrap();
    let second = run_async(
        &exe,
        &[&read[..], &["--state", "state.json"]].concat(),
        &dir,
    )
    .await;
    let got = records(&second);
    let users = &got["users"];
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(
        users
            .iter()
            .any(|r| r["_id"] == user.as_str() && r["_deleted"] == true),
        "{users:?}"
    );
    assert!(users.iter().any(|r| r["name"] == "new"), "{users:?}");
    assert!(got.get("messages").is_none_or(Vec::is_empty), "{got:?}");
}
