//! Cases for challenges, sessions, counters and the TOTP failure count.

use std::sync::Arc;

use chrono::Duration;

use super::fixtures::{
    assert_conflict, assert_not_found, at, challenge, hash, reload, seed, session, t0, user,
};
use crate::domain::ids::UserId;
use crate::domain::model::{ChallengeState, EmailCode};
use crate::ports::{Counter, Store, StoreError, TotpFailures};

/// Put, get, compare-and-swap update, delete.
pub async fn challenges(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "challenges", None).await;
    let first = challenge("challenges", &u);
    store.put_challenge(&first).await.unwrap();
    assert_eq!(
        store.get_challenge(&first.token_hash, t0()).await.unwrap(),
        Some(first.clone())
    );
    assert_conflict(
        store.put_challenge(&first).await,
        "put_challenge on an existing hash",
    );
    let missing = hash("challenges-missing");
    assert_eq!(store.get_challenge(&missing, t0()).await.unwrap(), None);

    let mut next = first.clone();
    next.version = 2;
    next.state = ChallengeState::EmailSent;
    next.email_code = Some(EmailCode {
        code_hash: "other".to_owned(),
        expires_at: at(60),
        attempts: 0,
    });
    next.pending_device = None;
    store.update_challenge(1, &next).await.unwrap();
    assert_eq!(
        store.get_challenge(&first.token_hash, t0()).await.unwrap(),
        Some(next.clone())
    );

    // A second writer that read version 1 loses.
    let mut stale = first.clone();
    stale.version = 2;
    stale.state = ChallengeState::EmailVerified;
    assert_conflict(store.update_challenge(1, &stale).await, "stale version");
    assert_eq!(
        store.get_challenge(&first.token_hash, t0()).await.unwrap(),
        Some(next.clone())
    );

    let mut ghost = challenge("challenges-ghost", &u);
    ghost.version = 2;
    assert_conflict(
        store.update_challenge(1, &ghost).await,
        "update of an absent challenge",
    );
    assert_eq!(
        store.get_challenge(&ghost.token_hash, t0()).await.unwrap(),
        None
    );

    store.delete_challenge(&first.token_hash).await.unwrap();
    assert_eq!(
        store.get_challenge(&first.token_hash, t0()).await.unwrap(),
        None
    );
    store.delete_challenge(&first.token_hash).await.unwrap();
    let mut after_delete = next;
    after_delete.version = 3;
    let result = store.update_challenge(2, &after_delete).await;
    assert_conflict(result, "update after delete");
}

