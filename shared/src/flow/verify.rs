//! Verify TOTP: the setup code that finishes enrollment, or the login code of an enrolled user.
//!
//! A code is accepted for the previous, current or next step, and never for a step at or below
//! the device's last accepted one: the store's commit refuses it atomically, so two requests
//! racing with one code cannot both win. Wrong codes count per user, not per challenge; at the
//! limit the second step locks for a while. Only wrong codes count: a try that ends any other
//! way (a refused replay, a lost race, an unreadable secret) is given back. Password failures
//! are counted elsewhere.

use serde_json::json;
use tracing::{info, instrument, warn};

use crate::domain::code::SixDigitCode;
use crate::domain::model::{Challenge, ChallengePurpose, ChallengeState, Device, User};
use crate::domain::secret::{SecretText, TotpKey};
use crate::domain::totp::{self, STEP_SECONDS};
use crate::flow::{App, FlowError, IssuedToken, challenge::load, mail, new_session, record_event};
use crate::ports::{EnrollmentCommit, LoginCommit, SealContext, StoreError, TotpFailures};

/// Checks a TOTP code on a `totp_required` (login) or `device_pending` (setup) challenge and
/// issues a session that passed the second step.
///
/// # Errors
/// [`FlowError::InvalidChallenge`], [`FlowError::WrongStep`], [`FlowError::InvalidCode`],
/// [`FlowError::CodeAlreadyUsed`], [`FlowError::TooManyAttempts`], [`FlowError::Conflict`].
#[instrument(skip_all, fields(user_id = tracing::field::Empty, outcome = tracing::field::Empty))]
pub async fn verify_totp(
    app: &App,
    token: SecretText,
    code: &SixDigitCode,
) -> Result<IssuedToken, FlowError> {
    let challenge = load(app, &token).await?;
    let span = tracing::Span::current();
    if !matches!(
        challenge.state,
        ChallengeState::TotpRequired | ChallengeState::DevicePending
    ) {
        return Err(FlowError::WrongStep {
            state: challenge.state,
        });
    }
    let now = app.clock.now();
    let unix = u64::try_from(now.timestamp())
        .map_err(|_| FlowError::Internal("clock before 1970".to_owned()))?;

    // The try is taken (and counted) before the code is checked, atomically with the lock, so
    // a burst of concurrent guesses gets no more checks than the limit allows. The same call
    // returns the user, so the step costs no separate read.
    let cfg = &app.config;
    let (attempt, user) = match app
        .store
        .take_totp_try(
            &challenge.user_id,
            now,
            cfg.totp_lock_after,
            cfg.totp_lock_for,
        )
        .await
    {
        Ok(taken) => taken,
        Err(StoreError::Locked(until)) => {
            span.record("outcome", "locked");
            return Err(FlowError::TooManyAttempts { retry_at: until });
        }
        Err(StoreError::NotFound) => return Err(FlowError::InvalidChallenge),
        Err(e) => return Err(e.into()),
    };
    let ctx = SealContext::totp(&user.account_id, &user.id);

    let result = if challenge.state == ChallengeState::TotpRequired {
        login(app, &challenge, &user, code, unix, ctx, attempt).await
    } else {
        enroll(app, &challenge, &user, code, unix, ctx, attempt).await
    };
    if let Err(err) = &result
        && !judged_wrong(err)
    {
        give_back(app, &user, attempt).await;
    }
    span.record("outcome", outcome_name(&result));
    result
}

/// Whether the try ended on a wrong code, the only outcome that counts toward the lock. A
/// right code that lost a race or was used already (a double submit, the same code on two
/// challenges), a challenge gone meanwhile, or a secret that could not be unsealed were no
/// guesses: counting them would lock out a user who just signed in, or everyone while KMS
/// fails. A success clears the count in its commit.
fn judged_wrong(err: &FlowError) -> bool {
    matches!(
        err,
        FlowError::InvalidCode | FlowError::TooManyAttempts { .. }
    )
}

/// Gives the try back; a failure to do so is logged, and the answer stands.
async fn give_back(app: &App, user: &User, attempt: TotpFailures) {
    if let Err(err) = app.store.give_back_totp_try(&user.id, attempt).await {
        warn!(error = %err, "the TOTP try could not be given back");
    }
}

fn outcome_name(result: &Result<IssuedToken, FlowError>) -> &'static str {
    match result {
        Ok(_) => "verified",
        Err(FlowError::InvalidCode) => "invalid_code",
        Err(FlowError::CodeAlreadyUsed) => "replay_refused",
        Err(FlowError::TooManyAttempts { .. }) => "locked",
        Err(_) => "error",
    }
}

