//! Page rows (encoded JSON, or data sync's export JSON) → Arrow batches, one per table.
//!
//! Each user field becomes a column typed by the least upper bound of its values in the batch
//! (see [`spillway_core::schema`]); nested values become JSON text in `export_json` form.
//! Unknown `_`-prefixed keys are ignored (spec §4.3, §17.25). Tombstones carry only `_id` and
//! `_ts` (spec §17.12).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::{ArrayRef, NullArray, RecordBatch};
use arrow_schema::Schema;
use spillway_convex_protocol::{Format, Value};
use spillway_core::schema::{int_fits_f64, system_fields};
use spillway_core::{Batch, ColumnType, ErrorKind, SourceError, StreamId};

use spillway_convex_protocol::data_sync::DataSyncValue;
use spillway_convex_protocol::wire::WireRow;

/// One decoded row.
#[derive(Debug)]
pub struct Row {
    /// `_id`.
    pub id: String,
    /// `_creationTime` (absent for tombstones or when excluded).
    pub creation_time: Option<f64>,
    /// `_ts`.
    pub ts: i64,
    /// `_deleted`.
    pub deleted: bool,
    /// User fields.
    pub fields: BTreeMap<String, Value>,
}

/// The `(component, table)` of a wire row.
pub fn row_stream(row: &WireRow) -> Result<StreamId, String> {
    let table = row
        .get("_table")
        .and_then(|v| v.as_str())
        .ok_or("row has no string `_table`")?;
    let component = row
        .get("_component")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    stream_of(component, table)
}

/// The stream of a `(component, table)` pair the server sent.
pub fn stream_of(component: &str, table: &str) -> Result<StreamId, String> {
    // `/` separates the component path in the qualified name (the destination table and the
    // saved state's key): a root table `a/b` would alias table `b` of component `a`.
    if table.is_empty() || table.contains('/') {
        return Err(format!(
            "row has an invalid `_table` {table:?} (empty or containing `/`)"
        ));
    }
    Ok(StreamId::new(component, table))
}

/// Decodes one wire row (encoded JSON).
pub fn decode_row(row: &WireRow, stream: &StreamId, where_: &str) -> Result<Row, SourceError> {
    let bad =
        |m: String| SourceError::new(ErrorKind::Data, format!("stream {stream}, {where_}: {m}"));
    let ts = row.get("_ts").and_then(|v| v.as_i64());
    let deleted = row
        .get("_deleted")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let (id, creation_time) = id_and_creation(row).map_err(bad)?;
    let ts = ts.ok_or_else(|| bad(format!("row {id} has no integer `_ts`")))?;
    let fields = fields(row, deleted, Format::ConvexEncodedJson)
        .map_err(|m| bad(format!("row {id}, {m}")))?;
    Ok(Row {
        id,
        creation_time,
        ts,
        deleted,
        fields,
    })
}

/// Decodes one data sync value (`export_json`, metadata beside the document, spec §12.2).
pub fn decode_sync_value(v: &DataSyncValue, where_: &str) -> Result<(StreamId, Row), SourceError> {
    let bad = |m: String| SourceError::new(ErrorKind::Data, format!("{where_}: {m}"));
    let stream = stream_of(&v.component, &v.table).map_err(bad)?;
    let bad =
        |m: String| SourceError::new(ErrorKind::Data, format!("stream {stream}, {where_}: {m}"));
    let (id, creation_time) = id_and_creation(&v.value).map_err(bad)?;
    let fields = fields(&v.value, v.deleted, Format::ExportJson)
        .map_err(|m| bad(format!("row {id}, {m}")))?;
    let row = Row {
        id,
        creation_time,
        ts: v.ts,
        deleted: v.deleted,
        fields,
    };
    Ok((stream, row))
}

/// `_id` and `_creationTime` (absent in tombstones or when deselected).
fn id_and_creation(row: &WireRow) -> Result<(String, Option<f64>), String> {
    let id = row
        .get("_id")
        .and_then(|v| v.as_str())
        .ok_or("row has no string `_id`")?
        .to_string();
    let creation_time = match row.get("_creationTime") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .ok_or_else(|| format!("row {id} has a non-numeric `_creationTime`"))?,
        ),
    };
    Ok((id, creation_time))
}

