//! The Store port: every read and every atomic write the flow needs.
//!
//! Each method is one atomic operation, so that the SQLite store can run it in one transaction
//! and the DynamoDB store in one conditional write or `TransactWriteItems`. Items with an expiry
//! (challenges, sessions, counters) are treated as gone once expired, whether or not storage has
//! removed them yet: every read takes `now` for that reason.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::domain::email::Email;
use crate::domain::ids::{AccountId, DeviceId, UserId};
use crate::domain::model::{
    Account, AuditEvent, Challenge, Device, DeviceGroup, Policy, Session, User,
};
use crate::domain::token::TokenHash;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The item that the operation needs does not exist (or has expired).
    #[error("not found")]
    NotFound,
    /// A condition did not hold: a unique key is taken, or the item changed since it was read.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The TOTP step is at or below the last accepted one for that device.
    #[error("TOTP step already used")]
    StepReplayed,
    /// The user's second step is locked until then; nothing was counted.
    #[error("second step locked")]
    Locked(DateTime<Utc>),
    /// The backend failed; the detail is for logs only.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// A short name for logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            StoreError::NotFound => "not_found",
            StoreError::Conflict(_) => "conflict",
            StoreError::StepReplayed => "step_replayed",
            StoreError::Locked(_) => "locked",
            StoreError::Unavailable(_) => "unavailable",
        }
    }
}

/// A user's wrong-TOTP-code state after one more failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TotpFailures {
    /// Consecutive wrong codes, this one included.
    pub failures: u32,
    /// The second step is locked until then, if the failures reached the limit.
    pub locked_until: Option<DateTime<Utc>>,
}

/// A fixed-window counter (rate limits, password failures).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Hits in the current window.
    pub count: u32,
    /// When the window closes and the counter starts again from zero.
    pub window_ends_at: DateTime<Utc>,
}

/// Finishing a login: all of it happens, or none.
#[derive(Clone, Debug)]
pub struct LoginCommit {
    /// Who signs in.
    pub user_id: UserId,
    /// The device whose code matched; must still be the user's device.
    pub device_id: DeviceId,
    /// The matched step; must be above the device's `last_step`, which becomes this.
    pub step: u64,
    /// The challenge being finished; deleted.
    pub challenge: TokenHash,
    /// The challenge must still be at this version.
    pub challenge_version: u64,
    /// Issued; the user's TOTP failures and lock are cleared.
    pub session: Session,
}

/// Finishing an enrollment (first device or replacement): all of it happens, or none.
#[derive(Clone, Debug)]
pub struct EnrollmentCommit {
    /// Who enrolls.
    pub user_id: UserId,
    /// The user's device must still be this one (`None`: still no device).
    pub replaces: Option<DeviceId>,
    /// The new device, `last_step` set to the setup code's step.
    pub device: Device,
    /// The challenge being finished; deleted.
    pub challenge: TokenHash,
    /// The challenge must still be at this version.
    pub challenge_version: u64,
    /// When the challenge began: refused if an admin reset the user's device since, so that a
    /// setup started before a reset cannot take the account over after it.
    pub begun_at: DateTime<Utc>,
    /// Issued; the user's TOTP failures and lock are cleared.
    pub session: Session,
    /// Delete every other session of the user (done on replacement).
    pub revoke_other_sessions: bool,
}

/// Persistent state.
#[async_trait]
pub trait Store: Send + Sync {
    /// Creates an account.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the id exists.
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;

    /// Reads an account.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] on backend failure (likewise below).
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;

    /// Every account, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;

    /// Replaces an account's policy if the stored one is still at `expected_version` (compare
    /// and swap); `policy.version` must be `expected_version + 1`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the account does not exist; [`StoreError::Conflict`] if the
    /// policy changed since it was read.
    async fn update_policy(
        &self,
        id: &AccountId,
        expected_version: u64,
        policy: &Policy,
    ) -> Result<(), StoreError>;

    /// Creates or replaces a device group's client version.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the account does not exist.
    async fn put_device_group(&self, group: &DeviceGroup) -> Result<(), StoreError>;

    /// The device groups of one account, by name.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_device_groups(&self, account: &AccountId)
    -> Result<Vec<DeviceGroup>, StoreError>;

    /// Creates a user; the normalised email must be unused across the service.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the email or id is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// Reads a user.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn get_user(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// Finds a user by normalised email.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// The users of one account, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_users(&self, account: &AccountId) -> Result<Vec<User>, StoreError>;

