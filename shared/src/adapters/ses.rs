//! SES mailer: the production Mailer, which sends each message with Amazon SES v2 `SendEmail`.
//!
//! A message goes out as SES *simple* content: the subject and a body with both a plain-text
//! and an HTML part, all declared UTF-8, so SES builds the `multipart/alternative` MIME itself.
//! The recipient is the normalised [`Email`](crate::domain::email::Email), whose domain is
//! already in IDNA ASCII form, which is what SES wants in an address; it is passed as it is.
//! Each message carries an SES message tag `kind` (`verification_code`, …) so that bounces and
//! deliveries can be counted per kind through a configuration set's event destinations.
//!
//! Each message sent logs one `info` line with the recipient, the kind and the SES message id;
//! never the subject or the bodies, which may hold a code. Any SDK failure becomes
//! [`MailError::Unavailable`] with the SES error code and message only.
//!
//! Limitation: there is no retry here beyond the SDK's own (standard mode, three attempts); a
//! throttled or failed send reaches the caller, which tells the user to try again.

use async_trait::async_trait;
use aws_sdk_sesv2::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};

use crate::ports::{Mail, MailError, Mailer};

/// The charset declared for every part: the bodies are Rust strings, so always UTF-8.
const CHARSET: &str = "UTF-8";

/// Name of the message tag that carries the [`MailKind`](crate::ports::MailKind).
const KIND_TAG: &str = "kind";

/// Sends mail through Amazon SES v2.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer that sends from `from` (a verified SES identity, `Name <addr>` allowed) with
    /// `client`, through `configuration_set` when one is named.
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: String,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from,
            configuration_set,
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    /// Sends `mail` with one `SendEmail` call.
    ///
    /// # Errors
    /// [`MailError::Unavailable`] when the message cannot be built or SES refuses or fails it
    /// (unverified sender, throttling, network); the detail holds the error code and message.
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let content = email_content(mail).map_err(|err| MailError::Unavailable(err.to_string()))?;
        let tag = kind_tag(mail).map_err(|err| MailError::Unavailable(err.to_string()))?;

        let output = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(destination(mail))
            .content(content)
            .email_tags(tag)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|err| MailError::Unavailable(sdk_error_detail(&err)))?;

        tracing::info!(
            to = %mail.to,
            kind = mail.kind.as_str(),
            message_id = output.message_id().unwrap_or("-"),
            "mail sent through SES"
        );
        Ok(())
    }
}

/// The recipient list: the one normalised address.
fn destination(mail: &Mail) -> Destination {
    Destination::builder()
        .to_addresses(mail.to.as_str())
        .build()
}

/// The simple content: subject, text part and HTML part, each declared UTF-8.
fn email_content(mail: &Mail) -> Result<EmailContent, BuildError> {
    let body = Body::builder()
        .text(utf8(&mail.text.0)?)
        .html(utf8(&mail.html.0)?)
        .build();
    let message = Message::builder()
        .subject(utf8(&mail.subject)?)
        .body(body)
        .build();
    Ok(EmailContent::builder().simple(message).build())
}

/// One piece of content in UTF-8.
fn utf8(data: &str) -> Result<Content, BuildError> {
    Content::builder().data(data).charset(CHARSET).build()
}

/// The `kind` message tag.
fn kind_tag(mail: &Mail) -> Result<MessageTag, BuildError> {
    MessageTag::builder()
        .name(KIND_TAG)
        .value(mail.kind.as_str())
        .build()
}

/// The error code and message of an SDK failure, or what kind of failure it was when the
/// service never answered. Nothing of the request is included.
fn sdk_error_detail<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("unknown service error");
            match err.message() {
                Some(message) if !message.is_empty() => format!("SES {code}: {message}"),
                _ => format!("SES {code}"),
            }
        }
        SdkError::TimeoutError(_) => "SES call timed out".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            "SES connection timed out".to_owned()
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => {
            "SES connection failed (I/O)".to_owned()
        }
        SdkError::DispatchFailure(_) => "SES request could not be dispatched".to_owned(),
        SdkError::ResponseError(_) => "SES answer could not be read".to_owned(),
        SdkError::ConstructionFailure(_) => "SES request could not be built".to_owned(),
        _ => "SES call failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;
    use crate::domain::email::Email;
    use crate::ports::{MailBody, MailKind};

    fn mail() -> Mail {
        Mail {
            to: Email::parse("Ana@Bücher.Example").unwrap(),
            subject: "Votre code de vérification".to_owned(),
            text: MailBody("Your code is 493817.".to_owned()),
            html: MailBody("<p>Your code is <b>493817</b>.</p>".to_owned()),
            kind: MailKind::VerificationCode,
        }
    }

    #[test]
    fn content_is_simple_with_utf8_subject_text_and_html() {
        let content = email_content(&mail()).unwrap();
        assert!(content.template().is_none() && content.raw().is_none());
        let simple = content.simple().unwrap();

        let subject = simple.subject().unwrap();
        assert_eq!(subject.data(), "Votre code de vérification");
        assert_eq!(subject.charset(), Some("UTF-8"));

        let body = simple.body().unwrap();
        let text = body.text().unwrap();
        assert_eq!(text.data(), "Your code is 493817.");
        assert_eq!(text.charset(), Some("UTF-8"));
        let html = body.html().unwrap();
        assert_eq!(html.data(), "<p>Your code is <b>493817</b>.</p>");
        assert_eq!(html.charset(), Some("UTF-8"));
    }

    #[test]
    fn the_recipient_is_the_normalised_address_alone() {
        let destination = destination(&mail());
        assert_eq!(destination.to_addresses(), ["ana@xn--bcher-kva.example"]);
        assert!(destination.cc_addresses().is_empty());
        assert!(destination.bcc_addresses().is_empty());
    }

    #[test]
    fn the_kind_travels_as_a_message_tag() {
        let tag = kind_tag(&mail()).unwrap();
        assert_eq!(tag.name(), "kind");
        assert_eq!(tag.value(), "verification_code");
    }
}
