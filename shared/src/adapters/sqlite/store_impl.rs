//! The [`Store`] port on [`SqliteStore`]: each method moves its arguments onto the blocking pool
//! and calls the matching function in `directory`, `tokens` or `commits`.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::{SqliteStore, commits, directory, tokens};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, DeviceId, UserId};
use crate::domain::model::{Account, AuditEvent, Challenge, DeviceGroup, Policy, Session, User};
use crate::domain::token::TokenHash;
use crate::ports::{Counter, EnrollmentCommit, LoginCommit, Store, StoreError, TotpFailures};

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let account = account.clone();
        self.run("create_account", move |c| {
            directory::create_account(c, &account)
        })
        .await
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        let id = id.clone();
        self.run("get_account", move |c| directory::get_account(c, &id))
            .await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.run("list_accounts", |c| directory::list_accounts(c))
            .await
    }

    async fn update_policy(
        &self,
        id: &AccountId,
        expected_version: u64,
        policy: &Policy,
    ) -> Result<(), StoreError> {
        let (id, policy) = (id.clone(), policy.clone());
        self.run("update_policy", move |c| {
            directory::update_policy(c, &id, expected_version, &policy)
        })
        .await
    }

    async fn put_device_group(&self, group: &DeviceGroup) -> Result<(), StoreError> {
        let group = group.clone();
        self.run("put_device_group", move |c| {
            directory::put_device_group(c, &group)
        })
        .await
    }

    async fn list_device_groups(
        &self,
        account: &AccountId,
    ) -> Result<Vec<DeviceGroup>, StoreError> {
        let account = account.clone();
        self.run("list_device_groups", move |c| {
            directory::list_device_groups(c, &account)
        })
        .await
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.run("create_user", move |c| directory::create_user(c, &user))
            .await
    }

    async fn get_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let id = id.clone();
        self.run("get_user", move |c| directory::get_user(c, &id))
            .await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let email = email.clone();
        self.run("find_user_by_email", move |c| {
            directory::find_user_by_email(c, &email)
        })
        .await
    }

    async fn list_users(&self, account: &AccountId) -> Result<Vec<User>, StoreError> {
        let account = account.clone();
        self.run("list_users", move |c| directory::list_users(c, &account))
            .await
    }

    async fn record_totp_failure(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        lock_after: u32,
        lock_for: Duration,
    ) -> Result<TotpFailures, StoreError> {
        let user = user.clone();
        self.run("record_totp_failure", move |c| {
            commits::record_totp_failure(c, &user, now, lock_after, lock_for)
        })
        .await
    }

    async fn give_back_totp_try(
        &self,
        user: &UserId,
        granted: TotpFailures,
    ) -> Result<(), StoreError> {
        let user = user.clone();
        self.run("give_back_totp_try", move |c| {
            commits::give_back_totp_try(c, &user, granted)
        })
        .await
    }

    async fn remove_device(
        &self,
        user: &UserId,
        device: &DeviceId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (user, device) = (user.clone(), device.clone());
        self.run("remove_device", move |c| {
            commits::remove_device(c, &user, &device, now)
        })
        .await
    }

    async fn hit_counter(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Counter, StoreError> {
        let key = key.to_owned();
        self.run("hit_counter", move |c| {
            tokens::hit_counter(c, &key, now, window)
        })
        .await
    }

    async fn get_counter(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Counter>, StoreError> {
        let key = key.to_owned();
        self.run("get_counter", move |c| tokens::get_counter(c, &key, now))
            .await
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run("clear_counter", move |c| tokens::clear_counter(c, &key))
            .await
    }

    async fn put_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        let challenge = challenge.clone();
        self.run("put_challenge", move |c| {
            tokens::put_challenge(c, &challenge)
        })
        .await
    }

    async fn get_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError> {
        let hash = hash.clone();
        self.run("get_challenge", move |c| {
            tokens::get_challenge(c, &hash, now)
        })
        .await
    }

    async fn update_challenge(
        &self,
        expected_version: u64,
        next: &Challenge,
    ) -> Result<(), StoreError> {
        let next = next.clone();
        self.run("update_challenge", move |c| {
            tokens::update_challenge(c, expected_version, &next)
        })
        .await
    }

    async fn delete_challenge(&self, hash: &TokenHash) -> Result<(), StoreError> {
        let hash = hash.clone();
        self.run("delete_challenge", move |c| {
            tokens::delete_challenge(c, &hash)
        })
        .await
    }

    async fn commit_login(&self, commit: &LoginCommit) -> Result<(), StoreError> {
        let commit = commit.clone();
        self.run("commit_login", move |c| commits::commit_login(c, &commit))
            .await
    }

    async fn commit_enrollment(&self, commit: &EnrollmentCommit) -> Result<(), StoreError> {
        let commit = commit.clone();
        self.run("commit_enrollment", move |c| {
            commits::commit_enrollment(c, &commit)
        })
        .await
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let session = session.clone();
        self.run("put_session", move |c| tokens::insert_session(c, &session))
            .await
    }

    async fn get_session(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let hash = hash.clone();
        self.run("get_session", move |c| tokens::get_session(c, &hash, now))
            .await
    }

    async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        let hash = hash.clone();
        self.run("delete_session", move |c| tokens::delete_session(c, &hash))
            .await
    }

    async fn delete_user_sessions(&self, user: &UserId) -> Result<u32, StoreError> {
        let user = user.clone();
        self.run("delete_user_sessions", move |c| {
            tokens::delete_user_sessions(c, &user)
        })
        .await
    }

    async fn list_account_sessions(
        &self,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        let account = account.clone();
        self.run("list_account_sessions", move |c| {
            tokens::list_account_sessions(c, &account, now)
        })
        .await
    }

    async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let event = event.clone();
        self.run("append_event", move |c| directory::append_event(c, &event))
            .await
    }

    async fn list_events(
        &self,
        account: &AccountId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let account = account.clone();
        self.run("list_events", move |c| {
            directory::list_events(c, &account, before, limit)
        })
        .await
    }
}