    /// Takes one TOTP try for `user`, atomically, before its code is checked: refused while
    /// `totp_locked_until > now` (nothing counted); otherwise the failure count rises by one (a
    /// try counts as failed until a commit accepts its code and clears the count), and when the
    /// count reaches `lock_after`, or is above it, `totp_locked_until` becomes `now + lock_for`.
    /// So of N concurrent tries at most `lock_after` are granted, and N granted calls raise the
    /// count by exactly N.
    ///
    /// # Errors
    /// [`StoreError::Locked`] while locked; [`StoreError::NotFound`] for an unknown user.
    async fn record_totp_failure(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        lock_after: u32,
        lock_for: Duration,
    ) -> Result<TotpFailures, StoreError>;

    /// [`Store::record_totp_failure`] that also returns the user as it stands after the try, so
    /// that the TOTP step need not read the user separately. The default reads it afterwards;
    /// stores that can return the updated record in the same call should.
    ///
    /// # Errors
    /// As [`Store::record_totp_failure`].
    async fn take_totp_try(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        lock_after: u32,
        lock_for: Duration,
    ) -> Result<(TotpFailures, User), StoreError> {
        let failures = self
            .record_totp_failure(user, now, lock_after, lock_for)
            .await?;
        let record = self.get_user(user).await?.ok_or(StoreError::NotFound)?;
        Ok((failures, record))
    }

    /// Gives back a try that [`Store::take_totp_try`] granted but whose code could not be
    /// checked (the device secret could not be unsealed), so that a failing key service locks
    /// no one out: the count falls by one unless it is zero already (a login cleared it), and
    /// the lock `granted` set, if any, is lifted while it is still the one in place. Atomic on
    /// its own, like the try.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]; an unknown user is not an error (nothing to give back).
    async fn give_back_totp_try(
        &self,
        user: &UserId,
        granted: TotpFailures,
    ) -> Result<(), StoreError>;

    /// Removes the user's device `device` (an admin reset), clearing TOTP failures and lock,
    /// only while it is still the user's device: of concurrent resets one wins. Records `now`
    /// as the reset time: an enrollment whose challenge began before it is refused (see
    /// [`EnrollmentCommit::begun_at`]).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user; [`StoreError::Conflict`] when the user has
    /// no device or another one.
    async fn remove_device(
        &self,
        user: &UserId,
        device: &DeviceId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Adds one hit to the counter `key`; a counter whose window has closed starts again at 1
    /// with a window of `window` from `now`. Atomic.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn hit_counter(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<Counter, StoreError>;

    /// Reads the counter `key`; `None` if absent or its window has closed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn get_counter(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Counter>, StoreError>;

    /// Deletes the counter `key` (absent is fine).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn clear_counter(&self, key: &str) -> Result<(), StoreError>;

    /// Stores a new challenge.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if its token hash exists.
    async fn put_challenge(&self, challenge: &Challenge) -> Result<(), StoreError>;

    /// Reads a challenge; `None` if absent or expired at `now`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn get_challenge(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Challenge>, StoreError>;

    /// Replaces a challenge if the stored one is still at `expected_version` (compare and swap).
    /// `next.version` must be `expected_version + 1`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if it changed or is gone.
    async fn update_challenge(
        &self,
        expected_version: u64,
        next: &Challenge,
    ) -> Result<(), StoreError>;

    /// Deletes a challenge (absent is fine).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_challenge(&self, hash: &TokenHash) -> Result<(), StoreError>;

    /// Finishes a login atomically: the device is still the user's and `step` is above its
    /// `last_step` (then `last_step = step`), the challenge is at its version (then deleted),
    /// failures and lock cleared, session stored.
    ///
    /// # Errors
    /// [`StoreError::StepReplayed`] if the step was used; [`StoreError::Conflict`] if the
    /// challenge or device changed.
    async fn commit_login(&self, commit: &LoginCommit) -> Result<(), StoreError>;

    /// Finishes an enrollment atomically: the user's device is still `replaces` (then becomes
    /// `device`), the challenge is at its version (then deleted), failures and lock cleared,
    /// other sessions deleted if asked, session stored.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the challenge or the user's device changed.
    async fn commit_enrollment(&self, commit: &EnrollmentCommit) -> Result<(), StoreError>;

    /// Stores a session.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if its token hash exists.
    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;

    /// Reads a session; `None` if absent or expired at `now`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn get_session(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;

    /// Deletes a session (absent is fine).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError>;

    /// Deletes every session of `user`; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_user_sessions(&self, user: &UserId) -> Result<u32, StoreError>;

    /// The unexpired sessions of one account.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_account_sessions(
        &self,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError>;

    /// Appends an audit event.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// An account's events, newest first: at most `limit`, strictly older than the cursor
    /// `(at, id)` when given.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_events(
        &self,
        account: &AccountId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}
