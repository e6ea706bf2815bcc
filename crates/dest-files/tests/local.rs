//! The files destination on a local directory: every format × every write mode, reloads,
//! crashes, rollback, orphans, compaction, state.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use serde_json::json;
use spillway_core::write_mode::{StreamMode, WriteMode, WriteModes};
use spillway_core::{Destination, ErrorKind, StreamId};
use spillway_dest_files::{Compression, FilesConfig, FilesDestination, Format};

fn dir_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Part files on disk under `root/dir`, sorted.
fn files_in(root: &Path, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn every_format_and_mode_ends_with_the_latest_rows() {
    for (format, compression) in all_formats() {
        for mode in all_modes() {
            let tmp = tempfile::tempdir().unwrap();
            let what = format!("{format:?}/{compression:?}/{mode}");
            let c = config(&dir_str(tmp.path()), format, compression, mode);
            let mut dest = FilesDestination::open(&c).await.unwrap();
            scenario(&mut dest).await;
            assert_scenario(&dest, &what).await;
            // Every version is in the files; the parts are where the manifest says.
            let versions: usize = dest
                .read_versions(&users())
                .await
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum();
            assert_eq!(versions, 7, "{what}");
            let parts = dest.current_parts(&users());
            assert_eq!(parts.len(), 3, "{what}: {parts:?}");
            for p in &parts {
                assert!(tmp.path().join(p).is_file(), "{what}: {p}");
            }
            // A reopened destination reads the same.
            drop(dest);
            let dest = FilesDestination::open(&c).await.unwrap();
            assert_scenario(&dest, &format!("{what}, reopened")).await;
            assert_eq!(files_in(tmp.path(), "users").len(), 3, "{what}");
        }
    }
}

#[tokio::test]
async fn parquet_parts_read_back_with_the_parquet_crate() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        &dir_str(tmp.path()),
        Format::Parquet,
        Compression::Zstd,
        StreamMode::default(),
    );
    let mut dest = FilesDestination::open(&c).await.unwrap();
    scenario(&mut dest).await;
    let parts = dest.current_parts(&users());
    let first = std::fs::File::open(tmp.path().join(&parts[0])).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(first).unwrap();
    let meta = reader.metadata().clone();
    let rg = meta.row_group(0);
    assert_eq!(
        rg.column(0).compression(),
        parquet::basic::Compression::ZSTD(Default::default())
    );
    let batches: Vec<_> = reader.build().unwrap().map(|b| b.unwrap()).collect();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        ["_id", "_creationTime", "_ts", "_deleted", "n", "name"]
    );
    assert_eq!(schema.field(4).data_type(), &arrow_schema::DataType::Int64);
    // The last part has the widened columns, JSON as tagged UTF-8.
    let last = std::fs::File::open(tmp.path().join(&parts[2])).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(last)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let n = b.schema().field_with_name("n").unwrap().clone();
    assert_eq!(n.data_type(), &arrow_schema::DataType::Utf8);
    assert_eq!(
        n.metadata().get("ARROW:extension:name").map(String::as_str),
        Some("arrow.json")
    );
    assert!(b.schema().field_with_name("tags").is_ok());
}

