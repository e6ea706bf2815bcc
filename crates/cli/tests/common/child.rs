//! A `spillway sync` child process that tests stop from outside (SIGKILL, SIGINT, SIGTERM),
//! with its output drained in threads and its destination progress counted from the trace log.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spillway_testkit::Fixture;

use super::{Run, s, spillway};

/// The trace line the DuckDB destination writes for every batch it applies (inside the
/// transaction a checkpoint later commits).
const APPLIED: &str = "Batch applied.";

/// A running `spillway sync`.
pub struct SyncChild {
    /// `None` once waited for.
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    applied: Arc<AtomicUsize>,
    readers: Vec<JoinHandle<String>>,
}

impl SyncChild {
    /// Starts `spillway sync -c <config>`, logging the destination's batches.
    pub fn spawn(config: &Path) -> SyncChild {
        let mut cmd = spillway(&["sync", "-c", s(config)]);
        cmd.env("RUST_LOG", "info,spillway_dest_duckdb=trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let applied = Arc::new(AtomicUsize::new(0));
        let err_pipe = child.stderr.take().unwrap();
        let (text, count) = (stderr.clone(), applied.clone());
        let err_reader = std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines() {
                let Ok(line) = line else { break };
                if line.contains(APPLIED) {
                    count.fetch_add(1, Ordering::SeqCst);
                } else {
                    let mut t = text.lock().unwrap();
                    t.push_str(&line);
                    t.push('\n');
                }
            }
            String::new()
        });
        let mut out_pipe = child.stdout.take().unwrap();
        let out_reader = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = out_pipe.read_to_string(&mut out);
            out
        });
        SyncChild {
            child: Some(child),
            stderr,
            applied,
            readers: vec![out_reader, err_reader],
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().unwrap()
    }

    /// Batches the destination has applied so far.
    pub fn applied(&self) -> usize {
        self.applied.load(Ordering::SeqCst)
    }

    /// Waits until the emulator logged at least `requests` requests to `path` and the
    /// destination applied at least `batches` batches. The source reads ahead of the
    /// destination (the channel holds megabytes), so the request count alone says little about
    /// what has been committed; the batch count does.
    ///
    /// # Panics
    /// If the child exits first or this takes more than two minutes.
    pub async fn wait_for(&mut self, f: &Fixture, path: &str, requests: usize, batches: usize) {
        let started = Instant::now();
        loop {
            let seen = count(f, path);
            if seen >= requests && self.applied() >= batches {
                return;
            }
            if let Some(status) = self.child_mut().try_wait().unwrap() {
                panic!(
                    "the sync exited ({status}) before {requests} {path} requests ({seen}) and \
                     {batches} applied batches ({}); stderr:\n{}",
                    self.applied(),
                    self.stderr.lock().unwrap()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "timed out waiting: {seen} {path} requests, {} batches applied",
                self.applied()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL: no chance to clean up.
    pub async fn kill(mut self) -> Run {
        self.child_mut().kill().unwrap();
        self.finish().await
    }

    /// Sends `signal` (e.g. `INT`, `TERM`) and waits for the child to stop by itself.
    pub async fn signal(mut self, signal: &str) -> Run {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child_mut().id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
        self.finish().await
    }

    async fn finish(mut self) -> Run {
        let mut child = self.child.take().unwrap();
        let readers = std::mem::take(&mut self.readers);
        let stderr = self.stderr.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let status = loop {
                if let Some(s) = child.try_wait().unwrap() {
                    break s;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("the sync did not stop within 60s of the signal");
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            let mut texts = readers.into_iter().map(|r| r.join().unwrap());
            let stdout = texts.next().unwrap_or_default();
            let stderr = stderr.lock().unwrap().clone();
            Run {
                code: status.code(),
                stdout,
                stderr,
            }
        })
        .await
        .unwrap()
    }
}

impl Drop for SyncChild {
    fn drop(&mut self) {
        // A failing test must not leave a sync running.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Requests to `path` (e.g. `/api/list_snapshot`) in the emulator's log.
pub fn count(f: &Fixture, path: &str) -> usize {
    f.emulator
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

/// The JSON bodies of the logged requests to `path`, oldest first.
pub fn bodies(f: &Fixture, path: &str) -> Vec<serde_json::Value> {
    f.emulator
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| {
            serde_json::from_str(&r.body)
                .unwrap_or_else(|e| panic!("{path} body is not JSON ({e}): {}", r.body))
        })
        .collect()
}
