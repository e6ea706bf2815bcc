//! `spillway streams`: the tables of a deployment with their columns (spec §9, §11).
//!
//! Columns come from `get_table_column_names`; types are a best-effort hint from
//! `json_schemas` (which describes "now", may be incomplete, and fails for some tables —
//! spec §17.22), so a failure there leaves types as `unknown` instead of failing.

use serde_json::Value as Json;
use spillway_convex_protocol::selection::Selection;
use spillway_core::{SourceError, StreamId, StreamInfo};
use tracing::debug;

use crate::client::ConvexClient;
use crate::retry::RetryPolicy;

pub(crate) async fn list(
    client: &ConvexClient,
    selection: &Selection,
    retry: &RetryPolicy,
) -> Result<Vec<StreamInfo>, SourceError> {
    let names = retry
        .run("get_table_column_names", || client.table_column_names())
        .await?;
    let schemas = match client.json_schemas().await {
        Ok(s) => Some(s),
        Err(e) => {
            debug!(error = %e.message, "json_schemas unavailable; column types unknown.");
            None
        }
    };
    let mut out = Vec::new();
    for (component, tables) in names.by_component {
        for t in tables {
            let id = StreamId::new(component.clone(), t.name.clone());
            if !selection.contains(&id.namespace, &id.name) {
                continue;
            }
            let props = schemas
                .as_ref()
                .and_then(|s| s.get(&component))
                .and_then(|c| c.get(&t.name))
                .and_then(|t| t.get("properties"));
            let columns = t
                .columns
                .iter()
                .map(|c| {
                    let ty = props
                        .and_then(|p| p.get(c))
                        .map(type_hint)
                        .unwrap_or_else(|| "unknown".to_string());
                    (c.clone(), ty)
                })
                .collect();
            out.push(StreamInfo {
                id,
                primary_key: vec!["_id".into()],
                cursor_field: Some("_ts".into()),
                columns,
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// A short type name from a `convex_encoded_json` JSON Schema fragment.
pub(crate) fn type_hint(schema: &Json) -> String {
    if let Some(d) = schema.get("$description").and_then(Json::as_str)
        && d.starts_with("Id(")
    {
        return "id".into();
    }
    if schema.get("anyOf").is_some() {
        let parts: Vec<String> = schema["anyOf"]
            .as_array()
            .map(|a| a.iter().map(type_hint).collect())
            .unwrap_or_default();
        return if parts.iter().all(|p| p == "float64") && !parts.is_empty() {
            "float64".into()
        } else {
            format!("union({})", parts.join("|"))
        };
    }
    match schema.get("type").and_then(Json::as_str) {
        Some("string") => "string".into(),
        Some("number") => "float64".into(),
        Some("boolean") => "boolean".into(),
        Some("null") => "null".into(),
        Some("array") => "array".into(),
        Some("object") => {
            let props = schema.get("properties");
            if props.and_then(|p| p.get("$integer")).is_some() {
                "int64".into()
            } else if props.and_then(|p| p.get("$bytes")).is_some() {
                "bytes".into()
            } else if props.and_then(|p| p.get("$float")).is_some() {
                "float64".into()
            } else {
                "object".into()
            }
        }
        _ => "any".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_hints() {
        assert_eq!(type_hint(&json!({"type":"string"})), "string");
        assert_eq!(
            type_hint(&json!({"$description":"Id(users)","type":"string"})),
            "id"
        );
        assert_eq!(
            type_hint(&json!({"type":"object","properties":{"$integer":{"type":"string"}}})),
            "int64"
        );
        assert_eq!(
            type_hint(
                &json!({"anyOf":[{"type":"number"},{"type":"object","properties":{"$float":{}}}]})
            ),
            "float64"
        );
        assert_eq!(
            type_hint(&json!({"anyOf":[{"type":"number"},{"type":"string"}]})),
            "union(float64|string)"
        );
    }
}