#[tokio::test]
async fn ndjson_embeds_json_values_and_keeps_integers() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        &dir_str(tmp.path()),
        Format::Ndjson,
        Compression::None,
        StreamMode::new(WriteMode::Append),
    );
    let mut dest = FilesDestination::open(&c).await.unwrap();
    let s = StreamId::root("values");
    dest.write(&batch(
        &s,
        &[("x", 1, false), ("y", 1, false)],
        vec![
            int("big", vec![Some(i64::MAX), None]),
            float("f", vec![Some(f64::NAN), Some(-0.0)]),
            json("j", vec![Some(r#"{"a":[1,2.0]}"#), Some("1e20")]),
            bytes("b", vec![Some(&b"\x00\xff"[..]), None]),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    let part = &dest.current_parts(&s)[0];
    assert!(part.ends_with(".ndjson"), "{part}");
    let text = std::fs::read_to_string(tmp.path().join(part)).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["big"], json!(i64::MAX));
    assert_eq!(lines[0]["f"], json!({"$float": "AAAAAAAA+H8="}));
    assert_eq!(lines[0]["j"], json!({"a": [1, 2.0]}));
    assert_eq!(lines[0]["b"], json!("AP8="));
    assert_eq!(lines[1]["big"], json!(null));
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains(r#""f":{"$float":"AAAAAAAAAIA="}"#),
        "{text}"
    );
    assert!(
        text.lines().nth(1).unwrap().contains(r#""j":1e20"#),
        "{text}"
    );
    // And read back exactly.
    let got = rows(&dest.read_current(&s).await.unwrap());
    assert_eq!(got["x"]["f"], json!({"$float": "AAAAAAAA+H8="}));
    assert_eq!(got["y"]["f"], json!({"$float": "AAAAAAAAAIA="}));
    assert_eq!(got["x"]["big"], json!(i64::MAX));
    assert_eq!(got["x"]["b"], json!({"$bytes": "AP8="}));
    assert_eq!(got["y"]["j"], json!(1e20));
}

#[tokio::test]
async fn csv_has_a_header_and_tells_null_from_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        &dir_str(tmp.path()),
        Format::Csv,
        Compression::None,
        StreamMode::default(),
    );
    let mut dest = FilesDestination::open(&c).await.unwrap();
    let s = users();
    dest.write(&batch(
        &s,
        &[("a", 1, false), ("b", 1, false)],
        vec![
            text("t", vec![Some(""), None]),
            float("f", vec![Some(f64::INFINITY), Some(0.5)]),
            json("j", vec![Some(r#"{"k":"v,w"}"#), None]),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    let part = &dest.current_parts(&s)[0];
    let text = std::fs::read_to_string(tmp.path().join(part)).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("_id,_creationTime,_ts,_deleted,t,f,j"));
    assert_eq!(
        lines.next(),
        Some(r#"a,0.001,1,false,"",inf,"{""k"":""v,w""}""#)
    );
    assert_eq!(lines.next(), Some("b,0.001,1,false,,0.5,"));
    let got = rows(&dest.read_current(&s).await.unwrap());
    assert_eq!(got["a"]["t"], json!(""));
    assert!(!got["b"].contains_key("t"));
    assert_eq!(got["a"]["j"], json!({"k": "v,w"}));
}

#[tokio::test]
async fn replace_reload_survives_a_crash_before_finish() {
    for mode in [WriteMode::Replace, WriteMode::OverwriteDeleteStale] {
        let tmp = tempfile::tempdir().unwrap();
        let c = config(
            &dir_str(tmp.path()),
            Format::Parquet,
            Compression::Zstd,
            StreamMode::new(mode),
        );
        let s = users();
        let mut dest = FilesDestination::open(&c).await.unwrap();
        scenario(&mut dest).await;
        let old_parts = dest.current_parts(&s);
        // Second full sync: truncate, one checkpoint, then a crash (no finish).
        dest.truncate(&s).await.unwrap();
        dest.write(&batch(
            &s,
            &[("z", 50, false)],
            vec![int("n", vec![Some(9)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(4)).await.unwrap();
        drop(dest);

        let mut dest = FilesDestination::open(&c).await.unwrap();
        // Readers still see the old generation; the reload is in the manifest.
        assert_eq!(
            rows(&dest.read_current(&s).await.unwrap()),
            scenario_expected(),
            "{mode}"
        );
        assert_eq!(dest.current_parts(&s), old_parts);
        let entry = &dest.manifest().streams["users"];
        assert_eq!(entry.pending.as_ref().map(Vec::len), Some(1), "{mode}");
        // The rerun continues the reload, then finishes: swapped in one manifest write.
        dest.write(&batch(
            &s,
            &[("y", 60, false)],
            vec![int("n", vec![Some(8)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(5)).await.unwrap();
        dest.finish().await.unwrap();
        let got = rows(&dest.read_current(&s).await.unwrap());
        // The column list only widens: `n` stays json, so the integers read back as JSON.
        assert_eq!(
            got,
            expected(&[
                ("y", 60, vec![("n", json!(8))]),
                ("z", 50, vec![("n", json!(9))]),
            ]),
            "{mode}"
        );
        assert!(dest.manifest().streams["users"].pending.is_none());
        assert_eq!(
            files_in(tmp.path(), "users").len(),
            2,
            "old parts deleted: {mode}"
        );
        // finish again does nothing.
        let seq = dest.manifest().seq;
        dest.finish().await.unwrap();
        assert_eq!(dest.manifest().seq, seq);
    }
}

#[tokio::test]
async fn upsert_truncate_restarts_the_stream_files() {
    for mode in [StreamMode::default(), StreamMode::new(WriteMode::Append)] {
        let tmp = tempfile::tempdir().unwrap();
        let c = config(&dir_str(tmp.path()), Format::Csv, Compression::Gzip, mode);
        let s = users();
        let mut dest = FilesDestination::open(&c).await.unwrap();
        scenario(&mut dest).await;
        dest.truncate(&s).await.unwrap();
        dest.write(&batch(
            &s,
            &[("q", 70, false)],
            vec![text("name", vec![Some("Q")])],
        ))
        .await
        .unwrap();
        // Before the commit, readers see the old rows.
        assert_eq!(rows(&dest.read_current(&s).await.unwrap()).len(), 3);
        dest.commit(&key(), &checkpoint(6)).await.unwrap();
        let got = rows(&dest.read_current(&s).await.unwrap());
        assert_eq!(
            got,
            expected(&[("q", 70, vec![("name", json!("Q"))])]),
            "{mode}"
        );
        assert_eq!(files_in(tmp.path(), "users").len(), 1, "{mode}");
        assert!(files_in(tmp.path(), "users")[0].ends_with(".csv.gz"));
    }
}

#[tokio::test]
async fn rollback_discards_everything_since_the_last_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        &dir_str(tmp.path()),
        Format::Ndjson,
        Compression::Gzip,
        StreamMode::new(WriteMode::Replace),
    );
    let s = users();
    let mut dest = FilesDestination::open(&c).await.unwrap();
    scenario(&mut dest).await;
    let before = dest.manifest().clone();
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(&s, &[("x", 90, false)], vec![bool_col()]))
        .await
        .unwrap();
    dest.rollback().await.unwrap();
    dest.commit(&key(), &checkpoint(7)).await.unwrap();
    dest.finish().await.unwrap();
    assert_eq!(
        rows(&dest.read_current(&s).await.unwrap()),
        scenario_expected()
    );
    assert_eq!(
        dest.manifest().streams,
        before.streams,
        "no reload, no new column"
    );
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 7})
    );
}

fn bool_col() -> Col {
    boolean("flag", vec![Some(true)])
}

#[tokio::test]
async fn a_commit_interrupted_before_the_manifest_leaves_only_orphans() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        &dir_str(tmp.path()),
        Format::Parquet,
        Compression::Snappy,
        StreamMode::default(),
    );
    let s = users();
    let mut dest = FilesDestination::open(&c).await.unwrap();
    scenario(&mut dest).await;
    let manifest_before = std::fs::read(tmp.path().join("_spillway_manifest.json")).unwrap();
    // The manifest cannot be written: its temporary file's name is taken by a directory.
    let blocker = tmp.path().join("_spillway_manifest.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    dest.write(&batch(
        &s,
        &[("e", 80, false)],
        vec![int("n", vec![Some(5)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &StreamId::new("waitlist", "entries"),
        &[("w", 80, false)],
        vec![],
    ))
    .await
    .unwrap();
    let err = dest.commit(&key(), &checkpoint(8)).await.unwrap_err();
    assert!(
        err.message.contains("_spillway_manifest.json"),
        "{}",
        err.message
    );
    // The crash: no rollback; the uploaded parts stay behind.
    drop(dest);
    assert_eq!(files_in(tmp.path(), "users").len(), 4);
    assert_eq!(files_in(tmp.path(), "waitlist%2Fentries").len(), 1);
    // Foreign files are never touched, even part-like ones deeper down.
    std::fs::write(tmp.path().join("users/notes.txt"), "keep").unwrap();
    std::fs::create_dir_all(tmp.path().join("users/sub")).unwrap();
    std::fs::write(
        tmp.path().join("users/sub/part-000000000001-0000.parquet"),
        "keep",
    )
    .unwrap();
    std::fs::remove_dir(&blocker).unwrap();

    let mut dest = FilesDestination::open(&c).await.unwrap();
    assert_eq!(
        std::fs::read(tmp.path().join("_spillway_manifest.json")).unwrap(),
        manifest_before
    );
    let mut left = files_in(tmp.path(), "users");
    left.retain(|f| f.starts_with("part-"));
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(tmp.path().join("users/notes.txt").exists());
    assert!(
        tmp.path()
            .join("users/sub/part-000000000001-0000.parquet")
            .exists()
    );
    assert!(files_in(tmp.path(), "waitlist%2Fentries").is_empty());
    assert_scenario(&dest, "after the crash").await;
    // The rerun works, and never reuses the orphans' names.
    dest.write(&batch(
        &s,
        &[("e", 80, false)],
        vec![int("n", vec![Some(5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(8)).await.unwrap();
    assert_eq!(rows(&dest.read_current(&s).await.unwrap()).len(), 4);
}

#[tokio::test]
async fn a_failed_commit_then_rollback_deletes_its_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        &dir_str(tmp.path()),
        Format::Csv,
        Compression::None,
        StreamMode::default(),
    );
    let s = users();
    let mut dest = FilesDestination::open(&c).await.unwrap();
    scenario(&mut dest).await;
    let blocker = tmp.path().join("_spillway_manifest.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    dest.write(&batch(&s, &[("e", 80, false)], vec![]))
        .await
        .unwrap();
    assert!(dest.commit(&key(), &checkpoint(8)).await.is_err());
    assert_eq!(files_in(tmp.path(), "users").len(), 4);
    dest.rollback().await.unwrap();
    assert_eq!(files_in(tmp.path(), "users").len(), 3);
    std::fs::remove_dir(&blocker).unwrap();
    dest.commit(&key(), &checkpoint(8)).await.unwrap();
    assert_scenario_state(&dest, 8).await;
    assert_eq!(
        rows(&dest.read_current(&s).await.unwrap()),
        scenario_expected()
    );
}

#[tokio::test]
async fn a_failed_commit_can_be_retried_with_its_rows() {
    for (format, compression) in all_formats() {
        let what = format!("{format:?}/{compression:?}");
        let tmp = tempfile::tempdir().unwrap();
        let c = config(
            &dir_str(tmp.path()),
            format,
            compression,
            StreamMode::default(),
        );
        let s = users();
        let mut dest = FilesDestination::open(&c).await.unwrap();
        scenario(&mut dest).await;
        let blocker = tmp.path().join("_spillway_manifest.json.tmp");
        std::fs::create_dir(&blocker).unwrap();
        // A full reload (upsert: the old parts go at its commit) with one row.
        dest.truncate(&s).await.unwrap();
        dest.write(&batch(
            &s,
            &[("e", 80, false)],
            vec![int("n", vec![Some(5)])],
        ))
        .await
        .unwrap();
        assert!(dest.commit(&key(), &checkpoint(8)).await.is_err(), "{what}");
        assert_eq!(files_in(tmp.path(), "users").len(), 4, "{what}");
        // Retried as is (no rollback, nothing rewritten): the truncate and the row are
        // still in the transaction.
        std::fs::remove_dir(&blocker).unwrap();
        dest.commit(&key(), &checkpoint(8)).await.unwrap();
        assert_scenario_state(&dest, 8).await;
        let want = expected(&[("e", 80, vec![("n", json!(5))])]);
        assert_eq!(rows(&dest.read_current(&s).await.unwrap()), want, "{what}");
        // The old parts and the failed attempt's part are deleted: one part is left.
        assert_eq!(
            files_in(tmp.path(), "users"),
            vec![
                dest.current_parts(&s)[0]
                    .trim_start_matches("users/")
                    .to_string()
            ],
            "{what}"
        );
        let dest = FilesDestination::open(&c).await.unwrap();
        assert_eq!(rows(&dest.read_current(&s).await.unwrap()), want, "{what}");
    }
}

#[tokio::test]
async fn duplicate_and_system_named_columns_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        &dir_str(tmp.path()),
        Format::Parquet,
        Compression::Zstd,
        StreamMode::default(),
    );
    let s = users();
    let mut dest = FilesDestination::open(&c).await.unwrap();
    for (cols, needle) in [
        (
            vec![int("n", vec![Some(1)]), text("n", vec![Some("x")])],
            "two columns named \"n\"",
        ),
        (
            vec![int("_ts", vec![Some(1)])],
            "user column \"_ts\" collides with a system column",
        ),
    ] {
        let err = dest
            .write(&batch(&s, &[("a", 1, false)], cols))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Data, "{}", err.message);
        assert!(err.message.contains(needle), "{}", err.message);
    }
    // Nothing was buffered: the commit writes no part.
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert!(dest.current_parts(&s).is_empty());
    assert!(files_in(tmp.path(), "users").is_empty());
}

async fn assert_scenario_state(dest: &FilesDestination, n: i64) {
    let states = dest.list_states();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].1.0, json!({ "n": n }));
}

#[tokio::test]
async fn compact_keeps_exactly_the_latest_rows() {
    for (format, compression) in all_formats() {
        for mode in all_modes() {
            let what = format!("{format:?}/{compression:?}/{mode}");
            let tmp = tempfile::tempdir().unwrap();
            let c = config(&dir_str(tmp.path()), format, compression, mode);
            let s = users();
            let mut dest = FilesDestination::open(&c).await.unwrap();
            scenario(&mut dest).await;
            let report = dest.compact(&s).await.unwrap();
            assert_eq!(report.parts_before, 3, "{what}");
            assert_eq!(report.parts_after, 1, "{what}");
            let versions = dest.read_versions(&s).await.unwrap();
            let n: usize = versions.iter().map(|b| b.num_rows()).sum();
            match mode.mode {
                // append keeps every version, soft_delete the tombstone of c.
                WriteMode::Append => assert_eq!(n, 7, "{what}"),
                _ if mode.soft_delete => {
                    assert_eq!(n, 4, "{what}");
                    // The tombstone of c keeps the columns c had (n = 3 widened to JSON).
                    let c = &rows(&versions)["c"];
                    assert_eq!(c["_ts"], json!(20), "{what}");
                    assert_eq!(c["n"], json!(3), "{what}");
                    let deleted = versions[0].column_by_name("_deleted").unwrap();
                    assert_eq!(
                        arrow_array::cast::AsArray::as_boolean(deleted).true_count(),
                        1,
                        "{what}"
                    );
                }
                _ => {
                    assert_eq!(n, 3, "{what}");
                    assert_eq!(rows(&versions), scenario_expected(), "{what}");
                }
            }
            assert_eq!(
                rows(&dest.read_current(&s).await.unwrap()),
                scenario_expected()
            );
            assert_eq!(files_in(tmp.path(), "users").len(), 1, "{what}");
            drop(dest);
            let dest = FilesDestination::open(&c).await.unwrap();
            assert_scenario(&dest, &what).await;
        }
    }
}

#[tokio::test]
async fn state_round_trips_and_resets() {
    let tmp = tempfile::tempdir().unwrap();
    let c = FilesConfig::new(dir_str(tmp.path()));
    let other = spillway_core::StateKey("other:source".into());
    let mut dest = FilesDestination::open(&c).await.unwrap();
    assert_eq!(dest.load_state(&key()).await.unwrap(), None);
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    dest.commit(&other, &checkpoint(2)).await.unwrap();
    drop(dest);
    let mut dest = FilesDestination::open(&c).await.unwrap();
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 1})
    );
    let states = dest.list_states();
    assert_eq!(states.len(), 2);
    // Sorted by key: "other:source" first.
    assert_eq!(states[0].2, "page 2");
    assert!(states[0].3.ends_with('Z'), "{}", states[0].3);
    dest.reset_state(&key()).await.unwrap();
    dest.reset_state(&key()).await.unwrap();
    drop(dest);
    let mut dest = FilesDestination::open(&c).await.unwrap();
    assert_eq!(dest.load_state(&key()).await.unwrap(), None);
    assert_eq!(
        dest.load_state(&other).await.unwrap().unwrap().0,
        json!({"n": 2})
    );
}

#[tokio::test]
async fn component_streams_get_collision_free_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let c =
        FilesConfig::new(dir_str(tmp.path())).with_modes(WriteModes::all(StreamMode::default()));
    let mut dest = FilesDestination::open(&c).await.unwrap();
    let a = StreamId::new("waitlist", "entries");
    let b = StreamId::root("waitlist%2Fentries");
    dest.write(&batch(
        &a,
        &[("1", 1, false)],
        vec![int("v", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &b,
        &[("2", 1, false)],
        vec![int("v", vec![Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(files_in(tmp.path(), "waitlist%2Fentries").len(), 1);
    assert_eq!(files_in(tmp.path(), "waitlist%252Fentries").len(), 1);
    assert_eq!(
        dest.streams(),
        vec!["waitlist%2Fentries", "waitlist/entries"]
    );
    // Reopening (which deletes unlisted parts) keeps both.
    drop(dest);
    let dest = FilesDestination::open(&c).await.unwrap();
    assert_eq!(files_in(tmp.path(), "waitlist%2Fentries").len(), 1);
    assert_eq!(files_in(tmp.path(), "waitlist%252Fentries").len(), 1);
    assert_eq!(
        rows(&dest.read_current(&a).await.unwrap())["1"]["v"],
        json!(1)
    );
    assert_eq!(
        rows(&dest.read_current(&b).await.unwrap())["2"]["v"],
        json!(2)
    );
}

#[tokio::test]
async fn bad_config_names_the_key_to_fix() {
    let e = serde_json::from_value::<FilesConfig>(json!({"path": "x", "format": "xml"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("format") && e.contains("xml"), "{e}");
    let e = serde_json::from_value::<FilesConfig>(json!({"path": "x", "compression": "lz4"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("compression") && e.contains("lz4"), "{e}");
    let e = serde_json::from_value::<FilesConfig>(json!({"path": "x", "formats": "csv"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("formats"), "{e}");
    let c: FilesConfig =
        serde_json::from_value(json!({"path": "x", "format": "ndjson", "compression": "gzip"}))
            .unwrap();
    assert_eq!(
        (c.format, c.compression),
        (Format::Ndjson, Some(Compression::Gzip))
    );

    let tmp = tempfile::tempdir().unwrap();
    let bad = FilesConfig::new(dir_str(tmp.path()))
        .with_format(Format::Parquet)
        .with_compression(Compression::Gzip);
    let e = FilesDestination::open(&bad).await.err().unwrap();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(
        e.message.contains("compression = \"gzip\""),
        "{}",
        e.message
    );
    let e = FilesDestination::open(&FilesConfig::new("gs://bucket/x"))
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(
        e.message.contains("path") && e.message.contains("gs"),
        "{}",
        e.message
    );
    let e = FilesDestination::open(&FilesConfig::new("s3:///x"))
        .await
        .err()
        .unwrap();
    assert!(e.message.contains("bucket"), "{}", e.message);
}

#[test]
fn debug_never_shows_secrets() {
    let c = FilesConfig::new("s3://b/p").with_credentials("AKIDEXAMPLE", "very-secret-key");
    let d = format!("{c:?}");
    assert!(!d.contains("very-secret-key"), "{d}");
    assert!(d.contains("<redacted>"), "{d}");
}

#[tokio::test]
async fn a_damaged_manifest_is_reported_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("_spillway_manifest.json"), "{not json").unwrap();
    let e = FilesDestination::open(&FilesConfig::new(dir_str(tmp.path())))
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Data);
    assert!(
        e.message.contains("_spillway_manifest.json"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn parts_of_different_formats_read_together() {
    let tmp = tempfile::tempdir().unwrap();
    let s = users();
    let mut dest = FilesDestination::open(&config(
        &dir_str(tmp.path()),
        Format::Parquet,
        Compression::Zstd,
        StreamMode::default(),
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &s,
        &[("a", 1, false), ("b", 1, false)],
        vec![int("n", vec![Some(1), Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    drop(dest);
    // The format changes between runs: new parts are CSV, the old ones stay Parquet.
    let mut dest = FilesDestination::open(&config(
        &dir_str(tmp.path()),
        Format::Csv,
        Compression::Gzip,
        StreamMode::default(),
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &s,
        &[("b", 2, true), ("c", 2, false)],
        vec![float("n", vec![None, Some(0.5)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    let got = rows(&dest.read_current(&s).await.unwrap());
    assert_eq!(
        got,
        expected(&[
            ("a", 1, vec![("n", json!(1.0))]),
            ("c", 2, vec![("n", json!(0.5))])
        ])
    );
    let parts = dest.current_parts(&s);
    assert!(
        parts[0].ends_with(".parquet") && parts[1].ends_with(".csv.gz"),
        "{parts:?}"
    );
}
