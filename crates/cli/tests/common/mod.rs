//! Helpers shared by the CLI's integration tests: running the `spillway` binary, writing
//! config files, and checks every failing run must pass.
#![allow(dead_code, clippy::unwrap_used)]

pub mod child;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use spillway_testkit::{ADMIN_KEY, Fixture};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_spillway");

/// A `Command` for the binary with an environment that does not depend on the caller's.
pub fn spillway(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("CONVEX_DEPLOY_KEY")
        .env_remove("SPILLWAY_EMULATOR_KEY")
        .stdin(Stdio::null());
    cmd
}

/// What one run printed and returned.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both streams, for "never printed anywhere" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `cmd` to completion off the async runtime's worker threads (the emulator serves on
/// those).
pub async fn run_cmd(mut cmd: Command) -> Run {
    tokio::task::spawn_blocking(move || cmd.output().unwrap().into())
        .await
        .unwrap()
}

/// Runs the binary with `args` to completion.
pub async fn run(args: &[&str]) -> Run {
    run_cmd(spillway(args)).await
}

/// A `[source]` + one DuckDB `[[destination]]` config.
pub fn config_text(url: &str, deploy_key: &str, db: &Path, extra_source: &str) -> String {
    format!(
        "[source]\nkind = \"convex\"\nurl = \"{url}\"\ndeploy_key = \"{deploy_key}\"\n{extra_source}\n\
         [[destination]]\nkind = \"duckdb\"\npath = \"{}\"\n",
        db.display()
    )
}

/// Writes `text` as `spillway.toml` in `dir`; returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("spillway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes a config pointing at the fixture's emulator and DuckDB file.
pub fn fixture_config(f: &Fixture) -> PathBuf {
    write_config(
        f.dir(),
        &config_text(&f.url, ADMIN_KEY, &f.db_path, "retry_for = \"10s\""),
    )
}

/// [`fixture_config`] reading through the legacy API and committing every page (tests of its
/// snapshot/deltas phases and of page-level resume).
pub fn legacy_fixture_config(f: &Fixture) -> PathBuf {
    let text = config_text(
        &f.url,
        ADMIN_KEY,
        &f.db_path,
        "retry_for = \"10s\"\napi = \"legacy\"",
    );
    write_config(f.dir(), &format!("commit_interval = \"0s\"\n{text}"))
}

/// A path as the `&str` the binary's arguments need.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What every failing run must satisfy: a non-zero exit and an error, not a crash.
#[track_caller]
pub fn assert_clean_failure(r: &Run, code: i32) {
    assert_eq!(r.code, Some(code), "exit code; run: {r:#?}");
    assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
    assert!(
        !r.stderr.contains("RUST_BACKTRACE"),
        "backtrace hint: {}",
        r.stderr
    );
    assert!(
        r.stderr.lines().any(|l| l.starts_with("error: ")),
        "no `error: ` line: {}",
        r.stderr
    );
}

/// The one `error: ` line of stderr.
#[track_caller]
pub fn error_line(r: &Run) -> &str {
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line: {}", r.stderr);
    lines[0]
}
