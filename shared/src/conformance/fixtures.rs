//! Records for the suite: fixed times, ids derived from a tag, and seeding helpers.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::domain::email::Email;
use crate::domain::ids::{AccountId, DeviceId, UserId};
use crate::domain::model::{
    Account, Challenge, ChallengePurpose, ChallengeState, ClientVersion, Device, DeviceGroup,
    EmailCode, PendingDevice, Policy, Role, SealedSecret, Session, User,
};
use crate::domain::token::TokenHash;
use crate::ports::{LoginCommit, Store, StoreError};

/// The pinned "now" of every case: 2026-12-03T12:00:00Z.
pub fn t0() -> DateTime<Utc> {
    "2026-12-03T12:00:00Z".parse().unwrap()
}

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

/// A token hash derived from `tag` (any text will do: stores treat it as an opaque key).
pub fn hash(tag: &str) -> TokenHash {
    TokenHash::from_raw(format!("hash-{tag}"))
}

/// An account with 2FA on, its policy at version 0 with one reminder sent.
pub fn account(tag: &str) -> Account {
    Account {
        id: AccountId::from_raw(format!("acc_{tag}")),
        name: format!("Account {tag}"),
        policy: Policy {
            enabled: true,
            enabled_at: Some(at(-86_400)),
            forced_logout_at: Some(at(86_400)),
            forced_logout_done_at: None,
            required_client: ClientVersion::REQUIRED_DEFAULT,
            forced_logout_sessions_ended: 0,
            reminder_3d_sent_at: Some(at(-3600)),
            reminder_1d_sent_at: None,
            version: 0,
        },
        created_at: at(-7 * 86_400),
    }
}

/// The device group `name` of `account`, running 4.3 build `build`, set at `t0`.
pub fn device_group(account: &AccountId, name: &str, build: u32) -> DeviceGroup {
    DeviceGroup {
        account_id: account.clone(),
        name: name.to_owned(),
        client: ClientVersion {
            major: 4,
            minor: 3,
            build,
        },
        updated_at: t0(),
    }
}

/// An agent of `account` without a device; email `<tag>@example.com`. The creation time has
/// nanoseconds so that an exact round trip is checked.
pub fn user(tag: &str, account: &AccountId) -> User {
    User {
        id: UserId::from_raw(format!("usr_{tag}")),
        account_id: account.clone(),
        email: Email::from_normalised(format!("{tag}@example.com")),
        role: Role::Agent,
        device_group: "default".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        device: None,
        totp_failures: 0,
        totp_locked_until: None,
        created_at: t0() - Duration::days(3) + Duration::nanoseconds(123_456_789),
    }
}

/// A device whose last accepted step is `last_step`.
pub fn device(tag: &str, last_step: u64) -> Device {
    Device {
        id: DeviceId::from_raw(format!("dev_{tag}")),
        sealed_secret: SealedSecret(format!("sealed-{tag}")),
        enrolled_at: at(-3600),
        last_step,
    }
}

/// A version-1 challenge of `user`, expiring at `t0 + 15 min`, with every optional part set.
pub fn challenge(tag: &str, user: &User) -> Challenge {
    Challenge {
        token_hash: hash(&format!("chl-{tag}")),
        user_id: user.id.clone(),
        account_id: user.account_id.clone(),
        purpose: ChallengePurpose::SignIn,
        state: ChallengeState::DevicePending,
        email_code: Some(EmailCode {
            code_hash: format!("code-hash-{tag}"),
            expires_at: at(600),
            attempts: 1,
        }),
        emails_sent: 2,
        last_email_at: Some(at(-30)),
        pending_device: Some(PendingDevice {
            device_id: DeviceId::from_raw(format!("dev_pending_{tag}")),
            sealed_secret: SealedSecret(format!("sealed-pending-{tag}")),
            created_at: at(-10),
        }),
        replaces: None,
        created_at: at(-60),
        expires_at: at(900),
        version: 1,
    }
}

/// A session of `user` that passed the second step at `t0`, expiring at `t0 + 12 h`.
pub fn session(tag: &str, user: &User) -> Session {
    Session {
        token_hash: hash(&format!("ses-{tag}")),
        user_id: user.id.clone(),
        account_id: user.account_id.clone(),
        created_at: t0(),
        expires_at: at(12 * 3600),
        second_step_at: Some(t0()),
    }
}

/// Creates the account `tag` and its user `tag`, with a device at `last_step` if given.
pub async fn seed(store: &Arc<dyn Store>, tag: &str, last_step: Option<u64>) -> (Account, User) {
    let account = account(tag);
    store.create_account(&account).await.unwrap();
    let mut user = user(tag, &account.id);
    user.device = last_step.map(|s| device(tag, s));
    store.create_user(&user).await.unwrap();
    (account, user)
}

/// A login of `user` (its own device) at `step`, finishing `challenge` at version 1.
pub fn login(user: &User, step: u64, challenge: &Challenge, session: &Session) -> LoginCommit {
    LoginCommit {
        user_id: user.id.clone(),
        device_id: user.device.as_ref().map(|d| d.id.clone()).unwrap(),
        step,
        challenge: challenge.token_hash.clone(),
        challenge_version: challenge.version,
        session: session.clone(),
    }
}

/// Reads `id` back; it must exist.
pub async fn reload(store: &Arc<dyn Store>, id: &UserId) -> User {
    store.get_user(id).await.unwrap().expect("user exists")
}

/// Asserts that `result` is a [`StoreError::Conflict`].
pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected Conflict, got {result:?}"
    );
}

/// Asserts that `result` is [`StoreError::StepReplayed`].
pub fn assert_replayed<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::StepReplayed)),
        "{what}: expected StepReplayed, got {result:?}"
    );
}

/// Asserts that `result` is [`StoreError::NotFound`].
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "{what}: expected NotFound, got {result:?}"
    );
}
