//! Types that hold secrets: redacted `Debug`, no `Display`, wiped on drop, compared in constant time.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a TOTP key: 160 bits, as RFC 4226 recommends.
pub const TOTP_KEY_LEN: usize = 20;

/// A user's TOTP shared key in plaintext. Lives only in memory, between unsealing and use.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TotpKey([u8; TOTP_KEY_LEN]);

impl TotpKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; TOTP_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Wraps a key of any length read back from a sealer; `None` unless it is 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; TOTP_KEY_LEN] = bytes.try_into().ok()?;
        Some(Self(arr))
    }

    /// The key bytes, for HMAC and sealing only.
    pub fn expose(&self) -> &[u8; TOTP_KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpKey(_)")
    }
}

/// A short-lived text secret from a request: a password, a code or a token.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretText(String);

impl SecretText {
    /// Wraps `text`.
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The text, for hashing or checking only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `other` in constant time (for equal lengths).
    pub fn ct_eq(&self, other: &str) -> bool {
        self.0.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(_)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let key = TotpKey::from_bytes(*b"12345678901234567890");
        assert_eq!(format!("{key:?}"), "TotpKey(_)");
        let text = SecretText::new("hunter2".to_owned());
        assert!(!format!("{text:?}").contains("hunter2"));
        assert!(text.ct_eq("hunter2"));
        assert!(!text.ct_eq("hunter3"));
    }
}
