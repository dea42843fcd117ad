//! The SES mailer against moto's SES v2: what arrives, what is logged, and a refused sender.
#![cfg(feature = "aws")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use twostep::adapters::ses::SesMailer;
use twostep::domain::email::Email;
use twostep::ports::{Mail, MailBody, MailError, MailKind, Mailer};
use twostep::testing::logs::LogCapture;
use twostep::testing::moto;

const SENDER: &str = "no-reply@twostep.example";
const CODE: &str = "493817";
const SUBJECT: &str = "Your Twostep verification code";

async fn client() -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&moto::sdk_config().await)
}

/// Verifies `SENDER`; moto refuses to send from an address that is not an identity.
async fn verified_sender(client: &aws_sdk_sesv2::Client) {
    client
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .expect("CreateEmailIdentity");
}

/// A recipient no other test (or earlier run against the same server) has used, with a
/// non-ASCII domain so that the IDNA form is what travels.
#[allow(clippy::disallowed_methods)] // Only a unique name, not a time the code judges.
fn unique_recipient(tag: &str) -> Email {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Email::parse(&format!("{tag}-{nanos}@Bücher.example")).unwrap()
}

fn verification_mail(to: Email) -> Mail {
    Mail {
        to,
        subject: SUBJECT.to_owned(),
        text: MailBody(format!(
            "Your verification code is {CODE}.\nIt expires in 10 minutes."
        )),
        html: MailBody(format!(
            "<p>Your verification code is <b>{CODE}</b>.</p><p>It expires in 10 minutes.</p>"
        )),
        kind: MailKind::VerificationCode,
    }
}

/// The messages moto has accepted for `recipient`, from its state dump.
async fn sent_to(recipient: &str) -> Vec<Value> {
    let url = format!("{}/moto-api/data.json", moto::endpoint());
    let data: Value = reqwest::get(&url)
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = data["ses"]["Message"]
        .as_array()
        .unwrap_or_else(|| panic!("no ses.Message list in moto's state: {data}"));
    messages
        .iter()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|to| to.iter().any(|a| a == recipient))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn sends_the_code_and_logs_the_message_id_but_never_the_body() {
    let client = client().await;
    verified_sender(&client).await;
    let mailer = SesMailer::new(client, SENDER.to_owned(), None);
    let to = unique_recipient("agent");

    let mut capture = LogCapture::start();
    let sent = mailer.send(&verification_mail(to.clone())).await;
    capture.stop();
    sent.unwrap();

    let logs = capture.text();
    let line = logs
        .lines()
        .find(|l| l.contains("mail sent through SES"))
        .unwrap_or_else(|| panic!("no send line in the logs: {logs}"));
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains(to.as_str()), "{line}");
    assert!(line.contains("kind=\"verification_code\""), "{line}");
    capture.assert_absent([CODE]);
    assert!(
        !logs.contains("verification code is"),
        "the body leaked into the log: {logs}"
    );
    let message_id = line
        .split("message_id=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|id| id.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no message id in {line}"));

    let messages = sent_to(to.as_str()).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message["id"], message_id.as_str());
    assert_eq!(message["source"], SENDER);
    assert_eq!(message["subject"], SUBJECT);
    assert_eq!(
        message["destinations"]["ToAddresses"],
        serde_json::json!([to.as_str()])
    );
    assert!(to.as_str().ends_with("@xn--bcher-kva.example"), "{to}");
    // moto keeps one body: the HTML part when both are sent.
    let body = message["body"].as_str().unwrap();
    assert!(body.contains(CODE), "{body}");
}

#[tokio::test]
async fn an_unverified_sender_is_unavailable() {
    let client = client().await;
    let mailer = SesMailer::new(client, "someone@unverified.example".to_owned(), None);
    let to = unique_recipient("refused");

    let sent = mailer.send(&verification_mail(to.clone())).await;
    match sent {
        Err(MailError::Unavailable(detail)) => {
            assert!(detail.contains("MessageRejected"), "{detail}");
            assert!(!detail.contains(CODE), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(sent_to(to.as_str()).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = moto::sdk_config().await;
    let ses_config = aws_sdk_sesv2::config::Builder::from(&config)
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
        .build();
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::from_conf(ses_config),
        SENDER.to_owned(),
        None,
    );

    let sent = mailer
        .send(&verification_mail(unique_recipient("down")))
        .await;
    match sent {
        Err(MailError::Unavailable(detail)) => {
            assert!(detail.starts_with("SES "), "{detail}");
            assert!(!detail.contains(CODE), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
