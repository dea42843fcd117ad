//! The whole flow over HTTP against the real `twostep-local` binary: enrollment by email and QR
//! key, login codes with replay refusal, lost-device re-enrollment, My Account replacement, and
//! no secret in the logs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::totp::{code_at, decode_key};
use common::{Answer, Server, unix_now};
use serde_json::{Value, json};
use twostep::testing::logs::contains_secret;

const PASSWORD: &str = "correct horse battery staple";

/// Everything secret the test saw, to look for in the logs at the end.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn add(&mut self, s: &str) -> String {
        self.0.push(s.to_owned());
        s.to_owned()
    }
}

fn ok(answer: &Answer, status: &str) {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["status"], status, "{answer:?}");
}

fn sign_in(server: &Server, email: &str, seen: &mut Seen) -> (String, String) {
    let a = server.post(
        "/v1/sign-in",
        &json!({ "email": email, "password": PASSWORD }),
    );
    assert_eq!(a.status, 200, "{a:?}");
    let token = a.body["challenge"]["token"]
        .as_str()
        .expect("challenge token");
    (
        a.body["status"].as_str().unwrap().to_owned(),
        seen.add(token),
    )
}

/// Walks email → confirm → link for a challenge; returns the raw TOTP key.
fn email_and_link(server: &Server, email: &str, challenge: &str, seen: &mut Seen) -> Vec<u8> {
    let a = server.post("/v1/verification-email", &json!({ "challenge": challenge }));
    ok(&a, "email_sent");
    assert_eq!(a.body["challenge"]["token"], challenge);
    let code = seen.add(&server.emailed_code(email));
    let a = server.post(
        "/v1/verification-email/confirm",
        &json!({ "challenge": challenge, "code": code }),
    );
    ok(&a, "email_verified");

    let a = server.post("/v1/device", &json!({ "challenge": challenge }));
    ok(&a, "device_pending");
    let device = &a.body["device"];
    let manual = seen.add(device["manual_key"].as_str().unwrap());
    seen.add(device["manual_key_grouped"].as_str().unwrap());
    let uri = device["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Twostep:"), "{uri}");
    assert!(uri.contains(&format!("secret={manual}")), "{uri}");
    assert!(uri.contains("issuer=Twostep"), "{uri}");
    assert!(
        device["qr_code_png"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    assert_eq!(manual.len(), 32, "160-bit key, unpadded base32");

    // A second call on the same challenge returns the same pending secret.
    let again = server.post("/v1/device", &json!({ "challenge": challenge }));
    ok(&again, "device_pending");
    assert_eq!(again.body["device"]["manual_key"], manual.as_str());
    decode_key(&manual)
}

fn verify(server: &Server, challenge: &str, code: &str) -> Answer {
    server.post(
        "/v1/totp/verify",
        &json!({ "challenge": challenge, "code": code }),
    )
}

fn session_of(answer: &Answer, seen: &mut Seen) -> String {
    ok(answer, "signed_in");
    seen.add(answer.body["session"]["token"].as_str().unwrap())
}

fn me(server: &Server, session: &str) -> Answer {
    server.get_auth("/v1/me", session)
}

#[test]
fn enrollment_login_replay_lost_device_and_my_account_replacement() {
    let server = Server::start();
    let mut seen = Seen::default();
    seen.add(PASSWORD);
    let (account, user) = server.add_user("Ana.Agent@Example.COM", PASSWORD);
    let email = "ana.agent@example.com";

    // Enrollment: email differently spelt, code from the outbox, key from the manual key.
    let (status, challenge) = sign_in(&server, "  ANA.agent@example.com ", &mut seen);
    assert_eq!(status, "enrollment_required");
    let key = email_and_link(&server, email, &challenge, &mut seen);
    let setup = seen.add(&code_at(&key, unix_now()));
    let first = session_of(&verify(&server, &challenge, &setup), &mut seen);

    let a = me(&server, &first);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["user_id"], user.as_str());
    assert_eq!(a.body["account_id"], account.as_str());
    assert_eq!(a.body["email"], email);
    assert_eq!(a.body["two_step"]["required"], true);
    assert_eq!(a.body["two_step"]["enrolled"], true);
    assert_eq!(a.body["two_step"]["can_reset_device"], true);

    // The finished challenge is gone.
    assert_eq!(
        verify(&server, &challenge, &setup).code(),
        "invalid_challenge"
    );

    // Sign out: the token stops working.
    ok(
        &server.post_auth("/v1/sign-out", &json!({}), &first),
        "signed_out",
    );
    assert_eq!(me(&server, &first).code(), "invalid_session");

    // Login with the next step's code (the setup step counts as used).
    let (status, challenge) = sign_in(&server, email, &mut seen);
    assert_eq!(status, "totp_required");
    let next = seen.add(&code_at(&key, unix_now() + 30));
    let second = session_of(&verify(&server, &challenge, &next), &mut seen);
    assert_eq!(me(&server, &second).status, 200);

    // The same code again is refused, on a fresh challenge.
    let (_, challenge) = sign_in(&server, email, &mut seen);
    let replay = verify(&server, &challenge, &next);
    assert_eq!(
        (replay.status, replay.code()),
        (401, "code_already_used"),
        "{replay:?}"
    );

    // Lost phone: "set up a new mobile device" from the code prompt, email first.
    let new_key = email_and_link(&server, email, &challenge, &mut seen);
    assert_ne!(new_key, key);
    // Until the new setup code verifies, the old device still signs in.
    let setup = seen.add(&code_at(&new_key, unix_now()));
    let third = session_of(&verify(&server, &challenge, &setup), &mut seen);
    assert_eq!(me(&server, &third).status, 200);
    // The replacement revoked the other sessions and mailed a notice.
    assert_eq!(me(&server, &second).code(), "invalid_session");
    assert!(
        notices(&server, email) >= 2,
        "enrollment and replacement notices"
    );

    // The old key's codes stop working; the new key's next code works.
    let (_, challenge) = sign_in(&server, email, &mut seen);
    for offset in [0, 30] {
        let old = seen.add(&code_at(&key, unix_now() + offset));
        let a = verify(&server, &challenge, &old);
        // A code of the old key can only match the new key by a one-in-a-million chance.
        assert_eq!(a.code(), "invalid_code", "{a:?}");
    }
    let code = seen.add(&code_at(&new_key, unix_now() + 30));
    let fourth = session_of(&verify(&server, &challenge, &code), &mut seen);

    // Phone in hand: My Account "Set up new device" from a fresh two-step session.
    let a = server.post_auth("/v1/me/device/reset", &json!({}), &fourth);
    ok(&a, "enrollment_required");
    let challenge = seen.add(a.body["challenge"]["token"].as_str().unwrap());
    let newest = email_and_link(&server, email, &challenge, &mut seen);
    let setup = seen.add(&code_at(&newest, unix_now()));
    let fifth = session_of(&verify(&server, &challenge, &setup), &mut seen);
    assert_eq!(me(&server, &fifth).body["two_step"]["enrolled"], true);
    assert_eq!(me(&server, &fourth).code(), "invalid_session");

    assert_no_secret_in_logs(&server, &seen);
}

