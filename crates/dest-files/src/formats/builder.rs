//! Column builders and cell access shared by the text formats (NDJSON, CSV).

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use spillway_core::ColumnType;
use spillway_core::schema::{CREATION_TIME, DELETED, ID, TS};
use spillway_core::table::TableSchema;

use crate::conform::arrow_schema;

/// Every column of a file: the system columns (typed as [`ColumnType`]s), then `columns`.
pub(super) fn all_columns(columns: &TableSchema) -> Vec<(String, ColumnType)> {
    let mut all = vec![
        (ID.to_string(), ColumnType::Utf8),
        (CREATION_TIME.to_string(), ColumnType::Float64),
        (TS.to_string(), ColumnType::Int64),
        (DELETED.to_string(), ColumnType::Boolean),
    ];
    all.extend(columns.columns.iter().cloned());
    all
}

/// One column being built.
pub(super) enum ColBuilder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
}

impl ColBuilder {
    pub(super) fn new(ty: ColumnType) -> Self {
        match ty {
            ColumnType::Boolean => ColBuilder::Bool(BooleanBuilder::new()),
            ColumnType::Int64 => ColBuilder::Int(Int64Builder::new()),
            ColumnType::Float64 | ColumnType::Null => ColBuilder::Float(Float64Builder::new()),
            ColumnType::Utf8 | ColumnType::Json => ColBuilder::Str(StringBuilder::new()),
            ColumnType::Binary => ColBuilder::Bin(BinaryBuilder::new()),
        }
    }

    pub(super) fn push_null(&mut self) {
        match self {
            ColBuilder::Bool(b) => b.append_null(),
            ColBuilder::Int(b) => b.append_null(),
            ColBuilder::Float(b) => b.append_null(),
            ColBuilder::Str(b) => b.append_null(),
            ColBuilder::Bin(b) => b.append_null(),
        }
    }

    /// Appends a value given as text: `true`/`false`, a decimal integer, a float (Rust
    /// syntax, with `NaN`, `inf`, `-inf`), text, or base64 bytes.
    pub(super) fn push_text(&mut self, s: &str) -> Result<(), String> {
        match self {
            ColBuilder::Bool(b) => b.append_value(match s {
                "true" => true,
                "false" => false,
                _ => return Err(format!("{s:?} is not a boolean")),
            }),
            ColBuilder::Int(b) => {
                b.append_value(s.parse().map_err(|_| format!("{s:?} is not an integer"))?)
            }
            ColBuilder::Float(b) => {
                b.append_value(s.parse().map_err(|_| format!("{s:?} is not a number"))?)
            }
            ColBuilder::Str(b) => b.append_value(s),
            ColBuilder::Bin(b) => b.append_value(
                B64.decode(s)
                    .map_err(|e| format!("{s:?} is not base64: {e}"))?,
            ),
        }
        Ok(())
    }

    pub(super) fn push_f64(&mut self, f: f64) -> Result<(), String> {
        match self {
            ColBuilder::Float(b) => b.append_value(f),
            _ => return Err("a float in a non-float column".into()),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Bool(b) => std::sync::Arc::new(b.finish()),
            ColBuilder::Int(b) => std::sync::Arc::new(b.finish()),
            ColBuilder::Float(b) => std::sync::Arc::new(b.finish()),
            ColBuilder::Str(b) => std::sync::Arc::new(b.finish()),
            ColBuilder::Bin(b) => std::sync::Arc::new(b.finish()),
        }
    }
}

/// Builders for every column of a file, finished into one batch.
pub(super) fn finish(
    columns: &TableSchema,
    builders: &mut [ColBuilder],
) -> Result<RecordBatch, String> {
    let arrays = builders.iter_mut().map(ColBuilder::finish).collect();
    RecordBatch::try_new(arrow_schema(columns), arrays).map_err(|e| e.to_string())
}

/// One column of a batch, downcast once to its Arrow array (the text writers read cells
/// from it without a per-cell downcast or allocation).
pub(super) enum Cells<'a> {
    /// A column of nulls only.
    Null,
    Bool(&'a BooleanArray),
    Int(&'a Int64Array),
    Float(&'a Float64Array),
    /// Text (`json == false`) or JSON text (`json == true`).
    Str(&'a StringArray, bool),
    Bin(&'a BinaryArray),
}

impl<'a> Cells<'a> {
    /// Column `a` of logical type `ty`; the error says the array is not of that type.
    pub(super) fn new(a: &'a ArrayRef, ty: ColumnType) -> Result<Self, String> {
        let cells = match ty {
            ColumnType::Null => Some(Cells::Null),
            ColumnType::Boolean => a.as_boolean_opt().map(Cells::Bool),
            ColumnType::Int64 => a.as_primitive_opt::<Int64Type>().map(Cells::Int),
            ColumnType::Float64 => a.as_primitive_opt::<Float64Type>().map(Cells::Float),
            ColumnType::Utf8 => a.as_string_opt::<i32>().map(|s| Cells::Str(s, false)),
            ColumnType::Json => a.as_string_opt::<i32>().map(|s| Cells::Str(s, true)),
            ColumnType::Binary => a.as_binary_opt::<i32>().map(Cells::Bin),
        };
        cells.ok_or_else(|| format!("a {} column is held as Arrow {}", ty.name(), a.data_type()))
    }

    /// Whether element `i` is null.
    pub(super) fn is_null(&self, i: usize) -> bool {
        match self {
            Cells::Null => true,
            Cells::Bool(a) => a.is_null(i),
            Cells::Int(a) => a.is_null(i),
            Cells::Float(a) => a.is_null(i),
            Cells::Str(a, _) => a.is_null(i),
            Cells::Bin(a) => a.is_null(i),
        }
    }
}

/// Appends `bytes` in base64 to `out`.
pub(super) fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), String> {
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true)
        .ok_or_else(|| format!("{} bytes are too many to encode", bytes.len()))?;
    out.resize(start + len, 0);
    B64.encode_slice(bytes, &mut out[start..])
        .map_err(|e| e.to_string())?;
    Ok(())
}
