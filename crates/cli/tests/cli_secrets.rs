//! The deploy key never reaches output: not in logs at any verbosity (including
//! `RUST_LOG=trace`, which turns on the HTTP stack's own logging), not in error messages
//! (rejected key, broken config around the key, unreachable server), not in `--help`.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;
use spillway_testkit::{ADMIN_KEY, Fixture};

/// The part of every key below that must never be printed.
const SECRET: &str = "fixture-secret";

/// Asserts neither the key nor its secret part was printed.
#[track_caller]
fn assert_no_secret(what: &str, r: &Run) {
    let all = r.all();
    assert!(
        !all.contains(SECRET) && !all.contains(ADMIN_KEY),
        "{what} printed the deploy key:\n{all}"
    );
}

/// The verbosity settings to try: flags and `RUST_LOG`.
fn verbosities() -> Vec<(Vec<&'static str>, Option<&'static str>)> {
    vec![
        (vec![], None),
        (vec!["-v"], None),
        (vec!["-vv"], None),
        (vec!["-vvv"], None),
        (vec![], Some("trace")),
    ]
}

fn with(args: &[&str], flags: &[&str], rust_log: Option<&str>) -> Command {
    let mut all = flags.to_vec();
    all.extend_from_slice(args);
    let mut cmd = spillway(&all);
    if let Some(level) = rust_log {
        cmd.env("RUST_LOG", level);
    }
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_never_printed_by_successful_commands() {
    let f = Fixture::new().await;
    f.emulator.seed_sample(30).unwrap();
    let config = fixture_config(&f);
    for (flags, rust_log) in verbosities() {
        for args in [
            &["check", "-c", s(&config)][..],
            &["streams", "-c", s(&config)],
            &["streams", "--json", "-c", s(&config)],
            &["sync", "-c", s(&config)],
            &["state", "show", "-c", s(&config)],
        ] {
            let r = run_cmd(with(args, &flags, rust_log)).await;
            assert_eq!(r.code, Some(0), "{args:?} {flags:?} {rust_log:?}: {r:#?}");
            assert_no_secret(&format!("{args:?} {flags:?} RUST_LOG={rust_log:?}"), &r);
        }
    }
    // The key from the environment instead of the file.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("deploy_key = \"{ADMIN_KEY}\"\n"), "");
    let env_config = write_config(&f.dir().join("env"), &text);
    for (flags, rust_log) in verbosities() {
        let mut cmd = with(&["sync", "-c", s(&env_config)], &flags, rust_log);
        cmd.env("CONVEX_DEPLOY_KEY", ADMIN_KEY);
        let r = run_cmd(cmd).await;
        assert_eq!(r.code, Some(0), "{r:#?}");
        assert_no_secret("sync with CONVEX_DEPLOY_KEY", &r);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_never_printed_by_failures() {
    let f = Fixture::new().await;
    let dir = f.dir().join("bad");
    let wrong = "prod:happy-animal-123|fixture-secret-but-wrong";
    let unreachable = "http://127.0.0.1:9";
    let broken_configs = [
        // Rejected by the server (401).
        config_text(&f.url, wrong, &f.db_path, ""),
        // Unreachable server.
        config_text(unreachable, ADMIN_KEY, &f.db_path, "retry_for = \"1s\""),
        // An unterminated `${` inside the key.
        config_text(&f.url, &format!("{ADMIN_KEY}${{"), &f.db_path, ""),
        // A key that cannot be sent in a header.
        config_text(&f.url, &format!("{ADMIN_KEY}\\u0001"), &f.db_path, ""),
        // A syntax error on the key's line.
        config_text(&f.url, &format!("{ADMIN_KEY}\" x"), &f.db_path, ""),
        // An unknown key next to the deploy key.
        config_text(&f.url, ADMIN_KEY, &f.db_path, "deploy_keys = \"x\""),
    ];
    for text in broken_configs {
        let config = write_config(&dir, &text);
        for (flags, rust_log) in verbosities() {
            for cmd in ["check", "sync", "streams"] {
                let r = run_cmd(with(&[cmd, "-c", s(&config)], &flags, rust_log)).await;
                assert_ne!(r.code, Some(0), "{text}: {r:#?}");
                assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
                assert_no_secret(&format!("{cmd} {flags:?} {rust_log:?} with {text}"), &r);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn help_does_not_show_the_key_from_the_environment() {
    for args in [
        &["--help"][..],
        &["sync", "--help"],
        &["check", "--help"],
        &["emulator", "--help"],
        &["demo", "--help"],
    ] {
        let mut cmd = spillway(args);
        cmd.env("CONVEX_DEPLOY_KEY", ADMIN_KEY)
            .env("SPILLWAY_EMULATOR_KEY", ADMIN_KEY);
        let r = run_cmd(cmd).await;
        assert_eq!(r.code, Some(0), "{r:#?}");
        assert_no_secret(&format!("{args:?}"), &r);
    }
}