/// The user fields of a document (none for a tombstone); `_`-prefixed keys are metadata.
fn fields(row: &WireRow, deleted: bool, format: Format) -> Result<BTreeMap<String, Value>, String> {
    let mut fields = BTreeMap::new();
    if !deleted {
        for (k, v) in row {
            if k.starts_with('_') {
                continue;
            }
            let value = Value::from_json(v, format).map_err(|e| format!("field `{k}`: {e}"))?;
            fields.insert(k.clone(), value);
        }
    }
    Ok(fields)
}

fn value_type(v: &Value) -> ColumnType {
    match v {
        Value::Null => ColumnType::Null,
        Value::Int64(_) => ColumnType::Int64,
        Value::Float64(_) => ColumnType::Float64,
        Value::Boolean(_) => ColumnType::Boolean,
        Value::String(_) => ColumnType::Utf8,
        Value::Bytes(_) => ColumnType::Binary,
        Value::Array(_) | Value::Object(_) => ColumnType::Json,
    }
}

/// Builds the batch for rows of one stream.
pub fn to_batch(stream: &StreamId, rows: &[Row]) -> Result<Batch, SourceError> {
    // Per field: the widened type, and whether it holds an Int64 a DOUBLE would round.
    let mut seen: BTreeMap<&str, (ColumnType, bool)> = BTreeMap::new();
    for row in rows {
        for (k, v) in &row.fields {
            let (t, big) = seen.entry(k.as_str()).or_insert((ColumnType::Null, false));
            *big |= matches!(v, Value::Int64(i) if !int_fits_f64(*i));
            *t = t.widen(value_type(v));
        }
    }
    let types: BTreeMap<&str, ColumnType> = seen
        .into_iter()
        .map(|(k, (t, big))| match t {
            // Ints and floats mixed, and an int a DOUBLE would round: keep it exact as JSON.
            ColumnType::Float64 if big => (k, ColumnType::Json),
            t => (k, t),
        })
        .collect();
    let mut fields = system_fields();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(4 + types.len());

    let mut ids = StringBuilder::with_capacity(rows.len(), rows.len() * 32);
    let mut ctimes = Float64Builder::with_capacity(rows.len());
    let mut tss = Int64Builder::with_capacity(rows.len());
    let mut dels = BooleanBuilder::with_capacity(rows.len());
    for row in rows {
        ids.append_value(&row.id);
        ctimes.append_option(row.creation_time);
        tss.append_value(row.ts);
        dels.append_value(row.deleted);
    }
    columns.push(Arc::new(ids.finish()));
    columns.push(Arc::new(ctimes.finish()));
    columns.push(Arc::new(tss.finish()));
    columns.push(Arc::new(dels.finish()));

    for (name, ty) in &types {
        fields.push(ty.field(name));
        columns.push(build_column(rows, name, *ty));
    }
    let schema = Arc::new(Schema::new(fields));
    let rb = RecordBatch::try_new(schema, columns).map_err(|e| {
        SourceError::new(
            ErrorKind::Internal,
            format!("stream {stream}: cannot build batch: {e}"),
        )
    })?;
    Batch::try_new(stream.clone(), rb)
        .map_err(|e| SourceError::new(ErrorKind::Internal, e.to_string()))
}

