//! The Mailer port: sends one message with a plain-text and an HTML part.

use async_trait::async_trait;

use crate::domain::email::Email;

/// What a message is about; adapters may tag or log it (never the body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    /// The six-digit code that confirms the address.
    VerificationCode,
    /// A device was added or replaced.
    DeviceChanged,
    /// An admin removed the user's device.
    DeviceReset,
    /// The forced-logout date is near and the user is not enrolled.
    EnrollmentReminder,
}

impl MailKind {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerificationCode => "verification_code",
            MailKind::DeviceChanged => "device_changed",
            MailKind::DeviceReset => "device_reset",
            MailKind::EnrollmentReminder => "enrollment_reminder",
        }
    }
}

/// A message body; it may hold a code, so its `Debug` is redacted.
#[derive(Clone)]
pub struct MailBody(pub String);

impl std::fmt::Debug for MailBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailBody(_)")
    }
}

/// One outgoing message.
#[derive(Clone, Debug)]
pub struct Mail {
    /// Recipient.
    pub to: Email,
    /// Subject line (never holds a code).
    pub subject: String,
    /// Plain-text part.
    pub text: MailBody,
    /// HTML part.
    pub html: MailBody,
    /// What it is about.
    pub kind: MailKind,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The transport failed; trying again later may work. The detail is for logs only.
    #[error("mail transport unavailable: {0}")]
    Unavailable(String),
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`.
    ///
    /// # Errors
    /// [`MailError::Unavailable`] when the transport fails.
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}
