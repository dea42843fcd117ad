//! The SecretSealer port: encrypts TOTP keys at rest, bound to their account and user.

use async_trait::async_trait;

use crate::domain::ids::{AccountId, UserId};
use crate::domain::model::SealedSecret;
use crate::domain::secret::TotpKey;

/// What a ciphertext is bound to (KMS encryption context, AES-GCM associated data).
#[derive(Clone, Copy, Debug)]
pub struct SealContext<'a> {
    /// Owner's account.
    pub account_id: &'a AccountId,
    /// Owner.
    pub user_id: &'a UserId,
    /// What the secret is for; always `"totp"` today.
    pub purpose: &'static str,
}

impl<'a> SealContext<'a> {
    /// The context for a user's TOTP key.
    pub fn totp(account_id: &'a AccountId, user_id: &'a UserId) -> Self {
        Self {
            account_id,
            user_id,
            purpose: "totp",
        }
    }
}

/// Why sealing or unsealing failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The ciphertext does not open under this context: moved, altered or from another key.
    #[error("ciphertext refused for this context")]
    Refused,
    /// The key service failed; the detail is for logs only.
    #[error("sealer unavailable: {0}")]
    Unavailable(String),
}

/// Seals and unseals TOTP keys.
#[async_trait]
pub trait SecretSealer: Send + Sync {
    /// Encrypts `key` bound to `ctx`.
    ///
    /// # Errors
    /// [`SealError::Unavailable`] when the key service fails.
    async fn seal(&self, key: &TotpKey, ctx: SealContext<'_>) -> Result<SealedSecret, SealError>;

    /// Decrypts `sealed`, which must have been sealed with the same `ctx`.
    ///
    /// # Errors
    /// [`SealError::Refused`] for a ciphertext of another context or altered;
    /// [`SealError::Unavailable`] when the key service fails.
    async fn unseal(
        &self,
        sealed: &SealedSecret,
        ctx: SealContext<'_>,
    ) -> Result<TotpKey, SealError>;
}
