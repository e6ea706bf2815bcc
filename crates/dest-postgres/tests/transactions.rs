//! Transactions, the `_spillway_state` table, lost connections and connection errors.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use common::*;
use serde_json::json;
use spillway_core::{Checkpoint, Destination, ErrorKind, SourceState, StateKey, StreamId};
use spillway_dest_postgres::{PostgresConfig, PostgresDestination};

#[tokio::test(flavor = "multi_thread")]
async fn state_save_load_reset() {
    let (_schema, cfg, mut dest) = open().await;
    assert_eq!(dest.load_state(&key()).await.unwrap(), None);
    // A commit without writes still saves the state.
    dest.commit(&key(), &checkpoint(1)).await.unwrap();
    assert_eq!(
        dest.load_state(&key()).await.unwrap(),
        Some(SourceState(json!({"n": 1})))
    );

    let other = StateKey("other".into());
    let nested = Checkpoint {
        state: SourceState(json!({
            "cursor": "abc\u{0}",
            "tables": {"users": 18446744073709551615u64},
            "f": 1.5,
            "z": 1e300
        })),
        description: "snapshot page 3 \u{0}".into(),
    };
    let s = StreamId::root("t");
    dest.write(&batch(&s, &[("a", 1, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&other, &nested).await.unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();

    drop(dest);
    let mut dest = connect(&cfg).await;
    assert_eq!(
        dest.load_state(&other).await.unwrap(),
        Some(nested.state.clone())
    );
    let list = dest.list_states().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].0, other);
    assert_eq!(list[0].2, "snapshot page 3 \u{fffd}");
    assert!(list[0].3.starts_with("20"), "updated_at = {}", list[0].3);
    assert_eq!(list[0].3.len(), "2026-01-01 00:00:00.000000".len());
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
    assert_eq!(dest.list_states().await.unwrap().len(), 1);
    assert_eq!(dest.tables().await.unwrap(), vec!["t"]);

    // A key Postgres text cannot hold is refused, not mangled.
    let e = dest
        .load_state(&StateKey("a\u{0}b".into()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Data);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_leaves_the_previous_commit_intact() {
    let (_schema, _cfg, mut dest) = open().await;
    let s = StreamId::root("t");
    let other = StreamId::root("o");
    // Nothing committed yet: a rollback leaves nothing, not even the table.
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.rollback().await.unwrap();
    assert!(dest.tables().await.unwrap().is_empty());
    assert_eq!(dest.load_state(&key()).await.unwrap(), None);
    // Rolling back with nothing open is fine.
    dest.rollback().await.unwrap();

    // A committed baseline.
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.write(&batch(&other, &[("o", 1, false)], vec![]))
        .await
        .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();

    // Everything a transaction can do, rolled back: rows, deletes, a new column, a widening,
    // a truncate, a new table.
    dest.write(&batch(
        &s,
        &[("a", 2, false), ("b", 2, false)],
        vec![
            int("x", vec![Some(2), Some(3)]),
            text("y", vec![Some("y"), None]),
        ],
    ))
    .await
    .unwrap();
    dest.write(&batch(
        &s,
        &[("c", 3, false)],
        vec![text("x", vec![Some("s")])],
    ))
    .await
    .unwrap();
    dest.truncate(&other).await.unwrap();
    dest.write(&batch(&StreamId::root("new"), &[("n", 1, false)], vec![]))
        .await
        .unwrap();
    dest.rollback().await.unwrap();

    assert_eq!(dest.tables().await.unwrap(), vec!["o", "t"]);
    assert_eq!(columns(&mut dest, "t").await[3..].to_vec(), ["x bigint"]);
    assert_eq!(rows(&mut dest, "t").await.len(), 1);
    assert_eq!(rows(&mut dest, "t").await[0]["x"], json!(1));
    assert_eq!(dest.row_count("o").await.unwrap(), 1);
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 1})
    );

    // The column cache follows the rollback: the same changes again work.
    dest.write(&batch(
        &s,
        &[("b", 4, false)],
        vec![int("x", vec![Some(3)]), text("y", vec![Some("y")])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(
        columns(&mut dest, "t").await[3..].to_vec(),
        ["x bigint", "y text"]
    );
    assert_eq!(dest.row_count("t").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_is_committed_atomically_with_the_rows() {
    let (_schema, cfg, mut dest) = open().await;
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();

    // Uncommitted rows and state: invisible to another connection.
    dest.write(&batch(
        &s,
        &[("a", 2, true), ("b", 2, false)],
        vec![int("x", vec![None, Some(2)])],
    ))
    .await
    .unwrap();
    let mut reader = connect(&cfg).await;
    assert_eq!(reader.row_count("t").await.unwrap(), 1);
    assert_eq!(
        reader.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 1})
    );

    // Committed: both visible at once.
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(ids(&mut reader, "t").await, vec!["b".to_string()]);
    assert_eq!(
        reader.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 2})
    );

    // Written but never committed, then the process dies (the connection drops): neither the
    // rows nor the state survive.
    dest.write(&batch(
        &s,
        &[("c", 3, false)],
        vec![int("x", vec![Some(3)])],
    ))
    .await
    .unwrap();
    dest.truncate(&s).await.unwrap();
    dest.write(&batch(&StreamId::root("new"), &[("n", 3, false)], vec![]))
        .await
        .unwrap();
    drop(dest);
    let mut dest = connect(&cfg).await;
    assert_eq!(ids(&mut dest, "t").await, vec!["b".to_string()]);
    assert_eq!(dest.tables().await.unwrap(), vec!["t"]);
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 2})
    );
}

async fn ids(dest: &mut PostgresDestination, table: &str) -> Vec<String> {
    rows(dest, table)
        .await
        .into_iter()
        .map(|r| r["_id"].as_str().unwrap().to_string())
        .collect()
}

