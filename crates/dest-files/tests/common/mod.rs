//! Helpers shared by the integration tests: the scenario every storage runs, rows as JSON
//! for comparisons, and a moto S3 server run as a child process.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use serde_json::Value;
pub use spillway_core::testing::*;
use spillway_core::write_mode::{StreamMode, WriteMode, WriteModes};
use spillway_core::{ColumnType, Destination, StreamId};
use spillway_dest_files::{Compression, FilesConfig, FilesDestination, Format};

/// One row: column → value (nulls left out), `_id` and `_ts` included.
pub type Row = BTreeMap<String, Value>;

/// Rows of batches as JSON values (export_json form parsed: integers, floats, strings,
/// `{"$bytes": …}`, `{"$float": …}`, JSON values), keyed by `_id`.
pub fn rows(batches: &[RecordBatch]) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    for b in batches {
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut row = Row::new();
            for (c, f) in schema.fields().iter().enumerate() {
                if f.name() == "_creationTime" || f.name() == "_deleted" {
                    continue;
                }
                let ty = ColumnType::of_field(f).unwrap();
                if let Some(text) = spillway_core::batch::json_text(b.column(c), ty, i) {
                    row.insert(f.name().clone(), serde_json::from_str(&text).unwrap());
                }
            }
            let id = row["_id"].as_str().unwrap().to_string();
            assert!(out.insert(id.clone(), row).is_none(), "_id {id} twice");
        }
    }
    out
}

/// Expected rows from `(id, ts, [(column, value)])`.
/// An expected row: `(id, ts, [(column, value)])`.
pub type Expected<'a> = (&'a str, i64, Vec<(&'a str, Value)>);

pub fn expected(rows: &[Expected<'_>]) -> BTreeMap<String, Row> {
    rows.iter()
        .map(|(id, ts, cols)| {
            let mut row = Row::new();
            row.insert("_id".into(), Value::from(*id));
            row.insert("_ts".into(), Value::from(*ts));
            for (c, v) in cols {
                if !v.is_null() {
                    row.insert((*c).to_string(), v.clone());
                }
            }
            (id.to_string(), row)
        })
        .collect()
}

/// Every mode, for loops.
pub fn all_modes() -> Vec<StreamMode> {
    vec![
        StreamMode::new(WriteMode::Upsert),
        StreamMode::soft_delete(),
        StreamMode::new(WriteMode::Append),
        StreamMode::new(WriteMode::Replace),
        StreamMode::new(WriteMode::OverwriteDeleteStale),
    ]
}

/// Every format with a compression, for loops.
pub fn all_formats() -> Vec<(Format, Compression)> {
    vec![
        (Format::Parquet, Compression::Zstd),
        (Format::Parquet, Compression::Snappy),
        (Format::Ndjson, Compression::None),
        (Format::Ndjson, Compression::Gzip),
        (Format::Csv, Compression::None),
        (Format::Csv, Compression::Gzip),
    ]
}

pub fn users() -> StreamId {
    StreamId::root("users")
}

/// The rows the scenario ends with.
pub fn scenario_expected() -> BTreeMap<String, Row> {
    expected(&[
        (
            "a",
            30,
            vec![
                ("n", serde_json::json!({"deep": [1, 2.5]})),
                ("name", "Ann, \"A\"".into()),
            ],
        ),
        (
            "b",
            20,
            vec![("n", serde_json::json!(2.5)), ("name", "".into())],
        ),
        (
            "d",
            20,
            vec![
                ("n", serde_json::json!(4.0)),
                ("tags", serde_json::json!(["x", {"y": null}])),
            ],
        ),
    ])
}

/// One sync: a reload (truncate) of `users`, then three checkpoints with tombstones, a new
/// column and widening (int64 → float64 → json); ends with `finish`.
pub async fn scenario(dest: &mut FilesDestination) {
    let s = users();
    dest.check().await.unwrap();
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 10, false), ("b", 10, false), ("c", 10, false)],
        vec![
            int("n", vec![Some(1), Some(2), Some(3)]),
            text("name", vec![Some("Ann, \"A\""), Some(""), None]),
            nulls("later", 3),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    dest.write(&batch(
        &s,
        &[("b", 20, false), ("c", 20, true), ("d", 20, false)],
        vec![
            float("n", vec![Some(2.5), None, Some(4.0)]),
            text("name", vec![Some(""), None, None]),
            json("tags", vec![None, None, Some(r#"["x",{"y":null}]"#)]),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    dest.write(&batch(
        &s,
        &[("a", 30, false)],
        vec![
            json("n", vec![Some(r#"{"deep":[1,2.5]}"#)]),
            text("name", vec![Some("Ann, \"A\"")]),
        ],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(3)).await.unwrap();
    dest.finish().await.unwrap();
}

/// Checks the rows and state after [`scenario`].
pub async fn assert_scenario(dest: &FilesDestination, what: &str) {
    let got = rows(&dest.read_current(&users()).await.unwrap());
    assert_eq!(got, scenario_expected(), "{what}");
    assert_eq!(
        dest.manifest()
            .states
            .get(&key().0)
            .map(|e| e.state.clone()),
        Some(serde_json::json!({"n": 3})),
        "{what}"
    );
}

/// A destination config for `path` in `format` and `mode`.
pub fn config(
    path: &str,
    format: Format,
    compression: Compression,
    mode: StreamMode,
) -> FilesConfig {
    FilesConfig::new(path)
        .with_format(format)
        .with_compression(compression)
        .with_modes(WriteModes::all(mode))
}

/// A moto S3 server on a free port, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The moto_server executable `scripts/moto.sh` installs.
fn moto_server() -> std::path::PathBuf {
    let cache = std::env::var("SPILLWAY_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/spillway",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let path = std::path::PathBuf::from(cache).join("moto-venv/bin/moto_server");
    assert!(
        path.exists(),
        "{} is missing: the S3 tests need moto's server. Install it with `scripts/moto.sh` \
         (scripts/services.sh runs it too)",
        path.display()
    );
    path
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server (install it with scripts/moto.sh)");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Creates a bucket (an unsigned `PUT /bucket`; moto does not check signatures).
    pub fn create_bucket(&self, bucket: &str) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "creating bucket {bucket}: {response}"
        );
    }

    /// A config for `s3://bucket/prefix` on this server, with dummy credentials.
    pub fn config(
        &self,
        url: &str,
        format: Format,
        compression: Compression,
        mode: StreamMode,
    ) -> FilesConfig {
        let mut c = config(url, format, compression, mode)
            .with_endpoint(&self.endpoint)
            .with_credentials("testing", "testing-secret");
        c.region = Some("us-east-1".into());
        c
    }
}
