//! Cell-by-cell comparison of a DuckDB destination with the emulator's live documents.
//!
//! Every cell is reduced to a canonical text in which floats keep their bit pattern (so NaN,
//! ±∞ and −0.0 are told apart), integers stay integers and JSON columns compare as parsed
//! values. The expected side is derived from the emulator's Convex values through the column
//! type the destination chose, so a widened column (Int64 → DOUBLE → JSON) is checked too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value as Json;
use spillway_convex_protocol::{Format, Value};
use spillway_core::{DestError, StreamId};
use spillway_dest_duckdb::DuckDbDestination;
use spillway_emulator::Emulator;

use crate::tables::{TableRows, Tables, current_state, read_duckdb};

/// One difference between destination and source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Qualified table name (`waitlist/entries`).
    pub table: String,
    /// What differs.
    pub detail: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.table, self.detail)
    }
}

/// Compares every table of the emulator with the table of the same name in `dest`: same
/// `_id`s, no duplicates, every cell equal. Tables in `dest` that the emulator does not have
/// are reported unless empty. `only` restricts the comparison to some streams.
pub fn compare_duckdb_with_emulator(
    dest: &mut DuckDbDestination,
    emulator: &Emulator,
    only: Option<&[StreamId]>,
) -> Result<Vec<Mismatch>, DestError> {
    Ok(compare_with_emulator(&read_duckdb(dest)?, emulator, only))
}

/// [`compare_duckdb_with_emulator`] for tables read from any destination
/// ([`crate::tables`]). Tables that keep versions (`_deleted`) are compared by their current
/// state ([`current_state`]).
pub fn compare_with_emulator(
    tables: &Tables,
    emulator: &Emulator,
    only: Option<&[StreamId]>,
) -> Vec<Mismatch> {
    let tables = current_state(tables);
    let mut out = Vec::new();
    let mut expected_tables = BTreeSet::new();
    for (component, table) in emulator.tables() {
        let stream = StreamId::new(component.clone(), table.clone());
        if only.is_some_and(|o| !o.contains(&stream)) {
            continue;
        }
        let name = stream.qualified();
        expected_tables.insert(name.clone());
        let docs = emulator.live_documents(&component, &table);
        compare_table(tables.get(&name), &name, &docs, &mut out);
    }
    for (table, t) in &tables {
        let selected = only.is_none_or(|o| o.contains(&StreamId::parse(table)));
        if selected && !expected_tables.contains(table) && !t.rows.is_empty() {
            out.push(Mismatch {
                table: table.clone(),
                detail: "table exists in the destination but not in the source".into(),
            });
        }
    }
    out
}

fn compare_table(
    found: Option<&TableRows>,
    table: &str,
    docs: &[BTreeMap<String, Value>],
    out: &mut Vec<Mismatch>,
) {
    let mut push = |detail: String| {
        out.push(Mismatch {
            table: table.to_string(),
            detail,
        })
    };
    let Some(found) = found else {
        if !docs.is_empty() {
            push(format!(
                "missing in the destination ({} rows expected)",
                docs.len()
            ));
        }
        return;
    };
    let columns = &found.columns;
    let mut actual: BTreeMap<String, BTreeMap<String, Json>> = BTreeMap::new();
    for row in &found.rows {
        let id = row
            .get("_id")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        if actual
            .insert(id.clone(), row.clone().into_iter().collect())
            .is_some()
        {
            push(format!("duplicate _id {id}"));
        }
    }
    if actual.len() != docs.len() {
        push(format!(
            "{} rows in the destination, {} in the source",
            actual.len(),
            docs.len()
        ));
    }
    for doc in docs {
        let Some(Value::String(id)) = doc.get("_id") else {
            continue;
        };
        let Some(row) = actual.remove(id) else {
            push(format!("_id {id} missing"));
            continue;
        };
        for name in doc.keys() {
            if !columns.contains_key(name) && !matches!(doc.get(name), Some(Value::Null)) {
                push(format!("_id {id}: no column for field {name:?}"));
            }
        }
        for (name, ty) in columns {
            if name == "_ts" {
                continue;
            }
            let want = doc
                .get(name)
                .map_or_else(|| "null".to_string(), |v| expected(v, ty));
            let got = row
                .get(name)
                .map_or_else(|| "null".to_string(), |v| canon_cell(v, ty));
            if want != got {
                push(format!(
                    "_id {id}, column {name} ({ty}): expected {want}, found {got}"
                ));
            }
        }
    }
    for id in actual.keys() {
        push(format!(
            "_id {id} present but deleted (or never written) in the source"
        ));
    }
}

