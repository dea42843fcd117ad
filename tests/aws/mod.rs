//! Test support for the Lambda tests: emulator resources, API Gateway v2 events from the
//! fixture, and mail read back from the emulator.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use twostep::config::Config;
use twostep::flow::App;
use twostep::lambda::{AwsCalls, AwsSettings};
use twostep::ports::SystemClock;

const EVENT: &str = include_str!("../fixtures/http-api-v2-event.json");

/// A fresh table, KMS key and verified sender on the emulator, and an App on them.
pub struct Stack {
    pub app: Arc<App>,
    pub calls: AwsCalls,
    pub settings: AwsSettings,
    pub sdk: aws_config::SdkConfig,
}

impl Stack {
    pub async fn new(name: &str) -> Stack {
        let sdk = twostep::testing::moto::sdk_config().await;
        let table = format!("twostep-{name}-{}", std::process::id());
        twostep::adapters::dynamodb::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await
            .unwrap();
        let key = aws_sdk_kms::Client::new(&sdk)
            .create_key()
            .send()
            .await
            .unwrap();
        let key_id = key.key_metadata().unwrap().key_id().to_owned();
        let sender = "no-reply@twostep.example".to_owned();
        aws_sdk_sesv2::Client::new(&sdk)
            .create_email_identity()
            .email_identity(&sender)
            .send()
            .await
            .unwrap();
        let settings = AwsSettings {
            table_name: table,
            kms_key_id: key_id,
            sender_email: sender,
            ses_configuration_set: None,
        };
        let calls = AwsCalls::default();
        let app = twostep::lambda::app_from(
            &sdk,
            &settings,
            Config::default(),
            Arc::new(SystemClock),
            Some(&calls),
        )
        .unwrap();
        Stack {
            app: Arc::new(app),
            calls,
            settings,
            sdk,
        }
    }
}

impl Stack {
    /// Another app on this stack's emulator, with `change` applied to its settings (a sender
    /// SES does not know, another KMS key, …), to see a dependency fail.
    pub fn variant(&self, change: impl FnOnce(&mut AwsSettings)) -> App {
        let mut settings = self.settings.clone();
        change(&mut settings);
        let clock = Arc::new(SystemClock);
        twostep::lambda::app_from(&self.sdk, &settings, Config::default(), clock, None).unwrap()
    }
}

/// An API Gateway HTTP API (v2) event from the fixture, for `method path` with a JSON body.
pub fn event(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    bearer: Option<&str>,
) -> Request {
    let mut event: Value = serde_json::from_str(EVENT).unwrap();
    let route = format!("{method} {path}");
    event["routeKey"] = json!(route);
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!(query);
    event["requestContext"]["routeKey"] = json!(route);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    event["headers"]["content-length"] = json!(text.len().to_string());
    event["body"] = json!(text);
    if let Some(token) = bearer {
        event["headers"]["authorization"] = json!(format!("Bearer {token}"));
    }
    lambda_http::request::from_str(&event.to_string()).expect("fixture parses as a v2 event")
}

/// Status and JSON body of a Lambda response.
pub fn answer(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, body)
}

/// The six-digit code in the newest message the emulator holds for `recipient`.
pub async fn emailed_code(recipient: &str) -> String {
    let url = format!("{}/moto-api/data.json", twostep::testing::moto::endpoint());
    let data: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let mut texts = Vec::new();
    collect_messages(&data["ses"], recipient, &mut texts);
    let text = texts
        .last()
        .unwrap_or_else(|| panic!("no mail to {recipient} in the emulator"));
    let start = text
        .find("verification code is")
        .expect("a verification mail");
    // The first run of exactly six digits after the phrase (the HTML has other numbers).
    text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .expect("six digits in the mail")
        .to_owned()
}

/// The innermost JSON values under `node` that name `recipient` and hold a verification code.
fn collect_messages(node: &Value, recipient: &str, out: &mut Vec<String>) {
    let before = out.len();
    match node {
        Value::Object(map) => map
            .values()
            .for_each(|v| collect_messages(v, recipient, out)),
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_messages(v, recipient, out)),
        _ => {}
    }
    let text = node.to_string();
    if out.len() == before
        && node.is_object()
        && text.contains(recipient)
        && text.contains("verification code is")
    {
        out.push(text);
    }
}

/// A binary of this workspace as built next to the running test (`cargo build --workspace
/// --bins`, which the test command runs first).
pub fn binary(name: &str) -> PathBuf {
    // target/debug/deps/<this test> → target/debug/<binary>
    let dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (./infra/scripts/test.sh does)",
        path.display()
    );
    path
}
