//! The store conformance suite against DynamoDB on an emulator (moto's server), plus what only
//! this store can get wrong: items that TTL has not removed yet, revocations too large for one
//! transaction, and error details that must not carry item contents.
#![cfg(feature = "aws")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use twostep::adapters::dynamodb::{DynamoStore, create_table};
use twostep::conformance::{self, fixtures};
use twostep::ports::{EnrollmentCommit, Store, StoreError};

/// A client for the emulator and a fresh table with a name no other test (or run) uses.
async fn fresh() -> (Client, DynamoStore) {
    let config = twostep::testing::moto::sdk_config().await;
    let client = Client::new(&config);
    let table = format!("twostep-test-{:016x}", rand::random::<u64>());
    create_table(&client, &table).await.unwrap();
    (client.clone(), DynamoStore::new(client, table))
}

/// The raw item under `pk`, bypassing the store's expiry checks.
async fn raw_item(
    client: &Client,
    store: &DynamoStore,
    pk: &str,
    sk: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(pk.to_owned()))
        .key("sk", AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_moto() {
    let (_, store) = fresh().await;
    conformance::run_all(Arc::new(store)).await;
}

/// The emulator never runs TTL, just as DynamoDB may not have yet: an expired challenge,
/// session or counter is still in the table, with its `ttl` set, and reads as gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_items_left_in_the_table_read_as_gone() {
    let (client, store) = fresh().await;
    let dyn_store: Arc<dyn Store> = Arc::new(store.clone());
    let (acc, user) = fixtures::seed(&dyn_store, "ttl", None).await;
    let challenge = fixtures::challenge("ttl", &user);
    let session = fixtures::session("ttl", &user);
    store.put_challenge(&challenge).await.unwrap();
    store.put_session(&session).await.unwrap();
    let window = Duration::seconds(90);
    store
        .hit_counter("ttl", fixtures::t0(), window)
        .await
        .unwrap();

    let later = session.expires_at + Duration::days(3);
    assert_eq!(
        store
            .get_challenge(&challenge.token_hash, later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_session(&session.token_hash, later).await.unwrap(),
        None
    );
    assert_eq!(
        store.list_account_sessions(&acc.id, later).await.unwrap(),
        vec![]
    );
    assert_eq!(store.get_counter("ttl", later).await.unwrap(), None);
    let restarted = store.hit_counter("ttl", later, window).await.unwrap();
    assert_eq!(restarted.count, 1);

    let pk = format!("CHALLENGE#{}", challenge.token_hash.as_str());
    let stored = raw_item(&client, &store, &pk, "CHALLENGE").await.unwrap();
    let ttl = challenge.expires_at.timestamp().to_string();
    assert_eq!(stored.get("ttl"), Some(&AttributeValue::N(ttl)));
    let pk = format!("SESSION#{}", session.token_hash.as_str());
    let stored = raw_item(&client, &store, &pk, "SESSION").await.unwrap();
    let ttl = session.expires_at.timestamp().to_string();
    assert_eq!(stored.get("ttl"), Some(&AttributeValue::N(ttl)));
}

/// A replacement that revokes more sessions than one transaction can hold still revokes them
/// all, and keeps the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enrollment_revokes_more_sessions_than_a_transaction_holds() {
    let (_, store) = fresh().await;
    let dyn_store: Arc<dyn Store> = Arc::new(store.clone());
    let (_, user) = fixtures::seed(&dyn_store, "many", Some(10)).await;
    let old: Vec<_> = (0..130)
        .map(|i| fixtures::session(&format!("many-{i}"), &user))
        .collect();
    for s in &old {
        store.put_session(s).await.unwrap();
    }
    let challenge = fixtures::challenge("many", &user);
    store.put_challenge(&challenge).await.unwrap();
    let new = fixtures::session("many-new", &user);

    let commit = EnrollmentCommit {
        user_id: user.id.clone(),
        replaces: user.device.as_ref().map(|d| d.id.clone()),
        device: fixtures::device("many-2", 20),
        challenge: challenge.token_hash.clone(),
        challenge_version: challenge.version,
        begun_at: challenge.created_at,
        session: new.clone(),
        revoke_other_sessions: true,
    };
    store.commit_enrollment(&commit).await.unwrap();

    let t0 = fixtures::t0();
    for s in &old {
        assert_eq!(store.get_session(&s.token_hash, t0).await.unwrap(), None);
    }
    assert_eq!(
        store.get_session(&new.token_hash, t0).await.unwrap(),
        Some(new)
    );
    assert_eq!(store.delete_user_sessions(&user.id).await.unwrap(), 1);
}

/// A backend failure names the operation and DynamoDB's error, never the item it was about.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_are_unavailable_without_item_contents() {
    let (client, _) = fresh().await;
    let store = DynamoStore::new(client, "twostep-test-no-such-table".to_owned());
    let account = fixtures::account("missing-table");
    let user = fixtures::user("missing-table", &account.id);
    let challenge = fixtures::challenge("missing-table", &user);

    let results = [
        store.put_challenge(&challenge).await.err(),
        store
            .get_challenge(&challenge.token_hash, fixtures::t0())
            .await
            .err(),
        store.create_user(&user).await.err(),
    ];
    for result in results {
        let Some(StoreError::Unavailable(detail)) = result else {
            panic!("expected Unavailable, got {result:?}");
        };
        assert!(detail.starts_with("dynamodb "), "{detail}");
        for secret in [
            challenge.token_hash.as_str(),
            user.password_hash.as_str(),
            "sealed-pending",
            "code-hash",
        ] {
            assert!(!detail.contains(secret), "{detail} leaks {secret}");
        }
    }
}
