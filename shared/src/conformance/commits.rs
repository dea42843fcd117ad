//! Cases for the two commits: finishing a login and finishing an enrollment.

use std::sync::Arc;

use chrono::Duration;

use super::fixtures::{
    assert_conflict, assert_replayed, at, challenge, device, login, reload, seed, session, t0, user,
};
use crate::domain::ids::DeviceId;
use crate::domain::model::{Challenge, Session, User};
use crate::ports::{EnrollmentCommit, Store};

/// The step moves up, the challenge goes, the session appears, failures and lock clear.
pub async fn commit_login_happy_path(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "login-ok", Some(100)).await;
    store
        .record_totp_failure(&u.id, t0(), 2, Duration::minutes(5))
        .await
        .unwrap();
    store
        .record_totp_failure(&u.id, t0(), 2, Duration::minutes(5))
        .await
        .unwrap();
    let c = challenge("login-ok", &u);
    let s = session("login-ok", &u);
    store.put_challenge(&c).await.unwrap();

    store.commit_login(&login(&u, 101, &c, &s)).await.unwrap();

    let after = reload(store, &u.id).await;
    assert_eq!(after.device.as_ref().map(|d| d.last_step), Some(101));
    assert_eq!((after.totp_failures, after.totp_locked_until), (0, None));
    assert_eq!(after.device.map(|d| d.id), u.device.map(|d| d.id));
    assert_eq!(
        store.get_challenge(&c.token_hash, t0()).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_session(&s.token_hash, t0()).await.unwrap(),
        Some(s)
    );
}

/// A step at or below the last accepted one is refused and nothing changes.
pub async fn commit_login_refuses_replay(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "login-replay", Some(100)).await;
    let first = challenge("login-replay-1", &u);
    store.put_challenge(&first).await.unwrap();
    store
        .commit_login(&login(&u, 101, &first, &session("login-replay-1", &u)))
        .await
        .unwrap();
    store
        .record_totp_failure(&u.id, t0(), 5, Duration::minutes(5))
        .await
        .unwrap();
    let before = reload(store, &u.id).await;

    let second = challenge("login-replay-2", &u);
    store.put_challenge(&second).await.unwrap();
    for step in [101, 99] {
        let s = session(&format!("login-replay-{step}"), &u);
        assert_replayed(
            store.commit_login(&login(&u, step, &second, &s)).await,
            "old step",
        );
        assert_eq!(store.get_session(&s.token_hash, t0()).await.unwrap(), None);
    }
    assert_eq!(reload(store, &u.id).await, before);
    assert_eq!(
        store.get_challenge(&second.token_hash, t0()).await.unwrap(),
        Some(second)
    );
}

/// A challenge that moved on or is gone, or a device that changed, is a conflict; nothing
/// changes, and the right commit still works afterwards.
pub async fn commit_login_refuses_stale_challenge(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "login-stale", Some(100)).await;
    let c = challenge("login-stale", &u);
    store.put_challenge(&c).await.unwrap();
    let mut moved = c.clone();
    moved.version = 2;
    store.update_challenge(1, &moved).await.unwrap();
    let s = session("login-stale", &u);

    assert_conflict(
        store.commit_login(&login(&u, 101, &c, &s)).await,
        "stale version",
    );
    let ghost = challenge("login-stale-ghost", &u);
    assert_conflict(
        store.commit_login(&login(&u, 101, &ghost, &s)).await,
        "absent challenge",
    );
    let mut other_device = login(&u, 101, &moved, &s);
    other_device.device_id = DeviceId::from_raw("dev_login-stale-other");
    assert_conflict(store.commit_login(&other_device).await, "other device");

    assert_eq!(reload(store, &u.id).await, u);
    assert_eq!(store.get_session(&s.token_hash, t0()).await.unwrap(), None);
    assert_eq!(
        store.get_challenge(&c.token_hash, t0()).await.unwrap(),
        Some(moved.clone())
    );

    store
        .commit_login(&login(&u, 101, &moved, &s))
        .await
        .unwrap();
    assert_eq!(
        store.get_session(&s.token_hash, t0()).await.unwrap(),
        Some(s)
    );
}

fn enrollment(
    u: &User,
    replaces: Option<DeviceId>,
    tag: &str,
    last_step: u64,
    c: &Challenge,
    s: &Session,
    revoke: bool,
) -> EnrollmentCommit {
    EnrollmentCommit {
        user_id: u.id.clone(),
        replaces,
        device: device(tag, last_step),
        challenge: c.token_hash.clone(),
        challenge_version: c.version,
        begun_at: c.created_at,
        session: s.clone(),
        revoke_other_sessions: revoke,
    }
}