/// Ends the destination's server session from another connection, as a server restart or
/// a network failure would.
async fn kill(dest: &mut PostgresDestination) {
    let pid = dest.backend_pid().await.unwrap();
    let admin = client().await;
    let killed: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    // Let the client notice.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_lost_mid_transaction_is_a_clear_transient_error() {
    let (_schema, _cfg, mut dest) = open().await;
    let s = StreamId::root("t");
    dest.write(&batch(
        &s,
        &[("a", 1, false)],
        vec![int("x", vec![Some(1)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(1)).await.unwrap();

    // Lost in the middle of a transaction: writes fail until a rollback.
    dest.write(&batch(
        &s,
        &[("b", 2, false)],
        vec![int("x", vec![Some(2)])],
    ))
    .await
    .unwrap();
    kill(&mut dest).await;
    let e = dest
        .write(&batch(
            &s,
            &[("c", 3, false)],
            vec![int("x", vec![Some(3)])],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(e.message.contains("connection was lost"), "{e}");
    assert!(
        e.message.contains("127.0.0.1:5432") || !url().contains("127.0.0.1"),
        "{e}"
    );
    let e = dest.commit(&key(), &checkpoint(2)).await.unwrap_err();
    assert!(
        e.message.contains("roll back") || e.message.contains("connection was lost"),
        "{e}"
    );
    dest.rollback().await.unwrap();

    // After the rollback the destination reconnects; the last commit is intact.
    assert_eq!(ids(&mut dest, "t").await, vec!["a".to_string()]);
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 1})
    );
    dest.write(&batch(
        &s,
        &[("b", 2, false)],
        vec![int("x", vec![Some(2)])],
    ))
    .await
    .unwrap();
    dest.commit(&key(), &checkpoint(2)).await.unwrap();
    assert_eq!(
        ids(&mut dest, "t").await,
        vec!["a".to_string(), "b".to_string()]
    );

    // Lost between transactions: the next call reconnects by itself.
    kill(&mut dest).await;
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 2})
    );
    kill(&mut dest).await;
    dest.write(&batch(
        &s,
        &[("c", 3, false)],
        vec![int("x", vec![Some(3)])],
    ))
    .await
    .unwrap();
    // Lost just before the commit: nothing of the transaction is saved.
    kill(&mut dest).await;
    let e = dest.commit(&key(), &checkpoint(3)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    dest.rollback().await.unwrap();
    assert_eq!(
        ids(&mut dest, "t").await,
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(
        dest.load_state(&key()).await.unwrap().unwrap().0,
        json!({"n": 2})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_errors_name_the_server_but_never_the_password() {
    // Nothing listens on port 1.
    let cfg = PostgresConfig::new("postgres://postgres:hunter22secret@127.0.0.1:1/test");
    let Err(e) = PostgresDestination::connect(&cfg).await else {
        panic!("connected to port 1")
    };
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(e.message.contains("postgres@127.0.0.1:1/test"), "{e}");
    assert!(e.message.contains("cannot connect"), "{e}");
    assert!(!e.message.contains("hunter22secret"), "{e}");
    assert!(!format!("{cfg:?}").contains("hunter22secret"));

    // The same in key=value form.
    let cfg = PostgresConfig::new("host=127.0.0.1 port=1 user=postgres password=hunter22secret");
    let Err(e) = PostgresDestination::connect(&cfg).await else {
        panic!("connected to port 1")
    };
    assert!(e.message.contains("127.0.0.1:1"), "{e}");
    assert!(!e.message.contains("hunter22secret"), "{e}");
    assert!(!format!("{cfg:?}").contains("hunter22secret"));

    // A missing database.
    let base = url();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let cfg = PostgresConfig::new(format!("{prefix}/spillway_no_such_db"));
    let Err(e) = PostgresDestination::connect(&cfg).await else {
        panic!("connected to a missing database")
    };
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(e.message.contains("spillway_no_such_db"), "{e}");
    assert!(e.message.contains("does not exist"), "{e}");

    // An unknown user.
    let cfg = PostgresConfig::new(base.replacen("postgres@", "spillway_no_such_user:pw12345@", 1));
    if cfg.url != base {
        let Err(e) = PostgresDestination::connect(&cfg).await else {
            panic!("connected as a missing user")
        };
        assert_eq!(e.kind, ErrorKind::Auth, "{e}");
        assert!(e.message.contains("spillway_no_such_user"), "{e}");
        assert!(!e.message.contains("pw12345"), "{e}");
    }

    // A malformed URL.
    let cfg = PostgresConfig::new("postgres://u:pw12345@h:notaport/db");
    let Err(e) = PostgresDestination::connect(&cfg).await else {
        panic!("accepted a malformed url")
    };
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(!e.message.contains("pw12345"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_tables_are_config_errors() {
    let (schema, _cfg, mut dest) = open().await;
    let admin = client().await;
    admin
        .batch_execute(&format!(
            "CREATE TABLE \"{0}\".\"theirs\" (id int); \
             CREATE TABLE \"{0}\".\"typed\" (_id text PRIMARY KEY, \"_creationTime\" double precision, \
              _ts bigint NOT NULL, x integer)",
            schema.name
        ))
        .await
        .unwrap();
    let e = dest
        .write(&batch(
            &StreamId::root("theirs"),
            &[("a", 1, false)],
            vec![],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(e.message.contains("not created by spillway"), "{e}");
    dest.rollback().await.unwrap();
    let e = dest
        .write(&batch(&StreamId::root("typed"), &[("a", 1, false)], vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    assert!(e.message.contains("integer"), "{e}");
    dest.rollback().await.unwrap();
}
