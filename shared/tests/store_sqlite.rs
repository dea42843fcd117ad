//! The store conformance suite against a SQLite file, and the cross-connection race: two
//! stores (two connections, as the server and the ops CLI would be) on one file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use chrono::Duration;
use twostep::adapters::sqlite::SqliteStore;
use twostep::conformance::{self, fixtures};
use twostep::ports::{Store, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("twostep.db")).unwrap();
    conformance::run_all(Arc::new(store)).await;
}

/// Two connections on one file: the same step committed through each at once wins once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_race_commit_login() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twostep.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let (_, user) = fixtures::seed(&a, "two-conns", Some(5000)).await;

    for round in 1..=20u64 {
        let step = 5000 + round;
        let mut handles = Vec::new();
        for (name, store) in [("a", &a), ("b", &b)] {
            let tag = format!("two-conns-{round}-{name}");
            let (c, s) = (
                fixtures::challenge(&tag, &user),
                fixtures::session(&tag, &user),
            );
            store.put_challenge(&c).await.unwrap();
            let (store, commit) = (Arc::clone(store), fixtures::login(&user, step, &c, &s));
            handles.push(tokio::spawn(
                async move { store.commit_login(&commit).await },
            ));
        }
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.unwrap());
        }
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {results:?}"
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::StepReplayed))),
            "{results:?}"
        );
    }
    let last = b
        .get_user(&user.id)
        .await
        .unwrap()
        .and_then(|u| u.device)
        .map(|d| d.last_step);
    assert_eq!(last, Some(5020));
}

/// Two connections on one file: every wrong code counts, whichever connection records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_count_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twostep.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let (_, user) = fixtures::seed(&a, "two-conns-failures", Some(1)).await;

    let handles: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let id = user.id.clone();
            tokio::spawn(async move {
                store
                    .record_totp_failure(&id, fixtures::t0(), 1000, Duration::minutes(5))
                    .await
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let after = a.get_user(&user.id).await.unwrap().unwrap();
    assert_eq!(after.totp_failures, 40);
}