/// A first device: set, failures cleared, challenge gone, session stored, other sessions kept.
pub async fn commit_enrollment_first_device(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "enroll-first", None).await;
    store
        .record_totp_failure(&u.id, t0(), 1, Duration::minutes(5))
        .await
        .unwrap();
    let mut password_only = session("enroll-first-old", &u);
    password_only.second_step_at = None;
    store.put_session(&password_only).await.unwrap();
    let c = challenge("enroll-first", &u);
    store.put_challenge(&c).await.unwrap();
    let s = session("enroll-first-new", &u);

    let commit = enrollment(&u, None, "enroll-first", 200, &c, &s, false);
    store.commit_enrollment(&commit).await.unwrap();

    let after = reload(store, &u.id).await;
    assert_eq!(after.device, Some(commit.device));
    assert_eq!((after.totp_failures, after.totp_locked_until), (0, None));
    assert_eq!(
        store.get_challenge(&c.token_hash, t0()).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_session(&s.token_hash, t0()).await.unwrap(),
        Some(s)
    );
    let kept = store
        .get_session(&password_only.token_hash, t0())
        .await
        .unwrap();
    assert_eq!(kept, Some(password_only));
}

/// A replacement: the new device is set, the user's other sessions go, the new one stays, and
/// another user's sessions are untouched.
pub async fn commit_enrollment_replacement(store: &Arc<dyn Store>) {
    let (acc, u) = seed(store, "enroll-replace", Some(300)).await;
    let neighbour = user("enroll-replace-neighbour", &acc.id);
    store.create_user(&neighbour).await.unwrap();
    let theirs = session("enroll-replace-neighbour", &neighbour);
    let old = [
        session("enroll-replace-old1", &u),
        session("enroll-replace-old2", &u),
    ];
    for s in old.iter().chain([&theirs]) {
        store.put_session(s).await.unwrap();
    }
    let c = challenge("enroll-replace", &u);
    store.put_challenge(&c).await.unwrap();
    let s = session("enroll-replace-new", &u);

    let replaces = u.device.as_ref().map(|d| d.id.clone());
    let commit = enrollment(&u, replaces, "enroll-replace-2", 400, &c, &s, true);
    store.commit_enrollment(&commit).await.unwrap();

    assert_eq!(reload(store, &u.id).await.device, Some(commit.device));
    for gone in &old {
        assert_eq!(
            store.get_session(&gone.token_hash, t0()).await.unwrap(),
            None
        );
    }
    assert_eq!(
        store.get_session(&s.token_hash, t0()).await.unwrap(),
        Some(s)
    );
    assert_eq!(
        store.get_session(&theirs.token_hash, t0()).await.unwrap(),
        Some(theirs)
    );
    assert_eq!(
        store.get_challenge(&c.token_hash, t0()).await.unwrap(),
        None
    );
}

/// A wrong `replaces` or a stale challenge is a conflict, and nothing changes.
pub async fn commit_enrollment_refuses_stale_device(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "enroll-stale", Some(300)).await;
    let old = session("enroll-stale-old", &u);
    store.put_session(&old).await.unwrap();
    let c = challenge("enroll-stale", &u);
    store.put_challenge(&c).await.unwrap();
    let s = session("enroll-stale-new", &u);
    let current = u.device.as_ref().map(|d| d.id.clone());

    let wrong = Some(DeviceId::from_raw("dev_enroll-stale-other"));
    let commit = enrollment(&u, wrong, "enroll-stale-2", 400, &c, &s, true);
    assert_conflict(
        store.commit_enrollment(&commit).await,
        "replaces another device",
    );
    let commit = enrollment(&u, None, "enroll-stale-2", 400, &c, &s, true);
    assert_conflict(store.commit_enrollment(&commit).await, "replaces no device");

    let mut moved = c.clone();
    moved.version = 2;
    store.update_challenge(1, &moved).await.unwrap();
    let commit = enrollment(&u, current, "enroll-stale-2", 400, &c, &s, true);
    assert_conflict(store.commit_enrollment(&commit).await, "stale challenge");

    assert_eq!(reload(store, &u.id).await, u);
    assert_eq!(
        store.get_challenge(&c.token_hash, t0()).await.unwrap(),
        Some(moved)
    );
    assert_eq!(
        store.get_session(&old.token_hash, t0()).await.unwrap(),
        Some(old)
    );
    assert_eq!(store.get_session(&s.token_hash, t0()).await.unwrap(), None);
}

/// A setup begun before an admin reset cannot finish after it, even though the user has no
/// device again (as when it began); one begun after the reset can.
pub async fn commit_enrollment_refuses_a_setup_begun_before_a_reset(store: &Arc<dyn Store>) {
    let (_, u) = seed(store, "enroll-reset", Some(100)).await;
    let mut before = challenge("enroll-reset-before", &u);
    before.created_at = at(5);
    store.put_challenge(&before).await.unwrap();
    let device = u.device.clone().expect("seeded with a device").id;
    store.remove_device(&u.id, &device, at(10)).await.unwrap();

    let s = session("enroll-reset-new", &u);
    let stale = enrollment(&u, None, "enroll-reset", 200, &before, &s, false);
    assert_conflict(
        store.commit_enrollment(&stale).await,
        "enrollment begun before the reset",
    );
    assert_eq!(reload(store, &u.id).await.device, None);

    let mut after = challenge("enroll-reset-after", &u);
    after.created_at = at(11);
    store.put_challenge(&after).await.unwrap();
    let fresh = enrollment(&u, None, "enroll-reset", 200, &after, &s, false);
    store.commit_enrollment(&fresh).await.unwrap();
    assert_eq!(reload(store, &u.id).await.device, Some(fresh.device));
}
