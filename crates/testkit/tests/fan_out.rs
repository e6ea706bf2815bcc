//! One read fanned out to DuckDB, Postgres and Parquet files (each in its own write modes) through the real
//! emulator: every destination ends equal to the source, a destination behind the others is
//! served by the same read without the others writing anything twice, a failing destination
//! leaves the others intact, and positions one read cannot serve get a read each.

#![allow(clippy::unwrap_used)]

use spillway_core::StreamId;
use spillway_core::{Destination, StreamMode, WriteMode, WriteModes};
use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};
use spillway_dest_files::{FilesConfig, FilesDestination};
use spillway_dest_postgres::PostgresDestination;
use spillway_emulator::EmulatorConfig;
use spillway_engine::{CancellationToken, DynDestination, SyncOptions, sync_fan_out};
use spillway_testkit::postgres::PgSchema;
use spillway_testkit::random::{Rng, live_ids, random_tx};
use spillway_testkit::tables::{read_duckdb, read_files, read_postgres};
use spillway_testkit::{Fixture, HookedDestination, Hooks, compare_with_emulator};

fn small_pages() -> EmulatorConfig {
    EmulatorConfig {
        snapshot_page_limit: 9,
        deltas_page_limit: 6,
        ..EmulatorConfig::default()
    }
}

/// Postgres in soft-delete mode, with `messages` kept as a full history (append).
fn pg_modes() -> WriteModes {
    WriteModes::all(StreamMode::soft_delete())
        .with_stream("messages", StreamMode::new(WriteMode::Append))
}

async fn assert_files_equal(fx: &Fixture, files: &FilesDestination, at: &str) {
    let diffs = compare_with_emulator(&read_files(files).await.unwrap(), &fx.emulator, None);
    assert!(diffs.is_empty(), "{at}: files: {diffs:#?}");
}

async fn open_files(fx: &Fixture, modes: WriteModes) -> FilesDestination {
    let path = fx.dir().join("files");
    FilesDestination::open(&FilesConfig::new(path.to_str().unwrap()).with_modes(modes))
        .await
        .unwrap()
}

async fn assert_equal(
    fx: &Fixture,
    duck: &mut DuckDbDestination,
    pg: &mut PostgresDestination,
    at: &str,
) {
    let diffs = compare_with_emulator(&read_duckdb(duck).unwrap(), &fx.emulator, None);
    assert!(diffs.is_empty(), "{at}: duckdb: {diffs:#?}");
    let diffs = compare_with_emulator(&read_postgres(pg).await.unwrap(), &fx.emulator, None);
    assert!(diffs.is_empty(), "{at}: postgres: {diffs:#?}");
}

