//! Each function binary, as built, under a Lambda Runtime API stand-in on loopback: it starts
//! from its environment, takes an API Gateway v2 event (the JSON fixture), reaches DynamoDB on
//! the emulator and posts its answer; without its settings it refuses to start and names them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod aws;

use aws::binary;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

/// One pending event and what the function answered.
#[derive(Default)]
struct Runtime {
    event: Mutex<Option<String>>,
    answer: Mutex<Option<(String, String)>>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    loop {
        if let Some(event) = rt.event.lock().unwrap().take() {
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
            headers.insert(
                "lambda-runtime-deadline-ms",
                "99999999999999".parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:twostep"
                    .parse()
                    .unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".parse().unwrap(),
            );
            return (headers, event);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn respond(
    State(rt): State<Arc<Runtime>>,
    Path((_, kind)): Path<(String, String)>,
    body: String,
) -> &'static str {
    *rt.answer.lock().unwrap() = Some((kind, body));
    "{}"
}

async fn init_error(State(rt): State<Arc<Runtime>>, body: String) -> &'static str {
    *rt.answer.lock().unwrap() = Some(("init_error".to_owned(), body));
    "{}"
}

/// Runs `function`'s binary for one event; returns (kind, body) it posted, and its stderr.
async fn invoke(function: &str, env: &[(&str, String)], event: Value) -> (String, String) {
    let rt = Arc::new(Runtime::default());
    *rt.event.lock().unwrap() = Some(event.to_string());
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(respond))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(rt.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut child = Command::new(binary(&format!("twostep-{function}")))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("twostep-{function}"))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", twostep::testing::moto::endpoint())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        if let Some(answer) = rt.answer.lock().unwrap().take() {
            break answer;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            break ("exited".to_owned(), format!("{status}: {err}"));
        }
        assert!(
            Instant::now() < deadline,
            "{function} did not answer in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_binary_serves_a_v2_event_against_the_emulator() {
    let stack = aws::Stack::new("binaries").await;
    let env = [
        ("TABLE_NAME", stack.settings.table_name.clone()),
        ("KMS_KEY_ID", stack.settings.kms_key_id.clone()),
        ("SENDER_EMAIL", stack.settings.sender_email.clone()),
    ];
    let mut checked = std::collections::BTreeSet::new();
    for route in twostep::http::ROUTES {
        if !checked.insert(route.function) {
            continue;
        }
        let path = route
            .path
            .replace("{account_id}", "acc_x")
            .replace("{user_id}", "usr_x")
            .replace("{group}", "g");
        let body = json!({ "email": "nobody@example.com", "password": "not the password", "challenge": "unknown" });
        let event = v2_event(route.method, &path, &body);
        let (kind, answer) = invoke(route.function, &env, event).await;
        assert_eq!(kind, "response", "{}: {answer}", route.function);
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let status = answer["statusCode"].as_u64().unwrap();
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        // Refused as the contract says, after reading the table: never 404 (wrong function) or 5xx.
        assert!(
            (400..500).contains(&status) && status != 404,
            "{}: {answer}",
            route.function
        );
        assert!(
            body["error"]["code"].is_string(),
            "{}: {answer}",
            route.function
        );
    }

    let schedule: Value =
        serde_json::from_str(include_str!("fixtures/eventbridge-scheduled-event.json")).unwrap();
    let (kind, answer) = invoke("enforce-logout", &env, schedule).await;
    assert_eq!(kind, "response", "{answer}");
    assert!(answer.contains("accounts_enforced"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_without_its_settings_refuses_to_start_and_names_them() {
    let event: Value =
        serde_json::from_str(include_str!("fixtures/http-api-v2-event.json")).unwrap();
    let (kind, detail) = invoke("sign-in", &[], event).await;
    assert_ne!(kind, "response");
    for name in ["TABLE_NAME", "KMS_KEY_ID", "SENDER_EMAIL"] {
        assert!(detail.contains(name), "{kind}: {detail}");
    }
}

/// The fixture event for `method path` with a JSON body.
fn v2_event(method: &str, path: &str, body: &Value) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/http-api-v2-event.json")).unwrap();
    let route = format!("{method} {path}");
    event["routeKey"] = json!(route);
    event["rawPath"] = json!(path);
    event["requestContext"]["routeKey"] = json!(route);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["body"] = json!(body.to_string());
    event
}
