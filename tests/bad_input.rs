//! Bad input over HTTP against the real `twostep-local` binary: every refusal is a 4xx with a
//! stable code in the `{"error":{"code","message"}}` shape, echoes no secret, and leaves the
//! user's sign-in exactly where it was (the next real step still succeeds from there).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::cell::RefCell;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::totp::{code_at, decode_key};
use common::{Answer, Server, unix_now};
use serde_json::{Value, json};
use twostep::testing::logs::contains_secret;

const PASSWORD: &str = "correct horse battery staple";
const SIGN_IN: &str = "/v1/sign-in";
const SEND: &str = "/v1/verification-email";
const CONFIRM: &str = "/v1/verification-email/confirm";
const DEVICE: &str = "/v1/device";
const VERIFY: &str = "/v1/totp/verify";

/// Bodies that are not one JSON object, separated by `|` (invalid UTF-8 comes separately).
const NOT_OBJECTS: &str = r#"{|[]|"x"||null|42|{"a":1}}|{"challenge":"x"|[{"challenge":"x"}]"#;

/// Missing or mistyped fields: under each route, the stable code, the field the message must
/// name and the body (`$email`, `$pw`, `$ch` and `$code` are filled in).
const FIELD_CASES: &str = r#"
/v1/sign-in
missing_field  email      {"password":"$pw"}
missing_field  password   {"email":"$email"}
missing_field  password   {"email":"$email","password":null}
invalid_field  email      {"email":42,"password":"$pw"}
invalid_field  password   {"email":"$email","password":["$pw"]}
invalid_field  email      {"email":"no-at-sign","password":"$pw"}
invalid_field  client     {"email":"$email","password":"$pw","client":"web"}
invalid_field  platform   {"email":"$email","password":"$pw","client":{"platform":"beos"}}
/v1/verification-email
missing_field  challenge  {}
invalid_field  challenge  {"challenge":7}
invalid_field  challenge  {"challenge":""}
/v1/device
invalid_field  challenge  {"challenge":{"token":"$ch"}}
/v1/verification-email/confirm
missing_field  challenge  {"code":"$code"}
missing_field  code       {"challenge":"$ch"}
missing_field  code       {"challenge":"$ch","code":null}
invalid_field  code       {"challenge":"$ch","code":["$code"]}
/v1/totp/verify
missing_field  code       {"challenge":"$ch"}
"#;

/// A second server process on the same data folder whose clock runs `offset` seconds ahead.
struct Shifted {
    child: Child,
    base: String,
}

impl Shifted {
    /// Start it *before* creating the challenges it is to judge: its start-up housekeeping
    /// purges rows that look expired by its clock, which would hide the check on read.
    fn start(server: &Server, offset: i64) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_twostep-local"))
            .arg("--data-dir")
            .arg(server.dir())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("TWOSTEP_CLOCK_OFFSET_SECONDS", offset.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a second twostep-local");
        // Read up to the address line (the end of output if it never starts); the rest of its
        // output is two informational lines that it may fail to write.
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let listening = |l: String| Some(l.strip_prefix("Twostep is listening on ")?.to_owned());
        let Some(base) = lines.map_while(Result::ok).find_map(listening) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the clock-shifted server did not start");
        };
        Self { child, base }
    }
}

impl Drop for Shifted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answer(resp: reqwest::blocking::Response) -> Answer {
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let text = resp.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        body,
        headers,
    }
}

/// A challenge step on the server at `base`: `{"challenge"}`, plus `"code"` when given.
fn at(base: &str, path: &str, challenge: &str, code: Option<&str>) -> Answer {
    let mut body = json!({ "challenge": challenge });
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    post(base, path, &body)
}

fn post(base: &str, path: &str, body: &Value) -> Answer {
    let req = reqwest::blocking::Client::new().post(format!("{base}{path}"));
    answer(req.json(body).send().unwrap())
}

fn sign_in(base: &str, email: &str, password: &str) -> Answer {
    let body = json!({ "email": email, "password": password });
    post(base, SIGN_IN, &body)
}

