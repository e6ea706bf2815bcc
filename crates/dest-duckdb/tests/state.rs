//! The `_spillway_state` table.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::json;
use spillway_core::{Checkpoint, Destination, SourceState, StateKey, StreamId};
use spillway_dest_duckdb::DuckDbDestination;

#[tokio::test(flavor = "multi_thread")]
async fn state_save_load_reset() {
    let (_dir, cfg, mut dest) = open();
    assert_eq!(dest.load_state(&key()).await.unwrap(), None);
    // A commit without writes still saves the state.
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(
        dest.load_state(&key()).await.unwrap(),
        Some(SourceState(json!({"n": 1})))
    );

    let other = StateKey("other".into());
    let nested = Checkpoint {
        state: SourceState(
            json!({"cursor": "abc", "tables": {"users": 18446744073709551615u64}, "f": 1.5}),
        ),
        description: "snapshot page 3".into(),
    };
    let s = StreamId::root("t");
    dest.write(&batch(&s, &[("a", 1, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&other, &nested).await.unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();

    drop(dest);
    let mut dest = DuckDbDestination::open(&cfg).unwrap();
    assert_eq!(
        dest.load_state(&other).await.unwrap(),
        Some(nested.state.clone())
    );
    let list = dest.list_states().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].0, other);
    assert_eq!(list[0].2, "snapshot page 3");
    assert!(list[0].3.starts_with("20"), "updated_at = {}", list[0].3);
    assert_eq!(list[1].1, SourceState(json!({"n": 2})));

    // Rolled-back state is not saved.
    dest.write(&batch(&s, &[("b", 1, false)], vec![]))
        .await
        .unwrap();
    dest.rollback().await.unwrap();
    assert_eq!(
        dest.load_state(&key()).await.unwrap(),
        Some(SourceState(json!({"n": 2})))
    );

    dest.reset_state(&key()).await.unwrap();
    assert_eq!(dest.load_state(&key()).await.unwrap(), None);
    assert_eq!(dest.list_states().unwrap().len(), 1);
    assert!(
        !dest
            .tables()
            .unwrap()
            .contains(&"_spillway_state".to_string())
    );
}
