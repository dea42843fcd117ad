//! The Lambda handlers on API Gateway v2 events against DynamoDB, SES and KMS on the emulator:
//! the whole enrollment and login flow across the functions, each function's route ownership,
//! the AWS call budget of a login, SES failure handling and the scheduled job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout // The call counts are printed for the README's figures.
)]

mod aws;

use aws::{Stack, answer, emailed_code, event};
use serde_json::{Value, json};
use twostep::config::Config;
use twostep::domain::model::Role;
use twostep::domain::secret::SecretText;
use twostep::flow::ops;
use twostep::http::{ROUTES, match_route};
use twostep::lambda::{AwsCalls, handle_event, handle_schedule};

const PASSWORD: &str = "correct horse battery staple";

fn function_for(method: &str, path: &str) -> &'static str {
    let (id, _) = match_route(method, path).unwrap();
    ROUTES.iter().find(|r| r.id == id).unwrap().function
}

/// The AWS operations each function was seen calling, as IAM actions.
static SEEN: std::sync::Mutex<
    std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

/// `DynamoDB:GetItem` → `dynamodb:GetItem`; a transaction is checked through its parts' actions,
/// which the SDK does not show, so it is left out.
fn iam_action(call: &str) -> Option<String> {
    let (service, op) = call.split_once(':')?;
    let prefix = match service {
        "DynamoDB" if op != "TransactWriteItems" => "dynamodb",
        "KMS" => "kms",
        "SESv2" => "ses",
        _ => return None,
    };
    Some(format!("{prefix}:{op}"))
}

/// Sends one request through the function that owns the route.
async fn call(
    stack: &Stack,
    method: &str,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> (u16, Value) {
    let function = function_for(method, path);
    let request = event(method, path, "", body.as_ref(), bearer);
    let before = stack.calls.take();
    let response = answer(handle_event(&stack.app, function, request).await);
    let during = stack.calls.take();
    let mut seen = SEEN.lock().unwrap();
    let actions = seen.entry(function.to_owned()).or_default();
    actions.extend(during.iter().filter_map(|c| iam_action(c)));
    drop(seen);
    // Put back what the caller may still want to count.
    stack.calls.extend(before.into_iter().chain(during));
    response
}

fn code_at(key: &[u8], unix: u64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&(unix / 30).to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0x0f) as usize;
    let n = (u32::from(d[o]) & 0x7f) << 24
        | u32::from(d[o + 1]) << 16
        | u32::from(d[o + 2]) << 8
        | u32::from(d[o + 3]);
    format!("{:06}", n % 1_000_000)
}

#[allow(clippy::disallowed_methods)] // The handlers under test read the system clock too.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn user(stack: &Stack, email: &str, two_step: bool) {
    let account = ops::add_account(&stack.app, "Lambda test", two_step)
        .await
        .unwrap();
    ops::add_user(
        &stack.app,
        &account,
        email,
        Role::Agent,
        "default",
        SecretText::new(PASSWORD.into()),
    )
    .await
    .unwrap();
}

