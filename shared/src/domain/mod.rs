//! The domain: identifiers, normalised emails, secrets in redacted types, TOTP and password rules.

pub mod code;
pub mod email;
pub mod ids;
pub mod model;
pub mod password;
pub mod secret;
pub mod token;
pub mod totp;
