//! `--help`, `sync --help` (compared with the files under `tests/snapshots/`) and `--version`.
//!
//! After an intended change to the arguments, regenerate the snapshots with
//! `SPILLWAY_UPDATE_SNAPSHOTS=1 cargo nextest run -p spillway --no-default-features -E 'binary(cli_help)'`
//! and review the diff.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::{Run, run};

/// Compares `actual` with `tests/snapshots/<name>`, or rewrites it when asked to.
#[track_caller]
fn assert_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("SPILLWAY_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); create it with SPILLWAY_UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from {}\n--- expected\n{expected}\n--- actual\n{actual}\n(if intended, rerun with SPILLWAY_UPDATE_SNAPSHOTS=1)",
        path.display()
    );
}

#[track_caller]
fn assert_ok_quiet(r: &Run) {
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(r.stderr, "", "nothing on stderr");
}

#[tokio::test(flavor = "multi_thread")]
async fn top_level_help_matches_snapshot() {
    let r = run(&["--help"]).await;
    assert_ok_quiet(&r);
    for command in ["check", "streams", "sync", "state", "emulator", "demo"] {
        assert!(
            r.stdout.contains(command),
            "{command} missing: {}",
            r.stdout
        );
    }
    assert_snapshot("help.txt", &r.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_help_matches_snapshot() {
    let r = run(&["sync", "--help"]).await;
    assert_ok_quiet(&r);
    for flag in [
        "--config",
        "--streams",
        "--full-refresh",
        "--follow",
        "--interval",
    ] {
        assert!(r.stdout.contains(flag), "{flag} missing: {}", r.stdout);
    }
    assert_snapshot("sync_help.txt", &r.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn version_prints_the_crate_version() {
    let r = run(&["--version"]).await;
    assert_ok_quiet(&r);
    assert_eq!(
        r.stdout.trim(),
        format!("spillway {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_subcommand_is_a_usage_error() {
    let r = run(&[]).await;
    assert_eq!(r.code, Some(2), "{r:#?}");
    assert!(r.stderr.contains("Usage: spillway"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}
