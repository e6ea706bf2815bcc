//! Reading tables back as JSON (for tests, `spillway state show` and the demo).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use duckdb::arrow::array::{Array, ArrayRef, AsArray};
use duckdb::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use duckdb::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Value};
use spillway_core::DestError;

use crate::db::Db;
use crate::error::data_error;

/// Runs `sql` and returns its rows as JSON objects (see [`crate::DuckDbDestination::query_json`]).
pub(crate) fn query_json(db: &Db, sql: &str) -> Result<Vec<Map<String, Value>>, DestError> {
    let (batches, json) = db.arrow(sql, || format!("running query {sql:?}"))?;
    let mut out = Vec::new();
    for b in &batches {
        let schema = b.schema();
        let mut rows = vec![Map::new(); b.num_rows()];
        for (c, field) in schema.fields().iter().enumerate() {
            let is_json = json.get(c).copied().unwrap_or(false);
            let col = b.column(c);
            for (r, row) in rows.iter_mut().enumerate() {
                let v = cell(db, col, r, is_json)?;
                row.insert(field.name().clone(), v);
            }
        }
        out.extend(rows);
    }
    Ok(out)
}

/// A float as JSON: a number, or `"NaN"`/`"Infinity"`/`"-Infinity"`; −0.0 stays −0.0.
fn float(f: f64) -> Value {
    if f.is_nan() {
        Value::String("NaN".into())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// One cell as JSON.
fn cell(db: &Db, col: &ArrayRef, i: usize, is_json: bool) -> Result<Value, DestError> {
    if col.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match col.data_type() {
        DataType::Boolean => Value::Bool(col.as_boolean().value(i)),
        DataType::Int8 => col.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => col.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => col.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => col.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => col.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => col.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => col.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => col.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float32 => float(f64::from(col.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => float(col.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => text(db, col.as_string::<i32>().value(i), is_json)?,
        DataType::LargeUtf8 => text(db, col.as_string::<i64>().value(i), is_json)?,
        DataType::Utf8View => text(db, col.as_string_view().value(i), is_json)?,
        DataType::Binary => Value::String(B64.encode(col.as_binary::<i32>().value(i))),
        DataType::LargeBinary => Value::String(B64.encode(col.as_binary::<i64>().value(i))),
        DataType::BinaryView => Value::String(B64.encode(col.as_binary_view().value(i))),
        _ => {
            let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
                .map_err(|e| data_error(&db.path, format!("formatting a query result: {e}")))?;
            Value::String(f.value(i).to_string())
        }
    })
}

/// A text cell: parsed when the column is JSON.
fn text(db: &Db, s: &str, is_json: bool) -> Result<Value, DestError> {
    if is_json {
        serde_json::from_str(s)
            .map_err(|e| data_error(&db.path, format!("a JSON column holds invalid JSON: {e}")))
    } else {
        Ok(Value::String(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(float(f64::NAN), Value::String("NaN".into()));
        assert_eq!(float(f64::NEG_INFINITY), Value::String("-Infinity".into()));
        assert_eq!(float(-0.0).to_string(), "-0.0");
        assert_eq!(float(1.5).to_string(), "1.5");
    }
}
