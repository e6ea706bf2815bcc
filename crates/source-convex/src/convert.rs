//! Page rows (encoded JSON, or data sync's export JSON) → Arrow batches, one per table.
//!
//! Each user field becomes a column typed by the least upper bound of its values in the batch
//! (see [`spillway_core::schema`]); nested values become JSON text in `export_json` form.
//! Unknown `_`-prefixed keys are ignored (spec §4.3, §17.25). Tombstones carry only `_id` and
//! `_ts` (spec §17.12).

use std::collections::BTreeMap;

use spillway_convex_protocol::{Format, Value};
use spillway_core::{Batch, ErrorKind, SourceError, StreamId};

use crate::columns::{Cell, RowMeta, TableColumns};

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

/// Builds the batch for rows of one stream (see [`crate::columns`]).
pub fn to_batch(stream: &StreamId, rows: &[Row]) -> Result<Batch, SourceError> {
    let mut table = TableColumns::new();
    for row in rows {
        push_row(&mut table, row)?;
    }
    table.finish(stream)
}

/// Appends a decoded row to its table's columns.
pub fn push_row(table: &mut TableColumns, row: &Row) -> Result<(), SourceError> {
    let meta = RowMeta {
        id: &row.id,
        creation_time: row.creation_time,
        ts: row.ts,
        deleted: row.deleted,
    };
    // A map's keys are distinct, so this cannot fail.
    table
        .push_row(meta, row.fields.iter().map(|(k, v)| (k, Cell::of(v))))
        .map_err(|m| SourceError::new(ErrorKind::Internal, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use spillway_core::ColumnType;

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
