//! [`Batch`]: Arrow rows of one stream, and the widening casts destinations apply to them.
//!
//! JSON columns hold the `export_json` form of a value (spec §5): integers bare (`42`), floats
//! with a fraction or exponent (`5.0`), NaN/±∞/−0.0 as `{"$float": "<base64 LE>"}` and bytes as
//! `{"$bytes": "<base64>"}`, so widening a column to JSON never loses a value or its type.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow_schema::{ArrowError, DataType};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::StreamId;
use crate::schema::{CREATION_TIME, ColumnType, DELETED, ID, SYSTEM_COLUMNS, TS};

/// Rows of one stream: the system columns (`_id`, `_creationTime`, `_ts`, `_deleted`) then
/// one column per user field, typed as in [`ColumnType`].
#[derive(Clone, Debug)]
pub struct Batch {
    /// The stream the rows belong to.
    pub stream: StreamId,
    /// The rows.
    pub rows: RecordBatch,
}

impl Batch {
    /// Wraps rows, checking that the system columns come first.
    pub fn try_new(stream: StreamId, rows: RecordBatch) -> Result<Self, ArrowError> {
        let schema = rows.schema();
        for (i, name) in SYSTEM_COLUMNS.iter().enumerate() {
            if schema.fields().get(i).map(|f| f.name().as_str()) != Some(name) {
                return Err(ArrowError::SchemaError(format!(
                    "batch for stream {stream} must start with the system columns {SYSTEM_COLUMNS:?}"
                )));
            }
        }
        Ok(Batch { stream, rows })
    }

    /// Checks that the rows start with the system columns typed as [`crate::schema`] says
    /// (`_creationTime` may be an all-null column); the error names the first wrong column.
    /// Destinations check this before writing, since `rows` can be built without
    /// [`Batch::try_new`].
    pub fn check_system_columns(&self) -> Result<(), String> {
        let schema = self.rows.schema();
        let fields = schema.fields();
        let expected: [(&str, &[DataType]); 4] = [
            (ID, &[DataType::Utf8]),
            (CREATION_TIME, &[DataType::Float64, DataType::Null]),
            (TS, &[DataType::Int64]),
            (DELETED, &[DataType::Boolean]),
        ];
        for (i, (name, types)) in expected.iter().enumerate() {
            let ok = fields
                .get(i)
                .is_some_and(|f| f.name() == name && types.contains(f.data_type()));
            if !ok {
                return Err(format!(
                    "batch for table {:?} must start with the system columns {SYSTEM_COLUMNS:?} \
                     (column {i} should be {name} of type {types:?})",
                    self.stream.qualified()
                ));
            }
        }
        Ok(())
    }

    /// The user columns (after the system columns) with their logical types.
    pub fn user_columns(&self) -> impl Iterator<Item = (usize, &str, ColumnType)> {
        self.rows
            .schema_ref()
            .fields()
            .iter()
            .enumerate()
            .skip(SYSTEM_COLUMNS.len())
            .map(|(i, f)| {
                (
                    i,
                    f.name().as_str(),
                    ColumnType::of_field(f).unwrap_or(ColumnType::Json),
                )
            })
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.rows.num_rows()
    }
}

/// Casts `array` of logical type `from` to the wider type `to` (`from.widen(to) == to`).
pub fn cast_column(
    array: &ArrayRef,
    from: ColumnType,
    to: ColumnType,
) -> Result<ArrayRef, ArrowError> {
    if from == to {
        return Ok(array.clone());
    }
    if from.widen(to) != to {
        return Err(ArrowError::CastError(format!(
            "cannot narrow a {} column to {}",
            from.name(),
            to.name()
        )));
    }
    match (from, to) {
        (ColumnType::Null, to) => Ok(new_null_array(&to.arrow_type(), array.len())),
        (ColumnType::Int64, ColumnType::Float64) => {
            arrow_cast::cast(array, &arrow_schema::DataType::Float64)
        }
        (from, ColumnType::Json) => {
            let out: StringArray = (0..array.len())
                .map(|i| json_text(array, from, i))
                .collect();
            Ok(Arc::new(out))
        }
        (from, to) => Err(ArrowError::CastError(format!(
            "no cast from {} to {}",
            from.name(),
            to.name()
        ))),
    }
}

/// The JSON text of element `i` of a column of type `ty`, or `None` for null.
pub fn json_text(array: &ArrayRef, ty: ColumnType, i: usize) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    Some(match ty {
        ColumnType::Null => return None,
        ColumnType::Boolean => array.as_boolean().value(i).to_string(),
        ColumnType::Int64 => array.as_primitive::<Int64Type>().value(i).to_string(),
        ColumnType::Float64 => float_json(array.as_primitive::<Float64Type>().value(i)),
        ColumnType::Utf8 => {
            serde_json::Value::String(array.as_string::<i32>().value(i).to_string()).to_string()
        }
        ColumnType::Binary => bytes_json(array.as_binary::<i32>().value(i)),
        ColumnType::Json => array.as_string::<i32>().value(i).to_string(),
    })
}

/// A float in export_json form (`5.0`, `1e20`, or a `$float` tag for NaN/±∞/−0.0).
pub fn float_json(f: f64) -> String {
    if !f.is_finite() || (f == 0.0 && f.is_sign_negative()) {
        format!(r#"{{"$float":"{}"}}"#, B64.encode(f.to_le_bytes()))
    } else {
        ryu::Buffer::new().format_finite(f).to_string()
    }
}

/// Bytes in export_json form (`{"$bytes": "<base64>"}`).
pub fn bytes_json(b: &[u8]) -> String {
    format!(r#"{{"$bytes":"{}"}}"#, B64.encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{BinaryArray, Float64Array, Int64Array};

    #[test]
    fn widening_casts_keep_every_value() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(-7)]));
        let f = cast_column(&ints, ColumnType::Int64, ColumnType::Float64).unwrap();
        assert_eq!(f.as_primitive::<Float64Type>().value(2), -7.0);
        let j = cast_column(&ints, ColumnType::Int64, ColumnType::Json).unwrap();
        assert_eq!(j.as_string::<i32>().value(0), "1");
        assert!(j.is_null(1));

        let floats: ArrayRef = Arc::new(Float64Array::from(vec![5.0, f64::NAN, -0.0, 0.5]));
        let j = cast_column(&floats, ColumnType::Float64, ColumnType::Json).unwrap();
        let j = j.as_string::<i32>();
        assert_eq!(j.value(0), "5.0");
        assert_eq!(j.value(1), r#"{"$float":"AAAAAAAA+H8="}"#);
        assert_eq!(j.value(2), r#"{"$float":"AAAAAAAAAIA="}"#);
        assert_eq!(j.value(3), "0.5");

        let bytes: ArrayRef = Arc::new(BinaryArray::from(vec![&b"\x00\xff"[..]]));
        let j = cast_column(&bytes, ColumnType::Binary, ColumnType::Json).unwrap();
        assert_eq!(j.as_string::<i32>().value(0), r#"{"$bytes":"AP8="}"#);

        let text: ArrayRef = Arc::new(StringArray::from(vec!["a\"b"]));
        let j = cast_column(&text, ColumnType::Utf8, ColumnType::Json).unwrap();
        assert_eq!(j.as_string::<i32>().value(0), r#""a\"b""#);
    }

    #[test]
    fn narrowing_is_refused() {
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![1.5]));
        assert!(cast_column(&floats, ColumnType::Float64, ColumnType::Int64).is_err());
    }
}
