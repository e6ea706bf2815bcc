//! CSV parts (RFC 4180): a header line with the column names, then one line per row.
//!
//! A null is an empty unquoted field; an empty text is `""`, so the two stay apart (DuckDB
//! reads both as NULL unless `allow_quoted_nulls = false`). Values are written as
//! [`push_cell`] says; a field is quoted when it is empty or holds `,`, `"`, CR or LF, with
//! `"` doubled.

use std::io::Write as _;

use arrow_array::RecordBatch;
use spillway_core::table::TableSchema;

use super::builder::{Cells, ColBuilder, all_columns, finish, push_base64};

/// Appends a field: nothing for null, else the text, quoted if it must be.
fn push_field(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => {}
        Some(s) if s.is_empty() || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) => {
            out.push(b'"');
            for (k, part) in s.split('"').enumerate() {
                if k > 0 {
                    out.extend_from_slice(b"\"\"");
                }
                out.extend_from_slice(part.as_bytes());
            }
            out.push(b'"');
        }
        Some(s) => out.extend_from_slice(s.as_bytes()),
    }
}

/// Appends element `i` as a field: nothing for null, booleans `true`/`false`, integers in
/// decimal, floats in Rust's shortest round-trip form (`5.0`, `1e20`, `-0.0`, `NaN`, `inf`,
/// `-inf`), text and JSON as is, bytes in base64 (`""` when empty).
fn push_cell(out: &mut Vec<u8>, cells: &Cells<'_>, i: usize) -> Result<(), String> {
    if cells.is_null(i) {
        return Ok(());
    }
    match cells {
        Cells::Null => {}
        Cells::Bool(a) => out.extend_from_slice(if a.value(i) { b"true" } else { b"false" }),
        Cells::Int(a) => write!(out, "{}", a.value(i)).map_err(|e| e.to_string())?,
        Cells::Float(a) => write!(out, "{:?}", a.value(i)).map_err(|e| e.to_string())?,
        Cells::Str(a, _) => push_field(out, Some(a.value(i))),
        Cells::Bin(a) => match a.value(i) {
            [] => out.extend_from_slice(b"\"\""),
            b => push_base64(out, b)?,
        },
    }
    Ok(())
}

pub(super) fn encode(columns: &TableSchema, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let all = all_columns(columns);
    let mut out = Vec::new();
    for (c, (name, _)) in all.iter().enumerate() {
        if c > 0 {
            out.push(b',');
        }
        push_field(&mut out, Some(name));
    }
    out.push(b'\n');
    for b in batches {
        let cells = all
            .iter()
            .enumerate()
            .map(|(c, (name, ty))| {
                Cells::new(b.column(c), *ty).map_err(|e| format!("column {name:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..b.num_rows() {
            for (c, col) in cells.iter().enumerate() {
                if c > 0 {
                    out.push(b',');
                }
                push_cell(&mut out, col, row)?;
            }
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// Splits CSV text into records of fields; `None` is an empty unquoted field.
fn parse(text: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut records = Vec::new();
    let mut record: Vec<Option<String>> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    let end_field = |record: &mut Vec<Option<String>>, field: &mut String, quoted: &mut bool| {
        let f = std::mem::take(field);
        record.push(if f.is_empty() && !*quoted {
            None
        } else {
            Some(f)
        });
        *quoted = false;
    };
    while let Some(c) = chars.next() {
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => field.push(c),
                        None => return Err("a quoted field is not closed".into()),
                    }
                }
            }
            ',' => {
                end_field(&mut record, &mut field, &mut quoted);
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                end_field(&mut record, &mut field, &mut quoted);
                records.push(std::mem::take(&mut record));
                at_field_start = true;
            }
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if !at_field_start || !record.is_empty() {
        end_field(&mut record, &mut field, &mut quoted);
        records.push(record);
    }
    Ok(records)
}

pub(super) fn decode(columns: &TableSchema, text: &str) -> Result<Vec<RecordBatch>, String> {
    let all = all_columns(columns);
    let records = parse(text)?;
    let mut rows = records.into_iter();
    let header = rows.next().unwrap_or_default();
    let positions: Vec<Option<usize>> = all
        .iter()
        .map(|(name, _)| {
            header
                .iter()
                .position(|h| h.as_deref() == Some(name.as_str()))
        })
        .collect();
    let mut builders: Vec<ColBuilder> = all.iter().map(|(_, t)| ColBuilder::new(*t)).collect();
    for (line, record) in rows.enumerate() {
        for (((name, _), b), pos) in all.iter().zip(&mut builders).zip(&positions) {
            match pos.and_then(|p| record.get(p)).and_then(|f| f.as_deref()) {
                None => b.push_null(),
                Some(v) => b
                    .push_text(v)
                    .map_err(|e| format!("record {}, column {name:?}: {e}", line + 1))?,
            }
        }
    }
    Ok(vec![finish(columns, &mut builders)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        let mut line = Vec::new();
        for (i, v) in [
            Some("a,b"),
            None,
            Some(""),
            Some("say \"hi\"\nbye"),
            Some("x"),
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                line.push(b',');
            }
            push_field(&mut line, *v);
        }
        line.push(b'\n');
        let parsed = parse(&String::from_utf8(line).unwrap()).unwrap();
        assert_eq!(
            parsed,
            vec![vec![
                Some("a,b".to_string()),
                None,
                Some(String::new()),
                Some("say \"hi\"\nbye".to_string()),
                Some("x".to_string())
            ]]
        );
    }
}