async fn login(
    app: &App,
    challenge: &Challenge,
    user: &User,
    code: &SixDigitCode,
    unix: u64,
    ctx: SealContext<'_>,
    attempt: TotpFailures,
) -> Result<IssuedToken, FlowError> {
    // The device was removed (admin reset) since sign-in: this challenge cannot finish.
    let device = user.device.as_ref().ok_or(FlowError::InvalidChallenge)?;
    let key = app.sealer.unseal(&device.sealed_secret, ctx).await?;
    let step = check_code(app, user, &key, code, unix, attempt).await?;
    if step <= device.last_step {
        return Err(replay_refused(app, user).await);
    }
    let (issued, session) = new_session(app, user, true);
    let commit = LoginCommit {
        user_id: user.id.clone(),
        device_id: device.id.clone(),
        step,
        challenge: challenge.token_hash.clone(),
        challenge_version: challenge.version,
        session,
    };
    match app.store.commit_login(&commit).await {
        Ok(()) => {
            info!("login code accepted");
            Ok(issued)
        }
        Err(StoreError::StepReplayed) => Err(replay_refused(app, user).await),
        Err(StoreError::Conflict(_) | StoreError::NotFound) => Err(FlowError::InvalidChallenge),
        Err(e) => Err(e.into()),
    }
}

async fn enroll(
    app: &App,
    challenge: &Challenge,
    user: &User,
    code: &SixDigitCode,
    unix: u64,
    ctx: SealContext<'_>,
    attempt: TotpFailures,
) -> Result<IssuedToken, FlowError> {
    let pending = challenge
        .pending_device
        .as_ref()
        .ok_or_else(|| FlowError::Internal("device_pending without a secret".to_owned()))?;
    let key = app.sealer.unseal(&pending.sealed_secret, ctx).await?;
    let step = check_code(app, user, &key, code, unix, attempt).await?;

    let now = app.clock.now();
    let replaced = challenge.replaces.is_some();
    let (issued, session) = new_session(app, user, true);
    let commit = EnrollmentCommit {
        user_id: user.id.clone(),
        // The device the challenge began with, not the one read now: a newer device set up
        // meanwhile makes this older setup fail instead of replacing it.
        replaces: challenge.replaces.clone(),
        device: Device {
            id: pending.device_id.clone(),
            sealed_secret: pending.sealed_secret.clone(),
            enrolled_at: now,
            last_step: step,
        },
        challenge: challenge.token_hash.clone(),
        challenge_version: challenge.version,
        begun_at: challenge.created_at,
        session,
        revoke_other_sessions: replaced,
    };
    match app.store.commit_enrollment(&commit).await {
        Ok(()) => {}
        // The challenge was used meanwhile, or the user's device changed since it began: this
        // setup can never finish; the user starts again from sign-in.
        Err(StoreError::Conflict(_) | StoreError::NotFound) => {
            return Err(FlowError::InvalidChallenge);
        }
        Err(e) => return Err(e.into()),
    }

    let kind = if replaced {
        "device_replaced"
    } else {
        "device_enrolled"
    };
    let detail = json!({ "device_id": pending.device_id, "via": purpose_name(challenge.purpose) });
    record_event(
        app,
        &user.account_id,
        user.id.as_str(),
        Some(&user.id),
        kind,
        "ok",
        detail,
    )
    .await;
    let notice = mail::device_changed(&user.email, replaced, now, &app.config.issuer);
    if let Err(err) = app.mailer.send(&notice).await {
        // The device is active already; a lost notice must not undo the enrollment.
        warn!(user_id = %user.id, error = %err, "device notification not sent");
    }
    info!(replaced, "device enrolled");
    Ok(issued)
}

fn purpose_name(purpose: ChallengePurpose) -> &'static str {
    match purpose {
        ChallengePurpose::SignIn => "sign_in",
        ChallengePurpose::LostDevice => "lost_device",
        ChallengePurpose::ReplaceDevice => "my_account",
    }
}

/// The matched step, or the counted failure (and the lock if this failure reached the limit).
/// The matched step; otherwise the already counted try answers wrong code, or too many
/// attempts if it was the one that reached the limit.
async fn check_code(
    app: &App,
    user: &User,
    key: &TotpKey,
    code: &SixDigitCode,
    unix: u64,
    attempt: TotpFailures,
) -> Result<u64, FlowError> {
    if let Some(step) = totp::matching_step(key, code, unix) {
        return Ok(step);
    }
    match attempt.locked_until {
        Some(until) => {
            if attempt.failures == app.config.totp_lock_after {
                let detail = json!({ "failures": attempt.failures, "locked_until": until });
                let kind = "totp_lockout";
                record_event(
                    app,
                    &user.account_id,
                    "system",
                    Some(&user.id),
                    kind,
                    "locked",
                    detail,
                )
                .await;
            }
            Err(FlowError::TooManyAttempts { retry_at: until })
        }
        None => Err(FlowError::InvalidCode),
    }
}

async fn replay_refused(app: &App, user: &User) -> FlowError {
    let detail = json!({ "step_seconds": STEP_SECONDS });
    record_event(
        app,
        &user.account_id,
        "system",
        Some(&user.id),
        "totp_replay_refused",
        "refused",
        detail,
    )
    .await;
    FlowError::CodeAlreadyUsed
}
