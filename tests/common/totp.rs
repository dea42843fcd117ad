//! An independent TOTP (RFC 6238 / RFC 4226) written from the RFCs for the tests, on the hmac and
//! sha1 crates, so the product's own TOTP code is checked against something it does not share.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The six-digit code for `key` (raw bytes) at time step `counter`.
pub fn hotp(key: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let bin = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    format!("{:06}", bin % 1_000_000)
}

/// Decodes an unpadded RFC 4648 base32 manual key.
pub fn decode_key(manual_key: &str) -> Vec<u8> {
    let cleaned: String = manual_key.chars().filter(|c| !c.is_whitespace()).collect();
    data_encoding::BASE32_NOPAD
        .decode(cleaned.as_bytes())
        .unwrap()
}

/// The code for `unix` seconds (30-second steps).
pub fn code_at(key: &[u8], unix: u64) -> String {
    hotp(key, unix / 30)
}

#[test]
fn matches_rfc4226_vectors() {
    let key = b"12345678901234567890";
    assert_eq!(hotp(key, 0), "755224");
    assert_eq!(hotp(key, 9), "520489");
}
