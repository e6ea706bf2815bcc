//! The crash harness: `spillway sync` is SIGKILLed at seeded random moments — in the snapshot,
//! in the deltas, inside DuckDB commits — against a slowed, faulty emulator holding thousands
//! of documents, with random transactions written between runs. Every run that ends by itself
//! must succeed; after the last kill one more run completes, and the DuckDB copy must equal
//! the emulator: the same `_id`s, no duplicates, every cell equal.
//!
//! Longer soaks: `SPILLWAY_CRASH_KILLS=200 SPILLWAY_CRASH_SEED=7 scripts/test.sh -E 'test(crash)'`
//! (defaults: 20 kills, a fixed seed; the seed is printed so a failure reproduces).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::child::SyncChild;
use common::*;
use spillway_emulator::FaultRule;
use spillway_testkit::Fixture;
use spillway_testkit::random::{Rng, live_ids, random_tx};

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

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_then_rerun_loses_and_duplicates_nothing() {
    let kills = env_or("SPILLWAY_CRASH_KILLS", 20) as usize;
    let seed = env_or("SPILLWAY_CRASH_SEED", 0xC4A5_2026);
    eprintln!("crash harness: {kills} kills, SPILLWAY_CRASH_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let f = Fixture::new().await;
    f.emulator.seed_sample(4000).unwrap();
    f.emulator.set_limits(40, 40);
    // A slowed server: every request takes a few milliseconds more, as over a real network,
    // and 5% of requests fail with a mix of transient faults (429, 5xx, resets, truncated or
    // non-JSON bodies, slow answers) that the runs retry through.
    f.emulator.set_latency(Duration::from_millis(4));
    f.emulator.set_fault_seed(seed);
    f.emulator.inject_all(FaultRule::transient_mix(0.05));
    let config = fixture_config(&f);
    let started = Instant::now();

    let (mut killed, mut finished, mut written) = (0, 0, 0);
    while killed < kills {
        assert!(
            killed + finished < kills * 4,
            "seed {seed}: only {killed} of {finished} runs could be killed before they finished"
        );
        written += write_between_runs(&f, &mut rng);
        let child = SyncChild::spawn(&config);
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
    written += write_between_runs(&f, &mut rng);
    let last = run(&["sync", "-c", s(&config)]).await;
    assert_eq!(last.code, Some(0), "seed {seed}: {last:#?}");
    let faults = f.emulator.faults_fired().len();
    let diffs = f.mismatches(None).unwrap();
    assert!(diffs.is_empty(), "seed {seed}: {diffs:#?}");
    eprintln!(
        "crash harness: {killed} kills, {finished} runs finished before their kill, {written} \
         operations written between runs, {faults} injected faults, {:.1?}; destination equals \
         the emulator",
        started.elapsed()
    );
}