fn build_column(rows: &[Row], name: &str, ty: ColumnType) -> ArrayRef {
    let n = rows.len();
    fn field<'r>(r: &'r Row, name: &str) -> Option<&'r Value> {
        r.fields.get(name).filter(|v| !matches!(v, Value::Null))
    }
    let get = |r| field(r, name);
    match ty {
        ColumnType::Null => Arc::new(NullArray::new(n)),
        ColumnType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(n);
            for r in rows {
                b.append_option(match get(r) {
                    Some(Value::Boolean(x)) => Some(*x),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        ColumnType::Int64 => {
            let mut b = Int64Builder::with_capacity(n);
            for r in rows {
                b.append_option(match get(r) {
                    Some(Value::Int64(x)) => Some(*x),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        ColumnType::Float64 => {
            let mut b = Float64Builder::with_capacity(n);
            for r in rows {
                b.append_option(match get(r) {
                    Some(Value::Float64(x)) => Some(*x),
                    // Widened column (Int64 ⊔ Float64), as DESIGN.md specifies.
                    Some(Value::Int64(x)) => Some(*x as f64),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        ColumnType::Utf8 => {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            for r in rows {
                match get(r) {
                    Some(Value::String(s)) => b.append_value(s),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        ColumnType::Binary => {
            let mut b = BinaryBuilder::with_capacity(n, n * 16);
            for r in rows {
                match get(r) {
                    Some(Value::Bytes(s)) => b.append_value(s),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        ColumnType::Json => {
            let mut b = StringBuilder::with_capacity(n, n * 32);
            for r in rows {
                match get(r) {
                    Some(v) => b.append_value(v.to_json_string(Format::ExportJson)),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    fn wire(text: &str) -> WireRow {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn types_are_inferred_and_widened_per_batch() {
        let s = StreamId::root("t");
        let rows: Vec<Row> = [
            r#"{"_component":"","_table":"t","_ts":5,"_id":"a","_creationTime":1.5,"n":{"$integer":"AQAAAAAAAAA="},"x":1.5,"m":"s","o":[1],"_future":1}"#,
            r#"{"_component":"","_table":"t","_ts":6,"_id":"b","_creationTime":2.5,"n":2.5,"m":{"$integer":"AgAAAAAAAAA="},"z":null}"#,
            r#"{"_component":"","_table":"t","_ts":7,"_deleted":true,"_id":"a"}"#,
        ]
        .iter()
        .map(|t| decode_row(&wire(t), &s, "test").unwrap())
        .collect();
        let b = to_batch(&s, &rows).unwrap();
        let cols: Vec<(String, ColumnType)> = b
            .user_columns()
            .map(|(_, n, t)| (n.to_string(), t))
            .collect();
        assert_eq!(
            cols,
            vec![
                ("m".into(), ColumnType::Json),
                ("n".into(), ColumnType::Float64),
                ("o".into(), ColumnType::Json),
                ("x".into(), ColumnType::Float64),
                ("z".into(), ColumnType::Null),
            ]
        );
        let m = b.rows.column(4).as_string::<i32>();
        assert_eq!(m.value(0), r#""s""#);
        assert_eq!(m.value(1), "2");
        assert!(m.is_null(2));
        assert!(b.rows.column(3).as_boolean().value(2));
        assert!(b.rows.column(1).is_null(2));
    }

    #[test]
    fn table_names_that_would_alias_another_stream_are_refused() {
        // Found by fuzz/fuzz_targets/page_parser.rs: a root table `a/b` had the qualified name
        // of table `b` of component `a`.
        let e = row_stream(&wire(
            r#"{"_component":"","_table":"a/b","_id":"x","_ts":1}"#,
        ))
        .unwrap_err();
        assert!(e.contains(r#"`_table` "a/b""#), "{e}");
        assert!(row_stream(&wire(r#"{"_table":"","_id":"x","_ts":1}"#)).is_err());
        let s = row_stream(&wire(r#"{"_component":"a","_table":"b"}"#)).unwrap();
        assert_eq!(StreamId::parse(&s.qualified()), s);
    }

    #[test]
    fn malformed_rows_are_data_errors_naming_the_stream() {
        let s = StreamId::root("t");
        let e = decode_row(&wire(r#"{"_ts":1}"#), &s, "snapshot page 3").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Data);
        assert!(
            e.message.contains("stream t, snapshot page 3"),
            "{}",
            e.message
        );
        let e = decode_row(
            &wire(r#"{"_id":"a","_ts":1,"f":{"$integer":"x"}}"#),
            &s,
            "p",
        )
        .unwrap_err();
        assert!(e.message.contains("field `f`"), "{}", e.message);
    }
}
