//! Challenges, sessions and counters: the items that expire.
//!
//! TTL removes them some time after `ttl`, or never on an emulator; every read here compares the
//! expiry with `now`, so they are gone to callers at `expires_at` either way.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Duration, Utc};

use super::attrs::{self, COUNT, USER_ID, VERSION, WINDOW_ENDS_AT, n, s};
use super::codec;
use super::io::retry;
use super::keys::{self, GSI1, GSI1_PK, GSI2, GSI2_PK, PK};
use super::{DynamoStore, MAX_ATTEMPTS, is_condition_failed, unavailable};
use crate::domain::ids::{AccountId, UserId};
use crate::domain::model::{Challenge, Session};
use crate::domain::token::TokenHash;
use crate::ports::{Counter, StoreError};

impl DynamoStore {
    pub(super) async fn put_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        self.put_new(codec::challenge_item(challenge)?, "challenge exists")
            .await
    }

    pub(super) async fn get_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError> {
        let Some(item) = self.get(&keys::challenge(hash)).await? else {
            return Ok(None);
        };
        let challenge = codec::challenge(&item)?;
        Ok((now < challenge.expires_at).then_some(challenge))
    }

    /// One put, conditional on the stored version and owner: a write can never move a
    /// challenge to another user, and an absent challenge fails the condition too.
    pub(super) async fn update_challenge(
        &self,
        expected_version: u64,
        next: &Challenge,
    ) -> Result<(), StoreError> {
        if expected_version.checked_add(1) != Some(next.version) {
            return Err(StoreError::Conflict(
                "challenge version must advance by one",
            ));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::challenge_item(next)?))
            .condition_expression("#version = :expected AND #user_id = :user")
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_names("#user_id", USER_ID)
            .expression_attribute_values(":expected", n(expected_version))
            .expression_attribute_values(":user", s(next.user_id.as_str()));
        match retry(|| put.clone().send()).await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                Err(StoreError::Conflict("challenge changed or gone"))
            }
            Err(e) => Err(unavailable("PutItem", &e)),
        }
    }

    pub(super) async fn delete_challenge(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.delete(&keys::challenge(hash)).await.map(drop)
    }

    pub(super) async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_new(codec::session_item(session)?, "session exists")
            .await
    }

    pub(super) async fn get_session(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let Some(item) = self.get(&keys::session(hash)).await? else {
            return Ok(None);
        };
        let session = codec::session(&item)?;
        Ok((now < session.expires_at).then_some(session))
    }

    pub(super) async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.delete(&keys::session(hash)).await.map(drop)
    }

    /// Deletes each session `gsi1` lists for the user, counting those that still existed.
    ///
    /// Limitation: `gsi1` is eventually consistent, so a session issued a moment ago may be
    /// missing from it and survive the call.
    pub(super) async fn delete_user_sessions(&self, user: &UserId) -> Result<u32, StoreError> {
        let mut gone = 0u32;
        for hash in self.user_session_hashes(user).await? {
            if self.delete(&keys::session(&hash)).await? {
                gone = gone.saturating_add(1);
            }
        }
        Ok(gone)
    }

    /// The token hashes of a user's sessions (expired ones too), from `gsi1`.
    pub(super) async fn user_session_hashes(
        &self,
        user: &UserId,
    ) -> Result<Vec<TokenHash>, StoreError> {
        let query = self
            .query(Some(GSI1), GSI1_PK, keys::user_sessions(user))
            .key_condition_expression("#p = :p");
        let items = self.query_all(query).await?;
        attrs::all(&items, |item| {
            attrs::str(item, "token_hash").map(TokenHash::from_raw)
        })
    }

    /// From `gsi2`, oldest first; the expired ones left out.
    pub(super) async fn list_account_sessions(
        &self,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        let query = self
            .query(Some(GSI2), GSI2_PK, keys::account_sessions(account))
            .key_condition_expression("#p = :p");
        let sessions = attrs::all(&self.query_all(query).await?, codec::session)?;
        Ok(sessions
            .into_iter()
            .filter(|s| now < s.expires_at)
            .collect())
    }

    /// Inside an open window, one atomic `ADD`. Otherwise a put of a fresh window, conditional
    /// on there being no open one; if a concurrent hit opened one first, the `ADD` is tried
    /// again. Each round either counts or sees the other branch's condition change, so a few
    /// rounds settle any race.
    pub(super) async fn hit_counter(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Counter, StoreError> {
        let item_key = keys::counter(key);
        let now_text = keys::ts(now)?;
        let fresh = Counter {
            count: 1,
            window_ends_at: keys::later(now, window)?,
        };
        let add = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key.attrs()))
            .update_expression("ADD #count :one")
            .condition_expression("#window_ends_at > :now")
            .expression_attribute_names("#count", COUNT)
            .expression_attribute_names("#window_ends_at", WINDOW_ENDS_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now_text.as_str()))
            .return_values(ReturnValue::AllNew);
        let restart = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(codec::counter_item(key, &fresh)?))
            .condition_expression("attribute_not_exists(#pk) OR #window_ends_at <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#window_ends_at", WINDOW_ENDS_AT)
            .expression_attribute_values(":now", s(now_text.as_str()));

        for _ in 0..MAX_ATTEMPTS {
            match retry(|| add.clone().send()).await {
                Ok(out) => return codec::counter(&out.attributes.unwrap_or_default()),
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(unavailable("UpdateItem", &e)),
            }
            match retry(|| restart.clone().send()).await {
                Ok(_) => return Ok(fresh),
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(unavailable("PutItem", &e)),
            }
        }
        Err(StoreError::Unavailable(
            "dynamodb hit_counter: still contended after every attempt".to_owned(),
        ))
    }

    pub(super) async fn get_counter(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Counter>, StoreError> {
        let Some(item) = self.get(&keys::counter(key)).await? else {
            return Ok(None);
        };
        let counter = codec::counter(&item)?;
        Ok((now < counter.window_ends_at).then_some(counter))
    }

    pub(super) async fn clear_counter(&self, key: &str) -> Result<(), StoreError> {
        self.delete(&keys::counter(key)).await.map(drop)
    }
}
