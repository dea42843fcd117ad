//! KMS sealer: the production SecretSealer, which encrypts TOTP keys with AWS KMS.
//!
//! Sealing is one KMS `Encrypt` of the 20 key bytes under a symmetric KMS key, with the
//! encryption context `{"account_id", "user_id", "purpose"}` taken from the
//! [`SealContext`]. KMS binds that context to the ciphertext as authenticated data, so a
//! ciphertext copied to another user or account fails to decrypt, and CloudTrail records the
//! context of every call. A sealed secret is `kms1:` followed by the standard, padded base64 of
//! the KMS ciphertext blob; the prefix names the format, so a later format is told apart rather
//! than sent to KMS.
//!
//! Unsealing is one KMS `Decrypt` with the same context and the configured key id (KMS then
//! refuses a ciphertext of any other key). A ciphertext KMS calls invalid or of another key, a
//! wrong prefix, bad base64 or a plaintext that is not 20 bytes is [`SealError::Refused`]; any
//! other failure (access denied, disabled key, throttling, network) is
//! [`SealError::Unavailable`] with the KMS error code and message only. Neither plaintext nor
//! ciphertext is ever logged.
//!
//! Limitation: the key bytes also pass through buffers this crate does not own, the SDK's
//! request and response bodies (base64 in JSON) and its `Blob` of the plaintext given to
//! `Encrypt`; those are freed without being wiped. The copies made here are wiped. This matters
//! only to an attacker who can read the process's freed memory.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

use crate::domain::model::SealedSecret;
use crate::domain::secret::TotpKey;
use crate::ports::{SealContext, SealError, SecretSealer};

/// Prefix of every sealed secret this sealer writes; a new format gets a new prefix.
const FORMAT_PREFIX: &str = "kms1:";

/// Seals TOTP keys with a symmetric AWS KMS key.
#[derive(Clone)]
pub struct KmsSealer {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl std::fmt::Debug for KmsSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsSealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl KmsSealer {
    /// A sealer that encrypts under `key_id` (key id, key ARN, alias name or alias ARN) with
    /// `client`. Unsealing passes the same `key_id`, so with an alias it must keep pointing at
    /// the key that sealed.
    pub fn new(client: aws_sdk_kms::Client, key_id: String) -> Self {
        Self { client, key_id }
    }
}

#[async_trait]
impl SecretSealer for KmsSealer {
    /// Encrypts `key` with KMS, bound to `ctx` as encryption context.
    ///
    /// # Errors
    /// [`SealError::Unavailable`] when KMS fails or answers without a ciphertext; the detail
    /// holds the KMS error code and message.
    async fn seal(&self, key: &TotpKey, ctx: SealContext<'_>) -> Result<SealedSecret, SealError> {
        let output = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(key.expose().to_vec()))
            .set_encryption_context(Some(encryption_context(&ctx)))
            .send()
            .await
            .map_err(|err| SealError::Unavailable(sdk_error_detail("Encrypt", &err)))?;

        let blob = output.ciphertext_blob().ok_or_else(|| {
            SealError::Unavailable("KMS Encrypt answered without a ciphertext".to_owned())
        })?;
        Ok(SealedSecret(format!(
            "{FORMAT_PREFIX}{}",
            BASE64.encode(blob.as_ref())
        )))
    }

    /// Decrypts `sealed` with KMS under the configured key and `ctx`.
    ///
    /// # Errors
    /// [`SealError::Refused`] for another format, bad base64, a ciphertext KMS calls invalid
    /// (altered, or sealed under another context) or of another key, and a plaintext that is
    /// not a 20-byte TOTP key; [`SealError::Unavailable`] for any other KMS failure.
    async fn unseal(
        &self,
        sealed: &SealedSecret,
        ctx: SealContext<'_>,
    ) -> Result<TotpKey, SealError> {
        let ciphertext = parse_sealed(sealed)?;

        let result = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(Some(encryption_context(&ctx)))
            .send()
            .await;
        let mut output = match result {
            Ok(output) => output,
            Err(err) if is_refusal(&err) => {
                tracing::warn!(
                    account_id = %ctx.account_id.as_str(),
                    user_id = %ctx.user_id.as_str(),
                    code = err.code().unwrap_or("-"),
                    "KMS refused a sealed secret"
                );
                return Err(SealError::Refused);
            }
            Err(err) => return Err(SealError::Unavailable(sdk_error_detail("Decrypt", &err))),
        };

        // Taking the blob out of the output lets this copy of the key bytes be wiped.
        let plaintext = output
            .plaintext
            .take()
            .map(|blob| Zeroizing::new(blob.into_inner()))
            .ok_or_else(|| {
                SealError::Unavailable("KMS Decrypt answered without a plaintext".to_owned())
            })?;
        TotpKey::from_slice(&plaintext).ok_or(SealError::Refused)
    }
}

