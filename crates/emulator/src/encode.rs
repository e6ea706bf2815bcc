//! Byte-exact response bodies for list_snapshot and document_deltas (spec §7.2, §8.2).
//!
//! Key order is `_component`, `_table`, `_ts`, (`_deleted`), then the document's keys in byte
//! order (`_creationTime`, `_id` and user fields sorted together, so e.g. `Name` precedes
//! `_creationTime`). Bodies are written as text so the order never depends on serde_json's map
//! features.

use spillway_convex_protocol::value::Format;

use crate::store::{Row, RowContent};

fn push_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends one row as a JSON object; deltas rows (`with_deleted`) carry `_deleted`.
fn write_row(out: &mut Vec<u8>, row: &Row, with_deleted: bool, format: Format) {
    out.extend_from_slice(b"{\"_component\":");
    push_str(out, &row.component);
    out.extend_from_slice(b",\"_table\":");
    push_str(out, &row.table);
    out.extend_from_slice(b",\"_ts\":");
    out.extend_from_slice(itoa::Buffer::new().format(row.ts).as_bytes());
    let doc = match &row.content {
        RowContent::Live(doc) => doc,
        RowContent::Deleted(id) => {
            // Tombstone: only `_id` besides the metadata (spec §8.2).
            out.extend_from_slice(b",\"_deleted\":true,\"_id\":");
            push_str(out, id);
            out.push(b'}');
            return;
        }
    };
    if with_deleted {
        out.extend_from_slice(b",\"_deleted\":false");
    }
    doc.write_entries(&row.columns, format, out, true);
    out.push(b'}');
}

fn write_values(out: &mut Vec<u8>, rows: &[Row], with_deleted: bool, format: Format) {
    out.extend_from_slice(b"{\"values\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_row(out, row, with_deleted, format);
    }
    out.push(b']');
}

/// `{"values":[…],"snapshot":N,"cursor":"…"|null,"hasMore":bool}`.
pub(crate) fn snapshot_body(
    rows: &[Row],
    snapshot: i64,
    cursor: Option<&str>,
    has_more: bool,
    format: Format,
) -> String {
    let mut out = Vec::with_capacity(rows.len() * 256 + 64);
    write_values(&mut out, rows, false, format);
    out.extend_from_slice(b",\"snapshot\":");
    out.extend_from_slice(snapshot.to_string().as_bytes());
    out.extend_from_slice(b",\"cursor\":");
    match cursor {
        Some(c) => push_str(&mut out, c),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"hasMore\":");
    out.extend_from_slice(if has_more { b"true" } else { b"false" });
    out.push(b'}');
    into_string(out)
}

/// `{"values":[…],"cursor":N,"hasMore":bool}`.
pub(crate) fn deltas_body(rows: &[Row], cursor: i64, has_more: bool, format: Format) -> String {
    let mut out = Vec::with_capacity(rows.len() * 256 + 64);
    write_values(&mut out, rows, true, format);
    out.extend_from_slice(b",\"cursor\":");
    out.extend_from_slice(cursor.to_string().as_bytes());
    out.extend_from_slice(b",\"hasMore\":");
    out.extend_from_slice(if has_more { b"true" } else { b"false" });
    out.push(b'}');
    into_string(out)
}

/// The output only ever contains UTF-8 (JSON text from `serde_json` and ASCII literals).
fn into_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
