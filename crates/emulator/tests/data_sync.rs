//! Data sync paging over real HTTP on 127.0.0.1 (spec §12.3): by_id and ts pages, the capture
//! rule, transactions never split, soft limits, reconciliation and truncates (selection
//! changes, `replace_table`, `drop_table`), statuses, and convergence of an applied replica.
#![allow(clippy::unwrap_used)]

mod common;
mod data_sync_support;

use std::collections::BTreeMap;

use common::{fill, insert};
use data_sync_support::*;
use serde_json::{Value as Json, json};
use spillway_convex_protocol::Value;
use spillway_emulator::Mutation;

#[tokio::test]
async fn cold_sync_with_tiny_pages_truncates_each_table_first_and_converges() {
    let d = Deployment::new().await;
    fill(&d.em, "", "alpha", 5);
    let gone = fill(&d.em, "", "empty", 1);
    d.em.apply(vec![Mutation::Delete {
        id: gone[0].clone(),
    }])
    .unwrap();
    fill(&d.em, "waitlist", "signups", 3);
    d.em.set_data_sync_limits(2, 1 << 20, 1000);

    let mut replica = Replica::default();
    let pages = d.until_up_to_date(&mut replica, None).await;
    replica.assert_matches(&d.em);

    // Every table is truncated exactly once, on or before the page with its first value.
    let mut truncated: Vec<(String, String)> = Vec::new();
    let mut per_table_ids: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for page in &pages {
        truncated.extend(truncates(page));
        for v in values(page) {
            assert!(truncated.contains(&key(v)), "value before truncate: {v}");
            per_table_ids
                .entry(key(v))
                .or_default()
                .push(v["value"]["_id"].as_str().unwrap().to_string());
            assert!(v["value"]["_creationTime"].is_f64());
            assert_eq!(v["deleted"], json!(false));
        }
        assert!(values(page).len() <= 2, "entries limit");
    }
    let mut sorted = truncated.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [tk("", "alpha"), tk("", "empty"), tk("waitlist", "signups")]
    );
    // The empty table got its truncate and no values.
    assert!(!per_table_ids.contains_key(&tk("", "empty")));
    // by_id pages: `_id` order within each table.
    for (t, ids) in &per_table_ids {
        let mut s = ids.clone();
        s.sort();
        assert_eq!(ids, &s, "{t:?} not in _id order");
    }
    assert_eq!(per_table_ids[&tk("", "alpha")].len(), 5);
    // Statuses: snapshotting, then a consistent status at the latest ts.
    assert!(pages.len() >= 5);
    for p in &pages[..pages.len() - 1] {
        assert_eq!(status(p), "snapshotting");
    }
    let last = pages.last().unwrap();
    assert_eq!(last["status"]["snapshotTs"], json!(d.em.current_ts()));
    // The first page's sync id is carried by every later page.
    let sid = &pages[0]["syncId"];
    assert!(pages.iter().all(|p| &p["syncId"] == sid));
    // upToDate again with nothing new.
    let again = d.page(replica.cursor.as_deref(), None).await;
    assert_eq!(status(&again), "upToDate");
    assert!(values(&again).is_empty() && truncates(&again).is_empty());
}

