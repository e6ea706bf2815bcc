//! Writes, reads back and compacts a stream of synthetic rows, printing how long each step
//! takes: a reproducible measure of the formats' encoding and decoding costs.
//!
//! ```text
//! cargo run -p spillway-dest-files --no-default-features --example write_bench -- ndjson 200000
//! ```
//!
//! Arguments: the format (`parquet`, `ndjson`, `csv`; default `parquet`) and the number of rows
//! (default 200000). Rows go in pages of 1000 (as a Convex source sends them), committed once,
//! into a temporary directory (Parquet zstd-compressed, the text formats uncompressed), with one column of each type: an integer, a float, text with
//! separators and quotes, JSON, bytes and a boolean. Run it under `/usr/bin/time -v` for the
//! peak memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use spillway_core::testing::{batch, boolean, bytes, checkpoint, float, int, json, key, text};
use spillway_core::write_mode::{StreamMode, WriteMode, WriteModes};
use spillway_core::{Destination, StreamId};
use spillway_dest_files::{Compression, FilesConfig, FilesDestination, Format};

const PAGE: usize = 1000;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let format = match args.next().as_deref() {
        None | Some("parquet") => Format::Parquet,
        Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(other) => panic!("unknown format {other:?}: parquet, ndjson or csv"),
    };
    let rows: usize = args
        .next()
        .map_or(200_000, |n| n.parse().expect("a row count"));
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let config = FilesConfig::new(tmp.path().to_str().expect("a UTF-8 path"))
        .with_format(format)
        .with_compression(match format {
            Format::Parquet => Compression::Zstd,
            _ => Compression::None,
        })
        .with_modes(WriteModes::all(StreamMode::new(WriteMode::Upsert)));
    let mut dest = FilesDestination::open(&config).await.expect("opening");
    let stream = StreamId::root("bench");

    let t = Instant::now();
    for start in (0..rows).step_by(PAGE) {
        let n = PAGE.min(rows - start);
        let ids: Vec<String> = (start..start + n).map(|i| format!("id{i:09}")).collect();
        let revs: Vec<(&str, i64, bool)> = ids
            .iter()
            .enumerate()
            .map(|(k, id)| (id.as_str(), 1_700_000_000_000 + (start + k) as i64, false))
            .collect();
        let names: Vec<String> = (start..start + n)
            .map(|i| format!("user {i}, \"the {}th\"", i % 97))
            .collect();
        let docs: Vec<String> = (start..start + n)
            .map(|i| format!(r#"{{"tags":["a","b"],"score":{}.5,"k":{i}}}"#, i % 13))
            .collect();
        let blobs: Vec<[u8; 16]> = (start..start + n)
            .map(|i| (i as u128).to_le_bytes())
            .collect();
        let b = batch(
            &stream,
            &revs,
            vec![
                int(
                    "n",
                    (start..start + n).map(|i| Some(i as i64 * 7919)).collect(),
                ),
                float(
                    "f",
                    (start..start + n).map(|i| Some(i as f64 / 3.0)).collect(),
                ),
                text("name", names.iter().map(|s| Some(s.as_str())).collect()),
                json("doc", docs.iter().map(|s| Some(s.as_str())).collect()),
                bytes("blob", blobs.iter().map(|b| Some(&b[..])).collect()),
                boolean(
                    "flag",
                    (start..start + n).map(|i| Some(i % 3 == 0)).collect(),
                ),
            ],
        );
        dest.write(&b).await.expect("writing");
    }
    let buffered = t.elapsed();
    let t = Instant::now();
    dest.commit(&key(), &checkpoint(1))
        .await
        .expect("committing");
    let commit = t.elapsed();
    let bytes_written: u64 = dest.manifest().streams["bench"]
        .current
        .iter()
        .map(|p| p.bytes)
        .sum();

    let t = Instant::now();
    let read: usize = dest
        .read_current(&stream)
        .await
        .expect("reading")
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let read_time = t.elapsed();
    assert_eq!(read, rows);

    let t = Instant::now();
    dest.compact(&stream).await.expect("compacting");
    let compact = t.elapsed();

    println!(
        "{format:?} rows={rows} bytes={bytes_written} buffer={:.3}s commit={:.3}s \
         read_current={:.3}s compact={:.3}s",
        buffered.as_secs_f64(),
        commit.as_secs_f64(),
        read_time.as_secs_f64(),
        compact.as_secs_f64()
    );
}
