//! Passwords: argon2id at OWASP's parameters, a size cap before hashing, a dummy hash for
//! unknown emails so that timing does not tell them apart.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::secret::SecretText;
use crate::ports::Random;

/// Longest password accepted, in bytes; checked before any hashing on every path.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Over [`MAX_PASSWORD_BYTES`].
    #[error("password is longer than 1024 bytes")]
    TooLong,
    /// Under [`MIN_PASSWORD_CHARS`] (only when setting one).
    #[error("password must be at least 12 characters")]
    TooShort,
    /// The hashing library failed (bad stored hash, allocation).
    #[error("password hashing failed")]
    Hashing,
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    // OWASP: argon2id, m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19_456, 2, 1, None).map_err(|_| PasswordError::Hashing)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a new password into a PHC string.
///
/// # Errors
/// [`PasswordError::TooShort`] / [`PasswordError::TooLong`] for a bad length,
/// [`PasswordError::Hashing`] if argon2 fails.
pub fn hash_password(password: &SecretText, rng: &dyn Random) -> Result<String, PasswordError> {
    let pw = password.expose();
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    hash_unchecked(pw, rng)
}

fn hash_unchecked(pw: &str, rng: &dyn Random) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Hashing)?;
    let hash = hasher()?
        .hash_password(pw.as_bytes(), &salt)
        .map_err(|_| PasswordError::Hashing)?;
    Ok(hash.to_string())
}

/// A hash of a random password, verified against when the email is unknown so that both cases
/// cost the same.
///
/// # Errors
/// [`PasswordError::Hashing`] if argon2 fails.
pub fn dummy_hash(rng: &dyn Random) -> Result<String, PasswordError> {
    let mut bytes = [0u8; 24];
    rng.fill(&mut bytes);
    hash_unchecked(&crate::domain::ids::hex(&bytes), rng)
}

/// Checks `password` against a stored PHC hash. Call it with [`dummy_hash`] for unknown users.
///
/// # Errors
/// [`PasswordError::TooLong`] before hashing for oversized input; [`PasswordError::Hashing`]
/// for an unreadable stored hash.
pub fn verify_password(password: &SecretText, stored: &str) -> Result<bool, PasswordError> {
    let pw = password.expose();
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let parsed = PasswordHash::new(stored).map_err(|_| PasswordError::Hashing)?;
    Ok(hasher()?.verify_password(pw.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SeededRandom;

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let rng = SeededRandom::new(3);
        let pw = SecretText::new("correct horse battery".to_owned());
        let stored = hash_password(&pw, &rng).unwrap_or_default();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify_password(&pw, &stored).unwrap_or(false));
        let wrong = SecretText::new("correct horse battery!".to_owned());
        assert!(!verify_password(&wrong, &stored).unwrap_or(true));
    }

    #[test]
    fn caps_size_before_hashing() {
        let rng = SeededRandom::new(3);
        let huge = SecretText::new("x".repeat(MAX_PASSWORD_BYTES + 1));
        assert!(matches!(
            hash_password(&huge, &rng),
            Err(PasswordError::TooLong)
        ));
        assert!(matches!(
            verify_password(&huge, "$argon2id$junk"),
            Err(PasswordError::TooLong)
        ));
        let short = SecretText::new("short".to_owned());
        assert!(matches!(
            hash_password(&short, &rng),
            Err(PasswordError::TooShort)
        ));
    }
}
