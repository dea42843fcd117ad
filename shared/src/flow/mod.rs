//! The use cases, one function per route, and the state machine they enforce.
//!
//! ```text
//!  sign_in ──► TotpRequired ──verify_totp──► session (second step passed)
//!     │             │ send_verification_email ("set up a new mobile device": LostDevice)
//!     ▼             ▼
//!  EnrollmentRequired ─send─► EmailSent ─confirm─► EmailVerified ─link─► DevicePending
//!     ▲                        │  ▲ resend                                   │ verify_totp
//!     │                        └──┘                                          ▼ (setup code)
//!  reset_device (My Account, fresh second step: ReplaceDevice)     device active, session
//! ```
//!
//! Every transition is a compare-and-swap on the challenge's version, so two requests on one
//! challenge cannot both move it. A challenge belongs to one user and expires; a secret exists
//! only after the email is confirmed; a device replaces the old one only when its setup code
//! verifies, atomically with the challenge's end and the new session.

mod account;
pub mod admin;
mod audit;
mod challenge;
mod device;
mod email_step;
mod error;
pub mod job;
mod mail;
pub mod ops;
pub mod policy;
mod sign_in;
mod verify;

use std::sync::Arc;

pub use account::{Authenticated, MeView, authenticate, me, reset_device, sign_out};
pub use audit::record as record_event;
pub use device::{DeviceSetup, link_device};
pub use email_step::{EmailSent, confirm_email_code, send_verification_email};
pub use error::FlowError;
pub use sign_in::{ClientInfo, SignInOutcome, sign_in};
pub use verify::verify_totp;

use crate::config::Config;
use crate::domain::model::Session;
use crate::domain::password;
use crate::domain::secret::SecretText;
use crate::ports::{Clock, Mailer, Random, SecretSealer, Store};

/// Everything a use case needs: the ports, the config and the dummy password hash.
pub struct App {
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// TOTP key encryption.
    pub sealer: Arc<dyn SecretSealer>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub rng: Arc<dyn Random>,
    /// Lifetimes and limits.
    pub config: Config,
    dummy_hash: String,
}

impl App {
    /// Wires the ports together; computes the dummy password hash once.
    ///
    /// # Errors
    /// [`FlowError::Internal`] if the dummy hash cannot be computed.
    pub fn new(
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        sealer: Arc<dyn SecretSealer>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
        config: Config,
    ) -> Result<Self, FlowError> {
        let dummy_hash = password::dummy_hash(rng.as_ref())
            .map_err(|e| FlowError::Internal(format!("dummy hash: {e}")))?;
        Ok(Self {
            store,
            mailer,
            sealer,
            clock,
            rng,
            config,
            dummy_hash,
        })
    }
}

/// A bearer token handed to the client with its expiry.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token; shown to the client once, never stored or logged.
    pub token: SecretText,
    /// When it stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A new session for `user` (token and stored record).
fn new_session(
    app: &App,
    user: &crate::domain::model::User,
    second_step: bool,
) -> (IssuedToken, Session) {
    let now = app.clock.now();
    let token = crate::domain::token::new_token(app.rng.as_ref());
    let session = Session {
        token_hash: crate::domain::token::TokenHash::of(&token),
        user_id: user.id.clone(),
        account_id: user.account_id.clone(),
        created_at: now,
        expires_at: now + app.config.session_ttl,
        second_step_at: second_step.then_some(now),
    };
    (
        IssuedToken {
            token,
            expires_at: session.expires_at,
        },
        session,
    )
}

/// Runs argon2 off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FlowError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FlowError::Internal(format!("blocking task: {e}")))
}
