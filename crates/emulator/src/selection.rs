//! Server-side selection (spec §6): which tables, and which columns, a legacy request exports.
//!
//! The legacy routes accept the first matching form of §6.2 (an untagged enum in the backend):
//! a full `selection` object, `tableName`/`table_name` (+ `component`), `component` alone, or
//! nothing (everything). A form that does not *deserialize* falls through to the next one, which
//! is why a malformed `selection` or a misspelled key silently selects everything. Names that
//! deserialize but are invalid, and selections excluding `_id`, are validation errors that the
//! legacy routes surface as 500s.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use spillway_convex_protocol::names::{validate_component_path, validate_table_name};

/// Included or excluded (aliases `incl`/`excl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inclusion {
    Included,
    Excluded,
}

impl Inclusion {
    fn parse(j: &Json) -> Option<Inclusion> {
        match j.as_str()? {
            "included" | "incl" => Some(Inclusion::Included),
            "excluded" | "excl" => Some(Inclusion::Excluded),
            _ => None,
        }
    }
}

/// Column filter of one selected table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Columns {
    /// Every column.
    All,
    /// Listed columns by inclusion; unlisted ones follow `other`.
    Filter {
        other: Inclusion,
        listed: BTreeMap<String, Inclusion>,
    },
}

impl Columns {
    /// True if the column `name` is exported.
    pub(crate) fn includes(&self, name: &str) -> bool {
        match self {
            Columns::All => true,
            Columns::Filter { other, listed } => {
                listed.get(name).copied().unwrap_or(*other) == Inclusion::Included
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TableSel {
    Excluded,
    Included(Columns),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ComponentSel {
    Excluded,
    Tables {
        other: Inclusion,
        tables: BTreeMap<String, TableSel>,
    },
}

/// A resolved selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServerSelection {
    /// Every exported table, every column.
    Everything,
    /// One table, every column.
    Table { component: String, table: String },
    /// Every table of one component.
    Component(String),
    /// A full §6.1 selection object.
    Exact {
        other: Inclusion,
        components: BTreeMap<String, ComponentSel>,
    },
}

impl ServerSelection {
    /// The column filter for `(component, table)`, or `None` if the table is not selected.
    pub(crate) fn resolve(&self, component: &str, table: &str) -> Option<Columns> {
        match self {
            ServerSelection::Everything => Some(Columns::All),
            ServerSelection::Table {
                component: c,
                table: t,
            } => (c == component && t == table).then_some(Columns::All),
            ServerSelection::Component(c) => (c == component).then_some(Columns::All),
            ServerSelection::Exact { other, components } => match components.get(component) {
                None => (*other == Inclusion::Included).then_some(Columns::All),
                Some(ComponentSel::Excluded) => None,
                Some(ComponentSel::Tables { other, tables }) => match tables.get(table) {
                    None => (*other == Inclusion::Included).then_some(Columns::All),
                    Some(TableSel::Excluded) => None,
                    Some(TableSel::Included(cols)) => Some(cols.clone()),
                },
            },
        }
    }
}

/// Why a selection is invalid (a 500 on the legacy routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidSelection(pub(crate) String);

/// Table names accepted in selections: user names, or `_`-prefixed system names.
fn check_table(name: &str) -> Result<(), InvalidSelection> {
    let ok = validate_table_name(name).is_ok()
        || name
            .strip_prefix('_')
            .is_some_and(|rest| validate_table_name(rest).is_ok());
    if ok {
        Ok(())
    } else {
        Err(InvalidSelection(format!("invalid table name {name:?}")))
    }
}

fn check_component(path: &str) -> Result<(), InvalidSelection> {
    validate_component_path(path).map_err(InvalidSelection)
}

/// Picks the §6.2 form from a top-level object (POST body or query parameters as strings).
///
/// Returns `Err` only for validation failures of a form that did deserialize.
pub(crate) fn from_legacy(top: &Map<String, Json>) -> Result<ServerSelection, InvalidSelection> {
    if let Some(sel) = top.get("selection").and_then(parse_exact) {
        return validate_exact(sel);
    }
    let table = top
        .get("tableName")
        .or_else(|| top.get("table_name"))
        .and_then(Json::as_str);
    let component = top.get("component");
    if let Some(table) = table {
        // SingleTable { table_name, component: Option<String> }.
        let component = match component {
            None | Some(Json::Null) => Some(""),
            Some(Json::String(c)) => Some(c.as_str()),
            Some(_) => None,
        };
        if let Some(component) = component {
            check_table(table)?;
            check_component(component)?;
            return Ok(ServerSelection::Table {
                component: component.to_string(),
                table: table.to_string(),
            });
        }
    }
    if let Some(Json::String(c)) = component {
        check_component(c)?;
        return Ok(ServerSelection::Component(c.clone()));
    }
    Ok(ServerSelection::Everything)
}

/// Why a data sync / cursor-shim selection was refused (spec §3, §12.4, §14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StrictSelectionError {
    /// Not a §6.1 object (e.g. a missing `_other`): 400 `BadJsonBody`.
    Malformed(String),
    /// Deserialized but invalid (bad name, `_id` excluded): 400 `InvalidDataSyncSelection`.
    Invalid(String),
}

/// Parses the `selection` of a data sync or cursor-shim body (spec §6.1): everything when
/// absent, otherwise a full selection object with `_other` at every level. Unlike the legacy
/// routes (§6.2) nothing falls through to "everything".
pub(crate) fn from_strict(j: Option<&Json>) -> Result<ServerSelection, StrictSelectionError> {
    let Some(j) = j.filter(|j| !j.is_null()) else {
        return Ok(ServerSelection::Everything);
    };
    let sel = parse_exact(j).ok_or_else(|| {
        StrictSelectionError::Malformed(
            "Failed to deserialize the JSON body into the target type: `selection` must be a \
             Selection object with `_other` at every level"
                .to_string(),
        )
    })?;
    validate_exact(sel).map_err(|e| StrictSelectionError::Invalid(e.0))
}

/// Deserializes a §6.1 selection object; `None` if it does not have the right shape.
fn parse_exact(j: &Json) -> Option<ServerSelection> {
    let obj = j.as_object()?;
    let other = Inclusion::parse(obj.get("_other")?)?;
    let mut components = BTreeMap::new();
    for (path, cj) in obj.iter().filter(|(k, _)| *k != "_other") {
        let c = match cj {
            Json::String(_) => match Inclusion::parse(cj)? {
                Inclusion::Excluded => ComponentSel::Excluded,
                // A bare "included" is not a ComponentSelection.
                Inclusion::Included => return None,
            },
            Json::Object(co) => {
                let other = Inclusion::parse(co.get("_other")?)?;
                let mut tables = BTreeMap::new();
                for (table, tj) in co.iter().filter(|(k, _)| *k != "_other") {
                    tables.insert(table.clone(), parse_table(tj)?);
                }
                ComponentSel::Tables { other, tables }
            }
            _ => return None,
        };
        components.insert(path.clone(), c);
    }
    Some(ServerSelection::Exact { other, components })
}

fn parse_table(j: &Json) -> Option<TableSel> {
    match j {
        Json::String(_) => match Inclusion::parse(j)? {
            Inclusion::Excluded => Some(TableSel::Excluded),
            Inclusion::Included => None,
        },
        Json::Object(o) => {
            let other = Inclusion::parse(o.get("_other")?)?;
            let mut listed = BTreeMap::new();
            for (col, cj) in o.iter().filter(|(k, _)| *k != "_other") {
                listed.insert(col.clone(), Inclusion::parse(cj)?);
            }
            Some(TableSel::Included(Columns::Filter { other, listed }))
        }
        _ => None,
    }
}

fn validate_exact(sel: ServerSelection) -> Result<ServerSelection, InvalidSelection> {
    if let ServerSelection::Exact { components, .. } = &sel {
        for (path, c) in components {
            check_component(path)?;
            let ComponentSel::Tables { tables, .. } = c else {
                continue;
            };
            for (table, t) in tables {
                check_table(table)?;
                if let TableSel::Included(cols) = t
                    && !cols.includes("_id")
                {
                    return Err(InvalidSelection(format!(
                        "`_id` cannot be excluded (table {table:?})"
                    )));
                }
            }
        }
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(j: Json) -> Result<ServerSelection, InvalidSelection> {
        from_legacy(j.as_object().unwrap())
    }

    #[test]
    fn forms_in_order() {
        assert_eq!(sel(json!({})).unwrap(), ServerSelection::Everything);
        assert_eq!(
            sel(json!({"tablename": "users"})).unwrap(),
            ServerSelection::Everything
        );
        assert_eq!(
            sel(json!({"table_name": "users"})).unwrap(),
            ServerSelection::Table {
                component: "".into(),
                table: "users".into()
            }
        );
        assert_eq!(
            sel(json!({"component": "waitlist"})).unwrap(),
            ServerSelection::Component("waitlist".into())
        );
        // Malformed selection (no `_other`) falls through to the table form, then everything.
        assert_eq!(
            sel(json!({"selection": {"": {"_other": "included"}}})).unwrap(),
            ServerSelection::Everything
        );
        assert!(sel(json!({"tableName": "bad-name"})).is_err());
        // The data sync form is strict: a missing `_other` is malformed, not "everything".
        assert!(matches!(
            from_strict(Some(&json!({"": {"_other": "included"}}))),
            Err(StrictSelectionError::Malformed(_))
        ));
        assert!(matches!(
            from_strict(Some(&json!({"_other": "included", "a//b": "excluded"}))),
            Err(StrictSelectionError::Invalid(_))
        ));
        assert_eq!(from_strict(None).unwrap(), ServerSelection::Everything);
        assert!(sel(json!({"component": "a//b"})).is_err());
    }

    #[test]
    fn exact_semantics() {
        let s = sel(
            json!({"selection": {"_other": "excl", "": {"_other": "excluded",
            "users": {"_other": "included", "ssn": "excluded"}, "posts": {"_other": "incl"}}}}),
        )
        .unwrap();
        let cols = s.resolve("", "users").unwrap();
        assert!(cols.includes("_id") && cols.includes("name") && !cols.includes("ssn"));
        assert!(s.resolve("", "posts").is_some());
        assert!(s.resolve("", "other").is_none());
        assert!(s.resolve("waitlist", "users").is_none());
        assert!(
            sel(
                json!({"selection": {"_other": "included", "": {"_other": "included",
            "users": {"_other": "excluded"}}}})
            )
            .is_err()
        );
        assert!(
            sel(
                json!({"selection": {"_other": "included", "": {"_other": "included",
            "users": {"_other": "excluded", "_id": "included"}}}})
            )
            .is_ok()
        );
    }
}
