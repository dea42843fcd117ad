//! The [`Store`] port on [`DynamoStore`]: each method calls the inherent method of the same name
//! (in `directory`, `tokens` or `commits`; a `DynamoStore::name` path picks the inherent method
//! over the trait's) and logs its outcome.

use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::{DynamoStore, outcome};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, DeviceId, UserId};
use crate::domain::model::{Account, AuditEvent, Challenge, DeviceGroup, Policy, Session, User};
use crate::domain::token::TokenHash;
use crate::ports::{Counter, EnrollmentCommit, LoginCommit, Store, StoreError, TotpFailures};

/// Awaits `op` and logs how it ended (never its arguments or result).
async fn logged<T>(
    name: &'static str,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let result = op.await;
    match &result {
        Ok(_) => tracing::debug!(op = name, outcome = "ok", "dynamodb store"),
        Err(StoreError::Unavailable(detail)) => {
            tracing::debug!(op = name, outcome = "unavailable", %detail, "dynamodb store");
        }
        Err(e) => tracing::debug!(op = name, outcome = outcome(e), "dynamodb store"),
    }
    result
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        logged("create_account", DynamoStore::create_account(self, account)).await
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        logged("get_account", DynamoStore::get_account(self, id)).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        logged("list_accounts", DynamoStore::list_accounts(self)).await
    }

    async fn update_policy(
        &self,
        id: &AccountId,
        expected_version: u64,
        policy: &Policy,
    ) -> Result<(), StoreError> {
        logged(
            "update_policy",
            DynamoStore::update_policy(self, id, expected_version, policy),
        )
        .await
    }

    async fn put_device_group(&self, group: &DeviceGroup) -> Result<(), StoreError> {
        logged(
            "put_device_group",
            DynamoStore::put_device_group(self, group),
        )
        .await
    }

    async fn list_device_groups(
        &self,
        account: &AccountId,
    ) -> Result<Vec<DeviceGroup>, StoreError> {
        logged(
            "list_device_groups",
            DynamoStore::list_device_groups(self, account),
        )
        .await
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        logged("create_user", DynamoStore::create_user(self, user)).await
    }

    async fn get_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        logged("get_user", DynamoStore::get_user(self, id)).await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        logged(
            "find_user_by_email",
            DynamoStore::find_user_by_email(self, email),
        )
        .await
    }

    async fn list_users(&self, account: &AccountId) -> Result<Vec<User>, StoreError> {
        logged("list_users", DynamoStore::list_users(self, account)).await
    }

    async fn record_totp_failure(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        lock_after: u32,
        lock_for: Duration,
    ) -> Result<TotpFailures, StoreError> {
        logged(
            "record_totp_failure",
            DynamoStore::record_totp_failure(self, user, now, lock_after, lock_for),
        )
        .await
    }

    async fn take_totp_try(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        lock_after: u32,
        lock_for: Duration,
    ) -> Result<(TotpFailures, User), StoreError> {
        logged(
            "take_totp_try",
            DynamoStore::take_totp_try(self, user, now, lock_after, lock_for),
        )
        .await
    }

    async fn give_back_totp_try(
        &self,
        user: &UserId,
        granted: TotpFailures,
    ) -> Result<(), StoreError> {
        logged(
            "give_back_totp_try",
            DynamoStore::give_back_totp_try(self, user, granted),
        )
        .await
    }

    async fn remove_device(
        &self,
        user: &UserId,
        device: &DeviceId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        logged(
            "remove_device",
            DynamoStore::remove_device(self, user, device, now),
        )
        .await
    }

    async fn hit_counter(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Counter, StoreError> {
        logged(
            "hit_counter",
            DynamoStore::hit_counter(self, key, now, window),
        )
        .await
    }

    async fn get_counter(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Counter>, StoreError> {
        logged("get_counter", DynamoStore::get_counter(self, key, now)).await
    }

    async fn clear_counter(&self, key: &str) -> Result<(), StoreError> {
        logged("clear_counter", DynamoStore::clear_counter(self, key)).await
    }

    async fn put_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        logged("put_challenge", DynamoStore::put_challenge(self, challenge)).await
    }

    async fn get_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError> {
        logged("get_challenge", DynamoStore::get_challenge(self, hash, now)).await
    }

    async fn update_challenge(
        &self,
        expected_version: u64,
        next: &Challenge,
    ) -> Result<(), StoreError> {
        logged(
            "update_challenge",
            DynamoStore::update_challenge(self, expected_version, next),
        )
        .await
    }

    async fn delete_challenge(&self, hash: &TokenHash) -> Result<(), StoreError> {
        logged(
            "delete_challenge",
            DynamoStore::delete_challenge(self, hash),
        )
        .await
    }

    async fn commit_login(&self, commit: &LoginCommit) -> Result<(), StoreError> {
        logged("commit_login", DynamoStore::commit_login(self, commit)).await
    }

    async fn commit_enrollment(&self, commit: &EnrollmentCommit) -> Result<(), StoreError> {
        logged(
            "commit_enrollment",
            DynamoStore::commit_enrollment(self, commit),
        )
        .await
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        logged("put_session", DynamoStore::put_session(self, session)).await
    }

    async fn get_session(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        logged("get_session", DynamoStore::get_session(self, hash, now)).await
    }

    async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        logged("delete_session", DynamoStore::delete_session(self, hash)).await
    }

    async fn delete_user_sessions(&self, user: &UserId) -> Result<u32, StoreError> {
        logged(
            "delete_user_sessions",
            DynamoStore::delete_user_sessions(self, user),
        )
        .await
    }

    async fn list_account_sessions(
        &self,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        logged(
            "list_account_sessions",
            DynamoStore::list_account_sessions(self, account, now),
        )
        .await
    }

    async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        logged("append_event", DynamoStore::append_event(self, event)).await
    }

    async fn list_events(
        &self,
        account: &AccountId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        logged(
            "list_events",
            DynamoStore::list_events(self, account, before, limit),
        )
        .await
    }
}
