//! Destination settings: DuckDB's memory limit and threads.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use spillway_dest_duckdb::{DEFAULT_THREADS, DuckDbConfig, DuckDbDestination};

#[test]
fn memory_limit_is_applied_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = DuckDbConfig::new(dir.path().join("m.duckdb")).with_memory_limit(64 << 20);
    let mut dest = DuckDbDestination::open(&config).unwrap();
    let rows = dest
        .query_json("SELECT current_setting('memory_limit') AS v")
        .unwrap();
    let v = rows[0]["v"].as_str().unwrap().to_string();
    assert!(v.starts_with("64.0 MiB") || v.starts_with("67.1 MB"), "{v}");
}

#[test]
fn memory_limit_is_optional_in_the_config() {
    let c: DuckDbConfig = serde_json::from_str(r#"{"path": "x.duckdb"}"#).unwrap();
    assert_eq!(c.memory_limit, None);
    let c: DuckDbConfig =
        serde_json::from_str(r#"{"path": "x.duckdb", "memory_limit": 1048576}"#).unwrap();
    assert_eq!(c.memory_limit, Some(1 << 20));
}

fn threads_of(config: &DuckDbConfig) -> i64 {
    let mut dest = DuckDbDestination::open(config).unwrap();
    let rows = dest
        .query_json("SELECT current_setting('threads')::BIGINT AS v")
        .unwrap();
    rows[0]["v"].as_i64().unwrap()
}

#[test]
fn threads_default_to_one_and_can_be_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = DuckDbConfig::new(dir.path().join("t.duckdb"));
    assert_eq!(threads_of(&config), i64::from(DEFAULT_THREADS));
    assert_eq!(DEFAULT_THREADS, 1);
    assert_eq!(threads_of(&config.clone().with_threads(3)), 3);
    assert_eq!(
        threads_of(&config.with_threads(0)),
        1,
        "at least one thread"
    );
    let c: DuckDbConfig = serde_json::from_str(r#"{"path": "x.duckdb", "threads": 2}"#).unwrap();
    assert_eq!(c.threads, Some(2));
}
