//! Page sizes 1, 2, 7 and the default give identical destination contents, for the snapshot
//! and for the deltas that follow it.

#![allow(clippy::unwrap_used)]

use spillway_convex_protocol::Value;
use spillway_emulator::{EmulatorConfig, Mutation};
use spillway_testkit::docs::{delete, insert, s, update};
use spillway_testkit::{Fixture, dump};

/// The same history in every fixture (ids are deterministic for a given seed).
async fn run(snapshot_limit: usize, deltas_limit: usize) -> String {
    let fx = Fixture::start(EmulatorConfig {
        snapshot_page_limit: snapshot_limit,
        deltas_page_limit: deltas_limit,
        ..EmulatorConfig::default()
    })
    .await;
    fx.emulator.seed_sample(150).unwrap();
    fx.sync().await.unwrap();
    fx.assert_synced();

    // Deltas: a transaction spanning tables and pages, updates, deletes, a new table.
    let users = fx.emulator.live_documents("", "users");
    let id = |i: usize| match &users[i]["_id"] {
        Value::String(s) => s.clone(),
        other => panic!("bad id {other:?}"),
    };
    let mut tx: Vec<Mutation> = (0..20)
        .map(|i| insert("events", [("n", Value::Int64(i)), ("kind", s("created"))]))
        .collect();
    tx.push(update(
        &id(0),
        [("name", s("renamed")), ("age", Value::Float64(41.5))],
    ));
    tx.push(delete(&id(1)));
    fx.emulator.apply(tx).unwrap();
    fx.emulator
        .apply(vec![
            delete(&id(2)),
            insert("users", [("name", s("again"))]),
        ])
        .unwrap();
    fx.sync().await.unwrap();
    fx.assert_synced();
    dump(&mut fx.open_dest()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn page_sizes_do_not_change_the_result() {
    let reference = run(1024, 128).await;
    assert!(reference.contains("table waitlist/entries"), "{reference}");
    for (snapshot, deltas) in [(1, 1), (2, 2), (7, 7)] {
        let got = run(snapshot, deltas).await;
        assert!(
            got == reference,
            "page size {snapshot}/{deltas} differs from the default:\n{}",
            first_difference(&reference, &got)
        );
    }
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {i}:\n  default: {x}\n  this:    {y}");
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}
