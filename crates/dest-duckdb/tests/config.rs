//! Destination settings: DuckDB's memory limit, threads and compression.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use spillway_core::{Destination, StreamId};
use spillway_dest_duckdb::{
    DEFAULT_THREADS, DISABLED_COMPRESSION, DuckDbConfig, DuckDbDestination,
};

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

/// Low-cardinality strings, which DuckDB would store with dictionary compression, are stored
/// with another method ([`DISABLED_COMPRESSION`]), and read back the same.
#[tokio::test(flavor = "multi_thread")]
async fn dictionary_compression_is_disabled() {
    let (_dir, cfg, mut dest) = open();
    let setting = dest
        .query_json("SELECT current_setting('disabled_compression_methods') AS v")
        .unwrap();
    let setting = setting[0]["v"].as_str().unwrap();
    assert!(
        setting.eq_ignore_ascii_case(DISABLED_COMPRESSION),
        "{setting}"
    );
    let n = 5000;
    let ids: Vec<String> = (0..n).map(|i| format!("id{i:05}")).collect();
    let revs: Vec<(&str, i64, bool)> = ids.iter().map(|id| (id.as_str(), 1, false)).collect();
    let kinds = ["paid", "shipped", "refunded"];
    let status: Vec<Option<&str>> = (0..n).map(|i| Some(kinds[i % 3])).collect();
    let s = StreamId::root("t");
    dest.write(&batch(&s, &revs, vec![text("status", status)]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    drop(dest); // closing checkpoints: the rows are compressed into the file

    let mut dest = DuckDbDestination::open(&cfg).unwrap();
    let methods = dest
        .query_json(
            "SELECT DISTINCT compression AS c FROM pragma_storage_info('t') \
             WHERE column_name = 'status' AND segment_type = 'VARCHAR'",
        )
        .unwrap();
    let methods: Vec<&str> = methods.iter().filter_map(|r| r["c"].as_str()).collect();
    assert!(!methods.is_empty(), "no storage info for column status");
    assert!(
        methods
            .iter()
            .all(|m| !m.eq_ignore_ascii_case("dictionary")),
        "{methods:?}"
    );
    let counts = dest
        .query_json("SELECT status, count(*) AS n FROM t GROUP BY status ORDER BY status")
        .unwrap();
    let counts: Vec<(&str, i64)> = counts
        .iter()
        .map(|r| (r["status"].as_str().unwrap(), r["n"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        [("paid", 1667), ("refunded", 1666), ("shipped", 1667)]
    );
}
