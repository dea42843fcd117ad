//! The records the service keeps: accounts and their policy, users and their device, challenges
//! (half-finished sign-ins), sessions and audit events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::email::Email;
use crate::domain::ids::{AccountId, DeviceId, EventId, UserId};
use crate::domain::token::TokenHash;

/// A KMS or AES-GCM ciphertext of a TOTP key, bound to its account and user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(pub String);

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecret(_)")
    }
}

/// What a user may do in their account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Signs in to give support.
    Agent,
    /// Also manages the account's policy.
    Admin,
}

impl Role {
    /// The role's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }
}

/// A client version requirement or report: `major.minor` plus a build number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClientVersion {
    /// Major version, `4` in 4.3.
    pub major: u32,
    /// Minor version, `3` in 4.3.
    pub minor: u32,
    /// Build number, `1575`.
    pub build: u32,
}

impl ClientVersion {
    /// The version every device group needs while two-step verification is on: 4.3 build 1575.
    pub const REQUIRED_DEFAULT: ClientVersion = ClientVersion {
        major: 4,
        minor: 3,
        build: 1575,
    };

    /// Parses `"4.3"` and a build number.
    pub fn parse(version: &str, build: u32) -> Option<Self> {
        let (major, minor) = version.trim().split_once('.')?;
        Some(Self {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
            build,
        })
    }

    /// `"4.3"`.
    pub fn version_text(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

/// An account's two-step policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Whether every user of the account must pass the second step.
    pub enabled: bool,
    /// When it was last turned on.
    pub enabled_at: Option<DateTime<Utc>>,
    /// When sessions without the second step stop working.
    pub forced_logout_at: Option<DateTime<Utc>>,
    /// When the enforce-logout job last acted on `forced_logout_at`.
    pub forced_logout_done_at: Option<DateTime<Utc>>,
    /// Oldest desktop or mobile client allowed while enabled.
    pub required_client: ClientVersion,
    /// Sessions the job ended at the last forced logout.
    #[serde(default)]
    pub forced_logout_sessions_ended: u32,
    /// When the reminder three days before the date went out.
    #[serde(default)]
    pub reminder_3d_sent_at: Option<DateTime<Utc>>,
    /// When the reminder one day before the date went out.
    #[serde(default)]
    pub reminder_1d_sent_at: Option<DateTime<Utc>>,
    /// Bumped on every change; policy writes are conditional on it.
    #[serde(default)]
    pub version: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            enabled: false,
            enabled_at: None,
            forced_logout_at: None,
            forced_logout_done_at: None,
            required_client: ClientVersion::REQUIRED_DEFAULT,
            forced_logout_sessions_ended: 0,
            reminder_3d_sent_at: None,
            reminder_1d_sent_at: None,
            version: 0,
        }
    }
}

/// A customer of the product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Identifier.
    pub id: AccountId,
    /// Display name (also the default issuer label suffix).
    pub name: String,
    /// Two-step policy.
    pub policy: Policy,
    /// When created.
    pub created_at: DateTime<Utc>,
}

/// The client version a device group of an account runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceGroup {
    /// The account.
    pub account_id: AccountId,
    /// The group's name.
    pub name: String,
    /// The version and build its clients run.
    pub client: ClientVersion,
    /// When it was last set.
    pub updated_at: DateTime<Utc>,
}

/// A user's active authenticator device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Identifier; changes when the device is replaced.
    pub id: DeviceId,
    /// The TOTP key, sealed to this user and account.
    pub sealed_secret: SealedSecret,
    /// When its setup code verified.
    pub enrolled_at: DateTime<Utc>,
    /// The last TOTP step accepted for it; a step at or below is never accepted again.
    pub last_step: u64,
}

/// A person who signs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// The account the user belongs to.
    pub account_id: AccountId,
    /// Normalised address, unique across the service.
    pub email: Email,
    /// Agent or admin.
    pub role: Role,
    /// The device group the user's clients belong to.
    pub device_group: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The active authenticator, once enrolled.
    pub device: Option<Device>,
    /// Consecutive wrong TOTP codes since the last right one.
    pub totp_failures: u32,
    /// The second step is refused until then.
    pub totp_locked_until: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
}

