//! The messages the flow sends: plain text and HTML, never a code in the subject.

use chrono::{DateTime, Utc};

use crate::domain::email::Email;
use crate::ports::{Mail, MailBody, MailKind};

/// The six-digit code that confirms the address.
pub(crate) fn verification_code(to: &Email, code: &str, minutes: i64, issuer: &str) -> Mail {
    let text = format!(
        "Your {issuer} verification code is {code}.\r\n\r\n\
         Enter it to continue setting up two-step verification. It expires in {minutes} minutes \
         and works once.\r\n\r\n\
         If you did not try to sign in, change your password: someone knows it.\r\n"
    );
    let html = format!(
        "<p>Your {issuer} verification code is</p>\
         <p style=\"font-size:24px;font-weight:bold;letter-spacing:4px\">{code}</p>\
         <p>Enter it to continue setting up two-step verification. It expires in {minutes} \
         minutes and works once.</p>\
         <p>If you did not try to sign in, change your password: someone knows it.</p>"
    );
    Mail {
        to: to.clone(),
        subject: format!("Your {issuer} verification code"),
        text: MailBody(text),
        html: MailBody(html),
        kind: MailKind::VerificationCode,
    }
}

/// A device was linked or replaced.
pub(crate) fn device_changed(to: &Email, replaced: bool, at: DateTime<Utc>, issuer: &str) -> Mail {
    let what = if replaced {
        "A new authenticator device replaced your previous one"
    } else {
        "An authenticator device was linked to your account"
    };
    let when = at.format("%Y-%m-%d %H:%M UTC");
    let text = format!(
        "{what} on {when}.\r\n\r\n\
         From now on, sign-in asks for the code from that device. If this was not you, contact \
         your account admin at once.\r\n"
    );
    let html = format!(
        "<p>{what} on {when}.</p><p>From now on, sign-in asks for the code from that device. \
         If this was not you, contact your account admin at once.</p>"
    );
    Mail {
        to: to.clone(),
        subject: format!("{issuer}: two-step verification device changed"),
        text: MailBody(text),
        html: MailBody(html),
        kind: MailKind::DeviceChanged,
    }
}

/// Hides most of an address for display: `a***@example.com`.
pub(crate) fn hint(email: &Email) -> String {
    let s = email.as_str();
    match s.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// An admin removed the user's device.
pub(crate) fn device_reset(to: &Email, issuer: &str) -> Mail {
    let text = "Your account admin reset your two-step verification. You were signed out \
                everywhere; at your next sign-in you will link an authenticator app again.\r\n"
        .to_owned();
    let html = "<p>Your account admin reset your two-step verification. You were signed out \
                everywhere; at your next sign-in you will link an authenticator app again.</p>"
        .to_owned();
    Mail {
        to: to.clone(),
        subject: format!("{issuer}: your two-step verification was reset"),
        text: MailBody(text),
        html: MailBody(html),
        kind: MailKind::DeviceReset,
    }
}

/// The forced-logout date is near and the user has not linked an authenticator app.
pub(crate) fn enrollment_reminder(to: &Email, at: DateTime<Utc>, issuer: &str) -> Mail {
    let when = at.format("%Y-%m-%d %H:%M UTC");
    let text = format!(
        "Your account requires two-step verification. On {when} everyone who has not set it \
         up is signed out.\r\n\r\nSign in and follow the steps to link an authenticator app \
         (Google Authenticator, Authy, LastPass Authenticator, ...).\r\n"
    );
    let html = format!(
        "<p>Your account requires two-step verification. On {when} everyone who has not set it \
         up is signed out.</p><p>Sign in and follow the steps to link an authenticator app \
         (Google Authenticator, Authy, LastPass Authenticator, ...).</p>"
    );
    Mail {
        to: to.clone(),
        subject: format!("{issuer}: set up two-step verification before {when}"),
        text: MailBody(text),
        html: MailBody(html),
        kind: MailKind::EnrollmentReminder,
    }
}
