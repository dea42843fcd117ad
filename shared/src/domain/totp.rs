//! TOTP as every authenticator app does it: RFC 6238, HMAC-SHA1, six digits, 30-second steps,
//! one step of skew either way. The matched step is returned so the caller can refuse any step
//! at or below the last accepted one (RFC 6238 §5.2); totp-rs does not remember steps.
//!
//! totp-rs's `Totp` prints its secret in `Debug`/`Display`; it is built here, used and dropped
//! inside each function and never leaves this module.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::domain::code::SixDigitCode;
use crate::domain::secret::TotpKey;

/// Seconds in one TOTP step.
pub const STEP_SECONDS: u64 = 30;
/// Digits in a code.
pub const DIGITS: u8 = 6;
/// Steps accepted on either side of the current one.
pub const SKEW_STEPS: u16 = 1;

/// Why TOTP material could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// totp-rs refused the parameters (its message is dropped: it can carry the secret).
    #[error("TOTP parameters were refused")]
    Parameters,
    /// The QR code could not be rendered.
    #[error("QR code rendering failed")]
    Qr,
}

fn build(key: &[u8], digits: u8, label: Option<(&str, &str)>) -> Result<Totp, TotpError> {
    let mut builder = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits)
        .with_skew(SKEW_STEPS)
        .with_step_duration(STEP_SECONDS)
        .with_secret(Secret::new(key.to_vec().into_boxed_slice()));
    if let Some((issuer, account)) = label {
        builder = builder
            .with_issuer(Some(issuer.to_owned()))
            .with_account_name(account.to_owned());
    }
    builder.build().map_err(|_| TotpError::Parameters)
}

/// The step (`unix / 30`) whose code matches `code`, looking at the previous, current and next
/// step around `unix_seconds`; `None` when none matches.
pub fn matching_step(key: &TotpKey, code: &SixDigitCode, unix_seconds: u64) -> Option<u64> {
    let totp = build(key.expose(), DIGITS, None).ok()?;
    totp.check(code.expose(), unix_seconds)
}

/// The code for `unix_seconds` with `digits` digits (6 to 8). For vectors and tests.
///
/// # Errors
/// [`TotpError::Parameters`] for a key under 128 bits or a digit count out of range.
pub fn code_at(key: &[u8], digits: u8, unix_seconds: u64) -> Result<String, TotpError> {
    Ok(build(key, digits, None)?.generate(unix_seconds).to_string())
}

/// The manual-entry key: RFC 4648 base32 without padding, and the same grouped by four.
pub fn manual_key(key: &TotpKey) -> (String, String) {
    let plain = data_encoding_base32(key.expose());
    let grouped = plain
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    (plain, grouped)
}

/// The Key URI (`otpauth://totp/Issuer:account?secret=…&issuer=…`) with label and issuer
/// percent-encoded, and a PNG QR code of it as a `data:` URI.
///
/// # Errors
/// [`TotpError`] when the issuer or account holds a colon, or the QR code cannot be drawn.
pub fn provisioning(
    key: &TotpKey,
    issuer: &str,
    account: &str,
) -> Result<(String, String), TotpError> {
    let totp = build(key.expose(), DIGITS, Some((issuer, account)))?;
    let uri = totp.to_url().map_err(|_| TotpError::Parameters)?;
    let png = totp.to_qr_png().map_err(|_| TotpError::Qr)?;
    Ok((
        uri,
        format!("data:image/png;base64,{}", STANDARD.encode(png)),
    ))
}

/// RFC 4648 base32, upper case, no padding.
fn data_encoding_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let idx = ((buffer >> bits) & 31) as usize;
            out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
        }
    }
    if bits > 0 {
        let idx = ((buffer << (5 - bits)) & 31) as usize;
        out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
    }
    out
}

#[cfg(test)]
mod tests;
