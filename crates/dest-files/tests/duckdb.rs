//! The part files read by DuckDB the way the crate docs tell users to.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use spillway_core::write_mode::StreamMode;
use spillway_dest_files::{Compression, FilesDestination, Format};

/// `_id`, `n`, `name`, `tags` as DuckDB returns them.
type Row4 = (String, Option<String>, Option<String>, Option<String>);

#[tokio::test]
async fn duckdb_reads_the_latest_rows_across_widened_parquet_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        tmp.path().to_str().unwrap(),
        Format::Parquet,
        Compression::Zstd,
        StreamMode::default(),
    );
    let mut dest = FilesDestination::open(&c).await.unwrap();
    scenario(&mut dest).await;
    let files: Vec<String> = dest
        .current_parts(&users())
        .iter()
        .map(|p| format!("'{}'", tmp.path().join(p).display()))
        .collect();
    let sql = format!(
        "SELECT _id, CAST(n AS VARCHAR), name, CAST(tags AS VARCHAR) FROM ( \
           SELECT *, row_number() OVER (PARTITION BY _id ORDER BY _ts DESC) AS rn \
           FROM read_parquet([{}], union_by_name = true)) \
         WHERE rn = 1 AND NOT _deleted ORDER BY _id",
        files.join(", ")
    );
    let db = duckdb::Connection::open_in_memory().unwrap();
    let mut stmt = db.prepare(&sql).unwrap();
    let got: Vec<Row4> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "a".to_string(),
                Some(r#"{"deep":[1,2.5]}"#.to_string()),
                Some("Ann, \"A\"".to_string()),
                None
            ),
            (
                "b".to_string(),
                Some("2.5".to_string()),
                Some(String::new()),
                None
            ),
            (
                "d".to_string(),
                Some("4.0".to_string()),
                None,
                Some(r#"["x",{"y":null}]"#.to_string())
            ),
        ]
    );
}