#[tokio::test]
async fn writes_during_snapshot_only_emit_captured_documents_and_converge() {
    let d = Deployment::new().await;
    let mut all = fill(&d.em, "", "t", 12);
    all.sort();
    d.em.set_data_sync_limits(3, 1 << 20, 1000);
    let mut replica = Replica::default();
    let p1 = d.page(None, None).await;
    replica.apply(&p1);
    assert_eq!(
        ids(&p1),
        all[..3].to_vec(),
        "first by_id page: smallest ids"
    );
    // The last id walked is captured (id ≤ last id): the boundary case of the capture rule.
    let captured = all[2].clone();
    let uncaptured = all[11].clone();
    let ts =
        d.em.apply(vec![
            Mutation::Update {
                id: captured.clone(),
                fields: common::fields(&[("i", Value::Int64(100))]),
            },
            Mutation::Update {
                id: uncaptured.clone(),
                fields: common::fields(&[("i", Value::Int64(111))]),
            },
        ])
        .unwrap()
        .ts;
    // Past the freshness window: a ts page, emitting only the captured document's revision.
    d.em.advance_clock(31 * SEC);
    let p2 = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p2);
    assert_eq!(status(&p2), "snapshotting");
    assert_eq!(ids(&p2), std::slice::from_ref(&captured));
    assert_eq!(values(&p2)[0]["ts"], json!(ts));
    assert_eq!(values(&p2)[0]["value"]["i"], json!(100));
    // More writes while by_id continues: a delete of a captured doc and new inserts.
    d.em.apply(vec![
        Mutation::Delete { id: all[1].clone() },
        insert("", "t", &[("i", Value::Int64(7))]),
    ])
    .unwrap();
    let rest = d.until_up_to_date(&mut replica, None).await;
    replica.assert_matches(&d.em);
    // The uncaptured doc arrives once, by_id, already updated (read at a newer synced_ts).
    let seen: Vec<&Json> = rest
        .iter()
        .flat_map(values)
        .filter(|v| v["value"]["_id"] == json!(uncaptured))
        .collect();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["value"]["i"], json!(111));
}

#[tokio::test]
async fn a_large_transaction_is_never_split() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 2);
    d.em.set_data_sync_limits(2, 1 << 20, 2);
    let mut replica = Replica::default();
    d.until_up_to_date(&mut replica, None).await;
    let big =
        d.em.apply(
            (0..7)
                .map(|i| insert("", "t", &[("i", Value::Int64(i))]))
                .collect(),
        )
        .unwrap()
        .ts;
    let small =
        d.em.apply(vec![insert("", "t", &[("i", Value::Int64(9))])])
            .unwrap()
            .ts;
    let p = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p);
    assert_eq!(values(&p).len(), 7, "the whole transaction in one page");
    assert!(values(&p).iter().all(|v| v["ts"] == json!(big)));
    assert_eq!(p["status"], json!({"type": "stale", "snapshotTs": big}));
    let p = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p);
    assert_eq!(values(&p).len(), 1);
    assert_eq!(
        p["status"],
        json!({"type": "upToDate", "snapshotTs": small})
    );
    replica.assert_matches(&d.em);
}

