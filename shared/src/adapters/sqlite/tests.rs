//! Tests of the SQLite store beyond the conformance suite: the file, the schema version,
//! integrity checks and purging. What reaches the logs is checked in `tests/store_sqlite_logs.rs`,
//! a process of its own, since tracing's callsite cache is shared by concurrent tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use chrono::Duration;

use super::{SqliteStore, lock, rows};
use crate::conformance::{self, fixtures};
use crate::domain::ids::AccountId;
use crate::ports::{Store, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_in_memory() {
    conformance::run_all(Arc::new(SqliteStore::open_in_memory().unwrap())).await;
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twostep.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let (_, user) = fixtures::seed(&store, "reopen", Some(7)).await;
    drop(store);

    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.get_user(&user.id).await.unwrap(), Some(user));
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twostep.db");
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", super::schema::VERSION + 1)
        .unwrap();
    drop(raw);

    let refused = SqliteStore::open(&path);
    assert!(matches!(refused, Err(StoreError::Unavailable(ref d)) if d.contains("newer")));
}

#[tokio::test]
async fn rows_need_their_parents() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let orphan = fixtures::user("orphan", &AccountId::from_raw("acc_nowhere"));
    assert!(matches!(
        store.create_user(&orphan).await,
        Err(StoreError::NotFound)
    ));
    let s = fixtures::session("orphan", &orphan);
    assert!(matches!(
        store.put_session(&s).await,
        Err(StoreError::NotFound)
    ));
    let c = fixtures::challenge("orphan", &orphan);
    assert!(matches!(
        store.put_challenge(&c).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_challenge_version_moves_by_exactly_one() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let (_, user) = fixtures::seed(&store, "jump", None).await;
    let c = fixtures::challenge("jump", &user);
    store.put_challenge(&c).await.unwrap();
    let mut jump = c.clone();
    jump.version = 3;
    assert!(matches!(
        store.update_challenge(1, &jump).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .get_challenge(&c.token_hash, fixtures::t0())
            .await
            .unwrap(),
        Some(c)
    );
}

#[tokio::test]
async fn purge_removes_only_expired_rows() {
    let sqlite = SqliteStore::open_in_memory().unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let (_, user) = fixtures::seed(&store, "purge", None).await;
    let c = fixtures::challenge("purge", &user);
    let s = fixtures::session("purge", &user);
    store.put_challenge(&c).await.unwrap();
    store.put_session(&s).await.unwrap();
    store
        .hit_counter("purge", fixtures::t0(), Duration::hours(1))
        .await
        .unwrap();

    // After the challenge (15 min) and the counter (1 h), before the session (12 h).
    let later = fixtures::at(2 * 3600);
    assert_eq!(sqlite.purge_expired(later).await.unwrap(), 2);
    assert_eq!(
        store
            .get_challenge(&c.token_hash, fixtures::t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_session(&s.token_hash, fixtures::t0())
            .await
            .unwrap(),
        Some(s)
    );
}

#[test]
fn stored_times_are_fixed_width_and_bounded() {
    let t = fixtures::t0() + Duration::milliseconds(5);
    assert_eq!(rows::ts(t).unwrap(), "2026-12-03T12:00:00.005000000Z");
    assert!(rows::ts(fixtures::t0()).unwrap() < rows::ts(t).unwrap());
    let far = fixtures::t0() + Duration::days(366 * 8000);
    assert!(matches!(rows::ts(far), Err(StoreError::Unavailable(_))));
}

#[tokio::test]
async fn corrupt_json_is_reported_without_its_content() {
    let sqlite = SqliteStore::open_in_memory().unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let (_, user) = fixtures::seed(&store, "corrupt", None).await;
    let c = fixtures::challenge("corrupt", &user);
    store.put_challenge(&c).await.unwrap();
    lock(&sqlite.conn)
        .execute(
            "UPDATE challenges SET body = '\"sealed-LEAK\"' WHERE token_hash = ?1",
            [c.token_hash.as_str()],
        )
        .unwrap();

    match store.get_challenge(&c.token_hash, fixtures::t0()).await {
        Err(StoreError::Unavailable(detail)) => assert!(!detail.contains("LEAK"), "{detail}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A file written by version 1: its policies lack the fields added since, there is no
/// `policy_version` column and no `device_groups` table.
fn write_version_1_file(path: &std::path::Path) {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch(super::schema::V1).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    let mut old = serde_json::to_value(fixtures::account("v1").policy).unwrap();
    for added in [
        "forced_logout_sessions_ended",
        "reminder_3d_sent_at",
        "reminder_1d_sent_at",
        "version",
    ] {
        assert!(
            old.as_object_mut().unwrap().remove(added).is_some(),
            "{added}"
        );
    }
    let mut versioned = old.clone();
    versioned["version"] = serde_json::json!(4);
    for (id, policy) in [("acc_v1", old), ("acc_v1-versioned", versioned)] {
        raw.execute(
            "INSERT INTO accounts (id, name, policy, created_at) VALUES (?1, 'Old', ?2, ?3)",
            rusqlite::params![id, policy.to_string(), rows::ts(fixtures::t0()).unwrap()],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn a_version_1_file_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twostep.db");
    write_version_1_file(&path);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i32 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, super::schema::VERSION);

    // The old policy reads with the new fields at their defaults, at version 0.
    let id = AccountId::from_raw("acc_v1");
    let policy = store.get_account(&id).await.unwrap().unwrap().policy;
    let mut expected = fixtures::account("v1").policy;
    expected.reminder_3d_sent_at = None;
    assert_eq!(policy, expected);
    // A version already in the JSON becomes the column's.
    let versioned = AccountId::from_raw("acc_v1-versioned");
    let got = store.get_account(&versioned).await.unwrap().unwrap();
    assert_eq!(got.policy.version, 4);

    let mut next = policy.clone();
    next.version = 1;
    next.reminder_3d_sent_at = Some(fixtures::t0());
    store.update_policy(&id, 0, &next).await.unwrap();
    assert!(matches!(
        store.update_policy(&id, 0, &next).await,
        Err(StoreError::Conflict(_))
    ));
    let (column, in_json): (u64, u64) = raw
        .query_row(
            "SELECT policy_version, json_extract(policy, '$.version') FROM accounts WHERE id = ?1",
            [id.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((column, in_json), (1, 1));

    let group = fixtures::device_group(&id, "desktop", 1575);
    store.put_device_group(&group).await.unwrap();
    drop(store);

    // Reopening a migrated file changes nothing.
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.get_account(&id).await.unwrap().unwrap().policy, next);
    assert_eq!(again.list_device_groups(&id).await.unwrap(), vec![group]);
}

#[tokio::test]
async fn a_policy_version_in_the_json_does_not_decide() {
    let sqlite = SqliteStore::open_in_memory().unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let (acc, _) = fixtures::seed(&store, "column", None).await;
    // Only the JSON moves: the column, which the compare-and-swap tests, stays at 0.
    lock(&sqlite.conn)
        .execute(
            "UPDATE accounts SET policy = json_set(policy, '$.version', 9) WHERE id = ?1",
            [acc.id.as_str()],
        )
        .unwrap();
    let read = store.get_account(&acc.id).await.unwrap().unwrap();
    assert_eq!(read.policy.version, 0);
    let mut next = read.policy;
    next.version = 1;
    store.update_policy(&acc.id, 0, &next).await.unwrap();
}
