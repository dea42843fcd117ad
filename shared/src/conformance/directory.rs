//! Cases for accounts and their policies, device groups, users and the audit trail.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;

use super::fixtures::{
    account, assert_conflict, assert_not_found, at, device, device_group, reload, seed, t0, user,
};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, DeviceId, EventId, UserId};
use crate::domain::model::{AuditEvent, ClientVersion, Policy, Role};
use crate::ports::Store;

/// Create (a policy at any version), get, list (oldest first), duplicate id.
pub async fn accounts(store: &Arc<dyn Store>) {
    let mut older = account("accounts-older");
    older.created_at = at(-2 * 3600);
    older.policy.version = 7;
    let mut newer = account("accounts-newer");
    newer.created_at = at(-3600);
    newer.policy = Policy::default();
    store.create_account(&newer).await.unwrap();
    store.create_account(&older).await.unwrap();

    assert_eq!(
        store.get_account(&older.id).await.unwrap(),
        Some(older.clone())
    );
    assert_eq!(
        store.get_account(&newer.id).await.unwrap(),
        Some(newer.clone())
    );
    let missing = AccountId::from_raw("acc_accounts-missing");
    assert_eq!(store.get_account(&missing).await.unwrap(), None);
    assert_conflict(store.create_account(&older).await, "duplicate account id");

    let listed = store.list_accounts().await.unwrap();
    let position = |id: &AccountId| listed.iter().position(|a| &a.id == id);
    let (o, n) = (position(&older.id).unwrap(), position(&newer.id).unwrap());
    assert!(o < n, "list_accounts must be oldest first");
    assert_eq!(listed[o], older);
}

/// `version + 1` from the account's current policy, with every field changed.
fn next_policy(current: &Policy, sessions_ended: u32) -> Policy {
    Policy {
        enabled: !current.enabled,
        enabled_at: None,
        forced_logout_at: Some(at(2 * 86_400)),
        forced_logout_done_at: Some(at(5)),
        required_client: ClientVersion {
            major: 5,
            minor: 0,
            build: 1,
        },
        forced_logout_sessions_ended: sessions_ended,
        reminder_3d_sent_at: Some(at(-7200)),
        reminder_1d_sent_at: Some(at(-60)),
        version: current.version + 1,
    }
}

/// A policy replaced from its version bumps it; a stale or non-consecutive version is a
/// conflict and changes nothing; an unknown account is not found; other accounts are untouched.
pub async fn update_policy(store: &Arc<dyn Store>) {
    let (acc, _) = seed(store, "policy", None).await;
    let (neighbour, _) = seed(store, "policy-neighbour", None).await;
    assert_eq!(acc.policy.version, 0);

    let first = next_policy(&acc.policy, 3);
    store.update_policy(&acc.id, 0, &first).await.unwrap();
    let got = store.get_account(&acc.id).await.unwrap().unwrap();
    assert_eq!(got.policy, first);
    assert_eq!(got.policy.version, 1);
    assert_eq!(
        (got.name, got.created_at),
        (acc.name.clone(), acc.created_at)
    );

    // A second writer that read version 0 loses.
    let mut stale = next_policy(&acc.policy, 9);
    stale.enabled = true;
    assert_conflict(
        store.update_policy(&acc.id, 0, &stale).await,
        "update_policy from a stale version",
    );
    // The new version must be exactly one above the expected one.
    let mut jump = next_policy(&first, 9);
    jump.version = 3;
    assert_conflict(
        store.update_policy(&acc.id, 1, &jump).await,
        "update_policy skipping a version",
    );
    let mut same = next_policy(&first, 9);
    same.version = 1;
    assert_conflict(
        store.update_policy(&acc.id, 1, &same).await,
        "update_policy keeping the version",
    );
    assert_eq!(
        store.get_account(&acc.id).await.unwrap().unwrap().policy,
        first
    );

    let second = next_policy(&first, 4);
    store.update_policy(&acc.id, 1, &second).await.unwrap();
    assert_eq!(
        store.get_account(&acc.id).await.unwrap().unwrap().policy,
        second
    );
    assert_eq!(second.version, 2);

    let missing = AccountId::from_raw("acc_policy-missing");
    assert_not_found(
        store
            .update_policy(&missing, 0, &next_policy(&acc.policy, 1))
            .await,
        "update_policy on unknown account",
    );
    assert_eq!(store.get_account(&missing).await.unwrap(), None);
    assert_eq!(
        store.get_account(&neighbour.id).await.unwrap(),
        Some(neighbour)
    );
}

