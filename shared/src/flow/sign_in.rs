//! Sign-in: email and password, then a session (2FA off) or a challenge for the second step.

use tracing::{info, instrument};

use crate::domain::email::Email;
use crate::domain::model::{ChallengePurpose, ChallengeState, ClientVersion};
use crate::domain::password::{self, MAX_PASSWORD_BYTES};
use crate::domain::secret::SecretText;
use crate::flow::challenge::new_challenge;
use crate::flow::{App, FlowError, IssuedToken, blocking, new_session};

/// What the client says about itself at sign-in.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// `windows`, `mac`, `android`, `ios` or `web`.
    pub platform: String,
    /// Reported version and build.
    pub version: ClientVersion,
}

impl ClientInfo {
    /// Whether this client falls under the version gate (desktop and mobile apps; not the web).
    fn is_gated(&self) -> bool {
        self.platform != "web"
    }
}

/// How a sign-in ended.
#[derive(Debug)]
pub enum SignInOutcome {
    /// Two-step verification is off for the account: signed in.
    SignedIn(IssuedToken),
    /// On, and the user has no device: enrollment comes next.
    EnrollmentRequired(IssuedToken),
    /// On, and the user has a device: the app's code comes next.
    TotpRequired(IssuedToken),
}

/// Checks email and password and starts the second step if the account requires it.
///
/// Unknown emails cost one argon2 verification against a dummy hash, like known ones, and get
/// the same answer as a wrong password. Failures are counted per email (known or not) and block
/// sign-in for that email for a window once they reach the limit; they never touch the TOTP
/// lockout, so nobody can lock another user's second step with wrong passwords.
///
/// # Errors
/// [`FlowError::InvalidField`], [`FlowError::PasswordTooLong`], [`FlowError::InvalidCredentials`],
/// [`FlowError::TooManyAttempts`], [`FlowError::ClientUpgradeRequired`], or a fault.
#[instrument(skip_all, fields(user_id = tracing::field::Empty, outcome = tracing::field::Empty))]
pub async fn sign_in(
    app: &App,
    email: &str,
    password: SecretText,
    client: Option<ClientInfo>,
) -> Result<SignInOutcome, FlowError> {
    let email = Email::parse(email).map_err(|e| FlowError::InvalidField {
        field: "email",
        reason: e.to_string(),
    })?;
    if password.expose().len() > MAX_PASSWORD_BYTES {
        return Err(FlowError::PasswordTooLong);
    }
    let now = app.clock.now();

    // Count the try before hashing, atomically: a burst gets no more argon2 checks than the
    // limit, and a blocked email costs no argon2 time. A right password clears the count.
    let counter_key = format!("password:{}", email.as_str());
    let counter = app
        .store
        .hit_counter(&counter_key, now, app.config.password_window)
        .await?;
    if counter.count > app.config.password_lock_after {
        tracing::Span::current().record("outcome", "password_blocked");
        return Err(FlowError::TooManyAttempts {
            retry_at: counter.window_ends_at,
        });
    }

    let user = app.store.find_user_by_email(&email).await?;
    let stored = user
        .as_ref()
        .map_or_else(|| app.dummy_hash.clone(), |u| u.password_hash.clone());
    let verified = blocking(move || password::verify_password(&password, &stored)).await?;
    let verified = verified.map_err(|e| FlowError::Internal(format!("password check: {e}")))?;
    let user = match (user, verified) {
        (Some(user), true) => user,
        _ => {
            tracing::Span::current().record("outcome", "invalid_credentials");
            return Err(FlowError::InvalidCredentials);
        }
    };
    tracing::Span::current().record("user_id", tracing::field::display(&user.id));
    app.store.clear_counter(&counter_key).await?;

    let account = app
        .store
        .get_account(&user.account_id)
        .await?
        .ok_or_else(|| FlowError::Internal("user without account".to_owned()))?;
    if !account.policy.enabled {
        let (issued, session) = new_session(app, &user, false);
        app.store.put_session(&session).await?;
        info!(outcome = "signed_in", "password-only sign-in");
        return Ok(SignInOutcome::SignedIn(issued));
    }

    // The version gate comes after the password so that it reveals nothing about the email.
    let required = account.policy.required_client;
    if client.is_some_and(|c| c.is_gated() && c.version < required) {
        info!(
            outcome = "client_upgrade_required",
            "client below required build"
        );
        return Err(FlowError::ClientUpgradeRequired { required });
    }

    let state = if user.device.is_some() {
        ChallengeState::TotpRequired
    } else {
        ChallengeState::EnrollmentRequired
    };
    let issued = new_challenge(app, &user, ChallengePurpose::SignIn, state).await?;
    info!(
        outcome = state.as_str(),
        "password accepted, second step required"
    );
    Ok(match state {
        ChallengeState::TotpRequired => SignInOutcome::TotpRequired(issued),
        _ => SignInOutcome::EnrollmentRequired(issued),
    })
}
