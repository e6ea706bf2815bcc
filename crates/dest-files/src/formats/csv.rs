//! CSV parts (RFC 4180): a header line with the column names, then one line per row.
//!
//! A null is an empty unquoted field; an empty text is `""`, so the two stay apart (DuckDB
//! reads both as NULL unless `allow_quoted_nulls = false`). Values are written as
//! [`super::builder::csv_text`] says; a field is quoted when it is empty or holds `,`, `"`,
//! CR or LF, with `"` doubled.

use arrow_array::RecordBatch;
use spillway_core::table::TableSchema;

use super::builder::{ColBuilder, all_columns, csv_text, finish};

fn push_field(out: &mut String, v: Option<&str>) {
    match v {
        None => {}
        Some(s) if s.is_empty() || s.contains([',', '"', '\r', '\n']) => {
            out.push('"');
            out.push_str(&s.replace('"', "\"\""));
            out.push('"');
        }
        Some(s) => out.push_str(s),
    }
}

pub(super) fn encode(columns: &TableSchema, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let all = all_columns(columns);
    let mut out = String::new();
    for (c, (name, _)) in all.iter().enumerate() {
        if c > 0 {
            out.push(',');
        }
        push_field(&mut out, Some(name));
    }
    out.push('\n');
    for b in batches {
        for row in 0..b.num_rows() {
            for (c, (_, ty)) in all.iter().enumerate() {
                if c > 0 {
                    out.push(',');
                }
                push_field(&mut out, csv_text(b.column(c), *ty, row).as_deref());
            }
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
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
        let mut line = String::new();
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
                line.push(',');
            }
            push_field(&mut line, *v);
        }
        line.push('\n');
        let parsed = parse(&line).unwrap();
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
