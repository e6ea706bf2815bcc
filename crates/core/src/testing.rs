//! Batches, checkpoints and state keys built tersely, for destination tests (feature
//! `testing`). Every destination's tests use these, so they exercise the same inputs.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, NullArray, RecordBatch,
    StringArray,
};
use arrow_schema::Schema;

use crate::schema::system_fields;
use crate::{Batch, Checkpoint, ColumnType, SourceState, StateKey, StreamId};

/// One revision: `(id, ts, deleted)`.
pub type Rev<'a> = (&'a str, i64, bool);

/// A user column of a batch.
pub struct Col {
    /// Field name.
    pub name: String,
    /// Logical type.
    pub ty: ColumnType,
    /// Values.
    pub array: ArrayRef,
}

/// An Int64 column.
pub fn int(name: &str, v: Vec<Option<i64>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Int64,
        array: Arc::new(Int64Array::from(v)),
    }
}
/// A Float64 column.
pub fn float(name: &str, v: Vec<Option<f64>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Float64,
        array: Arc::new(Float64Array::from(v)),
    }
}
/// A Boolean column.
pub fn boolean(name: &str, v: Vec<Option<bool>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Boolean,
        array: Arc::new(BooleanArray::from(v)),
    }
}
/// A text column.
pub fn text(name: &str, v: Vec<Option<&str>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Utf8,
        array: Arc::new(StringArray::from(v)),
    }
}
/// A JSON column (values in `export_json` form).
pub fn json(name: &str, v: Vec<Option<&str>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Json,
        array: Arc::new(StringArray::from(v)),
    }
}
/// A bytes column.
pub fn bytes(name: &str, v: Vec<Option<&[u8]>>) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Binary,
        array: Arc::new(BinaryArray::from(v)),
    }
}
/// A column of `n` nulls (a field whose every value is null).
pub fn nulls(name: &str, n: usize) -> Col {
    Col {
        name: name.into(),
        ty: ColumnType::Null,
        array: Arc::new(NullArray::new(n)),
    }
}

/// A batch of `revs` with user columns `cols` (`_creationTime` = `ts / 1000`, null for
/// tombstones).
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
    let rows = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .expect("a well-formed test batch");
    Batch::try_new(stream.clone(), rows).expect("a well-formed test batch")
}

/// A checkpoint with state `{"n": n}`.
pub fn checkpoint(n: i64) -> Checkpoint {
    Checkpoint {
        state: SourceState(serde_json::json!({ "n": n })),
        description: format!("page {n}"),
    }
}

/// The state key the tests save under.
pub fn key() -> StateKey {
    StateKey("test:source".into())
}
