//! The crash harness: `spillway sync` is SIGKILLed at seeded random moments — in the snapshot,
//! in the deltas, inside DuckDB commits — against a slowed, faulty emulator holding thousands
//! of documents, with random transactions written between runs. Every run that ends by itself
//! must succeed; after the last kill one more run completes, and the DuckDB copy must equal
//! the emulator: the same `_id`s, no duplicates, every cell equal.
//!
//! The first test reads through data sync (the default), grouping pages into commits (the
//! default `commit_interval`); the second does the same to one read through the legacy API
//! fanned out to DuckDB, Postgres and Parquet.
//!
//! Longer soaks: `SPILLWAY_CRASH_KILLS=200 SPILLWAY_CRASH_SEED=7 scripts/test.sh -E 'test(crash)'`
//! (defaults: 20 kills, a fixed seed; the seed is printed so a failure reproduces).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::child::SyncChild;
use common::*;
use spillway_dest_files::{FilesConfig, FilesDestination};
use spillway_dest_postgres::PostgresDestination;
use spillway_emulator::FaultRule;
use spillway_testkit::postgres::{PgSchema, postgres_url};
use spillway_testkit::random::{Rng, live_ids, random_tx};
use spillway_testkit::tables::{read_files, read_postgres};
use spillway_testkit::{Fixture, compare_with_emulator};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

/// Random transactions between runs: usually a few small ones, sometimes a burst larger than
/// several deltas pages.
fn write_between_runs(f: &Fixture, rng: &mut Rng) -> usize {
    let mut live = live_ids(f);
    let (txs, size) = match rng.below(4) {
        0 => (0, 0),
        1 => (1 + rng.below(20), 1 + rng.below(5)),
        2 => (3, 100),
        _ => (1 + rng.below(5), 1 + rng.below(30)),
    };
    for _ in 0..txs {
        f.emulator.apply(random_tx(rng, &mut live, size)).unwrap();
    }
    txs * size
}

/// The emulator every harness run uses: 4000 documents, 40 rows per page, 4 ms per request
/// and 5% mixed transient faults (429, 5xx, resets, truncated or non-JSON bodies, slow
/// answers) that the runs retry through.
async fn faulty_fixture(seed: u64) -> Fixture {
    let f = Fixture::new().await;
    f.emulator.seed_sample(4000).unwrap();
    f.emulator.set_limits(40, 40);
    f.emulator.set_data_sync_limits(40, 64 << 20, 40);
    f.emulator.set_latency(Duration::from_millis(4));
    f.emulator.set_fault_seed(seed);
    f.emulator.inject_all(FaultRule::transient_mix(0.05));
    f
}

/// Kills `spillway sync -c config` at `kills` random moments with random transactions between
/// runs, then lets one run finish. Every run that ends by itself must exit 0.
async fn kill_and_rerun(f: &Fixture, config: &Path, kills: usize, seed: u64) {
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let (mut killed, mut finished, mut written) = (0, 0, 0);
    while killed < kills {
        assert!(
            killed + finished < kills * 4,
            "seed {seed}: only {killed} of {finished} runs could be killed before they finished"
        );
        written += write_between_runs(f, &mut rng);
        let child = SyncChild::spawn(config);
        let delay = Duration::from_millis(20 + rng.below(1200) as u64);
        tokio::time::sleep(delay).await;
        let applied = child.applied();
        let run = child.kill().await;
        match run.code {
            None => killed += 1,
            Some(0) => finished += 1,
            Some(_) => panic!("seed {seed}: a run failed by itself: {run:#?}"),
        }
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        eprintln!(
            "run {}: {} after {delay:?}, {applied} batches applied",
            killed + finished,
            if run.code.is_none() {
                "killed"
            } else {
                "finished"
            }
        );
    }
    written += write_between_runs(f, &mut rng);
    let last = run(&["sync", "-c", s(config)]).await;
    assert_eq!(last.code, Some(0), "seed {seed}: {last:#?}");
    eprintln!(
        "crash harness: {killed} kills, {finished} runs finished before their kill, {written} \
         operations written between runs, {} injected faults, {:.1?}",
        f.emulator.faults_fired().len(),
        started.elapsed()
    );
}

fn kills_and_seed(default_kills: u64) -> (usize, u64) {
    let kills = env_or("SPILLWAY_CRASH_KILLS", default_kills) as usize;
    let seed = env_or("SPILLWAY_CRASH_SEED", 0xC4A5_2026);
    eprintln!("crash harness: {kills} kills, SPILLWAY_CRASH_SEED={seed}");
    (kills, seed)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_then_rerun_loses_and_duplicates_nothing() {
    let (kills, seed) = kills_and_seed(20);
    let f = faulty_fixture(seed).await;
    kill_and_rerun(&f, &fixture_config(&f), kills, seed).await;
    let diffs = f.mismatches(None).unwrap();
    assert!(diffs.is_empty(), "seed {seed}: {diffs:#?}");
}

/// The same against a fan-out: DuckDB (upsert), Postgres (overwrite-delete-stale, with
/// `messages` appended and `users` soft-deleted) and Parquet files fed by one read. A kill leaves the
/// destinations at different positions, so later runs also exercise resuming from the
/// earliest one.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_fan_out_to_duckdb_postgres_and_parquet() {
    let (kills, seed) = kills_and_seed(12);
    let f = faulty_fixture(seed ^ 0xFA17).await;
    let schema = PgSchema::new("crash");
    let text = format!(
        "{}\n[[destination]]\nkind = \"postgres\"\nurl = \"{}\"\nschema = \"{}\"\n\
         write_mode = \"overwrite-delete-stale\"\n\
         [destination.streams.messages]\nwrite_mode = \"append\"\n\
         [destination.streams.users]\nwrite_mode = \"upsert\"\nsoft_delete = true\n\
         \n[[destination]]\nkind = \"files\"\npath = \"{}\"\nformat = \"parquet\"\n",
        // The legacy API: comparable positions, so destinations at different ones share a read.
        std::fs::read_to_string(fixture_config(&f))
            .unwrap()
            .replace(
                "retry_for = \"10s\"",
                "retry_for = \"10s\"\napi = \"legacy\""
            ),
        postgres_url(),
        schema.name,
        f.dir().join("parquet").display()
    );
    let config = write_config(f.dir(), &text);
    kill_and_rerun(&f, &config, kills, seed).await;
    let diffs = f.mismatches(None).unwrap();
    assert!(diffs.is_empty(), "seed {seed}: duckdb: {diffs:#?}");
    let mut pg = PostgresDestination::connect(&schema.config())
        .await
        .unwrap();
    let diffs = compare_with_emulator(&read_postgres(&mut pg).await.unwrap(), &f.emulator, None);
    assert!(diffs.is_empty(), "seed {seed}: postgres: {diffs:#?}");
    let files =
        FilesDestination::open(&FilesConfig::new(f.dir().join("parquet").to_str().unwrap()))
            .await
            .unwrap();
    let diffs = compare_with_emulator(&read_files(&files).await.unwrap(), &f.emulator, None);
    assert!(diffs.is_empty(), "seed {seed}: parquet: {diffs:#?}");
    // No version was written twice: every (_id, _ts) of the part files is unique.
    let tables = read_files(&files).await.unwrap();
    for (name, t) in &tables {
        let mut seen = std::collections::BTreeSet::new();
        for row in &t.rows {
            let key = (row["_id"].to_string(), row["_ts"].to_string());
            assert!(
                seen.insert(key.clone()),
                "seed {seed}: {name}: version {key:?} written twice"
            );
        }
    }
}
