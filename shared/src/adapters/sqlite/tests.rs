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
