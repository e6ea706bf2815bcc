//! Name rules for tables, components and fields (spec §4.3).
//!
//! The legacy endpoints answer an invalid table name with a 500 that must not be retried
//! forever (spec §17.26), so clients validate names before sending them.

/// Checks a user table name: ASCII identifier of at most 64 characters, starting with a letter.
pub fn validate_table_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("a table name cannot be empty".to_string()),
        Some(c) if !c.is_ascii_alphabetic() => {
            return Err(format!("table name {name:?} must start with a letter"));
        }
        Some(_) => {}
    }
    if name.len() > 64 {
        return Err(format!("table name {name:?} is longer than 64 characters"));
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!(
            "table name {name:?} contains {c:?}; only letters, digits and `_` are allowed"
        ));
    }
    Ok(())
}

/// Checks a component path (`""` for the root, or names joined with `/`).
pub fn validate_component_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    for part in path.split('/') {
        if part.is_empty()
            || !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "component path {path:?} is invalid: each `/`-separated part must be a non-empty \
                 name of letters, digits, `_` or `-`"
            ));
        }
    }
    Ok(())
}

/// True for keys that the API adds as metadata or reserves (`_`-prefixed), other than the
/// document fields `_id` and `_creationTime` (spec §4.3: ignore unknown ones).
pub fn is_metadata_key(key: &str) -> bool {
    key.starts_with('_') && key != "_id" && key != "_creationTime"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(validate_table_name("messages").is_ok());
        assert!(validate_table_name("a_1").is_ok());
        assert!(validate_table_name("bad-name").is_err());
        assert!(validate_table_name("_storage").is_err());
        assert!(validate_table_name("").is_err());
        assert!(validate_table_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn component_paths() {
        assert!(validate_component_path("").is_ok());
        assert!(validate_component_path("parent/child").is_ok());
        assert!(validate_component_path("a//b").is_err());
        assert!(validate_component_path("/a").is_err());
    }
}
