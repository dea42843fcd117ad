//! Typed configuration, read once at start-up from environment variables.
//!
//! Every setting has a default that matches DESIGN.md; a variable that is set but unreadable is
//! an error naming it, so a bad deploy fails at cold start instead of on the first request.

use chrono::Duration;

use crate::domain::model::ClientVersion;

/// Lifetimes, limits and labels of the flow.
#[derive(Clone, Debug)]
pub struct Config {
    /// Issuer shown in authenticator apps (`TWOSTEP_ISSUER`, default `Twostep`).
    pub issuer: String,
    /// Session lifetime (`TWOSTEP_SESSION_TTL_SECONDS`, default 12 h).
    pub session_ttl: Duration,
    /// Challenge lifetime (`TWOSTEP_CHALLENGE_TTL_SECONDS`, default 15 min).
    pub challenge_ttl: Duration,
    /// Emailed code lifetime (10 min).
    pub email_code_ttl: Duration,
    /// Wrong tries allowed on one emailed code (5).
    pub email_code_max_attempts: u32,
    /// Least time between two emails on one challenge (30 s).
    pub email_resend_interval: Duration,
    /// Most emails for one challenge (5).
    pub email_max_per_challenge: u32,
    /// Most verification emails for one user per hour, across challenges (10).
    pub email_max_per_user_hour: u32,
    /// Consecutive wrong TOTP codes that lock the second step (5).
    pub totp_lock_after: u32,
    /// How long the second step stays locked (15 min).
    pub totp_lock_for: Duration,
    /// Wrong passwords for one email within the window that block sign-in (10).
    pub password_lock_after: u32,
    /// The password-failure window (15 min).
    pub password_window: Duration,
    /// How recent the second step must be for My Account "Set up new device" (15 min).
    pub reauth_window: Duration,
    /// The client required by default while 2FA is on (`TWOSTEP_REQUIRED_CLIENT_VERSION`,
    /// `TWOSTEP_REQUIRED_CLIENT_BUILD`; default 4.3 build 1575).
    pub required_client: ClientVersion,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "Twostep".to_owned(),
            session_ttl: Duration::hours(12),
            challenge_ttl: Duration::minutes(15),
            email_code_ttl: Duration::minutes(10),
            email_code_max_attempts: 5,
            email_resend_interval: Duration::seconds(30),
            email_max_per_challenge: 5,
            email_max_per_user_hour: 10,
            totp_lock_after: 5,
            totp_lock_for: Duration::minutes(15),
            password_lock_after: 10,
            password_window: Duration::minutes(15),
            reauth_window: Duration::minutes(15),
            required_client: ClientVersion::REQUIRED_DEFAULT,
        }
    }
}

/// A configuration variable that is set but unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The variable's value could not be read.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What it must be.
        reason: &'static str,
    },
    /// A variable the adapter needs is not set.
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// Several variables the adapters need are not set.
    #[error("required environment variables not set: {0}")]
    MissingMany(String),
}

impl Config {
    /// Reads the settings through `var` (usually `std::env::var(..).ok()`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first unreadable variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(issuer) = var("TWOSTEP_ISSUER") {
            let issuer = issuer.trim().to_owned();
            if issuer.is_empty() || issuer.contains(':') || issuer.len() > 64 {
                return Err(ConfigError::Invalid {
                    name: "TWOSTEP_ISSUER",
                    reason: "1 to 64 characters, no colon",
                });
            }
            config.issuer = issuer;
        }
        if let Some(secs) = seconds(&var, "TWOSTEP_SESSION_TTL_SECONDS", 60, 30 * 86_400)? {
            config.session_ttl = secs;
        }
        if let Some(secs) = seconds(&var, "TWOSTEP_CHALLENGE_TTL_SECONDS", 60, 3_600)? {
            config.challenge_ttl = secs;
        }
        config.required_client = required_client(&var)?;
        Ok(config)
    }
}

fn required_client(var: &impl Fn(&str) -> Option<String>) -> Result<ClientVersion, ConfigError> {
    let default = ClientVersion::REQUIRED_DEFAULT;
    let build = match var("TWOSTEP_REQUIRED_CLIENT_BUILD") {
        None => default.build,
        Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
            name: "TWOSTEP_REQUIRED_CLIENT_BUILD",
            reason: "a whole number such as 1575",
        })?,
    };
    match var("TWOSTEP_REQUIRED_CLIENT_VERSION") {
        None => Ok(ClientVersion { build, ..default }),
        Some(raw) => ClientVersion::parse(&raw, build).ok_or(ConfigError::Invalid {
            name: "TWOSTEP_REQUIRED_CLIENT_VERSION",
            reason: "a version such as 4.3",
        }),
    }
}

fn seconds(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: i64,
    max: i64,
) -> Result<Option<Duration>, ConfigError> {
    let Some(raw) = var(name) else {
        return Ok(None);
    };
    let reason = "a whole number of seconds in range";
    let secs: i64 = raw
        .trim()
        .parse()
        .map_err(|_| ConfigError::Invalid { name, reason })?;
    if !(min..=max).contains(&secs) {
        return Err(ConfigError::Invalid { name, reason });
    }
    Ok(Some(Duration::seconds(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_vars(|_| None).unwrap_or_default();
        assert_eq!(c.session_ttl, Duration::hours(12));
        let c = Config::from_vars(|k| (k == "TWOSTEP_SESSION_TTL_SECONDS").then(|| "3600".into()));
        assert_eq!(c.map(|c| c.session_ttl), Ok(Duration::hours(1)));
        let bad = Config::from_vars(|k| (k == "TWOSTEP_CHALLENGE_TTL_SECONDS").then(|| "x".into()));
        assert!(matches!(
            bad,
            Err(ConfigError::Invalid {
                name: "TWOSTEP_CHALLENGE_TTL_SECONDS",
                ..
            })
        ));
    }
}