/// POSTs `body` on a bare connection, reading the answer while the body still goes out: the
/// server answers an oversized body early and closes, which a client that insists on finishing
/// its upload first (reqwest, now and then) reports as a broken connection instead.
fn upload(base: &str, path: &str, body: Vec<u8>) -> Answer {
    let addr = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = conn.try_clone().unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let sending = std::thread::spawn(move || {
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw); // keeps what arrived before a reset
    let _ = sending.join();
    raw_answer(&raw).0
}

/// A raw HTTP/1.1 answer as read off the socket: the answer (status 0 if there was none) and
/// its head, lowercased.
fn raw_answer(raw: &[u8]) -> (Answer, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = serde_json::from_str(body).unwrap_or(Value::String(text.to_string()));
    let headers = reqwest::header::HeaderMap::new();
    let answer = Answer {
        status,
        body,
        headers,
    };
    (answer, head.to_ascii_lowercase())
}

fn ok(a: Answer, status: &str) -> Answer {
    assert!(a.status == 200 && a.body["status"] == status, "{a:?}");
    a
}

fn msg(a: &Answer) -> &str {
    a.body["error"]["message"].as_str().unwrap_or_default()
}

/// One test's server, and every secret the test has seen: no answer and no log may hold one.
struct T {
    s: Server,
    seen: RefCell<Vec<String>>,
}

impl T {
    /// A server with one user (2FA on, no device) per address, all with [`PASSWORD`].
    fn new(emails: &[&str]) -> Self {
        let s = Server::start();
        for email in emails {
            s.add_user(email, PASSWORD);
        }
        let seen = RefCell::new(vec![PASSWORD.to_owned()]);
        Self { s, seen }
    }

    fn keep(&self, secret: &str) -> String {
        self.seen.borrow_mut().push(secret.to_owned());
        secret.to_owned()
    }

    /// Asserts a refusal such as `"409 wrong_step"`: status and stable code, the body exactly
    /// `{"error":{"code","message"}}`, no secret echoed. Returns the answer.
    fn no(&self, a: Answer, want: &str) -> Answer {
        assert_eq!(format!("{} {}", a.status, a.code()), want, "{a:?}");
        let shape = json!({ "error": { "code": a.code(), "message": msg(&a) } });
        assert!(a.body == shape && !msg(&a).is_empty(), "{}", a.body);
        self.clean(&a.body.to_string());
        a
    }

    /// Asserts that `text` holds none of the secrets seen so far.
    fn clean(&self, text: &str) {
        for s in self.seen.borrow().iter() {
            assert!(!contains_secret(text, s), "{s:?} leaked: {text}");
        }
    }

    fn logs_clean(&self) {
        self.clean(&self.s.logs());
    }

    fn post(&self, path: &str, body: Vec<u8>) -> Answer {
        self.s.raw("POST", path, body, None)
    }

    fn sign_in(&self, email: &str, password: &str) -> Answer {
        sign_in(&self.s.base, email, password)
    }

    /// Signs in; returns the challenge at `enrollment_required`.
    fn start(&self, email: &str) -> String {
        let a = ok(self.sign_in(email, PASSWORD), "enrollment_required");
        self.keep(a.body["challenge"]["token"].as_str().unwrap())
    }

    /// A challenge step on the main server, with a string code.
    fn at(&self, path: &str, challenge: &str, code: Option<&str>) -> Answer {
        at(&self.s.base, path, challenge, code)
    }

    /// Sends the verification email through the server at `base`; returns the emailed code.
    fn send_code(&self, base: &str, challenge: &str, email: &str) -> String {
        let before = self.s.outbox().len();
        ok(at(base, SEND, challenge, None), "email_sent");
        assert_eq!(self.s.outbox().len(), before + 1, "one mail per send");
        self.keep(&self.s.emailed_code(email))
    }

    /// Links the device; returns the raw TOTP key.
    fn link(&self, challenge: &str) -> Vec<u8> {
        let a = ok(self.at(DEVICE, challenge, None), "device_pending");
        decode_key(&self.keep(a.body["device"]["manual_key"].as_str().unwrap()))
    }

    /// Verifies the app's current code; returns the session token.
    fn verify(&self, challenge: &str, key: &[u8]) -> String {
        let code = code_at(key, unix_now());
        let a = ok(self.at(VERIFY, challenge, Some(&code)), "signed_in");
        self.keep(a.body["session"]["token"].as_str().unwrap())
    }

    /// `GET /v1/me` answers for `email`, enrolled.
    fn assert_enrolled(&self, session: &str, email: &str) {
        let me = self.s.get_auth("/v1/me", session);
        assert_eq!(me.status, 200, "{me:?}");
        assert_eq!(me.body["email"], email);
        assert_eq!(me.body["two_step"]["enrolled"], true);
    }

    /// From `email_verified` to an enrolled session.
    fn finish(&self, challenge: &str, email: &str) -> String {
        let key = self.link(challenge);
        let session = self.verify(challenge, &key);
        self.assert_enrolled(&session, email);
        session
    }

    /// No device exists for `email`: a new sign-in still asks for enrollment.
    fn assert_not_enrolled(&self, email: &str) {
        ok(self.sign_in(email, PASSWORD), "enrollment_required");
    }
}

#[test]
fn malformed_json_is_refused_and_changes_nothing() {
    let email = "malformed@example.com";
    let t = T::new(&[email]);
    let ch = t.start(email);
    let mails = t.s.outbox().len();
    // With the real challenge and password inside, so a refusal that moved anything would show.
    let texts = NOT_OBJECTS.replace('x', &ch).replace('|', "\n");
    let mut bodies: Vec<Vec<u8>> = texts.lines().map(|b| b.as_bytes().to_vec()).collect();
    bodies.push(b"\xff\xfe{}".to_vec());
    let mut not_utf8 = format!(r#"{{"challenge":"{ch}"#).into_bytes();
    not_utf8.extend(b"\xff\"}");
    bodies.push(not_utf8);
    bodies.push(format!(r#"{{"email":"{email}","password":"{PASSWORD}""#).into_bytes());
    for path in [SIGN_IN, SEND, CONFIRM, DEVICE, VERIFY] {
        for body in &bodies {
            t.no(t.post(path, body.clone()), "400 malformed_json");
        }
    }
    assert_eq!(t.s.outbox().len(), mails, "no mail went out");
    // Still at enrollment_required: linking is refused, the email step starts and works.
    t.no(t.at(DEVICE, &ch, None), "409 wrong_step");
    let code = t.send_code(&t.s.base, &ch, email);
    ok(t.at(CONFIRM, &ch, Some(&code)), "email_verified");
    t.finish(&ch, email);
    t.logs_clean();
}

#[test]
fn missing_and_mistyped_fields_are_named_and_change_nothing() {
    let email = "fields@example.com";
    let t = T::new(&[email]);
    let ch = t.start(email);
    let code = t.send_code(&t.s.base, &ch, email);
    let mut path = "";
    for line in FIELD_CASES.lines().filter(|l| !l.is_empty()) {
        if line.starts_with('/') {
            path = line;
            continue;
        }
        let (head, body) = line.split_at(line.find('{').unwrap());
        let head: Vec<&str> = head.split_whitespace().collect();
        let (error, field) = (head[0], head[1]);
        let body = body.replace("$email", email).replace("$pw", PASSWORD);
        let body = body.replace("$ch", &ch).replace("$code", &code);
        let a = t.no(t.post(path, body.into_bytes()), &format!("400 {error}"));
        let named = format!("`{field}`");
        assert!(msg(&a).contains(&named), "{line}: {a:?}");
    }
    // Still at email_sent, and the emailed code still works.
    ok(t.at(CONFIRM, &ch, Some(&code)), "email_verified");
    t.finish(&ch, email);
    t.logs_clean();
}

#[test]
fn codes_must_be_six_digit_strings_and_spaces_are_ignored() {
    let email = "codes@example.com";
    let t = T::new(&[email]);
    let ch = t.start(email);
    let code = t.send_code(&t.s.base, &ch, email);
    let (parsed, long) = (code.parse::<u32>().unwrap(), "1".repeat(65));
    let refuse_bad_codes = |path: &str| {
        for number in [json!(123_456), json!(parsed), json!(12.5)] {
            let body = json!({ "challenge": ch, "code": number });
            let a = t.no(t.s.post(path, &body), "400 invalid_field");
            assert!(msg(&a).contains("leading zeros"), "{a:?}");
        }
        let bad = ["12345", "1234567", "12345a", "abcdef", "", "123-456"];
        for bad in bad.into_iter().chain(["１２３４５６", &long]) {
            t.no(t.at(path, &ch, Some(bad)), "400 invalid_code_format");
        }
    };
    let spaced = |c: &str| format!(" {} {}\t", &c[..3], &c[3..]);
    refuse_bad_codes(CONFIRM);
    // Eleven refusals, none counted as a try (five are allowed): the right code, split by white
    // space, still works.
    ok(t.at(CONFIRM, &ch, Some(&spaced(&code))), "email_verified");
    let key = t.link(&ch);
    refuse_bad_codes(VERIFY);
    // Nor counted towards the lockout (five wrong app codes): the spaced app code finishes.
    let totp = code_at(&key, unix_now());
    let a = ok(t.at(VERIFY, &ch, Some(&spaced(&totp))), "signed_in");
    t.assert_enrolled(&t.keep(a.body["session"]["token"].as_str().unwrap()), email);
    t.logs_clean();
}

#[test]
fn oversized_bodies_are_refused_before_anything_happens() {
    let email = "size@example.com";
    let t = T::new(&[email]);
    let huge = t.keep(&"p".repeat(17 * 1024));
    t.no(t.sign_in(email, &huge), "413 body_too_large");
    let two_mib = json!({ "email": email, "password": PASSWORD, "pad": "x".repeat(2 << 20) });
    let two_mib = serde_json::to_vec(&two_mib).unwrap();
    t.no(upload(&t.s.base, SIGN_IN, two_mib), "413 body_too_large");
    // Under the body cap but over the password cap.
    t.no(t.sign_in(email, &"p".repeat(2000)), "400 password_too_long");

    let ch = t.start(email);
    let code = t.send_code(&t.s.base, &ch, email);
    let padded = |len: usize| {
        let body = json!({ "challenge": ch, "code": code }).to_string();
        format!("{}{body}", " ".repeat(len - body.len())).into_bytes()
    };
    let cap = 16 * 1024;
    for len in [cap + 1, 17 * 1024, 1 << 20] {
        t.no(
            upload(&t.s.base, CONFIRM, padded(len)),
            "413 body_too_large",
        );
    }
    // Exactly at the cap the body is read, and the same code still works.
    ok(t.post(CONFIRM, padded(cap)), "email_verified");
    t.finish(&ch, email);
    t.logs_clean();
}

/// Sends the head of a `POST` declaring `declared` body bytes, then only `part`, and keeps the
/// connection open; returns the answer and how long it took.
fn stalled(base: &str, path: &str, part: &[u8], declared: usize) -> (Answer, Duration) {
    let addr = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    let started = std::time::Instant::now();
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(part).unwrap();
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw); // the server closes after answering
    let took = started.elapsed();
    let (answer, head) = raw_answer(&raw);
    assert!(head.contains("connection: close"), "{head}");
    (answer, took)
}

#[test]
fn a_body_that_stops_half_way_times_out_and_changes_nothing() {
    let email = "slow@example.com";
    let t = T::new(&[email]);
    let ch = t.start(email);
    let code = t.send_code(&t.s.base, &ch, email);
    let body = json!({ "challenge": ch, "code": code }).to_string();
    let half = &body.as_bytes()[..body.len() / 2];
    let (answer, took) = stalled(&t.s.base, CONFIRM, half, body.len());
    t.no(answer, "408 request_timeout");
    assert!(took >= Duration::from_secs(9), "answered after {took:?}");
    // The code was never read: the same request, sent whole, still works.
    ok(t.post(CONFIRM, body.into_bytes()), "email_verified");
    t.finish(&ch, email);
    t.logs_clean();
}

#[test]
fn expired_and_unknown_challenges_are_refused() {
    let email = "expiry@example.com";
    let t = T::new(&[email]);
    let later = Shifted::start(&t.s, 16 * 60);
    let ch = t.start(email);
    // (It works on the same data: it signs the user in.)
    ok(sign_in(&later.base, email, PASSWORD), "enrollment_required");
    let code = t.send_code(&t.s.base, &ch, email);
    let c = Some(code.as_str());
    let steps = [(SEND, None), (CONFIRM, c), (DEVICE, None), (VERIFY, c)];
    // Sixteen minutes on, the fifteen-minute challenge is refused at every step.
    for (path, c) in steps {
        t.no(at(&later.base, path, &ch, c), "401 invalid_challenge");
    }
    // Unknown tokens, near misses included, get the same answer.
    let last = if ch.ends_with('A') { 'B' } else { 'A' };
    let near_miss = format!("{}{last}", &ch[..ch.len() - 1]);
    let longest = "a".repeat(128);
    for token in ["Zm9yZ2VkLXRva2Vu", "x", &near_miss, &longest] {
        for (path, c) in steps {
            t.no(t.at(path, token, c), "401 invalid_challenge");
        }
    }
    t.no(t.at(SEND, &"a".repeat(129), None), "400 invalid_field");
    // On the real clock the challenge is live and untouched: the emailed code still works.
    ok(t.at(CONFIRM, &ch, Some(&code)), "email_verified");
    t.finish(&ch, email);
    // A finished challenge is spent.
    t.no(t.at(SEND, &ch, None), "401 invalid_challenge");
    t.logs_clean();
}

#[test]
fn one_users_challenge_cannot_finish_anothers_flow() {
    let (alice, bob) = ("alice@example.com", "bob@example.com");
    let t = T::new(&[alice, bob]);
    let (a_ch, b_ch) = (t.start(alice), t.start(bob));
    let a_code = t.send_code(&t.s.base, &a_ch, alice);
    let b_code = t.send_code(&t.s.base, &b_ch, bob);
    assert_ne!(a_code, b_code, "a one-in-a-million collision: run again");
    // Bob's code on Alice's challenge is just wrong, five times; then Alice's code is used up.
    for _ in 0..5 {
        t.no(t.at(CONFIRM, &a_ch, Some(&b_code)), "401 invalid_code");
    }
    let a = t.at(CONFIRM, &a_ch, Some(&a_code));
    t.no(a, "401 email_code_expired");
    // None of that touched Bob: his code still works on his challenge.
    ok(t.at(CONFIRM, &b_ch, Some(&b_code)), "email_verified");
    // Alice's challenge cannot take Bob's next steps, nor spend his app's code.
    t.no(t.at(DEVICE, &a_ch, None), "409 wrong_step");
    let b_key = t.link(&b_ch);
    let b_totp = t.keep(&code_at(&b_key, unix_now()));
    t.no(t.at(VERIFY, &a_ch, Some(&b_totp)), "409 wrong_step");
    let b_session = t.verify(&b_ch, &b_key);
    // A session is not a challenge, nor a challenge a session.
    t.no(t.at(SEND, &b_session, None), "401 invalid_challenge");
    t.no(t.s.get_auth("/v1/me", &a_ch), "401 invalid_session");
    t.assert_enrolled(&b_session, bob);
    t.assert_not_enrolled(alice);
    t.logs_clean();
}

#[test]
fn steps_cannot_be_skipped_or_repeated() {
    let email = "order@example.com";
    let t = T::new(&[email]);
    let ch = t.start(email);
    let wrong_step = |path: &str, code: Option<&str>, state: &str| {
        let a = t.no(t.at(path, &ch, code), "409 wrong_step");
        let named = format!("`{state}`");
        assert!(msg(&a).contains(&named), "{path}: {a:?}");
    };
    wrong_step(DEVICE, None, "enrollment_required");
    wrong_step(CONFIRM, Some("123456"), "enrollment_required");
    wrong_step(VERIFY, Some("123456"), "enrollment_required");
    t.assert_not_enrolled(email);
    let code = t.send_code(&t.s.base, &ch, email);
    wrong_step(DEVICE, None, "email_sent");
    wrong_step(VERIFY, Some("123456"), "email_sent");
    t.assert_not_enrolled(email);
    ok(t.at(CONFIRM, &ch, Some(&code)), "email_verified");
    wrong_step(CONFIRM, Some(&code), "email_verified");
    wrong_step(VERIFY, Some("123456"), "email_verified");
    wrong_step(SEND, None, "email_verified");
    let key = t.link(&ch);
    let again = t.link(&ch);
    assert_eq!(again, key, "a second link returns the same pending secret");
    wrong_step(CONFIRM, Some(&code), "device_pending");
    wrong_step(SEND, None, "device_pending");
    t.assert_not_enrolled(email);
    let session = t.verify(&ch, &key);
    t.assert_enrolled(&session, email);
    // The finished challenge is spent; a new sign-in asks for the app's code.
    t.no(t.at(DEVICE, &ch, None), "401 invalid_challenge");
    ok(t.sign_in(email, PASSWORD), "totp_required");
    t.logs_clean();
}

#[test]
fn five_wrong_email_codes_use_the_code_up_until_a_resend() {
    let email = "tries@example.com";
    let t = T::new(&[email]);
    let later = Shifted::start(&t.s, 31);
    let ch = t.start(email);
    let code = t.send_code(&t.s.base, &ch, email);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        t.no(t.at(CONFIRM, &ch, Some(wrong)), "401 invalid_code");
    }
    t.no(t.at(CONFIRM, &ch, Some(&code)), "401 email_code_expired");
    t.no(t.at(DEVICE, &ch, None), "409 wrong_step");
    // A resend right away is paused for 30 seconds...
    let a = t.no(t.at(SEND, &ch, None), "429 too_many_attempts");
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{a:?}");
    // ...and 31 seconds later it goes through, with a new code that replaces the old one.
    let fresh = t.send_code(&later.base, &ch, email);
    if fresh != code {
        t.no(t.at(CONFIRM, &ch, Some(&code)), "401 invalid_code");
    }
    ok(t.at(CONFIRM, &ch, Some(&fresh)), "email_verified");
    t.finish(&ch, email);
    t.logs_clean();
}

#[test]
fn bad_sessions_routes_and_methods() {
    let email = "session@example.com";
    let t = T::new(&[email]);
    let ch = t.start(email);
    let code = t.send_code(&t.s.base, &ch, email);
    ok(t.at(CONFIRM, &ch, Some(&code)), "email_verified");
    let session = t.finish(&ch, email);
    let me_with = |auth: Option<&str>| {
        let mut req = reqwest::blocking::Client::new().get(format!("{}/v1/me", t.s.base));
        if let Some(value) = auth {
            req = req.header("authorization", value);
        }
        answer(req.send().unwrap())
    };
    t.no(me_with(None), "401 invalid_session");
    // Garbage, wrong schemes, a cut session, a challenge, oversized, no scheme at all.
    let auths =
        "Bearer junk|Bearer|Bearer   |Basic|Basic $s|Bearer $cut|Bearer $ch|Bearer $long|$s";
    let cut = &session[..session.len() - 1];
    for auth in auths.split('|') {
        let auth = auth
            .replace("$cut", cut)
            .replace("$s", &session)
            .replace("$ch", &ch);
        let auth = auth.replace("$long", &"a".repeat(129));
        t.no(me_with(Some(&auth)), "401 invalid_session");
    }
    let out = t.s.post_auth("/v1/sign-out", &json!({}), "garbage");
    t.no(out, "401 invalid_session");
    for (method, path) in [("GET", "/v1/nope"), ("POST", "/v1/sign-in/x"), ("GET", "/")] {
        t.no(t.s.raw(method, path, Vec::new(), None), "404 not_found");
    }
    for (method, path, allow) in [("GET", SIGN_IN, "POST"), ("DELETE", "/v1/me", "GET")] {
        let a = t.s.raw(method, path, Vec::new(), None);
        let a = t.no(a, "405 method_not_allowed");
        assert_eq!(a.headers["allow"], allow, "{a:?}");
    }
    // None of that touched the real session.
    t.assert_enrolled(&session, email);
    t.logs_clean();
}

#[test]
fn wrong_password_and_unknown_email_look_the_same() {
    let email = "creds@example.com";
    let t = T::new(&[email]);
    let wrong_password = t.keep("not the password at all");
    let wrong = t.no(t.sign_in(email, &wrong_password), "401 invalid_credentials");
    let unknown = t.sign_in("nobody@example.com", PASSWORD);
    let unknown = t.no(unknown, "401 invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    assert!(!wrong.body.to_string().contains("creds@"));
    let headers = |a: &Answer| {
        let mut h = a.headers.clone();
        h.remove("date");
        h
    };
    assert_eq!(headers(&wrong), headers(&unknown));
    // Two failures lock nothing: the right password still starts the second step.
    t.start(email);
    t.logs_clean();
}