async fn mutate(fx: &Fixture, rng: &mut Rng, size: usize) {
    let mut live = live_ids(fx);
    fx.emulator.apply(random_tx(rng, &mut live, size)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn one_read_feeds_duckdb_postgres_and_parquet_each_in_its_modes() {
    let fx = Fixture::start(small_pages()).await;
    let schema = PgSchema::new("fanout");
    let mut rng = Rng(0xFA_0017);
    mutate(&fx, &mut rng, 60).await;
    let mut duck = fx.open_dest();
    let mut pg = PostgresDestination::connect(&schema.config().with_modes(pg_modes()))
        .await
        .unwrap();
    let mut files = open_files(&fx, WriteModes::default()).await;
    for round in 0..6 {
        fx.emulator.clear_requests();
        let runs = {
            let mut dests: Vec<&mut DynDestination> = vec![&mut duck, &mut pg, &mut files];
            sync_fan_out(
                fx.source(),
                &mut dests,
                &SyncOptions::default(),
                &CancellationToken::new(),
            )
            .await
        };
        for run in &runs {
            assert!(
                run.error.is_none(),
                "round {round}: {}: {:?}",
                run.name,
                run.error
            );
        }
        assert_eq!(runs[0].report.rows, runs[1].report.rows, "round {round}");
        // One read: every page was asked for once, not once per destination.
        let snapshots = fx.calls("/api/list_snapshot").len();
        let deltas = fx.calls("/api/document_deltas").len();
        if round == 0 {
            assert!(snapshots > 1, "round 0 reads a snapshot");
        } else {
            assert_eq!(snapshots, 0, "round {round}: no snapshot after the first");
        }
        assert!(deltas >= 1, "round {round}");
        assert_equal(&fx, &mut duck, &mut pg, &format!("round {round}")).await;
        assert_files_equal(&fx, &files, &format!("round {round}")).await;
        if round == 3 {
            // Compaction rewrites each stream as its current state, which still equals the source.
            for stream in files.streams() {
                files.compact(&StreamId::parse(&stream)).await.unwrap();
            }
            assert_files_equal(&fx, &files, "after compact").await;
        }
        let size = 1 + rng.below(25);
        mutate(&fx, &mut rng, size).await;
    }
    // The append table holds every version: more rows than live documents.
    let history = pg.row_count("messages").await.unwrap_or(0);
    let live = fx.emulator.live_documents("", "messages").len() as u64;
    assert!(
        history >= live,
        "{history} versions for {live} live messages"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_behind_the_others_is_served_by_the_same_read() {
    let fx = Fixture::start(small_pages()).await;
    let schema = PgSchema::new("behind");
    let mut rng = Rng(0xBE_41D);
    mutate(&fx, &mut rng, 40).await;
    let mut duck = fx.open_dest();
    let mut pg = PostgresDestination::connect(
        &schema
            .config()
            .with_modes(WriteModes::all(StreamMode::new(WriteMode::Append))),
    )
    .await
    .unwrap();
    let cancel = CancellationToken::new();
    let opts = SyncOptions::default();
    // Both in step, then DuckDB alone moves ahead by two rounds of changes.
    let mut both: Vec<&mut DynDestination> = vec![&mut duck, &mut pg];
    assert!(
        sync_fan_out(fx.source(), &mut both, &opts, &cancel)
            .await
            .iter()
            .all(|r| r.error.is_none())
    );
    drop(both);
    let pg_history_before = read_postgres(&mut pg).await.unwrap();
    mutate(&fx, &mut rng, 20).await;
    let ahead = sync_fan_out(
        fx.source(),
        &mut [&mut duck as &mut DynDestination],
        &opts,
        &cancel,
    )
    .await;
    assert!(ahead[0].error.is_none());
    let duck_rows_first = ahead[0].report.rows + ahead[0].report.deletes;
    mutate(&fx, &mut rng, 20).await;

    // One read from Postgres's older cursor: DuckDB writes only the second round.
    fx.emulator.clear_requests();
    let mut both: Vec<&mut DynDestination> = vec![&mut duck, &mut pg];
    let runs = sync_fan_out(fx.source(), &mut both, &opts, &cancel).await;
    drop(both);
    for run in &runs {
        assert!(run.error.is_none(), "{}: {:?}", run.name, run.error);
    }
    let duck_written = runs[0].report.rows + runs[0].report.deletes;
    let pg_written = runs[1].report.rows + runs[1].report.deletes;
    assert!(duck_rows_first > 0 && duck_written > 0);
    assert_eq!(
        pg_written,
        duck_rows_first + duck_written,
        "Postgres gets both rounds, DuckDB only the one it lacked"
    );
    assert!(
        fx.calls("/api/list_snapshot").is_empty(),
        "one delta read, no snapshot"
    );
    assert_equal(&fx, &mut duck, &mut pg, "after catching up").await;
    // The append history gained exactly the versions written, none twice.
    let after = read_postgres(&mut pg).await.unwrap();
    let count =
        |t: &spillway_testkit::tables::Tables| t.values().map(|t| t.rows.len() as u64).sum::<u64>();
    assert_eq!(count(&after), count(&pg_history_before) + pg_written);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_destination_does_not_stop_or_corrupt_the_others() {
    let fx = Fixture::start(small_pages()).await;
    let schema = PgSchema::new("failing");
    let mut rng = Rng(0xFA11);
    mutate(&fx, &mut rng, 50).await;
    let mut duck = fx.open_dest();
    let pg = PostgresDestination::connect(&schema.config())
        .await
        .unwrap();
    let mut hooked = HookedDestination::new(
        pg,
        Hooks {
            fail_write: Some(3),
            ..Hooks::default()
        },
    );
    let cancel = CancellationToken::new();
    let runs = {
        let mut dests: Vec<&mut DynDestination> = vec![&mut hooked, &mut duck];
        sync_fan_out(fx.source(), &mut dests, &SyncOptions::default(), &cancel).await
    };
    let err = runs[0]
        .error
        .as_ref()
        .expect("the hooked destination fails")
        .to_string();
    assert!(
        err.contains("postgres") && err.contains("injected failure: write 3"),
        "{err}"
    );
    assert!(runs[1].error.is_none(), "{:?}", runs[1].error);
    let diffs = compare_with_emulator(&read_duckdb(&mut duck).unwrap(), &fx.emulator, None);
    assert!(diffs.is_empty(), "duckdb: {diffs:#?}");
    // The failed one kept its last commit; the next run brings it level (DuckDB is ahead, so
    // the positions differ: a snapshot in progress and a delta cursor need a read each).
    let mut pg = hooked.into_inner();
    mutate(&fx, &mut rng, 10).await;
    let runs = {
        let mut dests: Vec<&mut DynDestination> = vec![&mut pg, &mut duck];
        sync_fan_out(fx.source(), &mut dests, &SyncOptions::default(), &cancel).await
    };
    assert!(runs.iter().all(|r| r.error.is_none()), "{runs:?}");
    assert_equal(&fx, &mut duck, &mut pg, "after the rerun").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_swaps_whole_tables_in_every_destination() {
    let fx = Fixture::start(small_pages()).await;
    let schema = PgSchema::new("replace");
    let mut rng = Rng(0x2E_91ACE);
    mutate(&fx, &mut rng, 50).await;
    let replace = WriteModes::all(StreamMode::new(WriteMode::Replace));
    let mut duck =
        DuckDbDestination::open(&DuckDbConfig::new(fx.db_path.clone()).with_modes(replace.clone()))
            .unwrap();
    let mut pg = PostgresDestination::connect(&schema.config().with_modes(replace.clone()))
        .await
        .unwrap();
    let mut files = open_files(&fx, replace).await;
    let full = SyncOptions {
        full_refresh: true,
        ..SyncOptions::default()
    };
    for round in 0..3 {
        let runs = {
            let mut dests: Vec<&mut DynDestination> = vec![&mut duck, &mut pg, &mut files];
            sync_fan_out(fx.source(), &mut dests, &full, &CancellationToken::new()).await
        };
        assert!(
            runs.iter().all(|r| r.error.is_none()),
            "round {round}: {runs:?}"
        );
        assert!(
            duck.tables()
                .unwrap()
                .iter()
                .all(|t| !t.starts_with("_spillway_reload_"))
        );
        assert_equal(&fx, &mut duck, &mut pg, &format!("round {round}")).await;
        assert_files_equal(&fx, &files, &format!("round {round}")).await;
        mutate(&fx, &mut rng, 15).await;
    }
    // finish() with nothing pending does nothing.
    duck.finish().await.unwrap();
    pg.finish().await.unwrap();
    files.finish().await.unwrap();
}

/// Every write mode in every destination, through the engine: rounds of random changes,
/// one full refresh (the reload path of each mode), then more changes; after every run each
/// destination's current state equals the source.
#[tokio::test(flavor = "multi_thread")]
async fn every_write_mode_in_every_destination_equals_the_source() {
    let modes = [
        StreamMode::new(WriteMode::Upsert),
        StreamMode::soft_delete(),
        StreamMode::new(WriteMode::Append),
        StreamMode::new(WriteMode::OverwriteDeleteStale),
        StreamMode::new(WriteMode::Replace),
    ];
    for (m, mode) in modes.into_iter().enumerate() {
        let fx = Fixture::start(small_pages()).await;
        let schema = PgSchema::new(&format!("mode{m}"));
        let mut rng = Rng(0x30DE + m as u64);
        mutate(&fx, &mut rng, 40).await;
        let all = WriteModes::all(mode);
        let mut duck =
            DuckDbDestination::open(&DuckDbConfig::new(fx.db_path.clone()).with_modes(all.clone()))
                .unwrap();
        let mut pg = PostgresDestination::connect(&schema.config().with_modes(all.clone()))
            .await
            .unwrap();
        let mut files = open_files(&fx, all).await;
        for round in 0..5 {
            let options = SyncOptions {
                full_refresh: round == 2 || mode.mode.needs_full_read(),
                ..SyncOptions::default()
            };
            let runs = {
                let mut dests: Vec<&mut DynDestination> = vec![&mut duck, &mut pg, &mut files];
                sync_fan_out(fx.source(), &mut dests, &options, &CancellationToken::new()).await
            };
            let at = format!("{mode}, round {round}");
            assert!(runs.iter().all(|r| r.error.is_none()), "{at}: {runs:?}");
            assert_equal(&fx, &mut duck, &mut pg, &at).await;
            assert_files_equal(&fx, &files, &at).await;
            let size = 1 + rng.below(20);
            mutate(&fx, &mut rng, size).await;
        }
    }
}
