//! Write requests accepted by [`crate::Emulator::apply`], and document validation.

use std::collections::BTreeMap;

use spillway_convex_protocol::Value;
use spillway_convex_protocol::value::{Encoded, Format};

use crate::errors::EmulatorError;

/// One write inside a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    /// Inserts a new document with a generated id; creates the table if it does not exist.
    Insert {
        /// Component path (`""` = root app).
        component: String,
        /// Table name.
        table: String,
        /// User fields (names must not start with `_` or `$`).
        fields: BTreeMap<String, Value>,
    },
    /// Replaces all user fields of a live document; `_creationTime` is kept. The table is found
    /// from the id's table number.
    Update {
        /// The document's `_id`.
        id: String,
        /// The new user fields.
        fields: BTreeMap<String, Value>,
    },
    /// Deletes a live document.
    Delete {
        /// The document's `_id`.
        id: String,
    },
}

/// The result of a committed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The commit timestamp shared by every write of the transaction.
    pub ts: i64,
    /// The generated `_id` of each insert, in mutation order.
    pub ids: Vec<String>,
}

/// Maximum document size (`MAX_USER_SIZE`, spec §4.3).
pub(crate) const MAX_DOCUMENT_BYTES: usize = 1 << 20;
const MAX_FIELD_NAME_LEN: usize = 1024;
const MAX_NESTING: usize = 16;
const MAX_FIELDS: usize = 1024;
const MAX_ARRAY_LEN: usize = 8192;

/// An `io::Write` that only counts bytes.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `Value::Object(fields)` as compact `convex_encoded_json`, counted without
/// copying the fields or building the text (seeding millions of documents checks every one).
fn encoded_json_len(fields: &BTreeMap<String, Value>) -> usize {
    let mut count = ByteCount(0);
    // `{`, `}` and the commas between entries, then `"key":value` for each entry. Writing to
    // a counter cannot fail.
    count.0 = 2 + fields.len().saturating_sub(1);
    for (k, v) in fields {
        let _ = serde_json::to_writer(&mut count, k);
        count.0 += 1;
        let _ = serde_json::to_writer(&mut count, &Encoded::new(v, Format::ConvexEncodedJson));
    }
    count.0
}

/// Checks user fields against Convex's document rules (spec §4.3).
pub(crate) fn validate_fields(fields: &BTreeMap<String, Value>) -> Result<(), EmulatorError> {
    if fields.len() > MAX_FIELDS {
        return Err(EmulatorError::BadRequest(format!(
            "document has {} fields, more than {MAX_FIELDS}",
            fields.len()
        )));
    }
    for (name, value) in fields {
        if name.starts_with('_') {
            return Err(field_error(
                name,
                "top-level field names cannot start with `_`",
            ));
        }
        validate_field_name(name)?;
        validate_value(value, 1)?;
    }
    let size = encoded_json_len(fields);
    if size > MAX_DOCUMENT_BYTES {
        return Err(EmulatorError::DocumentTooLarge { size });
    }
    Ok(())
}

fn field_error(name: &str, reason: &'static str) -> EmulatorError {
    EmulatorError::InvalidField {
        name: name.to_string(),
        reason,
    }
}

fn validate_field_name(name: &str) -> Result<(), EmulatorError> {
    if name.starts_with('$') {
        return Err(field_error(name, "field names cannot start with `$`"));
    }
    if name.len() > MAX_FIELD_NAME_LEN {
        return Err(field_error(name, "field names are at most 1024 characters"));
    }
    if !name.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return Err(field_error(
            name,
            "field names must be non-control ASCII characters",
        ));
    }
    Ok(())
}

fn validate_value(value: &Value, depth: usize) -> Result<(), EmulatorError> {
    if depth > MAX_NESTING {
        return Err(EmulatorError::BadRequest(format!(
            "value is nested more than {MAX_NESTING} levels deep"
        )));
    }
    match value {
        Value::Array(items) => {
            if items.len() > MAX_ARRAY_LEN {
                return Err(EmulatorError::BadRequest(format!(
                    "array has {} elements, more than {MAX_ARRAY_LEN}",
                    items.len()
                )));
            }
            items.iter().try_for_each(|v| validate_value(v, depth + 1))
        }
        Value::Object(map) => {
            if map.len() > MAX_FIELDS {
                return Err(EmulatorError::BadRequest(format!(
                    "object has {} fields, more than {MAX_FIELDS}",
                    map.len()
                )));
            }
            for (k, v) in map {
                validate_field_name(k)?;
                validate_value(v, depth + 1)?;
            }
            Ok(())
        }
        Value::Null
        | Value::Int64(_)
        | Value::Float64(_)
        | Value::Boolean(_)
        | Value::String(_)
        | Value::Bytes(_) => Ok(()),
    }
}

/// Validates a user table name and component path.
pub(crate) fn validate_names(component: &str, table: &str) -> Result<(), EmulatorError> {
    spillway_convex_protocol::names::validate_component_path(component)
        .map_err(EmulatorError::InvalidName)?;
    spillway_convex_protocol::names::validate_table_name(table).map_err(EmulatorError::InvalidName)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_reserved_names() {
        let mut f = BTreeMap::new();
        f.insert("_x".to_string(), Value::Null);
        assert!(validate_fields(&f).is_err());
        let mut f = BTreeMap::new();
        f.insert("$x".to_string(), Value::Null);
        assert!(validate_fields(&f).is_err());
        let mut inner = BTreeMap::new();
        inner.insert("_ok".to_string(), Value::Null);
        let mut f = BTreeMap::new();
        f.insert("a".to_string(), Value::Object(inner));
        assert!(validate_fields(&f).is_ok());
        let mut f = BTreeMap::new();
        f.insert("big".to_string(), Value::Bytes(vec![0; MAX_DOCUMENT_BYTES]));
        assert!(matches!(
            validate_fields(&f),
            Err(EmulatorError::DocumentTooLarge { .. })
        ));
    }

    #[test]
    fn counted_size_is_the_encoded_json_length() {
        let mut f = BTreeMap::new();
        assert_eq!(encoded_json_len(&f), 2);
        f.insert("a\"é".to_string(), Value::Int64(-7));
        f.insert("b".to_string(), Value::Float64(f64::NAN));
        f.insert(
            "c".to_string(),
            Value::Array(vec![Value::Bytes(vec![1, 2]), Value::String("x\n".into())]),
        );
        let want = Value::Object(f.clone())
            .to_json_string(Format::ConvexEncodedJson)
            .len();
        assert_eq!(encoded_json_len(&f), want);
    }
}
