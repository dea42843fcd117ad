//! Six-digit codes as typed by people: ASCII white space stripped, then exactly six ASCII digits.

use crate::domain::secret::SecretText;

/// A code in canonical form: six ASCII digits.
#[derive(Debug, Clone)]
pub struct SixDigitCode(SecretText);

/// Why a submitted code was refused before any check against a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("code must be six digits, like \"123456\"")]
pub struct CodeFormatError;

impl SixDigitCode {
    /// Strips ASCII white space from `raw` and requires exactly six ASCII digits.
    ///
    /// # Errors
    /// [`CodeFormatError`] when anything else remains.
    pub fn parse(raw: &str) -> Result<Self, CodeFormatError> {
        // Bounded before any copy: a code field holding megabytes is not a code.
        if raw.len() > 64 {
            return Err(CodeFormatError);
        }
        let digits: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeFormatError);
        }
        Ok(Self(SecretText::new(digits)))
    }

    /// The six digits.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ascii_whitespace() {
        let code = SixDigitCode::parse(" 123 456\t\n").map(|c| c.expose().to_owned());
        assert_eq!(code, Ok("123456".to_owned()));
        assert_eq!(
            SixDigitCode::parse("012345").map(|c| c.expose().to_owned()),
            Ok("012345".into())
        );
    }

    #[test]
    fn refuses_other_lengths_and_characters() {
        for raw in [
            "12345",
            "1234567",
            "12345a",
            "１２３４５６",
            "",
            "123-456",
            "123\u{a0}456",
        ] {
            assert!(SixDigitCode::parse(raw).is_err(), "{raw:?}");
        }
    }
}