fn notices(server: &Server, email: &str) -> usize {
    server
        .outbox()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .filter(|t| t.contains(&format!("To: {email}")) && t.contains("device changed"))
        .count()
}

fn assert_no_secret_in_logs(server: &Server, seen: &Seen) {
    let logs = server.logs();
    assert!(
        logs.contains("request served"),
        "logs were captured: {logs}"
    );
    for secret in &seen.0 {
        assert!(
            !contains_secret(&logs, secret),
            "{secret:?} appeared in the logs: {logs}"
        );
    }
}

#[test]
fn two_step_off_signs_in_with_password_only_and_reset_is_unavailable() {
    let server = Server::start();
    let account = server.cli(&["account", "add", "Plain", "--two-step", "off"], None);
    server.cli(
        &[
            "user",
            "add",
            "--account",
            &account,
            "--email",
            "bo@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    let a = server.post(
        "/v1/sign-in",
        &json!({ "email": "bo@example.com", "password": PASSWORD }),
    );
    ok(&a, "signed_in");
    let session = a.body["session"]["token"].as_str().unwrap().to_owned();
    let view = me(&server, &session);
    assert_eq!(
        view.body["two_step"],
        json!({
            "required": false, "enrolled": false, "enrolled_at": Value::Null,
            "can_reset_device": false, "session_second_step_at": Value::Null,
        })
    );
    let reset = server.post_auth("/v1/me/device/reset", &json!({}), &session);
    assert_eq!(
        (reset.status, reset.code()),
        (409, "device_reset_unavailable")
    );

    // Turning 2FA on through the ops command makes the next sign-in ask for enrollment.
    server.cli(&["policy", "--account", &account, "--enable"], None);
    let a = server.post(
        "/v1/sign-in",
        &json!({ "email": "bo@example.com", "password": PASSWORD }),
    );
    ok(&a, "enrollment_required");
}

#[test]
fn first_start_creates_a_demo_account_that_signs_in() {
    let server = Server::start();
    let lines = server.stdout.lock().unwrap().clone();
    let agent = lines
        .iter()
        .find(|l| l.contains("agent@demo.example"))
        .expect("demo agent line");
    let password = agent.rsplit("password: ").next().unwrap().trim().to_owned();
    let a = server.post(
        "/v1/sign-in",
        &json!({ "email": "agent@demo.example", "password": password }),
    );
    ok(&a, "enrollment_required");
    assert!(
        !server.logs().contains(&password),
        "the demo password is printed, never logged"
    );
}

#[test]
fn wrong_totp_codes_lock_the_second_step_but_not_the_password() {
    let server = Server::start();
    let mut seen = Seen::default();
    server.add_user("cy@example.com", PASSWORD);
    let (_, challenge) = sign_in(&server, "cy@example.com", &mut seen);
    let key = email_and_link(&server, "cy@example.com", &challenge, &mut seen);
    session_of(
        &verify(&server, &challenge, &code_at(&key, unix_now())),
        &mut seen,
    );

    let (_, challenge) = sign_in(&server, "cy@example.com", &mut seen);
    let right = code_at(&key, unix_now() + 30);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for attempt in 1..=5 {
        let a = verify(&server, &challenge, wrong);
        let expected = if attempt < 5 {
            (401, "invalid_code")
        } else {
            (429, "too_many_attempts")
        };
        assert_eq!((a.status, a.code()), expected, "attempt {attempt}: {a:?}");
    }
    // Locked: even the right code is refused, with Retry-After; a new challenge does not help.
    let a = verify(&server, &challenge, &right);
    assert_eq!(a.code(), "too_many_attempts");
    assert!(a.headers.get("retry-after").is_some());
    let (status, challenge) = sign_in(&server, "cy@example.com", &mut seen);
    assert_eq!(
        status, "totp_required",
        "the password step is not locked by TOTP failures"
    );
    assert_eq!(
        verify(&server, &challenge, &right).code(),
        "too_many_attempts"
    );
}
