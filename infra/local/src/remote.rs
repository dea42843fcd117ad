//! `--table NAME`: the ops subcommands on a deployed stack's DynamoDB table.
//!
//! AWS settings come from the standard environment (region, credentials, `AWS_ENDPOINT_URL`).
//! Ops commands never seal secrets; mail (enforce-logout's reminders) goes through SES when
//! `SENDER_EMAIL` is set and is otherwise reported as not sent.

use std::sync::Arc;

use async_trait::async_trait;
use twostep::adapters::dynamodb::DynamoStore;
use twostep::adapters::ses::SesMailer;
use twostep::config::Config;
use twostep::domain::model::SealedSecret;
use twostep::domain::secret::TotpKey;
use twostep::flow::App;
use twostep::ports::{
    Clock, Mail, MailError, Mailer, OsRandom, SealContext, SealError, SecretSealer, SystemClock,
};

/// Wires the App on a DynamoDB table.
///
/// # Errors
/// A message for people when a setting is wrong.
pub async fn open(table: &str, clock: Option<Arc<dyn Clock>>) -> Result<Arc<App>, String> {
    let config = Config::from_vars(|n| std::env::var(n).ok()).map_err(|e| e.to_string())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.to_owned());
    let mailer: Arc<dyn Mailer> = match std::env::var("SENDER_EMAIL") {
        Ok(from) if !from.trim().is_empty() => {
            Arc::new(SesMailer::new(aws_sdk_sesv2::Client::new(&sdk), from, None))
        }
        _ => Arc::new(NoMail),
    };
    let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
    let app = App::new(
        Arc::new(store),
        mailer,
        Arc::new(NoSealing),
        clock,
        Arc::new(OsRandom),
        config,
    )
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(app))
}

/// Refuses to send: no sender is configured for ops.
struct NoMail;

#[async_trait]
impl Mailer for NoMail {
    async fn send(&self, _mail: &Mail) -> Result<(), MailError> {
        Err(MailError::Unavailable(
            "set SENDER_EMAIL to send mail from ops commands".to_owned(),
        ))
    }
}

/// Refuses to seal: ops commands never handle TOTP secrets.
struct NoSealing;

#[async_trait]
impl SecretSealer for NoSealing {
    async fn seal(&self, _key: &TotpKey, _ctx: SealContext<'_>) -> Result<SealedSecret, SealError> {
        Err(SealError::Unavailable(
            "ops commands do not seal secrets".to_owned(),
        ))
    }

    async fn unseal(
        &self,
        _sealed: &SealedSecret,
        _ctx: SealContext<'_>,
    ) -> Result<TotpKey, SealError> {
        Err(SealError::Unavailable(
            "ops commands do not unseal secrets".to_owned(),
        ))
    }
}
