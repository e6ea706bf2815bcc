//! Reading tables back as JSON (for tests, comparisons and `spillway state show`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};
use spillway_core::DestError;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use crate::db::Db;
use crate::error::{data_error, sql_error};

/// Runs `sql` (one statement) and returns its rows as JSON objects (see
/// [`crate::PostgresDestination::query_json`]).
pub(crate) async fn query_json(db: &Db, sql: &str) -> Result<Vec<Map<String, Value>>, DestError> {
    let rows = db
        .client
        .query(sql, &[])
        .await
        .map_err(|e| sql_error(&db.target, &format!("running query {sql:?}"), &e))?;
    rows.iter().map(|r| row_json(db, r)).collect()
}

/// One row as a JSON object.
fn row_json(db: &Db, row: &Row) -> Result<Map<String, Value>, DestError> {
    let mut out = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        let bad = |e: Box<dyn std::error::Error + Sync + Send>| {
            data_error(
                &db.target,
                format!("reading column {:?} of a query result: {e}", col.name()),
            )
        };
        let t = col.type_();
        let v = if *t == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map_err(|e| bad(e.into()))?
                .map(Value::Bool)
        } else if *t == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map_err(|e| bad(e.into()))?
                .map(Value::from)
        } else if *t == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map_err(|e| bad(e.into()))?
                .map(Value::from)
        } else if *t == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)
                .map_err(|e| bad(e.into()))?
                .map(Value::from)
        } else if *t == Type::OID {
            row.try_get::<_, Option<u32>>(i)
                .map_err(|e| bad(e.into()))?
                .map(Value::from)
        } else if *t == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)
                .map_err(|e| bad(e.into()))?
                .map(|f| float(f64::from(f)))
        } else if *t == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)
                .map_err(|e| bad(e.into()))?
                .map(float)
        } else if [
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
        ]
        .contains(t)
        {
            row.try_get::<_, Option<String>>(i)
                .map_err(|e| bad(e.into()))?
                .map(Value::String)
        } else if *t == Type::BYTEA {
            row.try_get::<_, Option<&[u8]>>(i)
                .map_err(|e| bad(e.into()))?
                .map(|b| Value::String(B64.encode(b)))
        } else if *t == Type::JSON || *t == Type::JSONB {
            row.try_get::<_, Option<Value>>(i)
                .map_err(|e| bad(e.into()))?
        } else {
            return Err(data_error(
                &db.target,
                format!(
                    "column {:?} of a query result has type {t}, which query_json does not \
                     read; cast it to text in the query",
                    col.name()
                ),
            ));
        };
        out.insert(col.name().to_string(), v.unwrap_or(Value::Null));
    }
    Ok(out)
}

/// A float as JSON: a number, or `"NaN"`/`"Infinity"`/`"-Infinity"`; −0.0 stays −0.0.
pub(crate) fn float(f: f64) -> Value {
    if f.is_nan() {
        Value::String("NaN".into())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
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
