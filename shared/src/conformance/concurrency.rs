//! Cases that race: the atomicity the flow relies on (one code, one session; every wrong code
//! counted; one policy write per version).

use std::sync::Arc;

use chrono::Duration;

use super::fixtures::{at, challenge, login, reload, seed, session, t0};
use crate::ports::{Store, StoreError};

/// How many calls the counting cases make at once.
const RACERS: u32 = 20;

/// How many policy writers race from one version.
const POLICY_WRITERS: u32 = 10;

/// N policy writes at once from the same version: exactly one wins, every other one is a
/// conflict, and the stored policy is the winner's. Repeated from each new version.
pub async fn concurrent_update_policy(store: &Arc<dyn Store>) {
    let (acc, _) = seed(store, "race-policy", None).await;
    let mut current = acc.policy;
    for round in 1..=5u32 {
        let expected = current.version;
        let handles: Vec<_> = (0..POLICY_WRITERS)
            .map(|writer| {
                let mut next = current.clone();
                next.version = expected + 1;
                next.forced_logout_sessions_ended = round * 100 + writer;
                next.reminder_1d_sent_at = Some(at(i64::from(writer)));
                let (store, id) = (Arc::clone(store), acc.id.clone());
                tokio::spawn(async move {
                    let result = store.update_policy(&id, expected, &next).await;
                    (next, result)
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for h in handles {
            outcomes.push(h.await.unwrap());
        }

        let winners: Vec<_> = outcomes.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        for (_, r) in &outcomes {
            assert!(
                matches!(r, Ok(()) | Err(StoreError::Conflict(_))),
                "round {round}: a loser must see a conflict, got {r:?}"
            );
        }
        let stored = store.get_account(&acc.id).await.unwrap().unwrap().policy;
        assert_eq!(stored, winners[0].0, "round {round}: the winner's policy");
        assert_eq!(stored.version, expected + 1);
        current = stored;
    }
}

/// Two logins with the same step, on different challenges, at once: exactly one wins, the
/// other is a replay. Repeated over several steps to give the race more chances.
pub async fn concurrent_commit_login_same_step(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "race-login", Some(1000)).await;
    for round in 1..=8u64 {
        let step = 1000 + round;
        let tags = [
            format!("race-login-{round}-a"),
            format!("race-login-{round}-b"),
        ];
        let mut handles = Vec::new();
        for tag in &tags {
            let (c, s) = (challenge(tag, &u), session(tag, &u));
            store.put_challenge(&c).await.unwrap();
            let (store, commit) = (Arc::clone(store), login(&u, step, &c, &s));
            handles.push(tokio::spawn(
                async move { store.commit_login(&commit).await },
            ));
        }
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.unwrap());
        }

        let won: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(
            won.iter().filter(|&&w| w).count(),
            1,
            "round {round}: {results:?}"
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::StepReplayed))),
            "round {round}: the loser must see a replay, got {results:?}"
        );
        let last = reload(store, &u.id).await.device.map(|d| d.last_step);
        assert_eq!(last, Some(step));
        for (tag, won) in tags.iter().zip(won) {
            let s = store
                .get_session(&session(tag, &u).token_hash, t0())
                .await
                .unwrap();
            assert_eq!(
                s.is_some(),
                won,
                "round {round}: only the winner's session exists"
            );
            let c = store
                .get_challenge(&challenge(tag, &u).token_hash, t0())
                .await
                .unwrap();
            assert_eq!(
                c.is_none(),
                won,
                "round {round}: only the winner's challenge ends"
            );
        }
    }
}

/// N wrong codes at once raise the count by exactly N, each call seeing a distinct count; the
/// call that reaches the limit sees the lock.
pub async fn concurrent_totp_failures(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "race-failures", Some(100)).await;
    let lock_for = Duration::minutes(15);
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let (store, id) = (Arc::clone(store), u.id.clone());
            tokio::spawn(
                async move { store.record_totp_failure(&id, t0(), RACERS, lock_for).await },
            )
        })
        .collect();
    let mut seen = Vec::new();
    for h in handles {
        seen.push(h.await.unwrap().unwrap());
    }

    let mut counts: Vec<u32> = seen.iter().map(|f| f.failures).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=RACERS).collect::<Vec<_>>());
    for f in &seen {
        let expected = (f.failures >= RACERS).then(|| t0() + lock_for);
        assert_eq!(f.locked_until, expected, "failures {}", f.failures);
    }
    let after = reload(store, &u.id).await;
    assert_eq!(
        (after.totp_failures, after.totp_locked_until),
        (RACERS, Some(t0() + lock_for))
    );
}

/// A burst of tries larger than the limit: exactly `limit` are granted (counted 1..=limit, the
/// last one locking), every other one is refused as locked without being counted.
pub async fn concurrent_totp_tries_over_the_limit(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "race-tries", Some(100)).await;
    let lock_for = Duration::minutes(15);
    let limit = 5;
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let (store, id) = (Arc::clone(store), u.id.clone());
            tokio::spawn(async move { store.record_totp_failure(&id, t0(), limit, lock_for).await })
        })
        .collect();
    let mut granted = Vec::new();
    let mut refused = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(f) => granted.push(f.failures),
            Err(StoreError::Locked(until)) => {
                assert_eq!(until, t0() + lock_for);
                refused += 1;
            }
            Err(e) => panic!("a try in the burst failed: {e:?}"),
        }
    }
    granted.sort_unstable();
    assert_eq!(granted, (1..=limit).collect::<Vec<_>>());
    assert_eq!(refused, RACERS - limit);
    assert_eq!(reload(store, &u.id).await.totp_failures, limit);
}

/// N hits at once on one counter count exactly N.
pub async fn concurrent_counter_hits(store: &Arc<dyn Store>) {
    let key = "race-counter";
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.hit_counter(key, t0(), Duration::minutes(1)).await })
        })
        .collect();
    let mut counts = Vec::new();
    for h in handles {
        counts.push(h.await.unwrap().unwrap().count);
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=RACERS).collect::<Vec<_>>());
    assert_eq!(
        store.get_counter(key, t0()).await.unwrap().map(|c| c.count),
        Some(RACERS)
    );
}