#[tokio::test]
async fn value_shapes_tombstones_and_column_selection() {
    let d = Deployment::new().await;
    let id =
        d.em.apply(vec![insert(
            "",
            "people",
            &[
                ("name", Value::String("Ada".into())),
                ("ssn", Value::String("x".into())),
                ("n", Value::Int64(5)),
                ("f", Value::Float64(5.0)),
            ],
        )])
        .unwrap()
        .ids[0]
            .clone();
    let sel = json!({"_other": "included", "": {"_other": "included",
        "people": {"_other": "included", "ssn": "excluded", "_creationTime": "excluded"}}});
    let (s, text) = d.post(SYNC, &json!({"selection": sel})).await;
    assert_eq!(s, 200, "{text}");
    // Byte-exact value: keys in byte order, export_json numbers, no deselected columns.
    let want = format!(
        r#""values":[{{"component":"","table":"people","ts":{},"deleted":false,"value":{{"_id":"{id}","f":5.0,"n":5,"name":"Ada"}}}}]"#,
        d.em.current_ts()
    );
    assert!(text.contains(&want), "{text}");
    assert!(
        text.starts_with(r#"{"status":{"type":"upToDate","snapshotTs":"#),
        "{text}"
    );
    let page: Json = serde_json::from_str(&text).unwrap();
    let del =
        d.em.apply(vec![Mutation::Delete { id: id.clone() }])
            .unwrap()
            .ts;
    let p = d
        .page(page["pagination"]["nextCursor"].as_str(), Some(&sel))
        .await;
    assert_eq!(
        p["values"],
        json!([{"component": "", "table": "people", "ts": del, "deleted": true,
                "value": {"_id": id}}])
    );
}

#[tokio::test]
async fn selection_changes_add_deselect_and_reselect() {
    let d = Deployment::new().await;
    fill(&d.em, "", "a", 3);
    fill(&d.em, "", "b", 4);
    d.em.set_data_sync_limits(2, 1 << 20, 1000);
    let mut replica = Replica::default();
    let only_a = only("", &["a"]);
    let both = only("", &["a", "b"]);
    d.until_up_to_date(&mut replica, Some(&only_a)).await;
    assert_eq!(replica.truncates, [tk("", "a")]);
    assert!(!replica.tables.contains_key(&tk("", "b")));

    // Adding b: snapshotting again, with one truncate for b only.
    let pages = d.until_up_to_date(&mut replica, Some(&both)).await;
    assert_eq!(status(&pages[0]), "snapshotting");
    assert_eq!(truncates(&pages[0]), [tk("", "b")]);
    assert_eq!(replica.truncates, [tk("", "a"), tk("", "b")]);
    replica.assert_matches(&d.em);

    // Deselecting b: silent, the replica keeps b's rows and gets none of its changes.
    fill(&d.em, "", "b", 1);
    let kept = replica.tables[&tk("", "b")].clone();
    let p = d.page(replica.cursor.as_deref(), Some(&only_a)).await;
    replica.apply(&p);
    assert!(truncates(&p).is_empty() && values(&p).is_empty(), "{p}");
    assert_eq!(status(&p), "upToDate");
    assert_eq!(replica.tables[&tk("", "b")], kept);

    // Reselecting b: truncate and a full re-snapshot.
    let pages = d.until_up_to_date(&mut replica, Some(&both)).await;
    assert_eq!(truncates(&pages[0]), [tk("", "b")]);
    let b_values: usize = pages
        .iter()
        .flat_map(values)
        .filter(|v| key(v) == tk("", "b"))
        .count();
    assert_eq!(b_values, 5);
    replica.assert_matches(&d.em);
}

#[tokio::test]
async fn replace_table_gives_one_truncate_and_only_the_new_tablet() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 4);
    fill(&d.em, "", "u", 2);
    let mut replica = Replica::default();
    d.until_up_to_date(&mut replica, None).await;
    replica.truncates.clear();
    let docs = vec![
        common::fields(&[("new", Value::Boolean(true))]),
        common::fields(&[("new", Value::Boolean(false))]),
    ];
    d.em.replace_table("", "t", docs).unwrap();
    d.em.apply(vec![insert("", "u", &[("i", Value::Int64(1))])])
        .unwrap();
    let pages = d.until_up_to_date(&mut replica, None).await;
    assert_eq!(replica.truncates, [tk("", "t")]);
    assert_eq!(truncates(&pages[0]), [tk("", "t")], "on the page it enters");
    assert_eq!(replica.tables[&tk("", "t")].len(), 2);
    assert!(
        replica.tables[&tk("", "t")]
            .values()
            .all(|v| v["new"].is_boolean())
    );
    replica.assert_matches(&d.em);
}

#[tokio::test]
async fn drop_table_truncates_it() {
    let d = Deployment::new().await;
    fill(&d.em, "", "keep", 2);
    fill(&d.em, "", "doomed", 3);
    let mut replica = Replica::default();
    d.until_up_to_date(&mut replica, None).await;
    d.em.drop_table("", "doomed").unwrap();
    let p = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p);
    assert_eq!(truncates(&p), [tk("", "doomed")]);
    assert!(values(&p).is_empty());
    assert_eq!(status(&p), "upToDate");
    assert!(replica.tables[&tk("", "doomed")].is_empty());
    replica.assert_matches(&d.em);
    // Only once: the tablet has left the cursor.
    let p = d.page(replica.cursor.as_deref(), None).await;
    assert!(truncates(&p).is_empty());
}