/// Put creates, a second put with the same name replaces; listed by name, per account; an
/// unknown account is not found.
pub async fn device_groups(store: &Arc<dyn Store>) {
    let (acc, _) = seed(store, "groups", None).await;
    let (other, _) = seed(store, "groups-other", None).await;
    let (empty, _) = seed(store, "groups-empty", None).await;

    // Put out of name order.
    let web = device_group(&acc.id, "web", 1500);
    let desktop = device_group(&acc.id, "desktop", 1575);
    let mobile = device_group(&acc.id, "mobile", 1400);
    for g in [&web, &desktop, &mobile] {
        store.put_device_group(g).await.unwrap();
    }
    let theirs = device_group(&other.id, "beta", 1600);
    store.put_device_group(&theirs).await.unwrap();
    assert_eq!(
        store.list_device_groups(&acc.id).await.unwrap(),
        vec![desktop.clone(), mobile.clone(), web.clone()]
    );

    // Same name again: replaced, not added.
    let mut upgraded = mobile.clone();
    upgraded.client = ClientVersion {
        major: 4,
        minor: 4,
        build: 1600,
    };
    upgraded.updated_at = at(60) + Duration::nanoseconds(1);
    store.put_device_group(&upgraded).await.unwrap();
    assert_eq!(
        store.list_device_groups(&acc.id).await.unwrap(),
        vec![desktop, upgraded, web]
    );

    assert_eq!(
        store.list_device_groups(&other.id).await.unwrap(),
        vec![theirs]
    );
    assert_eq!(store.list_device_groups(&empty.id).await.unwrap(), vec![]);

    let missing = AccountId::from_raw("acc_groups-missing");
    assert_not_found(
        store
            .put_device_group(&device_group(&missing, "desktop", 1575))
            .await,
        "put_device_group on unknown account",
    );
    assert_eq!(store.list_device_groups(&missing).await.unwrap(), vec![]);
}

