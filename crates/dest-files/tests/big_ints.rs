//! Integers beyond ±2^53 meeting floats: the column widens to JSON (text), never to float64,
//! whichever comes first, across commits, reopens and within one transaction; read back and
//! compacted exactly.
#![allow(clippy::unwrap_used)]

mod common;

use arrow_array::cast::AsArray;
use common::*;
use serde_json::json;
use spillway_core::write_mode::StreamMode;
use spillway_core::{Destination, StreamId};
use spillway_dest_files::{Compression, FilesConfig, FilesDestination, Format};

/// 2^53 + 1: the smallest positive integer a double rounds.
const BIG: i64 = (1 << 53) + 1;

fn formats() -> Vec<(Format, Compression)> {
    vec![
        (Format::Parquet, Compression::Zstd),
        (Format::Ndjson, Compression::None),
        (Format::Ndjson, Compression::Gzip),
        (Format::Csv, Compression::None),
    ]
}

fn stream() -> StreamId {
    StreamId::root("nums")
}

/// The stream's column `n` as the manifest lists it: (type, big_ints).
fn column_n(dest: &FilesDestination) -> (String, bool) {
    let entry = &dest.manifest().streams["nums"];
    let c = entry.columns.iter().find(|c| c.name == "n").unwrap();
    (c.ty.clone(), c.big_ints)
}

/// The text of column `n` per `_id` in `batches` (a JSON column: the export_json text).
fn n_texts(batches: &[arrow_array::RecordBatch]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for b in batches {
        let ids = b.column(0).as_string::<i32>();
        let i = b.schema().index_of("n").unwrap();
        let n = b.column(i).as_string::<i32>();
        for r in 0..b.num_rows() {
            let v = (!arrow_array::Array::is_null(n, r)).then(|| n.value(r).to_string());
            out.push((ids.value(r).to_string(), v));
        }
    }
    out.sort();
    out
}

/// Reads the stream back (and again after compaction and after reopening) and checks that
/// `n` is a JSON column holding exactly `want`.
async fn assert_exact(
    dest: &mut FilesDestination,
    c: &FilesConfig,
    want: &[(&str, &str)],
    what: &str,
) {
    let want: Vec<(String, Option<String>)> = want
        .iter()
        .map(|(id, v)| (id.to_string(), Some(v.to_string())))
        .collect();
    assert_eq!(column_n(dest), ("json".to_string(), true), "{what}");
    let got = n_texts(&dest.read_current(&stream()).await.unwrap());
    assert_eq!(got, want, "{what}: read_current");
    let report = dest.compact(&stream()).await.unwrap();
    assert_eq!(report.parts_after, 1, "{what}");
    assert_eq!(
        n_texts(&dest.read_current(&stream()).await.unwrap()),
        want,
        "{what}: after compact"
    );
    let reopened = FilesDestination::open(c).await.unwrap();
    assert_eq!(column_n(&reopened), ("json".to_string(), true), "{what}");
    assert_eq!(
        n_texts(&reopened.read_current(&stream()).await.unwrap()),
        want,
        "{what}: reopened"
    );
    // The exact value, parsed.
    let rows = rows(&reopened.read_current(&stream()).await.unwrap());
    assert!(
        rows.values()
            .any(|r| r.get("n") == Some(&json!(BIG)) || r.get("n") == Some(&json!(-BIG))),
        "{what}: {rows:?}"
    );
}

fn open_config(dir: &tempfile::TempDir, format: Format, compression: Compression) -> FilesConfig {
    config(
        dir.path().to_str().unwrap(),
        format,
        compression,
        StreamMode::default(),
    )
}

