//! The flow's errors: one enum whose variants the HTTP layer maps to status and stable code.

use chrono::{DateTime, Utc};

use crate::domain::model::{ChallengeState, ClientVersion};
use crate::ports::{MailError, SealError, StoreError};

/// Why a use case did not succeed. Expected failures are variants; only `Internal` and
/// `Unavailable` are faults, and their detail is logged, never returned.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A field is present but unusable; the message says how to fix it.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// The JSON field.
        field: &'static str,
        /// What it must be.
        reason: String,
    },
    /// The password is over the size cap.
    #[error("password too long")]
    PasswordTooLong,
    /// Wrong password or unknown email (indistinguishable on purpose).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The challenge is unknown, expired, finished or not this user's.
    #[error("invalid challenge")]
    InvalidChallenge,
    /// The challenge is at another step of the flow.
    #[error("wrong step: challenge is at {state:?}")]
    WrongStep {
        /// Where the challenge is.
        state: ChallengeState,
    },
    /// The code does not match.
    #[error("invalid code")]
    InvalidCode,
    /// The code's step was already accepted.
    #[error("code already used")]
    CodeAlreadyUsed,
    /// No emailed code is outstanding (expired, used up or never sent).
    #[error("email code expired")]
    EmailCodeExpired,
    /// Locked or rate-limited until `retry_at`.
    #[error("too many attempts")]
    TooManyAttempts {
        /// When trying again makes sense.
        retry_at: DateTime<Utc>,
    },
    /// The client is older than the account requires.
    #[error("client upgrade required")]
    ClientUpgradeRequired {
        /// The oldest client allowed.
        required: ClientVersion,
    },
    /// No valid session.
    #[error("invalid session")]
    InvalidSession,
    /// The session's second step is too old for this action.
    #[error("reauthentication required")]
    ReauthenticationRequired,
    /// "Set up new device" is not offered to this user now.
    #[error("device reset unavailable")]
    DeviceResetUnavailable,
    /// The caller may not do this.
    #[error("forbidden")]
    Forbidden,
    /// Two-step verification is on and this session has not passed it.
    #[error("second step required")]
    SecondStepRequired,
    /// The forced-logout date is malformed or outside the allowed range.
    #[error("invalid forced_logout_at")]
    InvalidForcedLogout {
        /// It must be after this instant.
        after: DateTime<Utc>,
        /// And at most this one.
        latest: DateTime<Utc>,
    },
    /// A forced-logout date was given while disabling.
    #[error("forced_logout_at needs enabled")]
    ForcedLogoutNeedsEnabled,
    /// Device groups run clients older than the requirement.
    #[error("device groups below the required client")]
    DeviceGroupsBelow {
        /// The requirement.
        required: ClientVersion,
        /// Each group below it, with its version if known.
        groups: Vec<(String, Option<ClientVersion>)>,
    },
    /// The named thing does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
    /// Another request changed the same state first.
    #[error("conflict")]
    Conflict,
    /// A dependency (mail, key service, store) failed; retrying may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt state.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for FlowError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(_) | StoreError::StepReplayed => FlowError::Conflict,
            StoreError::Locked(retry_at) => FlowError::TooManyAttempts { retry_at },
            StoreError::NotFound => FlowError::NotFound,
            StoreError::Unavailable(detail) => FlowError::Unavailable(format!("store: {detail}")),
        }
    }
}

impl From<SealError> for FlowError {
    fn from(err: SealError) -> Self {
        match err {
            SealError::Refused => FlowError::Internal("sealed secret refused".to_owned()),
            SealError::Unavailable(detail) => FlowError::Unavailable(format!("sealer: {detail}")),
        }
    }
}

impl From<MailError> for FlowError {
    fn from(err: MailError) -> Self {
        match err {
            MailError::Unavailable(detail) => FlowError::Unavailable(format!("mail: {detail}")),
        }
    }
}