#[tokio::test]
async fn freshness_knob_picks_by_id_or_ts_pages() {
    let d = Deployment::new().await;
    let mut all = fill(&d.em, "", "t", 6);
    all.sort();
    d.em.set_data_sync_limits(2, 1 << 20, 1000);
    let mut replica = Replica::default();
    let p1 = d.page(None, None).await;
    replica.apply(&p1);
    assert_eq!(ids(&p1), all[..2].to_vec());
    // Within 30 s of synced_ts: by_id.
    d.em.advance_clock(29 * SEC);
    let p2 = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p2);
    assert_eq!(ids(&p2), all[2..4].to_vec());
    // 30 s or more behind: a ts page (no writes, so no values), which catches synced_ts up.
    d.em.advance_clock(SEC);
    let p3 = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p3);
    assert!(values(&p3).is_empty());
    assert_eq!(status(&p3), "snapshotting");
    // Caught up: by_id again, then done.
    let p4 = d.page(replica.cursor.as_deref(), None).await;
    replica.apply(&p4);
    assert_eq!(ids(&p4), all[4..].to_vec());
    // The knob is also settable through the control plane.
    let resp = d
        .http
        .post(d.url("/_emulator/data_sync"))
        .json(&json!({"freshness_ns": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(d.em.config().data_sync_by_id_freshness_ns, 1);
    d.until_up_to_date(&mut replica, None).await;
    replica.assert_matches(&d.em);
}

#[tokio::test]
async fn page_bytes_limit_is_soft() {
    let d = Deployment::new().await;
    fill(&d.em, "", "t", 3);
    // One byte: every page stops after the value that crosses it, so one value per page.
    d.em.set_data_sync_limits(100, 1, 1000);
    let mut replica = Replica::default();
    let pages = d.until_up_to_date(&mut replica, None).await;
    let sizes: Vec<usize> = pages.iter().map(|p| values(p).len()).collect();
    assert_eq!(sizes, [1, 1, 1, 0]);
    replica.assert_matches(&d.em);
    // ts pages too, but a transaction stays whole.
    d.em.apply(
        (0..3)
            .map(|i| insert("", "t", &[("i", Value::Int64(i))]))
            .collect(),
    )
    .unwrap();
    fill(&d.em, "", "t", 1);
    let p = d.page(replica.cursor.as_deref(), None).await;
    assert_eq!(values(&p).len(), 3);
    assert_eq!(status(&p), "stale");
}

/// A tiny deterministic generator for the interleaving test.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn interleaved_writes_replaces_and_drops_converge() {
    let d = Deployment::new().await;
    fill(&d.em, "", "a", 7);
    fill(&d.em, "", "b", 5);
    fill(&d.em, "waitlist", "c", 4);
    d.em.set_data_sync_limits(3, 1 << 20, 4);
    let mut rng = Lcg(9);
    let mut replica = Replica::default();
    let tables = [("", "a"), ("", "b"), ("waitlist", "c")];
    let mut up_to_date_checks = 0;
    for step in 0..120 {
        let page = d.page(replica.cursor.as_deref(), None).await;
        replica.apply(&page);
        if status(&page) == "upToDate" {
            // Nothing was written since the page: the replica is the live database.
            replica.assert_matches(&d.em);
            up_to_date_checks += 1;
        }
        if step >= 100 {
            continue;
        }
        let (c, t) = tables[rng.below(3) as usize];
        let live = d.em.live_documents(c, t);
        let pick = |rng: &mut Lcg| match &live[rng.below(live.len() as u64) as usize]["_id"] {
            Value::String(s) => s.clone(),
            _ => unreachable!(),
        };
        match rng.below(10) {
            0..=2 => {
                fill(&d.em, c, t, 1 + rng.below(4) as usize);
            }
            3 | 4 if !live.is_empty() => {
                let id = pick(&mut rng);
                d.em.apply(vec![Mutation::Update {
                    id,
                    fields: common::fields(&[("i", Value::Int64(step))]),
                }])
                .unwrap();
            }
            5 if !live.is_empty() => {
                let id = pick(&mut rng);
                d.em.apply(vec![Mutation::Delete { id }]).unwrap();
            }
            6 => {
                let docs = (0..rng.below(3))
                    .map(|i| common::fields(&[("r", Value::Int64(i as i64))]))
                    .collect();
                d.em.replace_table(c, t, docs).unwrap();
            }
            7 if d.em.tables().contains(&tk(c, t)) => {
                d.em.drop_table(c, t).unwrap();
            }
            8 => d.em.advance_clock(31 * SEC),
            _ => {}
        }
    }
    d.until_up_to_date(&mut replica, None).await;
    replica.assert_matches(&d.em);
    assert!(up_to_date_checks > 0);
}
