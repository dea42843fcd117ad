//! The signed-in side: who am I, sign out, and My Account "Set up new device".

use chrono::{DateTime, Utc};
use tracing::{info, instrument};

use crate::domain::model::{Account, ChallengePurpose, ChallengeState, Session, User};
use crate::domain::secret::SecretText;
use crate::domain::token::TokenHash;
use crate::flow::challenge::new_challenge;
use crate::flow::{App, FlowError, IssuedToken};

/// A live session with its user and account.
#[derive(Debug)]
pub struct Authenticated {
    /// The session record.
    pub session: Session,
    /// Its user.
    pub user: User,
    /// The user's account.
    pub account: Account,
}

/// Resolves a bearer token to a live session.
///
/// A session without the second step (issued while 2FA was off) stops working at the account's
/// forced-logout instant, checked here on every use, whether or not the job has run yet.
///
/// # Errors
/// [`FlowError::InvalidSession`] for unknown, expired or forced-out sessions; a store fault.
pub async fn authenticate(app: &App, token: &SecretText) -> Result<Authenticated, FlowError> {
    let now = app.clock.now();
    let session = app
        .store
        .get_session(&TokenHash::of(token), now)
        .await?
        .ok_or(FlowError::InvalidSession)?;
    let user = app
        .store
        .get_user(&session.user_id)
        .await?
        .ok_or(FlowError::InvalidSession)?;
    let account = app
        .store
        .get_account(&user.account_id)
        .await?
        .ok_or(FlowError::InvalidSession)?;
    let policy = &account.policy;
    let forced_out = policy.enabled
        && session.second_step_at.is_none()
        && policy.forced_logout_at.is_some_and(|at| at <= now);
    if forced_out {
        return Err(FlowError::InvalidSession);
    }
    Ok(Authenticated {
        session,
        user,
        account,
    })
}

/// What `GET /v1/me` shows.
#[derive(Debug)]
pub struct MeView {
    /// The signed-in user.
    pub user: User,
    /// Whether the account requires the second step.
    pub required: bool,
    /// When the user's device was enrolled, if it is.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// Whether the client may show "Set up new device".
    pub can_reset_device: bool,
    /// When this session passed the second step, if it did.
    pub second_step_at: Option<DateTime<Utc>>,
}

/// Who is signed in and where they stand with two-step verification.
///
/// # Errors
/// [`FlowError::InvalidSession`]; a store fault.
#[instrument(skip_all)]
pub async fn me(app: &App, token: &SecretText) -> Result<MeView, FlowError> {
    let auth = authenticate(app, token).await?;
    let required = auth.account.policy.enabled;
    let enrolled_at = auth.user.device.as_ref().map(|d| d.enrolled_at);
    Ok(MeView {
        can_reset_device: required && enrolled_at.is_some(),
        second_step_at: auth.session.second_step_at,
        enrolled_at,
        required,
        user: auth.user,
    })
}

/// Ends the session. Signing out twice is not an error for the second call's sake: the first
/// already ended it, and the token is refused.
///
/// # Errors
/// [`FlowError::InvalidSession`]; a store fault.
#[instrument(skip_all)]
pub async fn sign_out(app: &App, token: &SecretText) -> Result<(), FlowError> {
    let auth = authenticate(app, token).await?;
    app.store.delete_session(&auth.session.token_hash).await?;
    info!(user_id = %auth.user.id, outcome = "signed_out", "session ended");
    Ok(())
}

/// My Account "Set up new device": needs a session that passed the second step within the
/// re-authentication window; returns a challenge at the email step. The current device keeps
/// working until the new one's setup code verifies.
///
/// # Errors
/// [`FlowError::InvalidSession`], [`FlowError::DeviceResetUnavailable`] (2FA off or no
/// device), [`FlowError::ReauthenticationRequired`].
#[instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn reset_device(app: &App, token: &SecretText) -> Result<IssuedToken, FlowError> {
    let auth = authenticate(app, token).await?;
    tracing::Span::current().record("user_id", tracing::field::display(&auth.user.id));
    if !auth.account.policy.enabled || auth.user.device.is_none() {
        return Err(FlowError::DeviceResetUnavailable);
    }
    let now = app.clock.now();
    let fresh = auth
        .session
        .second_step_at
        .is_some_and(|at| now.signed_duration_since(at) <= app.config.reauth_window);
    if !fresh {
        return Err(FlowError::ReauthenticationRequired);
    }
    let purpose = ChallengePurpose::ReplaceDevice;
    let issued =
        new_challenge(app, &auth.user, purpose, ChallengeState::EnrollmentRequired).await?;
    info!(
        outcome = "enrollment_required",
        "device replacement started"
    );
    Ok(issued)
}