/// An expired challenge or session reads as gone, while a read at an earlier time shows that
/// it is still stored. It is gone at its `expires_at` instant.
pub async fn expired_items_read_as_gone(store: &Arc<dyn Store>) {
    let (acc, u) = seed(store, "expiry", None).await;
    let c = challenge("expiry", &u);
    store.put_challenge(&c).await.unwrap();
    let ends = c.expires_at;
    assert!(
        store
            .get_challenge(&c.token_hash, ends - Duration::seconds(1))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.get_challenge(&c.token_hash, ends).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_challenge(&c.token_hash, ends + Duration::hours(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_challenge(&c.token_hash, t0()).await.unwrap(),
        Some(c)
    );

    let short = session("expiry-short", &u);
    let mut long = session("expiry-long", &u);
    long.expires_at = at(24 * 3600);
    store.put_session(&short).await.unwrap();
    store.put_session(&long).await.unwrap();
    let ends = short.expires_at;
    assert_eq!(
        store.get_session(&short.token_hash, ends).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_session(&short.token_hash, ends + Duration::days(2))
            .await
            .unwrap(),
        None
    );
    let listed = store.list_account_sessions(&acc.id, ends).await.unwrap();
    assert_eq!(listed, vec![long.clone()]);
    assert_eq!(
        store.get_session(&short.token_hash, t0()).await.unwrap(),
        Some(short.clone())
    );
    let mut both = store.list_account_sessions(&acc.id, t0()).await.unwrap();
    both.sort_by(|a, b| a.token_hash.as_str().cmp(b.token_hash.as_str()));
    assert_eq!(both, vec![long, short]);
}

/// Put, get, delete one, delete all of a user's, list an account's.
pub async fn sessions(store: &Arc<dyn Store>) {
    let (acc, alice) = seed(store, "sessions-alice", None).await;
    let bob = user("sessions-bob", &acc.id);
    store.create_user(&bob).await.unwrap();
    let (_, outsider) = seed(store, "sessions-outsider", None).await;

    let a1 = session("sessions-a1", &alice);
    let mut a2 = session("sessions-a2", &alice);
    a2.second_step_at = None;
    let b1 = session("sessions-b1", &bob);
    let o1 = session("sessions-o1", &outsider);
    for s in [&a1, &a2, &b1, &o1] {
        store.put_session(s).await.unwrap();
    }
    assert_eq!(
        store.get_session(&a2.token_hash, t0()).await.unwrap(),
        Some(a2.clone())
    );
    assert_conflict(
        store.put_session(&a1).await,
        "put_session on an existing hash",
    );

    let sorted = |mut v: Vec<crate::domain::model::Session>| {
        v.sort_by(|x, y| x.token_hash.as_str().cmp(y.token_hash.as_str()));
        v
    };
    let listed = sorted(store.list_account_sessions(&acc.id, t0()).await.unwrap());
    assert_eq!(listed, vec![a1.clone(), a2.clone(), b1.clone()]);

    store.delete_session(&a1.token_hash).await.unwrap();
    assert_eq!(store.get_session(&a1.token_hash, t0()).await.unwrap(), None);
    store.delete_session(&a1.token_hash).await.unwrap();

    assert_eq!(store.delete_user_sessions(&alice.id).await.unwrap(), 1);
    assert_eq!(store.get_session(&a2.token_hash, t0()).await.unwrap(), None);
    assert_eq!(store.delete_user_sessions(&alice.id).await.unwrap(), 0);
    assert_eq!(
        store.list_account_sessions(&acc.id, t0()).await.unwrap(),
        vec![b1]
    );
    assert_eq!(
        store.get_session(&o1.token_hash, t0()).await.unwrap(),
        Some(o1)
    );
}

/// A hit inside the window counts up; after it, the count starts again at 1; clear removes.
pub async fn counters(store: &Arc<dyn Store>) {
    let key = "counters:login:counters@example.com";
    let window = Duration::seconds(60);
    assert_eq!(store.get_counter(key, t0()).await.unwrap(), None);

    let first = store.hit_counter(key, t0(), window).await.unwrap();
    assert_eq!(
        first,
        Counter {
            count: 1,
            window_ends_at: at(60)
        }
    );
    let second = store.hit_counter(key, at(10), window).await.unwrap();
    assert_eq!(
        second,
        Counter {
            count: 2,
            window_ends_at: at(60)
        }
    );
    assert_eq!(store.get_counter(key, at(59)).await.unwrap(), Some(second));
    assert_eq!(store.get_counter(key, at(60)).await.unwrap(), None);

    let restarted = store.hit_counter(key, at(61), window).await.unwrap();
    assert_eq!(
        restarted,
        Counter {
            count: 1,
            window_ends_at: at(121)
        }
    );

    // Counters are independent of each other.
    let other = "counters:other";
    assert_eq!(
        store
            .hit_counter(other, at(61), window)
            .await
            .unwrap()
            .count,
        1
    );

    store.clear_counter(key).await.unwrap();
    assert_eq!(store.get_counter(key, at(61)).await.unwrap(), None);
    store.clear_counter(key).await.unwrap();
    assert_eq!(
        store.hit_counter(key, at(62), window).await.unwrap().count,
        1
    );
    assert_eq!(
        store
            .get_counter(other, at(62))
            .await
            .unwrap()
            .map(|c| c.count),
        Some(1)
    );
}

/// Failures count up; at the limit (and above it) the second step locks for `lock_for`.
pub async fn totp_failures_and_lock(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "failures", Some(100)).await;
    let lock_for = Duration::minutes(5);
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(
            store
                .record_totp_failure(&u.id, t0(), 3, lock_for)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        seen,
        vec![
            TotpFailures {
                failures: 1,
                locked_until: None
            },
            TotpFailures {
                failures: 2,
                locked_until: None
            },
            TotpFailures {
                failures: 3,
                locked_until: Some(at(300))
            },
        ]
    );
    let locked = reload(store, &u.id).await;
    assert_eq!(
        (locked.totp_failures, locked.totp_locked_until),
        (3, Some(at(300)))
    );
    assert_eq!(locked.device, u.device);

    // While locked a try is refused and nothing is counted.
    match store.record_totp_failure(&u.id, at(60), 3, lock_for).await {
        Err(StoreError::Locked(until)) => assert_eq!(until, at(300)),
        other => panic!("a try while locked: expected Locked, got {other:?}"),
    }
    assert_eq!(reload(store, &u.id).await.totp_failures, 3);

    // Once the lock is over, one more try is granted, and (still at the limit) locks again.
    let again = store
        .record_totp_failure(&u.id, at(300), 3, lock_for)
        .await
        .unwrap();
    assert_eq!(
        again,
        TotpFailures {
            failures: 4,
            locked_until: Some(at(600))
        }
    );

    let unknown = UserId::from_raw("usr_failures-missing");
    assert_not_found(
        store.record_totp_failure(&unknown, t0(), 3, lock_for).await,
        "record_totp_failure on unknown user",
    );
}

/// A try given back (the secret could not be unsealed) lowers the count, lifts the lock that
/// try set, never goes below zero, and leaves a lock set by a later try alone.
pub async fn totp_try_given_back(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "give-back", Some(100)).await;
    let lock_for = Duration::minutes(5);
    let take = |now| store.take_totp_try(&u.id, now, 2, lock_for);
    let (first, _) = take(t0()).await.unwrap();
    let (second, _) = take(t0()).await.unwrap();
    assert_eq!(second.locked_until, Some(at(300)), "the second try locks");

    store.give_back_totp_try(&u.id, second).await.unwrap();
    let back = reload(store, &u.id).await;
    assert_eq!((back.totp_failures, back.totp_locked_until), (1, None));
    // The try is available again.
    let (again, _) = take(at(1)).await.unwrap();
    assert_eq!(again.locked_until, Some(at(301)));

    // Giving back the first try (which set no lock) leaves the newer lock in place.
    store.give_back_totp_try(&u.id, first).await.unwrap();
    let kept = reload(store, &u.id).await;
    assert_eq!(
        (kept.totp_failures, kept.totp_locked_until),
        (1, Some(at(301)))
    );
    // An old lock value lifts nothing either.
    store.give_back_totp_try(&u.id, second).await.unwrap();
    let kept = reload(store, &u.id).await;
    assert_eq!(
        (kept.totp_failures, kept.totp_locked_until),
        (0, Some(at(301)))
    );
    // At zero the count stays at zero.
    store.give_back_totp_try(&u.id, first).await.unwrap();
    assert_eq!(reload(store, &u.id).await.totp_failures, 0);

    let unknown = UserId::from_raw("usr_give-back-missing");
    store.give_back_totp_try(&unknown, first).await.unwrap();
}
