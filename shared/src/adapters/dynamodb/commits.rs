//! The writes that touch a user's guarded state: finishing a login or an enrollment (one
//! `TransactWriteItems` each), counting TOTP failures, removing a device.
//!
//! A cancelled commit is explained item by item: the user's condition first (re-read to tell a
//! replayed step from a changed device), then the challenge's, then the new session's, the
//! order the SQLite store checks in.

use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem};
use chrono::{DateTime, Duration, Utc};

use super::attrs::{
    self, DEVICE_ENROLLED_AT, DEVICE_ID, DEVICE_RESET_AT, DEVICE_SECRET, LAST_STEP, TOTP_FAILURES,
    TOTP_LOCKED_UNTIL, USER_ID, VERSION, n, s, t,
};
use super::codec;
use super::io::{EXISTS, Expr, IS_NEW, Refused, TxError, retry};
use super::keys::{self, Key, PK};
use super::{DynamoStore, is_condition_failed, unavailable};
use crate::domain::ids::{DeviceId, UserId};
use crate::domain::model::Session;
use crate::domain::token::TokenHash;
use crate::ports::{EnrollmentCommit, LoginCommit, StoreError, TotpFailures};

/// The lock is absent or over (`#lock` is the user's `totp_locked_until`).
const UNLOCKED: &str = "attribute_exists(#pk) AND (attribute_not_exists(#lock) OR #lock <= :now)";

/// Rounds of conditional updates before a TOTP try gives up racing.
const MAX_TRY_ROUNDS: usize = 5;

/// Most items one `TransactWriteItems` may hold.
const MAX_TRANSACTION_ITEMS: usize = 100;

impl DynamoStore {
    /// Takes one try with conditional updates, each atomic on its own: while unlocked and
    /// under `lock_after - 1` failures, `ADD` one; while unlocked and at `lock_after - 1` or
    /// more, `ADD` one and set the lock. If neither holds, a read tells locked from gone (or a
    /// count that a login just cleared, which is tried again). So a burst of tries gets at most
    /// `lock_after` granted, whatever the interleaving.
    pub(super) async fn record_totp_failure(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        lock_after: u32,
        lock_for: Duration,
    ) -> Result<TotpFailures, StoreError> {
        self.take_totp_try(user, now, lock_after, lock_for)
            .await
            .map(|(f, _)| f)
    }

    /// The try, and the user item the granted update returned (one call when unlocked).
    pub(super) async fn take_totp_try(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        lock_after: u32,
        lock_for: Duration,
    ) -> Result<(TotpFailures, crate::domain::model::User), StoreError> {
        let key = keys::user(user);
        let below = lock_after.saturating_sub(1);
        let until = keys::later(now, lock_for)?;
        for _ in 0..MAX_TRY_ROUNDS {
            if below > 0 {
                let cond = format!("{UNLOCKED} AND (attribute_not_exists(#f) OR #f < :below)");
                if let Some(state) = self.add_try(&key, &cond, None, now, below).await? {
                    let failures: u32 = attrs::num(&state, TOTP_FAILURES)?;
                    let granted = TotpFailures {
                        failures,
                        locked_until: None,
                    };
                    return Ok((granted, codec::user(&state)?));
                }
            }
            let cond = format!("{UNLOCKED} AND #f >= :below");
            let cond = if below > 0 { cond } else { UNLOCKED.to_owned() };
            if let Some(state) = self.add_try(&key, &cond, Some(until), now, below).await? {
                let failures: u32 = attrs::num(&state, TOTP_FAILURES)?;
                let granted = TotpFailures {
                    failures,
                    locked_until: Some(until),
                };
                return Ok((granted, codec::user(&state)?));
            }
            let Some(item) = self.get(&key).await? else {
                return Err(StoreError::NotFound);
            };
            if let Some(locked) = attrs::opt_time(&item, TOTP_LOCKED_UNTIL)?.filter(|u| *u > now) {
                return Err(StoreError::Locked(locked));
            }
        }
        Err(StoreError::Conflict("TOTP try kept racing"))
    }

