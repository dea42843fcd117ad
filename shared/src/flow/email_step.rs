//! The email step: send (or resend) a six-digit code, then confirm it.

use chrono::{DateTime, Duration, Utc};
use tracing::{info, instrument};

use crate::domain::code::SixDigitCode;
use crate::domain::model::{ChallengePurpose, ChallengeState, EmailCode};
use crate::domain::secret::SecretText;
use crate::domain::token::{email_code_hash, email_code_matches, new_email_code};
use crate::flow::challenge::{advance, load, reissue};
use crate::flow::{App, FlowError, IssuedToken, mail};

/// What the client learns after a code was emailed.
#[derive(Debug)]
pub struct EmailSent {
    /// The same challenge, now at `email_sent`.
    pub challenge: IssuedToken,
    /// The address, mostly hidden.
    pub email_hint: String,
    /// When the code stops working.
    pub code_expires_at: DateTime<Utc>,
    /// When a resend will be accepted.
    pub resend_available_at: DateTime<Utc>,
}

/// Emails a six-digit code for the challenge. On a `totp_required` challenge this is "set up a
/// new mobile device": the challenge turns into a re-enrollment. A resend replaces the code.
///
/// The challenge moves before the message goes out (so concurrent sends mail one code, and
/// count once toward the hourly cap); if the cap refuses or the mail fails, it is put back where
/// it was and the client may retry.
///
/// # Errors
/// [`FlowError::InvalidChallenge`], [`FlowError::WrongStep`], [`FlowError::TooManyAttempts`]
/// (resend limits), [`FlowError::Conflict`], [`FlowError::Unavailable`] (mail).
#[instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn send_verification_email(app: &App, token: SecretText) -> Result<EmailSent, FlowError> {
    let challenge = load(app, &token).await?;
    let purpose = match (challenge.state, challenge.purpose) {
        (ChallengeState::TotpRequired, _) => ChallengePurpose::LostDevice,
        (ChallengeState::EnrollmentRequired | ChallengeState::EmailSent, p) => p,
        (state, _) => return Err(FlowError::WrongStep { state }),
    };
    let now = app.clock.now();
    let cfg = &app.config;

    // Resend limits: a pause between sends, a cap per challenge and a cap per user per hour.
    if challenge.emails_sent >= cfg.email_max_per_challenge {
        return Err(FlowError::TooManyAttempts {
            retry_at: challenge.expires_at,
        });
    }
    if let Some(last) = challenge.last_email_at {
        let next = last + cfg.email_resend_interval;
        if now < next {
            return Err(FlowError::TooManyAttempts { retry_at: next });
        }
    }
    let user = app
        .store
        .get_user(&challenge.user_id)
        .await?
        .ok_or(FlowError::InvalidChallenge)?;
    let code = new_email_code(app.rng.as_ref());
    let minutes = cfg.email_code_ttl.num_minutes();
    let message = mail::verification_code(&user.email, code.expose(), minutes, &cfg.issuer);

    // The challenge moves first, so that of concurrent sends only the one that moved it mails
    // a code; if the cap refuses or the mail fails, the challenge is put back where it was.
    let mut next = challenge.clone();
    next.purpose = purpose;
    next.state = ChallengeState::EmailSent;
    next.email_code = Some(EmailCode {
        code_hash: email_code_hash(&token, code.expose()),
        expires_at: now + cfg.email_code_ttl,
        attempts: 0,
    });
    next.emails_sent = challenge.emails_sent.saturating_add(1);
    next.last_email_at = Some(now);
    let next = advance(app, &challenge, next).await?;
    // The hourly cap is hit only by that send: the losers (409) use up nothing.
    let user_key = format!("verification-email:{}", challenge.user_id);
    let refusal = match app
        .store
        .hit_counter(&user_key, now, Duration::hours(1))
        .await
    {
        Ok(hour) if hour.count > cfg.email_max_per_user_hour => Some(FlowError::TooManyAttempts {
            retry_at: hour.window_ends_at,
        }),
        Ok(_) => app.mailer.send(&message).await.err().map(FlowError::from),
        Err(err) => Some(err.into()),
    };
    if let Some(err) = refusal {
        if advance(app, &next, challenge.clone()).await.is_err() {
            tracing::warn!("challenge not put back after a refused verification email");
        }
        return Err(err);
    }
    info!(
        outcome = "email_sent",
        sends = next.emails_sent,
        "verification code emailed"
    );

    Ok(EmailSent {
        email_hint: mail::hint(&user.email),
        code_expires_at: now + cfg.email_code_ttl,
        resend_available_at: now + cfg.email_resend_interval,
        challenge: reissue(token, &next),
    })
}

/// Checks the emailed code. Right: the challenge moves to `email_verified`. Wrong: the try is
/// counted; after the limit the code stops working and a new one must be sent.
///
/// # Errors
/// [`FlowError::InvalidChallenge`], [`FlowError::WrongStep`], [`FlowError::EmailCodeExpired`],
/// [`FlowError::InvalidCode`], [`FlowError::Conflict`].
#[instrument(skip_all, fields(user_id = tracing::field::Empty, outcome = tracing::field::Empty))]
pub async fn confirm_email_code(
    app: &App,
    token: SecretText,
    code: &SixDigitCode,
) -> Result<IssuedToken, FlowError> {
    let challenge = load(app, &token).await?;
    let span = tracing::Span::current();
    if challenge.state != ChallengeState::EmailSent {
        return Err(FlowError::WrongStep {
            state: challenge.state,
        });
    }
    let now = app.clock.now();
    let Some(pending) = challenge.email_code.as_ref() else {
        return Err(FlowError::EmailCodeExpired);
    };
    if now >= pending.expires_at || pending.attempts >= app.config.email_code_max_attempts {
        span.record("outcome", "email_code_expired");
        return Err(FlowError::EmailCodeExpired);
    }

    let mut next = challenge.clone();
    if email_code_matches(&token, code.expose(), &pending.code_hash) {
        next.state = ChallengeState::EmailVerified;
        next.email_code = None;
        let next = advance(app, &challenge, next).await?;
        span.record("outcome", "email_verified");
        info!("email code confirmed");
        return Ok(reissue(token, &next));
    }

    // Only a counted try answers "wrong": a try that loses the race answers `Conflict`, so
    // concurrent guesses buy nothing.
    if let Some(code_state) = next.email_code.as_mut() {
        code_state.attempts = code_state.attempts.saturating_add(1);
    }
    advance(app, &challenge, next).await?;
    span.record("outcome", "invalid_code");
    info!("wrong email code");
    Err(FlowError::InvalidCode)
}
