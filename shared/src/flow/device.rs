//! Link device: make the TOTP secret (only after the email is confirmed) and show it for the app.

use tracing::{info, instrument};

use crate::domain::ids::DeviceId;
use crate::domain::model::{ChallengeState, PendingDevice};
use crate::domain::secret::{SecretText, TOTP_KEY_LEN, TotpKey};
use crate::domain::totp;
use crate::flow::challenge::{advance, load, reissue};
use crate::flow::{App, FlowError, IssuedToken};
use crate::ports::SealContext;

/// What the client shows so the user can add the account to an authenticator app.
#[derive(Debug)]
pub struct DeviceSetup {
    /// The same challenge, now at `device_pending`.
    pub challenge: IssuedToken,
    /// Base32 key without padding, for manual entry.
    pub manual_key: SecretText,
    /// The same, grouped by four for reading aloud or typing.
    pub manual_key_grouped: SecretText,
    /// `otpauth://totp/…` Key URI.
    pub otpauth_uri: SecretText,
    /// PNG QR code of the URI as a `data:` URI.
    pub qr_code_png: SecretText,
    /// Issuer label.
    pub issuer: String,
    /// Account label (the user's email).
    pub account_name: String,
}

/// Creates the pending secret, or returns the same one if it exists already, so a retry or a
/// second tab never invalidates a QR code the user has just scanned.
///
/// # Errors
/// [`FlowError::InvalidChallenge`], [`FlowError::WrongStep`] (email not confirmed yet),
/// [`FlowError::Conflict`], or a fault.
#[instrument(skip_all, fields(user_id = tracing::field::Empty, outcome = tracing::field::Empty))]
pub async fn link_device(app: &App, token: SecretText) -> Result<DeviceSetup, FlowError> {
    let challenge = load(app, &token).await?;
    let span = tracing::Span::current();
    let user = app
        .store
        .get_user(&challenge.user_id)
        .await?
        .ok_or(FlowError::InvalidChallenge)?;
    let ctx = SealContext::totp(&user.account_id, &user.id);

    let (key, challenge) = match (challenge.state, challenge.pending_device.as_ref()) {
        (ChallengeState::DevicePending, Some(pending)) => {
            let key = app.sealer.unseal(&pending.sealed_secret, ctx).await?;
            span.record("outcome", "same_pending");
            (key, challenge)
        }
        (ChallengeState::EmailVerified, _) => {
            let mut bytes = [0u8; TOTP_KEY_LEN];
            app.rng.fill(&mut bytes);
            let key = TotpKey::from_bytes(bytes);
            zeroize::Zeroize::zeroize(&mut bytes);
            let sealed = app.sealer.seal(&key, ctx).await?;
            let mut next = challenge.clone();
            next.state = ChallengeState::DevicePending;
            next.pending_device = Some(PendingDevice {
                device_id: DeviceId::generate(app.rng.as_ref()),
                sealed_secret: sealed,
                created_at: app.clock.now(),
            });
            let next = advance(app, &challenge, next).await?;
            span.record("outcome", "created");
            (key, next)
        }
        (state, _) => return Err(FlowError::WrongStep { state }),
    };

    let (plain, grouped) = totp::manual_key(&key);
    let issuer = app.config.issuer.clone();
    let account_name = user.email.as_str().to_owned();
    let (uri, qr) = totp::provisioning(&key, &issuer, &account_name)
        .map_err(|e| FlowError::Internal(format!("provisioning: {e}")))?;
    info!("device secret ready");
    Ok(DeviceSetup {
        challenge: reissue(token, &challenge),
        manual_key: SecretText::new(plain),
        manual_key_grouped: SecretText::new(grouped),
        otpauth_uri: SecretText::new(uri),
        qr_code_png: SecretText::new(qr),
        issuer,
        account_name,
    })
}
