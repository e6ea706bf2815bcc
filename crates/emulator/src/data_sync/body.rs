//! Byte-exact data sync response bodies (spec §12.2): key order `status`, `truncates`,
//! `values`, `syncId`, `pagination`; each value `component`, `table`, `ts`, `deleted`, `value`
//! with the document in `export_json`, its keys in byte order like every other export body.

use spillway_convex_protocol::data_sync::{DataSyncPagination, DataSyncStatus, TableName};
use spillway_convex_protocol::value::Format;

use crate::selection::Columns;
use crate::store::{Doc, Tablet};

fn push_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Serializing strings and plain protocol structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// One entry of `values` as JSON text. `doc: None` is a tombstone, whose `value` is only
/// `{"_id"}`; live values drop `_creationTime` and user fields the columns exclude.
pub(crate) fn write_value(
    tablet: &Tablet,
    ts: i64,
    id: &str,
    doc: Option<&Doc>,
    columns: &Columns,
) -> String {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"component\":");
    push_json(&mut out, &tablet.component);
    out.extend_from_slice(b",\"table\":");
    push_json(&mut out, &tablet.table);
    out.extend_from_slice(b",\"ts\":");
    out.extend_from_slice(itoa::Buffer::new().format(ts).as_bytes());
    out.extend_from_slice(b",\"deleted\":");
    out.extend_from_slice(if doc.is_none() { b"true" } else { b"false" });
    out.extend_from_slice(b",\"value\":{");
    match doc {
        None => {
            out.extend_from_slice(b"\"_id\":");
            push_json(&mut out, id);
        }
        Some(doc) => doc.write_entries(columns, Format::ExportJson, &mut out, false),
    }
    out.extend_from_slice(b"}}");
    into_string(out)
}

/// The whole page.
pub(crate) fn page_body(
    status: &DataSyncStatus,
    truncates: &[TableName],
    values: &[String],
    sync_id: &str,
    next_cursor: String,
) -> String {
    let mut out = Vec::with_capacity(values.iter().map(String::len).sum::<usize>() + 256);
    out.extend_from_slice(b"{\"status\":");
    push_json(&mut out, status);
    out.extend_from_slice(b",\"truncates\":");
    push_json(&mut out, truncates);
    out.extend_from_slice(b",\"values\":[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(b"],\"syncId\":");
    push_json(&mut out, sync_id);
    out.extend_from_slice(b",\"pagination\":");
    push_json(
        &mut out,
        &DataSyncPagination {
            has_more: true,
            next_cursor,
        },
    );
    out.push(b'}');
    into_string(out)
}

/// The output only ever contains UTF-8 (JSON text from `serde_json` and ASCII literals).
fn into_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