    /// `ADD` one try (and set the lock when `lock` is given) if `condition` holds; `None` if
    /// it does not.
    async fn add_try(
        &self,
        key: &Key,
        condition: &str,
        lock: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        below: u32,
    ) -> Result<Option<attrs::Item>, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.attrs()))
            .condition_expression(condition)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#f", TOTP_FAILURES)
            .expression_attribute_names("#lock", TOTP_LOCKED_UNTIL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", t(now)?)
            .return_values(ReturnValue::AllNew);
        if below > 0 {
            update = update.expression_attribute_values(":below", n(below));
        }
        update = match lock {
            Some(until) => update
                .update_expression("ADD #f :one SET #lock = :until")
                .expression_attribute_values(":until", t(until)?),
            None => update.update_expression("ADD #f :one"),
        };
        match retry(|| update.clone().send()).await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(unavailable("UpdateItem", &e)),
        }
    }

    /// First, when the try set a lock, one conditional update that lowers the count and
    /// removes that lock if it is still in place; otherwise (or if the lock changed) one that
    /// only lowers a count above zero. A failed condition means there is nothing to give back.
    pub(super) async fn give_back_totp_try(
        &self,
        user: &UserId,
        granted: TotpFailures,
    ) -> Result<(), StoreError> {
        let key = keys::user(user);
        let mut rounds = Vec::with_capacity(2);
        if let Some(until) = granted.locked_until {
            rounds.push(Some(t(until)?));
        }
        rounds.push(None);
        for lock in rounds {
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.attrs()))
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#f", TOTP_FAILURES)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":zero", n(0));
            let update = match lock {
                Some(until) => update
                    .condition_expression("attribute_exists(#pk) AND #f > :zero AND #lock = :until")
                    .update_expression("SET #f = #f - :one REMOVE #lock")
                    .expression_attribute_names("#lock", TOTP_LOCKED_UNTIL)
                    .expression_attribute_values(":until", until),
                None => update
                    .condition_expression("attribute_exists(#pk) AND #f > :zero")
                    .update_expression("SET #f = #f - :one"),
            };
            match retry(|| update.clone().send()).await {
                Ok(_) => return Ok(()),
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(unavailable("UpdateItem", &e)),
            }
        }
        Ok(())
    }

    /// One conditional update on the device id read by the caller; when the condition fails,
    /// a read tells an unknown user from a changed device.
    pub(super) async fn remove_device(
        &self,
        user: &UserId,
        device: &DeviceId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = keys::user(user);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.attrs()))
            .update_expression(
                "REMOVE #device_id, #device_secret, #device_enrolled_at, #last_step, \
                 #totp_locked_until SET #totp_failures = :zero, #device_reset_at = :now",
            )
            .condition_expression(format!("{EXISTS} AND #device_id = :device"))
            .set_expression_attribute_names(
                Expr::default()
                    .name(PK)
                    .name(DEVICE_ID)
                    .name(DEVICE_SECRET)
                    .name(DEVICE_ENROLLED_AT)
                    .name(LAST_STEP)
                    .name(TOTP_LOCKED_UNTIL)
                    .name(TOTP_FAILURES)
                    .name(DEVICE_RESET_AT)
                    .names(),
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", t(now)?)
            .expression_attribute_values(":device", s(device.as_str()));
        match retry(|| update.clone().send()).await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => match self.get(&key).await? {
                Some(_) => Err(StoreError::Conflict("the device changed")),
                None => Err(StoreError::NotFound),
            },
            Err(e) => Err(unavailable("UpdateItem", &e)),
        }
    }

    /// One transaction: the user's step advances on the same device, the challenge goes, the
    /// session appears.
    pub(super) async fn commit_login(&self, commit: &LoginCommit) -> Result<(), StoreError> {
        let user = Expr::default()
            .name(DEVICE_ID)
            .name(LAST_STEP)
            .name(TOTP_FAILURES)
            .name(TOTP_LOCKED_UNTIL)
            .value(":device", s(commit.device_id.as_str()))
            .value(":step", n(commit.step))
            .value(":zero", n(0));
        let items = vec![
            self.tx_update(
                &keys::user(&commit.user_id),
                "SET #last_step = :step, #totp_failures = :zero REMOVE #totp_locked_until",
                "#device_id = :device AND #last_step < :step",
                &user,
            )?,
            self.end_challenge(&commit.challenge, commit.challenge_version, &commit.user_id)?,
            self.new_session(&commit.session)?,
        ];
        let refused = match self.transact(items).await {
            Ok(()) => return Ok(()),
            Err(TxError::Refused(r)) => r,
            Err(TxError::Failed(e)) => return Err(e),
        };
        if !refused.failed(0) {
            return Err(token_refusal(&refused, "commit_login"));
        }

        // The user's condition failed: a consistent read says whether the step was used.
        match self.get_user(&commit.user_id).await?.map(|u| u.device) {
            None => Err(StoreError::NotFound),
            Some(Some(d)) if d.id == commit.device_id && d.last_step >= commit.step => {
                Err(StoreError::StepReplayed)
            }
            Some(_) => Err(StoreError::Conflict("device changed")),
        }
    }

    /// One transaction: the user's device is still `replaces` (then becomes the new one), the
    /// challenge goes, the session appears, and the user's other sessions go when asked.
    pub(super) async fn commit_enrollment(
        &self,
        commit: &EnrollmentCommit,
    ) -> Result<(), StoreError> {
        // Limitation: the user's sessions come from `gsi1`, which is eventually consistent: a
        // session issued a moment before this commit may be missing and survive the revocation.
        let mut others: Vec<Key> = Vec::new();
        if commit.revoke_other_sessions {
            let hashes = self.user_session_hashes(&commit.user_id).await?;
            others = hashes
                .iter()
                .filter(|h| **h != commit.session.token_hash)
                .map(keys::session)
                .collect();
        }

        let mut items = vec![
            self.enroll_user(commit)?,
            self.end_challenge(&commit.challenge, commit.challenge_version, &commit.user_id)?,
            self.new_session(&commit.session)?,
        ];
        // Transactions hold at most 100 items: the sessions that do not fit are deleted after
        // the commit, one by one (see below).
        let room = MAX_TRANSACTION_ITEMS
            .saturating_sub(items.len())
            .min(others.len());
        let (inside, after) = others.split_at(room);
        for key in inside {
            items.push(self.tx_delete(key, None, &Expr::default())?);
        }

        match self.transact(items).await {
            Ok(()) => {}
            Err(TxError::Refused(r)) if r.failed(0) => {
                return match self.get_user(&commit.user_id).await? {
                    None => Err(StoreError::NotFound),
                    Some(_) => Err(StoreError::Conflict("device changed")),
                };
            }
            Err(TxError::Refused(r)) => return Err(token_refusal(&r, "commit_enrollment")),
            Err(TxError::Failed(e)) => return Err(e),
        }

        // Limitation: past 97 other sessions the rest are deleted outside the transaction; if
        // one of those deletes fails, the enrollment stands (it cannot be undone) and the
        // sessions left are logged, not reported to the caller as a failed commit.
        for key in after {
            if let Err(e) = self.delete(key).await {
                tracing::warn!(
                    user_id = %commit.user_id,
                    outcome = "sessions_left",
                    error = %e,
                    "dynamodb commit_enrollment: could not revoke every other session"
                );
                break;
            }
        }
        Ok(())
    }

    /// The user update of an enrollment: the new device, its step, failures and lock cleared;
    /// conditional on the current device (or on there being none, for a user that exists).
    fn enroll_user(&self, commit: &EnrollmentCommit) -> Result<TransactWriteItem, StoreError> {
        let device = &commit.device;
        let expr = Expr::default()
            .name(DEVICE_ID)
            .name(DEVICE_SECRET)
            .name(DEVICE_ENROLLED_AT)
            .name(LAST_STEP)
            .name(TOTP_FAILURES)
            .name(TOTP_LOCKED_UNTIL)
            .value(":device", s(device.id.as_str()))
            .value(":secret", s(device.sealed_secret.0.as_str()))
            .value(":enrolled", t(device.enrolled_at)?)
            .value(":step", n(device.last_step))
            .value(":zero", n(0));
        let (device_condition, expr) = match &commit.replaces {
            Some(old) => (
                "#device_id = :replaces",
                expr.value(":replaces", s(old.as_str())),
            ),
            None => (
                "attribute_exists(#pk) AND attribute_not_exists(#device_id)",
                expr.name(PK),
            ),
        };
        // An admin reset since the challenge began refuses it (timestamps compare as text).
        let condition = format!(
            "{device_condition} AND (attribute_not_exists(#device_reset_at) \
             OR #device_reset_at < :begun)"
        );
        let expr = expr
            .name(DEVICE_RESET_AT)
            .value(":begun", t(commit.begun_at)?);
        self.tx_update(
            &keys::user(&commit.user_id),
            "SET #device_id = :device, #device_secret = :secret, \
             #device_enrolled_at = :enrolled, #last_step = :step, #totp_failures = :zero \
             REMOVE #totp_locked_until",
            &condition,
            &expr,
        )
    }

    /// Deletes the challenge being finished if it is still at `version` and `user`'s.
    fn end_challenge(
        &self,
        hash: &TokenHash,
        version: u64,
        user: &UserId,
    ) -> Result<TransactWriteItem, StoreError> {
        let expr = Expr::default()
            .name(VERSION)
            .name(USER_ID)
            .value(":version", n(version))
            .value(":user", s(user.as_str()));
        self.tx_delete(
            &keys::challenge(hash),
            Some("#version = :version AND #user_id = :user"),
            &expr,
        )
    }

    /// Puts the session being issued, which must be new.
    fn new_session(&self, session: &Session) -> Result<TransactWriteItem, StoreError> {
        let expr = Expr::default().name(PK);
        self.tx_put(codec::session_item(session)?, Some(IS_NEW), &expr)
    }
}

/// A commit refused on its challenge (item 1) or its session (item 2).
fn token_refusal(refused: &Refused, op: &str) -> StoreError {
    if refused.failed(1) {
        StoreError::Conflict("challenge changed or gone")
    } else if refused.failed(2) {
        StoreError::Conflict("session exists")
    } else {
        StoreError::Unavailable(format!("dynamodb {op}: refused on an unexpected item"))
    }
}