/// The ciphertext blob inside `sealed`, or [`SealError::Refused`] when it is not in this
/// sealer's format.
fn parse_sealed(sealed: &SealedSecret) -> Result<Vec<u8>, SealError> {
    let encoded = sealed
        .0
        .strip_prefix(FORMAT_PREFIX)
        .ok_or(SealError::Refused)?;
    let ciphertext = BASE64
        .decode(encoded.as_bytes())
        .map_err(|_| SealError::Refused)?;
    if ciphertext.is_empty() {
        return Err(SealError::Refused);
    }
    Ok(ciphertext)
}

/// The KMS encryption context for `ctx`.
fn encryption_context(ctx: &SealContext<'_>) -> HashMap<String, String> {
    HashMap::from([
        ("account_id".to_owned(), ctx.account_id.as_str().to_owned()),
        ("user_id".to_owned(), ctx.user_id.as_str().to_owned()),
        ("purpose".to_owned(), ctx.purpose.to_owned()),
    ])
}

/// Whether KMS said the ciphertext does not open: altered, of another context or another key.
fn is_refusal<R>(err: &SdkError<DecryptError, R>) -> bool {
    err.as_service_error().is_some_and(|service| {
        service.is_invalid_ciphertext_exception() || service.is_incorrect_key_exception()
    })
}

/// The error code and message of a failed KMS `operation`, or what kind of failure it was when
/// KMS never answered. Nothing of the request is included.
fn sdk_error_detail<E: ProvideErrorMetadata, R>(operation: &str, err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("unknown service error");
            match err.message() {
                Some(message) if !message.is_empty() => {
                    format!("KMS {operation} {code}: {message}")
                }
                _ => format!("KMS {operation} {code}"),
            }
        }
        SdkError::TimeoutError(_) => format!("KMS {operation} timed out"),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            format!("KMS {operation} connection timed out")
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => {
            format!("KMS {operation} connection failed (I/O)")
        }
        SdkError::DispatchFailure(_) => format!("KMS {operation} could not be dispatched"),
        SdkError::ResponseError(_) => format!("KMS {operation} answer could not be read"),
        SdkError::ConstructionFailure(_) => format!("KMS {operation} request could not be built"),
        _ => format!("KMS {operation} failed"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;
    use crate::domain::ids::{AccountId, UserId};

    #[test]
    fn the_context_names_account_user_and_purpose() {
        let account = AccountId::from_raw("acc-1");
        let user = UserId::from_raw("usr-2");
        let context = encryption_context(&SealContext::totp(&account, &user));
        assert_eq!(context.len(), 3);
        assert_eq!(context["account_id"], "acc-1");
        assert_eq!(context["user_id"], "usr-2");
        assert_eq!(context["purpose"], "totp");
    }

    #[test]
    fn only_this_format_is_parsed() {
        let ok = SealedSecret(format!("kms1:{}", BASE64.encode(b"blob")));
        assert_eq!(parse_sealed(&ok).unwrap(), b"blob");

        for bad in [
            "",
            "kms1:",
            "kms1:not base64!",
            "kms2:YmxvYg==",
            "YmxvYg==",
            "AXNlYWxlZA==",
        ] {
            let refused = parse_sealed(&SealedSecret(bad.to_owned()));
            assert!(matches!(refused, Err(SealError::Refused)), "{bad:?}");
        }
    }
}