/// Why a challenge exists: which branch of the flow it walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengePurpose {
    /// A sign-in: enroll a first device, or enter the app's code.
    SignIn,
    /// "Set up a new mobile device" from the code prompt: re-enroll, email first.
    LostDevice,
    /// My Account "Set up new device" from a fresh two-step session.
    ReplaceDevice,
}

/// Where a challenge stands in the flow (see `flow`'s state machine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeState {
    /// The password passed; the user has no device: the email step comes next.
    EnrollmentRequired,
    /// The password passed; the user's app code comes next.
    TotpRequired,
    /// A code was emailed and awaits confirmation.
    EmailSent,
    /// The emailed code was confirmed: a secret may be linked.
    EmailVerified,
    /// A secret was made; its setup code finishes enrollment.
    DevicePending,
}

impl ChallengeState {
    /// The state's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeState::EnrollmentRequired => "enrollment_required",
            ChallengeState::TotpRequired => "totp_required",
            ChallengeState::EmailSent => "email_sent",
            ChallengeState::EmailVerified => "email_verified",
            ChallengeState::DevicePending => "device_pending",
        }
    }
}

/// The emailed code a challenge waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailCode {
    /// HMAC of the code keyed by the challenge token.
    pub code_hash: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Wrong tries so far.
    pub attempts: u32,
}

/// A secret made by link-device, waiting for its setup code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDevice {
    /// The identifier the device will have.
    pub device_id: DeviceId,
    /// The new TOTP key, sealed to the user and account.
    pub sealed_secret: SealedSecret,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A half-finished sign-in or device change, keyed by the hash of its bearer token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Hash of the token the client holds.
    pub token_hash: TokenHash,
    /// The only user it serves.
    pub user_id: UserId,
    /// That user's account.
    pub account_id: AccountId,
    /// Which branch of the flow.
    pub purpose: ChallengePurpose,
    /// Where it stands.
    pub state: ChallengeState,
    /// The code emailed last, while one is outstanding.
    pub email_code: Option<EmailCode>,
    /// Emails sent for this challenge.
    pub emails_sent: u32,
    /// When the last one went out.
    pub last_email_at: Option<DateTime<Utc>>,
    /// The secret waiting for its setup code.
    pub pending_device: Option<PendingDevice>,
    /// The user's device when the challenge began: a setup on this challenge replaces exactly
    /// that one, so an older pending setup can never replace a newer device.
    #[serde(default)]
    pub replaces: Option<DeviceId>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// Gone after this, whether or not storage has removed it yet.
    pub expires_at: DateTime<Utc>,
    /// Bumped on every change; writes are conditional on it.
    pub version: u64,
}

/// A signed-in session, keyed by the hash of its bearer token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Hash of the token the client holds.
    pub token_hash: TokenHash,
    /// Whose session.
    pub user_id: UserId,
    /// That user's account.
    pub account_id: AccountId,
    /// When issued.
    pub created_at: DateTime<Utc>,
    /// Gone after this.
    pub expires_at: DateTime<Utc>,
    /// When the second step was last passed in it; `None` for password-only sessions.
    pub second_step_at: Option<DateTime<Utc>>,
}

/// One line of an account's audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Identifier (also the pagination cursor's tie-breaker).
    pub id: EventId,
    /// The account it belongs to.
    pub account_id: AccountId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it: a user id, `"system"` or `"ops"`.
    pub actor: String,
    /// The user it concerns, if any.
    pub subject: Option<UserId>,
    /// What happened, snake_case (`device_enrolled`, `totp_replay_refused`, …).
    pub kind: String,
    /// How it ended (`ok`, `refused`, …).
    pub outcome: String,
    /// Extra non-secret detail.
    pub detail: serde_json::Value,
}
