//! The binary with several `[[destination]]` blocks: one `spillway sync` feeds DuckDB,
//! Postgres (per-stream modes, a password from the environment) and Parquet files; `check`,
//! `state show`, `compact` and `--follow` with `replace` behave, and no secret is printed.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use spillway_dest_files::{FilesConfig, FilesDestination};
use spillway_dest_postgres::PostgresDestination;
use spillway_testkit::postgres::{PgSchema, postgres_url};
use spillway_testkit::tables::{read_files, read_postgres};
use spillway_testkit::{Fixture, compare_with_emulator};

fn fan_out_config(f: &Fixture, schema: &PgSchema) -> std::path::PathBuf {
    let base = std::fs::read_to_string(fixture_config(f)).unwrap();
    let text = format!(
        "{base}\n[[destination]]\nkind = \"postgres\"\nurl = \"{}\"\nschema = \"{}\"\n\
         soft_delete = true\n[destination.streams.messages]\nwrite_mode = \"append\"\n\n\
         [[destination]]\nkind = \"files\"\npath = \"parquet\"\n",
        postgres_url(),
        schema.name
    );
    write_config(f.dir(), &text)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_sync_feeds_duckdb_postgres_and_parquet() {
    let f = Fixture::new().await;
    f.emulator.seed_sample(300).unwrap();
    let schema = PgSchema::new("cli");
    let cfg = fan_out_config(&f, &schema);

    let r = run(&["check", "-c", s(&cfg)]).await;
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(r.stdout.matches("destination ").count(), 3, "{}", r.stdout);

    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(
        r.stdout.matches("300 rows written").count(),
        3,
        "{}",
        r.stdout
    );
    // One read: one data sync started, not one per destination.
    let first_pages = f
        .calls("/api/v1/data/sync")
        .iter()
        .filter(|c| {
            !c.query.contains("cursor")
                && c.body_json
                    .as_ref()
                    .is_none_or(|b| b.get("cursor").is_none())
        })
        .count();
    assert_eq!(first_pages, 1, "one snapshot traversal");

    let mut live = spillway_testkit::random::live_ids(&f);
    let mut rng = spillway_testkit::random::Rng(77);
    f.emulator
        .apply(spillway_testkit::random::random_tx(&mut rng, &mut live, 30))
        .unwrap();
    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_eq!(r.code, Some(0), "{r:#?}");

    f.assert_synced();
    let mut pg = PostgresDestination::connect(&schema.config())
        .await
        .unwrap();
    let diffs = compare_with_emulator(&read_postgres(&mut pg).await.unwrap(), &f.emulator, None);
    assert!(diffs.is_empty(), "postgres: {diffs:#?}");
    let parquet = f.dir().join("parquet");
    let files = FilesDestination::open(&FilesConfig::new(parquet.to_str().unwrap()))
        .await
        .unwrap();
    let diffs = compare_with_emulator(&read_files(&files).await.unwrap(), &f.emulator, None);
    assert!(diffs.is_empty(), "parquet: {diffs:#?}");
    drop(files);

    let r = run(&["state", "show", "-c", s(&cfg)]).await;
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(
        r.stdout.matches("(this config): data sync ").count(),
        3,
        "{}",
        r.stdout
    );

    let r = run(&["compact", "-c", s(&cfg)]).await;
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        r.stdout.contains("messages:") && r.stdout.contains("→ 1"),
        "{}",
        r.stdout
    );
    let files = FilesDestination::open(&FilesConfig::new(parquet.to_str().unwrap()))
        .await
        .unwrap();
    let diffs = compare_with_emulator(&read_files(&files).await.unwrap(), &f.emulator, None);
    assert!(diffs.is_empty(), "parquet after compact: {diffs:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_password_is_never_printed() {
    let f = Fixture::new().await;
    let base = std::fs::read_to_string(fixture_config(&f)).unwrap();
    // Nothing listens on port 9: the connection fails and the error is printed.
    let text = format!(
        "{base}\n[[destination]]\nkind = \"postgres\"\nurl = \"postgres://app:${{PG_SECRET}}@127.0.0.1:9/x\"\n"
    );
    let cfg = write_config(f.dir(), &text);
    let mut cmd = spillway(&["-vv", "sync", "-c", s(&cfg)]);
    cmd.env("PG_SECRET", "pg-hunter2");
    let r = run_cmd(cmd).await;
    // A server that refuses the connection is reported as a configuration problem (exit 2).
    assert_clean_failure(&r, 2);
    assert!(!r.all().contains("pg-hunter2"), "{r:#?}");
    assert!(error_line(&r).contains("destination[1]"), "{r:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_cannot_follow_and_cannot_mix_with_incremental_modes() {
    let f = Fixture::new().await;
    let base = std::fs::read_to_string(fixture_config(&f)).unwrap();
    let cfg = write_config(f.dir(), &format!("{base}write_mode = \"replace\"\n"));
    let r = run(&["sync", "-c", s(&cfg), "--follow"]).await;
    assert_clean_failure(&r, 2);
    assert!(error_line(&r).contains("--follow"), "{r:#?}");
    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_eq!(r.code, Some(0), "{r:#?}");

    let mixed = format!(
        "{base}write_mode = \"replace\"\n\n[[destination]]\nkind = \"files\"\npath = \"p\"\n"
    );
    let cfg = write_config(f.dir(), &mixed);
    let r = run(&["sync", "-c", s(&cfg)]).await;
    assert_clean_failure(&r, 2);
    assert!(error_line(&r).contains("one read cannot be both"), "{r:#?}");
}
