//! Email addresses as the service compares them: trimmed, case-folded, domain in IDNA ASCII form.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest address accepted (RFC 5321 path limit).
const MAX_LEN: usize = 254;

/// A normalised email address; two spellings of one mailbox compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

/// Why an address was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    /// Not of the form `local@domain`, or with characters the service does not accept.
    #[error("email must look like name@example.com")]
    Malformed,
    /// Longer than 254 characters.
    #[error("email is longer than 254 characters")]
    TooLong,
}

impl Email {
    /// Normalises `raw`: trims ASCII and Unicode white space, lower-cases the whole address and
    /// converts the domain to its IDNA ASCII (punycode) form.
    ///
    /// # Errors
    /// [`EmailError`] when the address is malformed or too long.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.len() > MAX_LEN * 4 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Malformed)?;
        if local.is_empty() || domain.is_empty() || local.contains('@') {
            return Err(EmailError::Malformed);
        }
        // A colon would break the otpauth label; control characters and spaces have no place in
        // an address typed into a sign-in form.
        let bad = |c: char| c.is_control() || c.is_whitespace() || c == ':' || c == '"';
        if local.chars().any(bad) {
            return Err(EmailError::Malformed);
        }
        let ascii_domain = idna::domain_to_ascii(domain).map_err(|_| EmailError::Malformed)?;
        if ascii_domain.is_empty() || !ascii_domain.contains('.') || ascii_domain.starts_with('.') {
            return Err(EmailError::Malformed);
        }
        let normalised = format!("{}@{}", local.to_lowercase(), ascii_domain);
        if normalised.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        Ok(Self(normalised))
    }

    /// Wraps an address read back from storage, already normalised.
    pub fn from_normalised(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_folds_case() {
        let a = Email::parse("  Agent.Smith@Example.COM \n").ok();
        assert_eq!(a.map(|e| e.0), Some("agent.smith@example.com".to_owned()));
    }

    #[test]
    fn domain_goes_to_idna_ascii() {
        let a = Email::parse("Ana@Bücher.Example").ok();
        assert_eq!(a.map(|e| e.0), Some("ana@xn--bcher-kva.example".to_owned()));
        assert_eq!(
            Email::parse("ana@xn--bcher-kva.example"),
            Email::parse("ANA@bücher.example")
        );
    }

    #[test]
    fn refuses_malformed() {
        for raw in [
            "",
            "no-at-sign",
            "@example.com",
            "a@",
            "a b@example.com",
            "a:b@x.com",
            "a@b",
        ] {
            assert_eq!(Email::parse(raw), Err(EmailError::Malformed), "{raw}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
