//! Failures of the `spillway` binary: bad config files (exit 2), a rejected or missing deploy
//! key and a deployment without streaming export (exit 3), an unreachable URL (exit 1). Each
//! says what to fix in one `error:` line, never panics and never prints the deploy key.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use spillway_testkit::Fixture;

/// A config that is valid apart from whatever a test changes.
fn good_config(db: &str) -> String {
    format!(
        "[source]\nkind = \"convex\"\nurl = \"https://happy-animal-123.convex.cloud\"\n\
         deploy_key = \"prod:happy-animal-123|x\"\n\n[[destination]]\nkind = \"duckdb\"\npath = \"{db}\"\n"
    )
}

/// Runs `check -c <file>` on `text`; asserts a clean config failure (exit 2, one line that
/// names the file) and returns the error line.
async fn config_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), text);
    let r = run(&["check", "-c", s(&path)]).await;
    assert_clean_failure(&r, 2);
    assert_eq!(r.stdout, "", "nothing on stdout");
    assert_eq!(r.stderr_lines().len(), 1, "one line: {}", r.stderr);
    let line = error_line(&r).to_string();
    assert!(line.contains(s(&path)), "names the file: {line}");
    line
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_config_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.toml");
    for cmd in [&["check"][..], &["sync"], &["streams"], &["state"]] {
        let mut args = cmd.to_vec();
        args.extend(["-c", s(&path)]);
        if cmd == ["state"] {
            args.push("show");
        }
        let r = run(&args).await;
        assert_clean_failure(&r, 2);
        let line = error_line(&r);
        assert!(line.contains(s(&path)), "{line}");
        assert!(
            line.contains("-c PATH"),
            "says how to point elsewhere: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_toml_names_file_and_line() {
    let line = config_error("[source]\nkind = \"convex\"\n[[destination\n").await;
    assert!(line.contains("line 3"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_key_in_source_is_named() {
    let text = good_config("d.duckdb").replace("deploy_key", "tabels = [\"a\"]\ndeploy_key");
    let line = config_error(&text).await;
    assert!(line.contains("line 4, column 1: source.tabels"), "{line}");
    assert!(line.contains("tables"), "lists the valid keys: {line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types_name_the_key_and_its_line() {
    for (extra, expected) in [
        (
            "tables = \"users\"",
            "line 4, column 1: source.tables: invalid type: string",
        ),
        (
            "retry_for = 10",
            "line 4, column 1: source.retry_for: invalid type: integer",
        ),
        (
            "resnapshot_on_expiry = 1",
            "line 4, column 1: source.resnapshot_on_expiry: invalid type",
        ),
    ] {
        let text = good_config("d.duckdb").replace("deploy_key", &format!("{extra}\ndeploy_key"));
        let line = config_error(&text).await;
        assert!(line.contains(expected), "{extra}: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_key_in_destination_is_named() {
    let line = config_error(&format!("{}fsync = true\n", good_config("d.duckdb"))).await;
    assert!(line.contains("fsync"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_url_is_named() {
    let text =
        good_config("d.duckdb").replace("url = \"https://happy-animal-123.convex.cloud\"\n", "");
    let line = config_error(&text).await;
    assert!(line.contains("missing field `url`"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn url_with_a_path_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let text = good_config("d.duckdb").replace(".cloud\"", ".cloud/api\"");
    let path = write_config(dir.path(), &text);
    let r = run(&["check", "-c", s(&path)]).await;
    assert_clean_failure(&r, 2);
    assert!(error_line(&r).contains("source.url"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn unset_variable_is_named() {
    let text = good_config("d.duckdb").replace(
        "\"prod:happy-animal-123|x\"",
        "\"${SPILLWAY_TEST_SURELY_UNSET_VAR}\"",
    );
    let line = config_error(&text).await;
    assert!(line.contains("SPILLWAY_TEST_SURELY_UNSET_VAR"), "{line}");
    assert!(line.contains("source.deploy_key"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_destination_kind_is_named() {
    let text = good_config("d.duckdb").replace("kind = \"duckdb\"", "kind = \"oracle\"");
    let line = config_error(&text).await;
    assert!(line.contains("oracle") && line.contains("duckdb"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_write_mode_is_named() {
    let line = config_error(&format!(
        "{}write_mode = \"merge\"\n",
        good_config("d.duckdb")
    ))
    .await;
    assert!(
        line.contains("destination[0].write_mode")
            && line.contains("\"merge\" is unknown")
            && line.contains("overwrite-delete-stale"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_deploy_key_says_how_to_set_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = good_config("d.duckdb").replace("deploy_key = \"prod:happy-animal-123|x\"\n", "");
    let path = write_config(dir.path(), &text);
    let r = run(&["check", "-c", s(&path)]).await;
    assert_clean_failure(&r, 2);
    let line = error_line(&r);
    assert!(
        line.contains("deploy_key") && line.contains("CONVEX_DEPLOY_KEY"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_interval_is_a_config_error() {
    let f = Fixture::new().await;
    let cfg = fixture_config(&f);
    let r = run(&["sync", "-c", s(&cfg), "--follow", "--interval", "soon"]).await;
    assert_clean_failure(&r, 2);
    assert!(error_line(&r).contains("--interval"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_flag_outside_the_configured_tables_is_a_config_error() {
    let f = Fixture::new().await;
    let text = config_text(
        &f.url,
        spillway_testkit::ADMIN_KEY,
        &f.db_path,
        "tables = [\"users\"]",
    );
    let cfg = write_config(f.dir(), &text);
    let r = run(&["sync", "-c", s(&cfg), "--streams", "messages"]).await;
    assert_clean_failure(&r, 2);
    assert!(error_line(&r).contains("messages"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_deploy_key_exits_3_without_printing_it() {
    const SECRET: &str = "wrong-secret-4711-do-not-print";
    let wrong_key = format!("prod:happy-animal-123|{SECRET}");
    let f = Fixture::new().await;
    f.emulator.seed_sample(50).unwrap();
    let cfg = write_config(f.dir(), &config_text(&f.url, &wrong_key, &f.db_path, ""));
    for args in [
        vec!["check", "-c", s(&cfg)],
        vec!["-q", "sync", "-c", s(&cfg)],
        vec!["-vv", "streams", "-c", s(&cfg)],
    ] {
        let r = run(&args).await;
        assert_clean_failure(&r, 3);
        let line = error_line(&r);
        assert!(
            line.contains("source.deploy_key") && line.contains("CONVEX_DEPLOY_KEY"),
            "{args:?}: {line}"
        );
        assert!(
            !r.all().contains(SECRET),
            "{args:?} printed the key: {r:#?}"
        );
        if args[0] != "-vv" {
            assert_eq!(
                r.stderr_lines().len(),
                1,
                "{args:?}: one line: {}",
                r.stderr
            );
        }
    }
    // The same through the environment fallback.
    let no_key = config_text(&f.url, "x", &f.db_path, "").replace("deploy_key = \"x\"\n", "");
    let cfg = write_config(f.dir(), &no_key);
    let mut cmd = spillway(&["-vv", "check", "-c", s(&cfg)]);
    cmd.env("CONVEX_DEPLOY_KEY", &wrong_key);
    let r = run_cmd(cmd).await;
    assert_clean_failure(&r, 3);
    assert!(!r.all().contains(SECRET), "printed the key: {r:#?}");
    assert!(error_line(&r).contains("deploy_key"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_listening_fails_quickly_and_names_the_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let db = dir.path().join("d.duckdb");
    let text = config_text(
        &url,
        "prod:x|y",
        &db,
        "request_timeout = \"2s\"\nretry_for = \"1s\"",
    );
    let cfg = write_config(dir.path(), &text);
    for cmd in ["check", "sync", "streams"] {
        let started = Instant::now();
        let r = run(&["-q", cmd, "-c", s(&cfg)]).await;
        let took = started.elapsed();
        assert_clean_failure(&r, 1);
        let line = error_line(&r);
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{cmd}: {line}");
        assert!(line.contains("could not connect"), "{cmd}: {line}");
        assert!(took < Duration::from_secs(20), "{cmd} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_export_disabled_says_to_enable_it() {
    let f = Fixture::new().await;
    f.emulator.seed_sample(20).unwrap();
    f.emulator.set_streaming_export_enabled(false);
    let cfg = fixture_config(&f);
    for cmd in ["check", "sync"] {
        let r = run(&["-q", cmd, "-c", s(&cfg)]).await;
        assert_clean_failure(&r, 3);
        let line = error_line(&r).to_lowercase();
        assert!(
            line.contains("streaming export is not enabled") && line.contains("plan"),
            "{cmd}: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn destination_that_cannot_be_opened_is_reported() {
    let f = Fixture::new().await;
    // A directory where the database file should be.
    let blocked = f.dir().join("blocked.duckdb");
    std::fs::create_dir(&blocked).unwrap();
    let text = config_text(&f.url, spillway_testkit::ADMIN_KEY, &blocked, "");
    let cfg = write_config(f.dir(), &text);
    let r = run(&["-q", "sync", "-c", s(&cfg)]).await;
    assert_ne!(r.code, Some(0), "{r:#?}");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(error_line(&r).contains("blocked.duckdb"), "{}", r.stderr);
}
