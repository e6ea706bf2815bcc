//! `get_table_column_names` and `json_schemas` follow every write: the table summaries are
//! kept up to date on inserts and recomputed after updates and deletes.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::*;
use spillway_convex_protocol::Value;
use spillway_emulator::{Emulator, Mutation};

/// The columns `get_table_column_names` lists for root table `t`.
async fn columns(em: &Emulator) -> Vec<String> {
    let (s, body) = get(em, "/api/get_table_column_names").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v = json(&body);
    let tables = v["byComponent"][""].as_array().unwrap();
    let t = tables.iter().find(|t| t["name"] == "t").unwrap();
    serde_json::from_value(t["columns"].clone()).unwrap()
}

/// The field names of root table `t` in `json_schemas`.
async fn schema_fields(em: &Emulator) -> Vec<String> {
    let (s, body) = get(em, "/api/json_schemas?format=json").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let mut names: Vec<String> = json(&body)["t"]["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn column_names_follow_inserts_updates_and_deletes() {
    let em = emulator();
    let ids = em
        .apply(vec![
            insert("", "t", &[("a", Value::Int64(1))]),
            insert("", "t", &[("a", Value::Int64(2))]),
        ])
        .unwrap()
        .ids;
    assert_eq!(columns(&em).await, ["_creationTime", "_id", "a"]);
    // An insert after the summary was read widens it.
    let b = em
        .apply(vec![insert("", "t", &[("b", Value::String("x".into()))])])
        .unwrap()
        .ids;
    assert_eq!(columns(&em).await, ["_creationTime", "_id", "a", "b"]);
    assert!(schema_fields(&em).await.contains(&"b".to_string()));
    // The only document with `b` loses it: the summary is recomputed.
    em.apply(vec![Mutation::Update {
        id: b[0].clone(),
        fields: fields(&[("c", Value::Boolean(true))]),
    }])
    .unwrap();
    assert_eq!(columns(&em).await, ["_creationTime", "_id", "a", "c"]);
    assert!(!schema_fields(&em).await.contains(&"b".to_string()));
    // Deleting it drops `c` again.
    em.apply(vec![Mutation::Delete { id: b[0].clone() }])
        .unwrap();
    assert_eq!(columns(&em).await, ["_creationTime", "_id", "a"]);
    em.apply(
        ids.iter()
            .map(|id| Mutation::Delete { id: id.clone() })
            .collect(),
    )
    .unwrap();
    assert_eq!(columns(&em).await, ["_creationTime", "_id"]);
}

#[tokio::test]
async fn union_members_render_in_one_order_whatever_the_write_order() {
    let em = emulator();
    em.apply(vec![insert("", "t", &[("u", Value::String("s".into()))])])
        .unwrap();
    let ids = em
        .apply(vec![insert("", "t", &[("u", Value::Int64(1))])])
        .unwrap()
        .ids;
    let (_, body) = get(&em, "/api/json_schemas?format=json").await;
    let merged = json(&body)["t"]["properties"]["u"].clone();
    // Int64 (written second) first, as a base-10 string in `json` format, then String.
    assert!(
        merged["anyOf"][0]["$description"]
            .as_str()
            .is_some_and(|d| d.contains("int64")),
        "{merged}"
    );
    assert_eq!(merged["anyOf"][1], serde_json::json!({"type": "string"}));
    // An update makes the summary recompute, in `_id` order: the same schema.
    em.apply(vec![Mutation::Update {
        id: ids[0].clone(),
        fields: fields(&[("u", Value::Int64(2))]),
    }])
    .unwrap();
    let (_, body) = get(&em, "/api/json_schemas?format=json").await;
    assert_eq!(json(&body)["t"]["properties"]["u"], merged);
}