/// Create, get, find by email, list per account (oldest first), device removal.
pub async fn users(store: &Arc<dyn Store>) {
    let (acc, first) = seed(store, "users-first", None).await;
    let mut second = user("users-second", &acc.id);
    second.role = Role::Admin;
    second.created_at = first.created_at + Duration::seconds(1);
    second.device = Some(device("users-second", 55_000_000));
    second.totp_failures = 2;
    second.totp_locked_until = Some(at(300));
    store.create_user(&second).await.unwrap();
    let (_, elsewhere) = seed(store, "users-elsewhere", None).await;

    assert_eq!(
        store.get_user(&first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.get_user(&second.id).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store
            .get_user(&UserId::from_raw("usr_users-missing"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.find_user_by_email(&second.email).await.unwrap(),
        Some(second.clone())
    );
    let unknown = Email::from_normalised("users-nobody@example.com");
    assert_eq!(store.find_user_by_email(&unknown).await.unwrap(), None);

    assert_eq!(
        store.list_users(&acc.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        store.list_users(&elsewhere.account_id).await.unwrap(),
        vec![elsewhere]
    );
    let empty = AccountId::from_raw("acc_users-missing");
    assert_eq!(store.list_users(&empty).await.unwrap(), vec![]);

    // An admin reset removes the device it names and clears failures and lock, nothing else;
    // naming another device (or none left) is a conflict, so of two resets one wins.
    let device = second
        .device
        .clone()
        .expect("the fixture user has a device")
        .id;
    let other = DeviceId::from_raw("dev_users-other");
    assert_conflict(
        store.remove_device(&second.id, &other, at(10)).await,
        "remove_device naming another device",
    );
    assert!(reload(store, &second.id).await.device.is_some());
    store
        .remove_device(&second.id, &device, at(10))
        .await
        .unwrap();
    let reset = reload(store, &second.id).await;
    assert_eq!(
        (reset.device, reset.totp_failures, reset.totp_locked_until),
        (None, 0, None)
    );
    assert_eq!((reset.email, reset.role), (second.email, second.role));
    assert_conflict(
        store.remove_device(&second.id, &device, at(10)).await,
        "remove_device when the device is gone",
    );
    let missing = UserId::from_raw("usr_users-missing");
    assert_not_found(
        store.remove_device(&missing, &device, at(10)).await,
        "remove_device on unknown user",
    );
}

/// The normalised email is unique across the service; ids are unique too.
pub async fn users_duplicate_email(store: &Arc<dyn Store>) {
    let (_, taken) = seed(store, "dup-email", None).await;
    let other_account = account("dup-email-other");
    store.create_account(&other_account).await.unwrap();

    let mut same_email = user("dup-email-second", &other_account.id);
    same_email.email = taken.email.clone();
    assert_conflict(
        store.create_user(&same_email).await,
        "email taken in another account",
    );
    assert_eq!(store.get_user(&same_email.id).await.unwrap(), None);

    let mut same_id = user("dup-email-third", &other_account.id);
    same_id.id = taken.id.clone();
    assert_conflict(store.create_user(&same_id).await, "user id taken");
    assert_eq!(
        store.find_user_by_email(&same_id.email).await.unwrap(),
        None
    );
    assert_eq!(reload(store, &taken.id).await, taken);
}

fn event(account: &AccountId, n: u32, offset_ms: i64) -> AuditEvent {
    AuditEvent {
        id: EventId::from_raw(format!("evt_events_{n:02}")),
        account_id: account.clone(),
        at: t0() + Duration::milliseconds(offset_ms),
        actor: "system".to_owned(),
        subject: n.is_multiple_of(2).then(|| UserId::from_raw("usr_events")),
        kind: "device_enrolled".to_owned(),
        outcome: "ok".to_owned(),
        detail: json!({ "n": n, "nested": { "list": [1, 2] } }),
    }
}

/// Newest first; the cursor `(at, id)` is exclusive and breaks ties on id; sub-second times
/// order correctly.
pub async fn events_newest_first_with_cursor(store: &Arc<dyn Store>) {
    let acc = account("events");
    store.create_account(&acc).await.unwrap();
    let other = account("events-other");
    store.create_account(&other).await.unwrap();

    // Appended out of order; 3 and 4 share their time; 0 and 1 are half a second apart.
    let all = [
        event(&acc.id, 4, 2000),
        event(&acc.id, 0, 0),
        event(&acc.id, 2, 1000),
        event(&acc.id, 5, 3000),
        event(&acc.id, 1, 500),
        event(&acc.id, 3, 2000),
    ];
    for e in &all {
        store.append_event(e).await.unwrap();
    }
    let mut foreign = event(&other.id, 9, 10_000);
    foreign.id = EventId::from_raw("evt_events_other");
    store.append_event(&foreign).await.unwrap();

    let newest_first: Vec<_> = [5, 4, 3, 2, 1, 0]
        .iter()
        .map(|&n| event(&acc.id, n, 0).id)
        .collect();
    let listed = store.list_events(&acc.id, None, 100).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        newest_first
    );
    assert_eq!(listed.iter().find(|e| e.id == all[0].id), Some(&all[0]));

    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_events(&acc.id, cursor.clone(), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some((last.at, last.id.as_str().to_owned()));
        paged.extend(page.into_iter().map(|e| e.id));
    }
    assert_eq!(paged, newest_first);

    // A cursor on the shared time: only the smaller id remains at that time.
    let tie = Some((at(2), "evt_events_04".to_owned()));
    let after_tie = store.list_events(&acc.id, tie, 1).await.unwrap();
    assert_eq!(
        after_tie.first().map(|e| e.id.as_str()),
        Some("evt_events_03")
    );
    assert_eq!(
        store.list_events(&other.id, None, 10).await.unwrap(),
        vec![foreign]
    );
}
