//! RFC 6238 Appendix B and RFC 4226 Appendix D vectors through the product's own TOTP path.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use serde_json::Value;

const VECTORS: &str = include_str!("../../../tests/data/otp-vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

#[test]
fn rfc6238_sha1_rows_at_eight_and_six_digits() {
    let v = vectors();
    let seed = v["totp"]["seeds_ascii"]["SHA1"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec();
    let cases = v["totp"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    let mut saw_far_future = false;
    for case in cases {
        let time = case["time"].as_u64().unwrap();
        let eight = case["SHA1"].as_str().unwrap();
        assert_eq!(code_at(&seed, 8, time).unwrap(), eight, "t={time}");
        // A six-digit code is the same truncation modulo 10^6: the last six digits.
        assert_eq!(code_at(&seed, 6, time).unwrap(), eight[2..], "t={time}");
        saw_far_future |= time == 20_000_000_000;
    }
    assert!(saw_far_future);
}

#[test]
fn rfc4226_hotp_vectors_as_totp_steps() {
    let v = vectors();
    let seed = v["hotp"]["seed_ascii"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec();
    let codes = v["hotp"]["codes_by_counter"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    for (counter, expected) in codes.iter().enumerate() {
        let time = counter as u64 * STEP_SECONDS;
        assert_eq!(code_at(&seed, 6, time).unwrap(), expected.as_str().unwrap());
    }
}

#[test]
fn matching_step_accepts_one_step_either_way_and_no_further() {
    let key = TotpKey::from_slice(b"12345678901234567890").unwrap();
    let now = 20_000_000_000u64;
    let step = now / STEP_SECONDS;
    for (offset, expect) in [
        (-2i64, None),
        (-1, Some(step - 1)),
        (0, Some(step)),
        (1, Some(step + 1)),
        (2, None),
    ] {
        let at = (now as i64 + offset * STEP_SECONDS as i64) as u64;
        let code = SixDigitCode::parse(&code_at(key.expose(), 6, at).unwrap()).unwrap();
        assert_eq!(matching_step(&key, &code, now), expect, "offset {offset}");
    }
}

#[test]
fn manual_key_is_unpadded_base32_grouped_by_four() {
    let key = TotpKey::from_slice(b"12345678901234567890").unwrap();
    let (plain, grouped) = manual_key(&key);
    assert_eq!(plain, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_eq!(grouped, "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
}

#[test]
fn provisioning_uri_encodes_label_and_issuer() {
    let key = TotpKey::from_slice(b"12345678901234567890").unwrap();
    let (uri, qr) = provisioning(&key, "Acme Support", "ana+1@example.com").unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Acme%20Support:ana%2B1%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
    assert!(uri.contains("issuer=Acme%20Support"));
    assert!(qr.starts_with("data:image/png;base64,iVBOR"));
}
