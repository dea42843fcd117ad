//! Challenge helpers: creating one, loading one for a step, moving it on with compare-and-swap.

use crate::domain::model::{Challenge, ChallengePurpose, ChallengeState, User};
use crate::domain::secret::SecretText;
use crate::domain::token::{TokenHash, new_token};
use crate::flow::{App, FlowError, IssuedToken};
use crate::ports::StoreError;

/// Stores a new challenge for `user` at `state` and returns its token.
///
/// # Errors
/// A store fault.
pub(crate) async fn new_challenge(
    app: &App,
    user: &User,
    purpose: ChallengePurpose,
    state: ChallengeState,
) -> Result<IssuedToken, FlowError> {
    let now = app.clock.now();
    let token = new_token(app.rng.as_ref());
    let challenge = Challenge {
        token_hash: TokenHash::of(&token),
        user_id: user.id.clone(),
        account_id: user.account_id.clone(),
        purpose,
        state,
        email_code: None,
        emails_sent: 0,
        last_email_at: None,
        pending_device: None,
        replaces: user.device.as_ref().map(|d| d.id.clone()),
        created_at: now,
        expires_at: now + app.config.challenge_ttl,
        version: 0,
    };
    app.store.put_challenge(&challenge).await?;
    Ok(IssuedToken {
        token,
        expires_at: challenge.expires_at,
    })
}

/// Loads the live challenge behind `token`; unknown and expired look the same. Records its
/// user on the current span's `user_id` field, which every step's span declares.
///
/// # Errors
/// [`FlowError::InvalidChallenge`] or a store fault.
pub(crate) async fn load(app: &App, token: &SecretText) -> Result<Challenge, FlowError> {
    let hash = TokenHash::of(token);
    let challenge = app
        .store
        .get_challenge(&hash, app.clock.now())
        .await?
        .ok_or(FlowError::InvalidChallenge)?;
    tracing::Span::current().record("user_id", tracing::field::display(&challenge.user_id));
    Ok(challenge)
}

/// Writes `next` over `current` if nobody moved it meanwhile.
///
/// # Errors
/// [`FlowError::Conflict`] if another request won; a store fault.
pub(crate) async fn advance(
    app: &App,
    current: &Challenge,
    mut next: Challenge,
) -> Result<Challenge, FlowError> {
    next.version = current
        .version
        .checked_add(1)
        .ok_or_else(|| FlowError::Internal("challenge version overflow".to_owned()))?;
    match app.store.update_challenge(current.version, &next).await {
        Ok(()) => Ok(next),
        Err(StoreError::Conflict(_) | StoreError::NotFound) => Err(FlowError::Conflict),
        Err(e) => Err(e.into()),
    }
}

/// The token handed back for a challenge the client already holds.
pub(crate) fn reissue(token: SecretText, challenge: &Challenge) -> IssuedToken {
    IssuedToken {
        token,
        expires_at: challenge.expires_at,
    }
}