/// Column name → DuckDB type name of `table`.
pub(crate) fn column_types(
    dest: &mut DuckDbDestination,
    table: &str,
) -> Result<BTreeMap<String, String>, DestError> {
    let sql = format!(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{}' \
         AND schema_name = 'main' AND database_name = current_database()",
        table.replace('\'', "''")
    );
    Ok(dest
        .query_json(&sql)?
        .into_iter()
        .filter_map(|r| {
            let name = r.get("column_name")?.as_str()?.to_string();
            let ty = r.get("data_type")?.as_str()?.to_string();
            Some((name, ty))
        })
        .collect())
}

pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The canonical text a Convex value must have in a column of DuckDB type `ty`.
fn expected(v: &Value, ty: &str) -> String {
    match (v, ty) {
        (Value::Null, _) => "null".into(),
        (Value::Int64(i), "BIGINT") => format!("i:{i}"),
        #[allow(clippy::cast_precision_loss)]
        (Value::Int64(i), "DOUBLE") => float(*i as f64),
        (Value::Float64(f), "DOUBLE") => float(*f),
        (Value::Boolean(b), "BOOLEAN") => b.to_string(),
        (Value::String(s), "VARCHAR") => Json::String(s.clone()).to_string(),
        (Value::Bytes(b), "BLOB") => Json::String(B64.encode(b)).to_string(),
        (_, "JSON") => match serde_json::from_str::<Json>(&v.to_json_string(Format::ExportJson)) {
            Ok(j) => canon(&j, true),
            Err(e) => format!("<unparsable export_json: {e}>"),
        },
        (v, ty) => format!("<a {} value cannot live in a {ty} column>", v.type_name()),
    }
}

/// A float by bit pattern, with a readable rendering alongside.
fn float(f: f64) -> String {
    format!("f:{:016x}({f:?})", f.to_bits())
}

/// The canonical text of a cell of DuckDB type `ty` as [`DuckDbDestination::query_json`]
/// returns it: non-finite DOUBLEs come back as the strings `NaN`, `Infinity`, `-Infinity`.
fn canon_cell(v: &Json, ty: &str) -> String {
    match (v, ty) {
        (Json::String(s), "DOUBLE") if s == "NaN" => float(f64::NAN),
        (Json::String(s), "DOUBLE") if s == "Infinity" => float(f64::INFINITY),
        (Json::String(s), "DOUBLE") if s == "-Infinity" => float(f64::NEG_INFINITY),
        (v, ty) => canon(v, ty == "JSON"),
    }
}

/// The canonical text of a JSON value: integers and floats (by bit pattern) told apart.
///
/// Inside a JSON column (`json_column`), a number that is an exact integer compares equal
/// whether it is written `94` or `94.0`: an Int64 that went through a DOUBLE column (DESIGN's
/// Int64 → DOUBLE → JSON widening) comes out as `94.0`, the same number.
fn canon(v: &Json, json_column: bool) -> String {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match v {
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) if json_column => format!("n:{i}"),
            (Some(i), _, _) => format!("i:{i}"),
            (None, Some(u), _) => format!("u:{u}"),
            #[allow(clippy::cast_possible_truncation)]
            (_, _, Some(f))
                if json_column
                    && f.fract() == 0.0
                    && f.abs() < EXACT
                    && !(f == 0.0 && f.is_sign_negative()) =>
            {
                format!("n:{}", f as i64)
            }
            (_, _, Some(f)) => float(f),
            _ => n.to_string(),
        },
        Json::Array(items) => {
            let inner: Vec<String> = items.iter().map(|i| canon(i, json_column)).collect();
            format!("[{}]", inner.join(","))
        }
        Json::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", Json::String(k.clone()), canon(v, json_column)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_compare_by_bits() {
        assert_ne!(
            expected(&Value::Float64(0.0), "DOUBLE"),
            expected(&Value::Float64(-0.0), "DOUBLE")
        );
        assert_eq!(
            expected(&Value::Float64(f64::NAN), "DOUBLE"),
            canon_cell(&Json::String("NaN".into()), "DOUBLE")
        );
        assert_eq!(
            expected(&Value::Int64(5), "DOUBLE"),
            canon(&serde_json::json!(5.0), false)
        );
        assert_ne!(
            expected(&Value::Int64(5), "BIGINT"),
            canon(&serde_json::json!(5.0), false)
        );
        assert_eq!(
            expected(&Value::Int64(5), "BIGINT"),
            canon(&serde_json::json!(5), false)
        );
    }

    #[test]
    fn a_value_in_the_wrong_column_type_never_matches() {
        assert!(expected(&Value::String("x".into()), "BIGINT").starts_with('<'));
        assert_ne!(
            expected(&Value::String("NaN".into()), "VARCHAR"),
            canon_cell(&Json::String("NaN".into()), "DOUBLE")
        );
    }
}