async fn enroll(stack: &Stack, email: &str) -> (Vec<u8>, String) {
    let (status, body) = call(
        stack,
        "POST",
        "/v1/sign-in",
        Some(json!({ "email": email, "password": PASSWORD })),
        None,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("enrollment_required")),
        "{body}"
    );
    let challenge = body["challenge"]["token"].as_str().unwrap().to_owned();
    let c = json!({ "challenge": challenge });
    let (status, body) = call(
        stack,
        "POST",
        "/v1/verification-email",
        Some(c.clone()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let code = emailed_code(email).await;
    let confirm = json!({ "challenge": challenge, "code": code });
    let (status, body) = call(
        stack,
        "POST",
        "/v1/verification-email/confirm",
        Some(confirm),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(stack, "POST", "/v1/device", Some(c), None).await;
    assert_eq!(status, 200, "{body}");
    let manual = body["device"]["manual_key"].as_str().unwrap();
    let key = data_encoding::BASE32_NOPAD
        .decode(manual.as_bytes())
        .unwrap();
    let verify = json!({ "challenge": challenge, "code": code_at(&key, now()) });
    let (status, body) = call(stack, "POST", "/v1/totp/verify", Some(verify), None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("signed_in")),
        "{body}"
    );
    (key, body["session"]["token"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_and_login_across_the_functions_within_the_call_budget() {
    let stack = Stack::new("flow").await;
    user(&stack, "lambda.agent@example.com", true).await;
    let (key, session) = enroll(&stack, "lambda.agent@example.com").await;

    let (status, me) = call(&stack, "GET", "/v1/me", None, Some(&session)).await;
    assert_eq!(status, 200);
    assert_eq!(me["two_step"]["enrolled"], true);
    let (status, _) = call(
        &stack,
        "POST",
        "/v1/sign-out",
        Some(json!({})),
        Some(&session),
    )
    .await;
    assert_eq!(status, 200);

    // Login: sign-in, then the TOTP step, whose AWS calls are counted.
    let body = json!({ "email": "lambda.agent@example.com", "password": PASSWORD });
    let (_, signed) = call(&stack, "POST", "/v1/sign-in", Some(body), None).await;
    assert_eq!(signed["status"], "totp_required");
    let challenge = signed["challenge"]["token"].as_str().unwrap().to_owned();
    let code = code_at(&key, now() + 30);
    stack.calls.take();
    let (status, body) = call(
        &stack,
        "POST",
        "/v1/totp/verify",
        Some(json!({ "challenge": challenge, "code": code })),
        None,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("signed_in")),
        "{body}"
    );
    let calls = stack.calls.take();
    println!("AWS calls for a TOTP login step: {calls:?}");
    assert_eq!(AwsCalls::count(&calls, "kms"), 1, "{calls:?}");
    assert!(AwsCalls::count(&calls, "dynamodb") <= 3, "{calls:?}");

    // The same code again is refused.
    let body = json!({ "email": "lambda.agent@example.com", "password": PASSWORD });
    let (_, signed) = call(&stack, "POST", "/v1/sign-in", Some(body), None).await;
    let challenge = signed["challenge"]["token"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &stack,
        "POST",
        "/v1/totp/verify",
        Some(json!({ "challenge": challenge, "code": code })),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("code_already_used"))
    );
}

/// While the secret cannot be unsealed (here the function points at another KMS key, which
/// refuses the ciphertext) the TOTP step answers an error and keeps no try: once KMS is right
/// again the user signs in, although more calls than the lock limit failed meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_key_service_locks_no_one_out() {
    let stack = Stack::new("kms-down").await;
    let email = "kms.down@example.com";
    user(&stack, email, true).await;
    let (key, _) = enroll(&stack, email).await;
    let other_key = aws_sdk_kms::Client::new(&stack.sdk)
        .create_key()
        .send()
        .await
        .unwrap();
    let other_key = other_key.key_metadata().unwrap().key_id().to_owned();
    let limit = Config::default().totp_lock_after;
    let broken = stack.variant(|s| s.kms_key_id = other_key);

    let body = json!({ "email": email, "password": PASSWORD });
    let (_, signed) = call(&stack, "POST", "/v1/sign-in", Some(body), None).await;
    assert_eq!(signed["status"], "totp_required", "{signed}");
    let verify = json!({
        "challenge": signed["challenge"]["token"],
        "code": code_at(&key, now() + 30),
    });
    for _ in 0..=limit {
        let request = event("POST", "/v1/totp/verify", "", Some(&verify), None);
        let (status, body) = answer(handle_event(&broken, "verify-totp", request).await);
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "service_unavailable", "{body}");
    }
    let (status, body) = call(&stack, "POST", "/v1/totp/verify", Some(verify), None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("signed_in")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_serves_only_its_own_routes() {
    let stack = Stack::new("routes").await;
    let functions: std::collections::BTreeSet<&str> = ROUTES.iter().map(|r| r.function).collect();
    for route in ROUTES {
        let path = route
            .path
            .replace("{account_id}", "acc_x")
            .replace("{user_id}", "usr_x")
            .replace("{group}", "g");
        for function in &functions {
            let request = event(
                route.method,
                &path,
                "",
                Some(&json!({})),
                Some("not-a-session"),
            );
            let (status, body) = answer(handle_event(&stack.app, function, request).await);
            if *function == route.function {
                assert_ne!(
                    status, 404,
                    "{function} must serve {} {}: {body}",
                    route.method, route.path
                );
            } else {
                assert_eq!(
                    (status, body["error"]["code"].as_str()),
                    (404, Some("not_found")),
                    "{function}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_verification_email_answers_503_and_keeps_the_challenge() {
    let stack = Stack::new("ses-down").await;
    user(&stack, "ses.agent@example.com", true).await;
    let body = json!({ "email": "ses.agent@example.com", "password": PASSWORD });
    let (_, signed) = call(&stack, "POST", "/v1/sign-in", Some(body), None).await;
    let challenge = signed["challenge"]["token"].as_str().unwrap().to_owned();

    // The same table and key, but a sender the emulator does not know: SES refuses the send.
    let broken = stack.variant(|s| s.sender_email = "unverified@nowhere.example".to_owned());
    let request = event(
        "POST",
        "/v1/verification-email",
        "",
        Some(&json!({ "challenge": challenge })),
        None,
    );
    let (status, body) = answer(handle_event(&broken, "send-verification-email", request).await);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("service_unavailable")),
        "{body}"
    );

    // Nothing moved: the real sender sends from the same step.
    let (status, body) = call(
        &stack,
        "POST",
        "/v1/verification-email",
        Some(json!({ "challenge": challenge })),
        None,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("email_sent")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_event_ends_sessions_without_the_second_step_once() {
    let stack = Stack::new("schedule").await;
    user(&stack, "job.agent@example.com", false).await;
    let body = json!({ "email": "job.agent@example.com", "password": PASSWORD });
    let (_, signed) = call(&stack, "POST", "/v1/sign-in", Some(body), None).await;
    let session = signed["session"]["token"].as_str().unwrap().to_owned();

    // 2FA on with a forced-logout date that has just passed.
    let store = &stack.app.store;
    let account = store
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .last()
        .unwrap();
    let mut policy = account.policy.clone();
    #[allow(clippy::disallowed_methods)] // The handlers under test read the system clock too.
    let now = chrono::Utc::now();
    policy.enabled = true;
    policy.enabled_at = Some(now - chrono::Duration::hours(1));
    policy.forced_logout_at = Some(now - chrono::Duration::seconds(1));
    policy.version = account.policy.version + 1;
    store
        .update_policy(&account.id, account.policy.version, &policy)
        .await
        .unwrap();
    let (status, _) = call(&stack, "GET", "/v1/me", None, Some(&session)).await;
    assert_eq!(status, 401, "refused on use before the job runs");

    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/eventbridge-scheduled-event.json")).unwrap();
    let first = handle_schedule(&stack.app, &fixture).await.unwrap();
    assert_eq!(first["accounts_enforced"], 1, "{first}");
    assert_eq!(first["sessions_ended"], 1, "{first}");
    let second = handle_schedule(&stack.app, &fixture).await.unwrap();
    assert_eq!(second["accounts_enforced"], 0, "{second}");
}

/// A reminder SES refuses is not lost silently: the run's audit event says `partial` and how
/// many messages failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_that_ses_refuses_are_audited_as_partial() {
    let stack = Stack::new("remind-down").await;
    user(&stack, "remind.agent@example.com", false).await;
    let store = &stack.app.store;
    let account = store.list_accounts().await.unwrap().pop().unwrap();
    #[allow(clippy::disallowed_methods)] // The handlers under test read the system clock too.
    let now = chrono::Utc::now();
    let mut policy = account.policy.clone();
    policy.enabled = true;
    policy.enabled_at = Some(now);
    // Within three days of the date, not yet within one: the 3-day reminder is due.
    policy.forced_logout_at = Some(now + chrono::Duration::hours(71));
    policy.version = account.policy.version + 1;
    store
        .update_policy(&account.id, account.policy.version, &policy)
        .await
        .unwrap();

    let broken = stack.variant(|s| s.sender_email = "unverified@nowhere.example".to_owned());
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/eventbridge-scheduled-event.json")).unwrap();
    let report = handle_schedule(&broken, &fixture).await.unwrap();
    assert_eq!(report["reminders_sent"], 0, "{report}");

    let events = store.list_events(&account.id, None, 50).await.unwrap();
    let reminder = events
        .iter()
        .find(|e| e.kind == "enrollment_reminder_3d")
        .expect("the 3-day reminder run is audited");
    assert_eq!(reminder.outcome, "partial");
    assert_eq!(reminder.detail["failed"], 1, "{:?}", reminder.detail);
    assert_eq!(reminder.detail["sent"], 0, "{:?}", reminder.detail);
}

/// Each function's IAM actions in template.yaml, KMS rights from the key policy included.
fn template_actions() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let t: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut out = std::collections::BTreeMap::new();
    let resources = t["Resources"].as_mapping().unwrap();
    for (name, r) in resources {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let function = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .trim_start_matches("twostep-")
            .to_owned();
        let mut actions = std::collections::BTreeSet::new();
        for policy in r["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().unwrap() {
                for action in statement["Action"].as_sequence().unwrap() {
                    actions.insert(action.as_str().unwrap().to_owned());
                }
            }
        }
        let role = format!("{}Role.Arn", name.as_str().unwrap());
        for statement in t["Resources"]["SecretsKey"]["Properties"]["KeyPolicy"]["Statement"]
            .as_sequence()
            .unwrap()
        {
            if serde_yaml::to_string(&statement["Principal"])
                .unwrap()
                .contains(&role)
            {
                actions.insert(statement["Action"].as_str().unwrap().to_owned());
            }
        }
        out.insert(function, actions);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_call_a_function_makes_is_allowed_by_its_iam_statements() {
    // Drive every flow route (enrollment, login, replacement) and the admin side first.
    let stack = Stack::new("iam").await;
    user(&stack, "iam.agent@example.com", true).await;
    let (_, session) = enroll(&stack, "iam.agent@example.com").await;
    call(&stack, "GET", "/v1/me", None, Some(&session)).await;
    let (status, body) = call(
        &stack,
        "POST",
        "/v1/me/device/reset",
        Some(json!({})),
        Some(&session),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    call(
        &stack,
        "POST",
        "/v1/sign-out",
        Some(json!({})),
        Some(&session),
    )
    .await;

    let seen = SEEN.lock().unwrap().clone();
    let allowed = template_actions();
    for (function, actions) in &seen {
        let granted = &allowed[function];
        for action in actions {
            assert!(
                granted.contains(action),
                "{function} calls {action}, which template.yaml does not grant"
            );
        }
    }
    for function in [
        "sign-in",
        "send-verification-email",
        "confirm-email-code",
        "link-device",
        "verify-totp",
        "reset-device",
        "session",
    ] {
        assert!(seen.contains_key(function), "{function} was exercised");
    }
}