#[tokio::test]
async fn a_big_int_committed_then_a_float_widens_to_json() {
    for (format, compression) in formats() {
        let what = format!("{format:?}/{compression:?}");
        let tmp = tempfile::tempdir().unwrap();
        let c = open_config(&tmp, format, compression);
        let mut dest = FilesDestination::open(&c).await.unwrap();
        dest.write(&batch(
            &stream(),
            &[("a", 1, false), ("b", 1, false)],
            vec![int("n", vec![Some(BIG), Some(1)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();
        assert_eq!(column_n(&dest), ("int64".to_string(), true), "{what}");
        // The flag survives a reopen: the float meets the committed big integer.
        drop(dest);
        let mut dest = FilesDestination::open(&c).await.unwrap();
        dest.write(&batch(
            &stream(),
            &[("c", 2, false)],
            vec![float("n", vec![Some(2.5)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        assert_exact(
            &mut dest,
            &c,
            &[("a", "9007199254740993"), ("b", "1"), ("c", "2.5")],
            &what,
        )
        .await;
    }
}

#[tokio::test]
async fn a_float_column_then_a_big_int_widens_to_json() {
    for (format, compression) in formats() {
        let what = format!("{format:?}/{compression:?}");
        let tmp = tempfile::tempdir().unwrap();
        let c = open_config(&tmp, format, compression);
        let mut dest = FilesDestination::open(&c).await.unwrap();
        dest.write(&batch(
            &stream(),
            &[("a", 1, false)],
            vec![float("n", vec![Some(0.5)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();
        assert_eq!(column_n(&dest), ("float64".to_string(), false), "{what}");
        dest.write(&batch(
            &stream(),
            &[("b", 2, false), ("c", 2, false)],
            vec![int("n", vec![Some(-BIG), Some(7)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        assert_exact(
            &mut dest,
            &c,
            &[("a", "0.5"), ("b", "-9007199254740993"), ("c", "7")],
            &what,
        )
        .await;
    }
}

#[tokio::test]
async fn big_ints_and_floats_in_one_transaction_widen_to_json() {
    for (format, compression) in formats() {
        for big_first in [true, false] {
            let what = format!("{format:?}/{compression:?}, big first: {big_first}");
            let tmp = tempfile::tempdir().unwrap();
            let c = open_config(&tmp, format, compression);
            let mut dest = FilesDestination::open(&c).await.unwrap();
            let ints = batch(
                &stream(),
                &[("a", 1, false)],
                vec![int("n", vec![Some(BIG)])],
            );
            let floats = batch(
                &stream(),
                &[("b", 1, false)],
                vec![float("n", vec![Some(1e300)])],
            );
            let order = if big_first {
                [&ints, &floats]
            } else {
                [&floats, &ints]
            };
            for b in order {
                dest.write(b).await.unwrap();
            }
            dest.commit(&key(), &checkpoint(1)).await.unwrap();
            assert_exact(
                &mut dest,
                &c,
                &[("a", "9007199254740993"), ("b", "1e300")],
                &what,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn integers_a_double_holds_still_widen_to_float64() {
    for (format, compression) in formats() {
        let what = format!("{format:?}/{compression:?}");
        let tmp = tempfile::tempdir().unwrap();
        let c = open_config(&tmp, format, compression);
        let mut dest = FilesDestination::open(&c).await.unwrap();
        dest.write(&batch(
            &stream(),
            &[("a", 1, false), ("b", 1, false)],
            vec![int("n", vec![Some(1 << 53), Some(-(1 << 53))])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();
        dest.write(&batch(
            &stream(),
            &[("c", 2, false)],
            vec![float("n", vec![Some(0.25)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(2)).await.unwrap();
        assert_eq!(column_n(&dest), ("float64".to_string(), false), "{what}");
        let got = rows(&dest.read_current(&stream()).await.unwrap());
        assert_eq!(got["a"]["n"], json!(9_007_199_254_740_992.0), "{what}");
        assert_eq!(got["b"]["n"], json!(-9_007_199_254_740_992.0), "{what}");
        assert_eq!(got["c"]["n"], json!(0.25), "{what}");
    }
}

#[tokio::test]
async fn the_files_hold_the_exact_digits() {
    // NDJSON and CSV parts written after the widening hold the integer's digits as JSON text.
    for (format, needle) in [
        (Format::Ndjson, r#""n":9007199254740993"#),
        (Format::Csv, ",9007199254740993"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let c = open_config(&tmp, format, Compression::None);
        let mut dest = FilesDestination::open(&c).await.unwrap();
        dest.write(&batch(
            &stream(),
            &[("b", 1, false)],
            vec![float("n", vec![Some(1.5)])],
        ))
        .await
        .unwrap();
        dest.write(&batch(
            &stream(),
            &[("a", 1, false)],
            vec![int("n", vec![Some(BIG)])],
        ))
        .await
        .unwrap();
        dest.commit(&key(), &checkpoint(1)).await.unwrap();
        let part = &dest.current_parts(&stream())[0];
        let text = std::fs::read_to_string(tmp.path().join(part)).unwrap();
        assert!(text.contains(needle), "{format:?}: {text}");
    }
}
