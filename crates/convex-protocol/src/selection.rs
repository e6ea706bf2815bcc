//! The `Selection` object of POST bodies (spec §6.1).
//!
//! ```text
//! Selection          = { "_other": Inclusion, <componentPath>: ComponentSelection, ... }
//! ComponentSelection = "excluded" | { "_other": Inclusion, <tableName>: TableSelection, ... }
//! TableSelection     = "excluded" | { "_other": Inclusion, <columnName>: Inclusion, ... }
//! ```
//! spillway only selects whole tables, so it builds selections with [`Selection::tables`].

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};

/// A set of `(component path, table)` pairs to export, every column included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Component path → table names. Empty means "everything".
    pub tables: BTreeMap<String, Vec<String>>,
}

impl Selection {
    /// Everything (all components, all tables).
    pub fn everything() -> Self {
        Selection::default()
    }

    /// Exactly these `(component, table)` pairs.
    pub fn tables<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (component, table) in pairs {
            let entry = tables.entry(component).or_default();
            if !entry.contains(&table) {
                entry.push(table);
            }
        }
        for list in tables.values_mut() {
            list.sort();
        }
        Selection { tables }
    }

    /// True when this selects every table of every component.
    pub fn is_everything(&self) -> bool {
        self.tables.is_empty()
    }

    /// Whether a returned row's `(component, table)` belongs to this selection.
    pub fn contains(&self, component: &str, table: &str) -> bool {
        self.is_everything()
            || self
                .tables
                .get(component)
                .is_some_and(|t| t.iter().any(|x| x == table))
    }

    /// The wire form (spec §6.1), with `_other` at every level.
    pub fn to_json(&self) -> Json {
        if self.is_everything() {
            return json!({"_other": "included"});
        }
        let mut top = Map::new();
        top.insert("_other".into(), json!("excluded"));
        for (component, tables) in &self.tables {
            let mut comp = Map::new();
            comp.insert("_other".into(), json!("excluded"));
            for t in tables {
                comp.insert(t.clone(), json!({"_other": "included"}));
            }
            top.insert(component.clone(), Json::Object(comp));
        }
        Json::Object(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_matches_spec_example_shape() {
        let s = Selection::tables([
            ("".to_string(), "users".to_string()),
            ("".to_string(), "posts".to_string()),
        ]);
        let expected: Json = serde_json::from_str(
            r#"{"_other":"excluded","":{"_other":"excluded","posts":{"_other":"included"},"users":{"_other":"included"}}}"#,
        )
        .unwrap();
        assert_eq!(s.to_json(), expected);
        assert!(s.contains("", "users"));
        assert!(!s.contains("waitlist", "users"));
        assert!(Selection::everything().contains("x", "y"));
    }
}
