//! Helpers shared by the integration tests: batches built with Arrow, and a destination in a
//! temporary directory.
#![allow(dead_code)]

use std::sync::Arc;

use duckdb::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, NullArray, RecordBatch,
    StringArray,
};
use duckdb::arrow::datatypes::Schema;
use serde_json::{Map, Value};
use spillway_core::schema::system_fields;
use spillway_core::{Batch, Checkpoint, ColumnType, SourceState, StateKey, StreamId};
use spillway_dest_duckdb::{DuckDbConfig, DuckDbDestination};
use tempfile::TempDir;

/// A destination in a fresh temporary directory (kept alive by the returned `TempDir`).
pub fn open() -> (TempDir, DuckDbConfig, DuckDbDestination) {
    let dir = tempfile::tempdir().unwrap();
    let config = DuckDbConfig::new(dir.path().join("test.duckdb"));
    let dest = DuckDbDestination::open(&config).unwrap();
    (dir, config, dest)
}

/// One revision: `(id, ts, deleted)`.
pub type Rev<'a> = (&'a str, i64, bool);

/// A user column of a batch.
pub struct Col {
    pub name: String,
    pub ty: ColumnType,
    pub array: ArrayRef,
}

pub fn int(name: &str, v: Vec<Option<i64>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Int64,
        array: Arc::new(Int64Array::from(v)),
    }
}
pub fn float(name: &str, v: Vec<Option<f64>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Float64,
        array: Arc::new(Float64Array::from(v)),
    }
}
pub fn boolean(name: &str, v: Vec<Option<bool>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Boolean,
        array: Arc::new(BooleanArray::from(v)),
    }
}
pub fn text(name: &str, v: Vec<Option<&str>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Utf8,
        array: Arc::new(StringArray::from(v)),
    }
}
pub fn json(name: &str, v: Vec<Option<&str>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Json,
        array: Arc::new(StringArray::from(v)),
    }
}
pub fn bytes(name: &str, v: Vec<Option<&[u8]>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Binary,
        array: Arc::new(BinaryArray::from(v)),
    }
}
pub fn nulls(name: &str, n: usize) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Null,
        array: Arc::new(NullArray::new(n)),
    }
}

/// A batch of `revs` with user columns `cols` (`_creationTime` = `ts / 1000`).
pub fn batch(stream: &StreamId, revs: &[Rev<'_>], cols: Vec<Col>) -> Batch {
    let mut fields = system_fields();
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            revs.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            revs.iter()
                .map(|r| (!r.2).then_some(r.1 as f64 / 1000.0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            revs.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            revs.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    for c in cols {
        fields.push(c.ty.field(&c.name));
        arrays.push(c.array);
    }
    let rows = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    Batch::try_new(stream.clone(), rows).unwrap()
}

/// A checkpoint with state `{"n": n}`.
pub fn checkpoint(n: i64) -> Checkpoint {
    Checkpoint {
        state: SourceState(serde_json::json!({ "n": n })),
        description: format!("page {n}"),
    }
}

pub fn key() -> StateKey {
    StateKey("test:source".into())
}

/// All rows of `table` ordered by `_id`.
pub fn rows(dest: &mut DuckDbDestination, table: &str) -> Vec<Map<String, Value>> {
    let sql = format!(
        "SELECT * FROM \"{}\" ORDER BY _id",
        table.replace('"', "\"\"")
    );
    dest.query_json(&sql).unwrap()
}

/// `(column, DuckDB type)` of `table`.
pub fn columns(dest: &mut DuckDbDestination, table: &str) -> Vec<(String, String)> {
    let sql = format!(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{}' \
         AND database_name = current_database() ORDER BY column_index",
        table.replace('\'', "''")
    );
    dest.query_json(&sql)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["column_name"].as_str().unwrap().to_string(),
                r["data_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The text DuckDB stores for `column` of row `id` (`CAST(... AS VARCHAR)`).
pub fn stored_text(
    dest: &mut DuckDbDestination,
    table: &str,
    column: &str,
    id: &str,
) -> Option<String> {
    let sql =
        format!("SELECT CAST(\"{column}\" AS VARCHAR) AS v FROM \"{table}\" WHERE _id = '{id}'");
    let rows = dest.query_json(&sql).unwrap();
    rows.first()
        .and_then(|r| r["v"].as_str().map(str::to_string))
}
