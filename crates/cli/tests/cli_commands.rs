//! Happy paths of `check`, `streams` (table and `--json`), `sync`, `state show` and
//! `state reset` against the emulator, and that the deploy key appears in no output, even at
//! `-vv`.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use spillway_testkit::{ADMIN_KEY, Fixture};

/// The secret part of the fixture's deploy key.
const SECRET: &str = "fixture-secret";

#[track_caller]
fn assert_ok(r: &Run) {
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(!r.stderr.contains("error"), "{}", r.stderr);
    assert!(!r.all().contains(SECRET), "printed the deploy key: {r:#?}");
    assert!(
        !r.stderr.contains('\u{1b}'),
        "colour escapes on a stderr that is not a terminal: {:?}",
        r.stderr
    );
}

/// `(component, table)` as the CLI names streams.
fn qualified((component, table): &(String, String)) -> String {
    if component.is_empty() {
        table.clone()
    } else {
        format!("{component}/{table}")
    }
}

async fn seeded() -> Fixture {
    assert!(ADMIN_KEY.ends_with(SECRET));
    let f = Fixture::new().await;
    f.emulator.seed_sample(300).unwrap();
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_each_part() {
    let f = seeded().await;
    let cfg = fixture_config(&f);
    let r = run(&["check", "-c", s(&cfg)]).await;
    assert_ok(&r);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(lines[0].starts_with("config ") && lines[0].ends_with(": ok"));
    assert!(
        lines[1].starts_with("source convex:127.0.0.1: ok"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("destination duckdb:") && lines[2].contains(s(&f.db_path)),
        "{}",
        lines[2]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_lists_every_table_with_columns() {
    let f = seeded().await;
    let cfg = fixture_config(&f);
    let r = run(&["streams", "-c", s(&cfg)]).await;
    assert_ok(&r);
    let tables = f.emulator.tables();
    assert!(tables.len() >= 4, "{tables:?}");
    for t in &tables {
        let name = qualified(t);
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{name}  primary key: _id"))),
            "{name} missing: {}",
            r.stdout
        );
    }
    assert!(
        r.stdout.contains("    _creationTime: float64"),
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_json_is_valid_and_names_the_emulator_tables() {
    let f = seeded().await;
    let cfg = fixture_config(&f);
    let r = run(&["streams", "--json", "-c", s(&cfg)]).await;
    assert_ok(&r);
    let json: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout));
    let mut listed: Vec<(String, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["primary_key"], serde_json::json!(["_id"]), "{s}");
            assert!(!s["columns"].as_array().unwrap().is_empty(), "{s}");
            (
                s["id"]["namespace"].as_str().unwrap().to_string(),
                s["id"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(listed, f.emulator.tables());
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_then_state_show_and_reset() {
    let f = seeded().await;
    let cfg = fixture_config(&f);

    let r = run(&["state", "show", "-c", s(&cfg)]).await;
    assert_ok(&r);
    assert!(r.stdout.contains("no saved state"), "{}", r.stdout);

    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_ok(&r);
    assert!(r.stdout.contains("300 rows written"), "{}", r.stdout);
    assert!(
        r.stdout.contains(" MB, ") && r.stdout.contains(" rows/s)"),
        "{}",
        r.stdout
    );
    let rss = if cfg!(target_os = "linux") {
        "\npeak RSS: "
    } else {
        "\npeak RSS: unknown"
    };
    assert!(r.stdout.contains(rss), "{}", r.stdout);
    assert!(
        r.stdout.contains("position: data sync ") && r.stdout.contains("upToDate"),
        "{}",
        r.stdout
    );
    f.assert_synced();

    let r = run(&["state", "show", "-c", s(&cfg)]).await;
    assert_ok(&r);
    let cursor = f.emulator.current_ts();
    assert!(
        r.stdout
            .contains("convex:127.0.0.1 (this config): data sync ")
            && r.stdout.contains(": upToDate, a consistent snapshot at ts"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&cursor.to_string()), "{}", r.stdout);

    // `-c` also works before the action.
    let r = run(&["state", "-c", s(&cfg), "reset"]).await;
    assert_ok(&r);
    assert!(
        r.stdout.contains("state convex:127.0.0.1 removed"),
        "{}",
        r.stdout
    );
    let r = run(&["state", "show", "-c", s(&cfg)]).await;
    assert_ok(&r);
    assert!(r.stdout.contains("no saved state"), "{}", r.stdout);

    // After the reset the next sync starts over with a snapshot.
    f.emulator.clear_requests();
    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_ok(&r);
    assert!(
        f.emulator
            .requests()
            .iter()
            .any(|q| q.path == "/api/v1/data/sync"
                && q.body_json
                    .as_ref()
                    .is_some_and(|b| b.get("cursor").is_none())),
        "no new sync after reset"
    );
    f.assert_synced();
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_key_never_printed_at_trace_level() {
    let f = seeded().await;
    let cfg = fixture_config(&f);
    let cfg = s(&cfg);
    for args in [
        vec!["-vv", "check", "-c", cfg],
        vec!["-vv", "streams", "-c", cfg],
        vec!["-vv", "streams", "--json", "-c", cfg],
        vec!["-vv", "sync", "-c", cfg],
        vec!["-vv", "sync", "--full-refresh", "-c", cfg],
        vec!["-vv", "state", "show", "-c", cfg],
        vec!["-vv", "state", "reset", "-c", cfg],
    ] {
        let r = run(&args).await;
        assert_ok(&r);
        assert!(!r.all().contains(ADMIN_KEY), "{args:?}");
        if args[1] == "sync" {
            assert!(
                r.stderr.contains("TRACE"),
                "{args:?}: trace logs: {}",
                r.stderr
            );
        }
    }
    // RUST_LOG=trace for everything, key from the environment.
    let text = std::fs::read_to_string(cfg)
        .unwrap()
        .replace(&format!("deploy_key = \"{ADMIN_KEY}\"\n"), "");
    let cfg = write_config(f.dir(), &text);
    let mut cmd = spillway(&["sync", "--full-refresh", "-c", s(&cfg)]);
    cmd.env("RUST_LOG", "trace")
        .env("CONVEX_DEPLOY_KEY", ADMIN_KEY);
    let r = run_cmd(cmd).await;
    assert_ok(&r);
    f.assert_synced();
}
