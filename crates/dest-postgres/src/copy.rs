//! Binary `COPY … FROM STDIN` of Arrow columns.
//!
//! Values are encoded straight from the Arrow arrays in Postgres's binary format: integers
//! and booleans as they are, doubles by their IEEE bits (so NaN payloads, ±∞ and −0.0 arrive
//! bit for bit), text, JSON and bytes as their bytes. Postgres `text` cannot hold the NUL
//! character, so a string containing one stops the copy with an error that the caller words
//! (naming the table, column and `_id`).

use std::error::Error;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray,
};
use arrow_schema::DataType;
use bytes::{BufMut, BytesMut};
use spillway_core::{ColumnType, DestError};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::db::Db;
use crate::error::{internal_error, sql_error};

/// The Postgres type a column of `t` is copied as.
pub(crate) fn pg_type(t: ColumnType) -> Type {
    match t {
        ColumnType::Int64 => Type::INT8,
        ColumnType::Float64 => Type::FLOAT8,
        ColumnType::Boolean => Type::BOOL,
        ColumnType::Utf8 | ColumnType::Null => Type::TEXT,
        ColumnType::Binary => Type::BYTEA,
        ColumnType::Json => Type::JSON,
    }
}

/// One Arrow column, downcast once for the row loop.
#[derive(Clone, Copy)]
pub(crate) enum Values<'a> {
    /// Every value is NULL.
    Null,
    /// Booleans.
    Bool(&'a BooleanArray),
    /// 64-bit integers.
    I64(&'a Int64Array),
    /// Doubles.
    F64(&'a Float64Array),
    /// Text or JSON text.
    Str(&'a StringArray),
    /// Bytes.
    Bytes(&'a BinaryArray),
}

impl<'a> Values<'a> {
    /// Wraps `array`; `None` for an Arrow type spillway does not write.
    pub(crate) fn of(array: &'a ArrayRef) -> Option<Values<'a>> {
        Some(match array.data_type() {
            DataType::Null => Values::Null,
            DataType::Boolean => Values::Bool(array.as_boolean()),
            DataType::Int64 => Values::I64(array.as_primitive::<Int64Type>()),
            DataType::Float64 => Values::F64(array.as_primitive::<Float64Type>()),
            DataType::Utf8 => Values::Str(array.as_string::<i32>()),
            DataType::Binary => Values::Bytes(array.as_binary::<i32>()),
            _ => return None,
        })
    }

    /// The value of row `i`.
    fn cell(self, i: usize) -> Cell<'a> {
        match self {
            Values::Null => Cell::Null,
            Values::Bool(a) if a.is_valid(i) => Cell::Bool(a.value(i)),
            Values::I64(a) if a.is_valid(i) => Cell::I64(a.value(i)),
            Values::F64(a) if a.is_valid(i) => Cell::F64(a.value(i)),
            Values::Str(a) if a.is_valid(i) => Cell::Str(a.value(i)),
            Values::Bytes(a) if a.is_valid(i) => Cell::Bytes(a.value(i)),
            _ => Cell::Null,
        }
    }
}

/// One value in Postgres's binary format. The column types are fixed by the caller (the
/// `COPY` target), so every Postgres type is accepted.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
}

impl ToSql for Cell<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Cell::Null => return Ok(IsNull::Yes),
            Cell::Bool(b) => out.put_u8(u8::from(*b)),
            Cell::I64(v) => out.put_i64(*v),
            // The bits, not a conversion: NaN payloads and −0.0 survive.
            Cell::F64(v) => out.put_u64(v.to_bits()),
            // `text` and `json` share one binary format: the UTF-8 bytes.
            Cell::Str(s) => out.put_slice(s.as_bytes()),
            Cell::Bytes(b) => out.put_slice(b),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Copies `rows` rows of `columns` into `table` (a quoted, qualified name) whose columns
/// `names` have the Postgres `types`; `what` describes the copy for messages. A string holding
/// NUL stops the copy with `on_nul(row, column index)`. Returns the number of rows copied.
#[expect(
    clippy::too_many_arguments,
    reason = "two callers; the arguments are all distinct"
)]
pub(crate) async fn copy_in(
    db: &Db,
    what: &str,
    table: &str,
    names: &[String],
    types: &[Type],
    columns: &[Values<'_>],
    rows: usize,
    on_nul: impl Fn(usize, usize) -> DestError,
) -> Result<u64, DestError> {
    if names.len() != types.len() || names.len() != columns.len() {
        return Err(internal_error(
            &db.target,
            format!(
                "copying into {table}: {} names, {} types, {} columns",
                names.len(),
                types.len(),
                columns.len()
            ),
        ));
    }
    let what = || what.to_string();
    let sql = format!("COPY {table} ({}) FROM STDIN BINARY", names.join(", "));
    let sink = db
        .client
        .copy_in(&sql)
        .await
        .map_err(|e| sql_error(&db.target, &what(), &e))?;
    let writer = BinaryCopyInWriter::new(sink, types);
    let mut writer = std::pin::pin!(writer);
    let mut cells: Vec<Cell<'_>> = Vec::with_capacity(columns.len());
    for r in 0..rows {
        cells.clear();
        for (c, values) in columns.iter().enumerate() {
            let cell = values.cell(r);
            if let Cell::Str(s) = cell
                && s.as_bytes().contains(&0)
            {
                // Dropping the writer unfinished aborts the COPY.
                return Err(on_nul(r, c));
            }
            cells.push(cell);
        }
        writer
            .as_mut()
            .write_raw(cells.iter())
            .await
            .map_err(|e| sql_error(&db.target, &what(), &e))?;
    }
    writer
        .as_mut()
        .finish()
        .await
        .map_err(|e| sql_error(&db.target, &what(), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(c: Cell<'_>) -> Vec<u8> {
        let mut out = BytesMut::new();
        let null = c.to_sql(&Type::TEXT, &mut out).unwrap();
        if matches!(null, IsNull::Yes) {
            return b"NULL".to_vec();
        }
        out.to_vec()
    }

    #[test]
    fn binary_encoding() {
        assert_eq!(encode(Cell::Null), b"NULL");
        assert_eq!(encode(Cell::Bool(true)), [1]);
        assert_eq!(encode(Cell::I64(-2)), (-2i64).to_be_bytes());
        assert_eq!(encode(Cell::F64(-0.0)), [0x80, 0, 0, 0, 0, 0, 0, 0]);
        let nan = f64::from_bits(0x7ff8_0000_0000_0001);
        assert_eq!(
            encode(Cell::F64(nan)),
            0x7ff8_0000_0000_0001u64.to_be_bytes()
        );
        assert_eq!(encode(Cell::Str("é")), "é".as_bytes());
        assert_eq!(encode(Cell::Bytes(&[0, 255])), [0, 255]);
    }

    #[test]
    fn values_downcast_every_written_type() {
        let arrays: Vec<ArrayRef> = vec![
            std::sync::Arc::new(arrow_array::NullArray::new(1)),
            std::sync::Arc::new(BooleanArray::from(vec![Some(true)])),
            std::sync::Arc::new(Int64Array::from(vec![None])),
            std::sync::Arc::new(Float64Array::from(vec![1.5])),
            std::sync::Arc::new(StringArray::from(vec!["s"])),
            std::sync::Arc::new(BinaryArray::from(vec![&b"b"[..]])),
        ];
        for a in &arrays {
            assert!(Values::of(a).is_some(), "{}", a.data_type());
        }
        assert!(matches!(
            Values::of(&arrays[2]).unwrap().cell(0),
            Cell::Null
        ));
        let dates: ArrayRef = std::sync::Arc::new(arrow_array::Date32Array::from(vec![1]));
        assert!(Values::of(&dates).is_none());
    }
}
