//! Bearer tokens (challenges, sessions) and emailed codes: made from injected randomness, stored
//! only as hashes.
//!
//! A token is 256 random bits; its SHA-256 is the storage key, so a copy of the table cannot be
//! replayed as a token. An emailed code is stored as HMAC-SHA256 keyed by the challenge token,
//! which the table never holds, so the six digits cannot be brute-forced from the table alone.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::ids::hex;
use crate::domain::secret::SecretText;
use crate::ports::Random;

/// The SHA-256 (hex) of a bearer token: how challenges and sessions are keyed in storage.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &SecretText) -> Self {
        Self(hex(&Sha256::digest(token.expose().as_bytes())))
    }

    /// Wraps a hash read back from storage.
    pub fn from_raw(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The hash as hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new bearer token: 256 bits from `rng`, base64url without padding.
pub fn new_token(rng: &dyn Random) -> SecretText {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    SecretText::new(token)
}

/// A new six-digit code, uniform over 000000..=999999 (rejection sampling, no modulo bias).
pub fn new_email_code(rng: &dyn Random) -> SecretText {
    // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
    const LIMIT: u32 = 4_294_000_000;
    loop {
        let mut bytes = [0u8; 4];
        rng.fill(&mut bytes);
        let n = u32::from_le_bytes(bytes);
        if n < LIMIT {
            return SecretText::new(format!("{:06}", n % 1_000_000));
        }
    }
}

/// The stored form of an emailed code: HMAC-SHA256 of the code keyed by the challenge token.
pub fn email_code_hash(challenge_token: &SecretText, code: &str) -> String {
    hex(&email_code_mac(challenge_token, code))
}

/// Whether `code` matches `stored` (from [`email_code_hash`]), in constant time.
pub fn email_code_matches(challenge_token: &SecretText, code: &str, stored: &str) -> bool {
    let computed = hex(&email_code_mac(challenge_token, code));
    computed.as_bytes().ct_eq(stored.as_bytes()).into()
}

fn email_code_mac(challenge_token: &SecretText, code: &str) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps clippy's
    // no-panic rule without an `expect`.
    match Hmac::<Sha256>::new_from_slice(challenge_token.expose().as_bytes()) {
        Ok(mut mac) => {
            mac.update(b"twostep email code v1\0");
            mac.update(code.as_bytes());
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SeededRandom;

    #[test]
    fn tokens_are_256_bit_and_hashes_are_stable() {
        let rng = SeededRandom::new(7);
        let t = new_token(&rng);
        assert_eq!(t.expose().len(), 43);
        assert_eq!(TokenHash::of(&t), TokenHash::of(&t.clone()));
        assert_ne!(TokenHash::of(&t), TokenHash::of(&new_token(&rng)));
    }

    #[test]
    fn email_codes_are_six_digits_and_checked_by_mac() {
        let rng = SeededRandom::new(1);
        let token = new_token(&rng);
        for _ in 0..200 {
            let code = new_email_code(&rng);
            assert_eq!(code.expose().len(), 6);
            let stored = email_code_hash(&token, code.expose());
            assert!(email_code_matches(&token, code.expose(), &stored));
            assert!(!email_code_matches(
                &new_token(&rng),
                code.expose(),
                &stored
            ));
        }
    }
}
