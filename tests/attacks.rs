//! Attacks on the real `twostep-local` binary over loopback HTTP: races on codes and
//! challenges, guess storms against every counter, token confusion, lost-device abuse, expiry
//! boundaries on a test clock, odd JSON and odd HTTP, secrets in logs, and sign-in timing.
//! Each test asserts the secure outcome: a failure here is a weakness to fix, not a flake.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use common::totp::{code_at, decode_key};
use common::{Answer, Server, TestClock};
use serde_json::json;
use twostep::testing::logs::contains_secret;

const PW: &str = "correct horse battery staple";
/// 2026-12-03T12:00:00Z, on a 30-second step boundary.
const T0: u64 = 1_796_299_200;
const SIGN_IN: &str = "/v1/sign-in";
const SEND: &str = "/v1/verification-email";
const CONFIRM: &str = "/v1/verification-email/confirm";
const DEVICE: &str = "/v1/device";
const VERIFY: &str = "/v1/totp/verify";
const LOCKED: &str = "429 too_many_attempts";
const WRONG: &str = "401 invalid_code";
const GONE: &str = "401 invalid_challenge";
const NO_SESSION: &str = "401 invalid_session";
const BAD_PW: &str = "401 invalid_credentials";
const OK_EMAIL: &str = "200 email_verified";
const USED_UP: &str = "401 email_code_expired";

/// A server on a test clock at [`T0`], and every secret the test saw (none may reach a log).
struct Lab {
    s: Server,
    clock: TestClock,
    seen: Mutex<Vec<String>>,
}

impl Lab {
    /// One account with 2FA on per address, each with one user and [`PW`].
    fn new(emails: &[&str]) -> Self {
        let clock = TestClock::at(T0);
        let s = Server::start_with_clock(&clock);
        for email in emails {
            s.add_user(email, PW);
        }
        let seen = Mutex::new(vec![PW.to_owned()]);
        Self { s, clock, seen }
    }

    fn keep(&self, secret: &str) -> String {
        self.seen.lock().unwrap().push(secret.to_owned());
        secret.to_owned()
    }

    fn sign_in(&self, email: &str, password: &str) -> Answer {
        let body = json!({ "email": email, "password": password });
        self.s.post(SIGN_IN, &body)
    }

    /// Signs in with the right password; returns the challenge token.
    fn challenge(&self, email: &str) -> String {
        let a = is(self.sign_in(email, PW), "200");
        self.keep(a.body["challenge"]["token"].as_str().expect("challenge"))
    }

    fn at(&self, path: &str, challenge: &str, code: Option<&str>) -> Answer {
        let mut body = json!({ "challenge": challenge });
        if let Some(code) = code {
            body["code"] = json!(code);
        }
        self.s.post(path, &body)
    }

    fn verify(&self, challenge: &str, code: &str) -> Answer {
        self.at(VERIFY, challenge, Some(code))
    }

    /// Sends the verification email; returns the code in the one new message. (The outbox
    /// names files by the test clock, so "newest" cannot order two same-second mails.)
    fn send_code(&self, challenge: &str) -> String {
        let before = self.s.outbox();
        is(self.at(SEND, challenge, None), "200 email_sent");
        let mut new = self.s.outbox();
        new.retain(|p| !before.contains(p));
        assert_eq!(new.len(), 1, "one mail per send");
        let text = std::fs::read_to_string(&new[0]).unwrap();
        let text = &text[text.find("code is").expect("a code mail")..];
        let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
        self.keep(&code)
    }

    /// Email step done: the challenge is at `email_verified`.
    fn email_step(&self, challenge: &str) {
        let code = self.send_code(challenge);
        is(self.at(CONFIRM, challenge, Some(&code)), OK_EMAIL);
    }

    /// Links the device; returns its raw key.
    fn link(&self, challenge: &str) -> Vec<u8> {
        let a = is(self.at(DEVICE, challenge, None), "200 device_pending");
        self.keep(a.body["device"]["manual_key_grouped"].as_str().unwrap());
        self.keep(a.body["device"]["otpauth_uri"].as_str().unwrap());
        decode_key(&self.keep(a.body["device"]["manual_key"].as_str().unwrap()))
    }

    /// The code of `key` at the clock's time.
    fn code(&self, key: &[u8]) -> String {
        self.keep(&code_at(key, self.clock.now()))
    }

    /// Asserts a session answer (never cached); returns the token.
    fn session(&self, a: Answer) -> String {
        let a = is(a, "200 signed_in");
        assert_eq!(a.headers["cache-control"], "no-store");
        self.keep(a.body["session"]["token"].as_str().unwrap())
    }

    /// Enrolls `email` at the clock's time; returns its key and session.
    fn enroll(&self, email: &str) -> (Vec<u8>, String) {
        let ch = self.challenge(email);
        self.email_step(&ch);
        let key = self.link(&ch);
        let session = self.session(self.verify(&ch, &self.code(&key)));
        (key, session)
    }

    fn me(&self, session: &str) -> String {
        what(&self.s.get_auth("/v1/me", session))
    }

    fn logs_clean(&self) {
        let logs = self.s.logs();
        assert!(logs.contains("request served"), "logs were captured");
        let seen = self.seen.lock().unwrap();
        for secret in seen.iter() {
            let line = logs.lines().find(|l| contains_secret(l, secret));
            assert!(
                line.is_none(),
                "{secret:?} leaked in this log line: {line:?}"
            );
        }
    }
}

/// `"401 invalid_code"`, `"200 signed_in"`, `"200"`: the status, then the stable error code or
/// the success status if any.
fn what(a: &Answer) -> String {
    let code = a.body["status"].as_str().unwrap_or(a.code());
    format!("{} {code}", a.status).trim().to_owned()
}

/// Asserts that [`what`] `a` starts with `want`; returns `a`.
fn is(a: Answer, want: &str) -> Answer {
    assert!(what(&a).starts_with(want), "want {want}: {a:?}");
    a
}

fn tally(answers: &[Answer]) -> BTreeMap<String, usize> {
    let mut t = BTreeMap::new();
    for a in answers {
        *t.entry(what(a)).or_insert(0) += 1;
    }
    t
}

fn tally_is(answers: &[Answer], want: &[(&str, usize)]) {
    let want: BTreeMap<String, usize> = want.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
    assert_eq!(tally(answers), want);
}

/// Runs `f(0..n)` on `n` threads released together.
fn burst<F: Fn(usize) -> Answer + Sync>(n: usize, f: F) -> Vec<Answer> {
    let (gate, f) = (&Barrier::new(n), &f);
    let run = move |i| {
        gate.wait();
        f(i)
    };
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..n).map(|i| s.spawn(move || run(i))).collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// `n` distinct codes that no step around the clock's time accepts for `key`.
fn wrong_codes(lab: &Lab, key: &[u8], n: usize) -> Vec<String> {
    let now = lab.clock.now();
    let live: Vec<String> = (0..3).map(|k| code_at(key, now + k * 30 - 30)).collect();
    (0..)
        .map(|i: u32| format!("{:06}", (100_003 + i * 7_919) % 1_000_000))
        .filter(|c| !live.contains(c))
        .take(n)
        .collect()
}

fn retry_after(a: &Answer) -> u64 {
    a.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[test]
fn one_totp_code_raced_over_many_challenges_or_one_challenge_signs_in_once() {
    let email = "race@example.com";
    let lab = Lab::new(&[email]);
    let (key, _) = lab.enroll(email);
    lab.clock.advance(30);
    // Eight challenges of one user, the same valid code on each, all at once.
    let challenges: Vec<String> = (0..8).map(|_| lab.challenge(email)).collect();
    let code = lab.code(&key);
    let answers = burst(8, |i| lab.verify(&challenges[i], &code));
    // One session; every other try is a refused replay. While the tries are in flight they
    // may briefly reach the lock (each is taken before its code is checked), but a refused
    // replay is no wrong code and gives its try back.
    let t = tally(&answers);
    assert_eq!(t.get("200 signed_in"), Some(&1), "{t:?}");
    let allowed = ["200 signed_in", "401 code_already_used", LOCKED];
    assert!(t.keys().all(|k| allowed.contains(&k.as_str())), "{t:?}");
    // A losing challenge is intact, and the user not locked: the next step's code finishes it.
    let loser = answers.iter().position(|a| a.status != 200).unwrap();
    lab.clock.advance(30);
    lab.session(lab.verify(&challenges[loser], &lab.code(&key)));

    // One challenge, eight verifies with the right code at once.
    lab.clock.advance(30);
    let ch = lab.challenge(email);
    let code = lab.code(&key);
    let answers = burst(8, |_| lab.verify(&ch, &code));
    let t = tally(&answers);
    assert_eq!(t.get("200 signed_in"), Some(&1), "{t:?}");
    let all = ["200 signed_in", "401 code_already_used", GONE, LOCKED];
    assert!(t.keys().all(|k| all.contains(&k.as_str())), "{t:?}");
    let winner = answers.into_iter().find(|a| a.status == 200).unwrap();
    assert_eq!(lab.me(&lab.session(winner)), "200");
    // Nor did this burst lock the user.
    lab.clock.advance(30);
    let ch = lab.challenge(email);
    lab.session(lab.verify(&ch, &lab.code(&key)));
    lab.logs_clean();
}

#[test]
fn refused_replays_do_not_count_toward_the_lock_but_wrong_codes_do() {
    let email = "replay@example.com";
    let lab = Lab::new(&[email]);
    let (key, _) = lab.enroll(email);
    // The setup code, sent again on six new challenges one after another: each is refused,
    // none is a wrong code.
    let used = code_at(&key, lab.clock.now());
    for _ in 0..6 {
        let ch = lab.challenge(email);
        is(lab.verify(&ch, &used), "401 code_already_used");
    }
    lab.clock.advance(30);
    let ch = lab.challenge(email);
    lab.session(lab.verify(&ch, &lab.code(&key)));
    // Five wrong codes still lock, and the right code is refused until the lock ends.
    lab.clock.advance(30);
    let ch = lab.challenge(email);
    for wrong in &wrong_codes(&lab, &key, 4) {
        is(lab.verify(&ch, wrong), WRONG);
    }
    is(lab.verify(&ch, &wrong_codes(&lab, &key, 5)[4]), LOCKED);
    is(lab.verify(&ch, &lab.code(&key)), LOCKED);
    lab.logs_clean();
}

#[test]
fn emailed_code_guess_storm_counts_five_tries_and_brute_force_is_capped() {
    let email = "storm@example.com";
    let lab = Lab::new(&[email]);
    let ch = lab.challenge(email);
    let right = lab.send_code(&ch);
    let n: u32 = right.parse().unwrap();
    let wrong: Vec<String> = (1..=40)
        .map(|i| format!("{:06}", (n + i) % 1_000_000))
        .collect();
    let answers = burst(30, |i| lab.at(CONFIRM, &ch, Some(&wrong[i])));
    let t = tally(&answers);
    let counted = t.get(WRONG).copied().unwrap_or(0);
    assert!((1..=5).contains(&counted), "{t:?}");
    let allowed = [WRONG, "409 conflict", USED_UP];
    assert!(t.keys().all(|k| allowed.contains(&k.as_str())), "{t:?}");
    // Sequential guesses top the count up to exactly five, never more; then even the right
    // code is used up: five guesses per code, not five per burst.
    for guess in &wrong[30..35 - counted] {
        is(lab.at(CONFIRM, &ch, Some(guess)), WRONG);
    }
    is(lab.at(CONFIRM, &ch, Some(&wrong[39])), USED_UP);
    is(lab.at(CONFIRM, &ch, Some(&right)), USED_UP);

    // New codes are capped: 30 s apart, five per challenge, ten per user per hour. A brute
    // force of the 10^6 codes gets at most 50 guesses an hour.
    let refused = |a: Answer| {
        let a = is(a, LOCKED);
        assert!((1..=3600).contains(&retry_after(&a)), "{a:?}");
    };
    refused(lab.at(SEND, &ch, None));
    let mut sent = 1;
    for round in 0..3 {
        let ch = if round > 0 {
            lab.challenge(email)
        } else {
            ch.clone()
        };
        loop {
            lab.clock.advance(31);
            let a = lab.at(SEND, &ch, None);
            if a.status != 200 {
                refused(a);
                break;
            }
            sent += 1;
            assert!(sent <= 10, "more than ten codes in an hour");
        }
    }
    assert_eq!(sent, 10);
    lab.logs_clean();
}

#[test]
fn concurrent_resends_mail_one_code_only() {
    let email = "resend@example.com";
    let lab = Lab::new(&[email]);
    let ch = lab.challenge(email);
    let answers = burst(12, |_| lab.at(SEND, &ch, None));
    let t = tally(&answers);
    assert_eq!(t.get("200 email_sent"), Some(&1), "{t:?}");
    // The 30-second pause and the five-per-challenge cap hold under concurrency too: one
    // accepted send, one mail (every mail that goes out holds a code that works).
    assert_eq!(lab.s.outbox().len(), 1, "mails sent for {t:?}");
    // And the burst used one of the user's ten sends an hour, not twelve: nine more go out
    // (on new challenges, 30 s apart), then the hourly cap refuses.
    for n in 2..=10 {
        lab.clock.advance(31);
        let ch = lab.challenge(email);
        is(lab.at(SEND, &ch, None), "200 email_sent");
        assert_eq!(lab.s.outbox().len(), n);
    }
    lab.clock.advance(31);
    let ch = lab.challenge(email);
    is(lab.at(SEND, &ch, None), LOCKED);
    // A send the cap refused left its challenge where it was (no code to confirm yet).
    is(lab.at(CONFIRM, &ch, Some("123456")), "409 wrong_step");
    lab.clock.advance(3600);
    let ch = lab.challenge(email);
    is(lab.at(SEND, &ch, None), "200 email_sent");
    lab.logs_clean();
}

#[test]
fn wrong_totp_storm_locks_every_challenge_until_the_lock_ends() {
    let (victim, other) = ("locked@example.com", "bystander@example.com");
    let lab = Lab::new(&[victim, other]);
    let (key, _) = lab.enroll(victim);
    let (other_key, _) = lab.enroll(other);
    lab.clock.advance(60);
    let challenges: Vec<String> = (0..7).map(|_| lab.challenge(victim)).collect();
    let wrong = wrong_codes(&lab, &key, 30);
    let answers = burst(30, |i| lab.verify(&challenges[i % 6], &wrong[i]));
    tally_is(&answers, &[(WRONG, 4), (LOCKED, 26)]);
    for a in answers.iter().filter(|a| a.status == 429) {
        assert!((1..=900).contains(&retry_after(a)), "{a:?}");
    }
    // The lock covers every challenge, old and new, and the right code.
    let locked_at = lab.clock.now();
    let fresh = lab.challenge(victim);
    for ch in challenges[..6].iter().chain([&fresh]) {
        is(lab.verify(ch, &lab.code(&key)), LOCKED);
    }
    // "Set up a new mobile device" does not get round it: the new setup code is refused too.
    lab.email_step(&challenges[6]);
    let new_key = lab.link(&challenges[6]);
    is(lab.verify(&challenges[6], &lab.code(&new_key)), LOCKED);
    // It is the victim's lock alone, and the victim's password step is not locked.
    let ch = lab.challenge(other);
    lab.session(lab.verify(&ch, &lab.code(&other_key)));
    is(lab.sign_in(victim, PW), "200 totp_required");
    // One second before the end still locked; at the end the right code works again.
    lab.clock.set(locked_at + 899);
    let a = is(lab.verify(&fresh, &lab.code(&key)), LOCKED);
    assert_eq!(retry_after(&a), 1);
    lab.clock.set(locked_at + 900);
    let ch = lab.challenge(victim);
    lab.session(lab.verify(&ch, &lab.code(&key)));
    lab.logs_clean();
}

#[test]
fn a_burst_of_wrong_totp_codes_gets_no_more_than_five_checked() {
    let email = "burst@example.com";
    let lab = Lab::new(&[email]);
    let (key, _) = lab.enroll(email);
    lab.clock.advance(60);
    let challenges: Vec<String> = (0..10).map(|_| lab.challenge(email)).collect();
    let wrong = wrong_codes(&lab, &key, 30);
    let from = lab.s.logs().len();
    let answers = burst(30, |i| lab.verify(&challenges[i % 10], &wrong[i]));
    assert_eq!(tally(&answers)[WRONG], 4);
    // A code checked past the fifth try is a guess the lock should have stopped: had it been
    // right, it would have signed in (and reset the count). The try must be taken before the
    // check, atomically with the lock.
    // Each try is now taken before its code is checked; a granted try logs `outcome="ok"`, a
    // refused one `outcome="locked"`.
    let checked = lab.s.logs()[from..]
        .lines()
        .filter(|l| l.contains("record_totp_failure") && l.contains("outcome=\"ok\""))
        .count();
    assert!(checked >= 4, "the log line to count has changed");
    assert!(checked <= 5, "{checked} wrong codes checked in one burst");
    lab.logs_clean();
}

#[test]
fn a_burst_of_wrong_passwords_gets_no_more_than_the_limit_checked() {
    let email = "pwburst@example.com";
    let lab = Lab::new(&[email]);
    let guesses: Vec<String> = (0..16).map(|i| format!("guess number {i}")).collect();
    let answers = burst(16, |i| lab.sign_in(email, &guesses[i]));
    let t = tally(&answers);
    // Ten failures block the email; every guess answered 401 was checked (a right one would
    // have signed in), so no more than ten may be.
    let checked = t.get(BAD_PW).copied().unwrap_or(0);
    assert!(checked <= 10, "{checked} passwords checked: {t:?}");
    is(lab.sign_in(email, PW), LOCKED);
    lab.logs_clean();
}

#[test]
fn password_failures_lock_neither_the_second_step_nor_other_users() {
    let (a_mail, b_mail) = ("pw-target@example.com", "bystander@example.com");
    let lab = Lab::new(&[a_mail, b_mail]);
    let (a_key, _) = lab.enroll(a_mail);
    let (b_key, _) = lab.enroll(b_mail);
    lab.clock.advance(60);
    let a_ch = lab.challenge(a_mail);
    // Ten wrong passwords for A block A's password step (and only that) for the window.
    for i in 0..10 {
        is(lab.sign_in(a_mail, &format!("nope {i}")), BAD_PW);
    }
    is(lab.sign_in(a_mail, PW), LOCKED);
    is(lab.sign_in(&a_mail.to_uppercase(), PW), LOCKED);
    // A's second step on a live challenge and B's whole sign-in are untouched.
    lab.session(lab.verify(&a_ch, &lab.code(&a_key)));
    let b_ch = lab.challenge(b_mail);
    lab.session(lab.verify(&b_ch, &lab.code(&b_key)));
    lab.clock.advance(15 * 60);
    is(lab.sign_in(a_mail, PW), "200 totp_required");
    lab.logs_clean();
}

#[test]
fn tokens_only_work_as_what_they_are_for_whom_they_were_issued() {
    let (a_mail, b_mail) = ("owner-a@example.com", "owner-b@example.com");
    let lab = Lab::new(&[a_mail, b_mail]);
    let (a_key, a_session) = lab.enroll(a_mail);
    let (b_key, _) = lab.enroll(b_mail);
    lab.clock.advance(30);
    let (a_ch, b_ch) = (lab.challenge(a_mail), lab.challenge(b_mail));
    // B's valid code on A's challenge is just wrong for A, and stays unspent for B.
    let b_code = lab.code(&b_key);
    is(lab.verify(&a_ch, &b_code), WRONG);
    lab.session(lab.verify(&b_ch, &b_code));
    // A session is no challenge at any step; a challenge is no bearer on any route.
    for path in [CONFIRM, DEVICE, VERIFY] {
        is(lab.at(path, &a_session, Some("123456")), GONE);
    }
    for path in ["/v1/sign-out", "/v1/me/device/reset"] {
        let a = lab.s.raw("POST", path, b"{}".to_vec(), Some(&a_ch));
        is(a, NO_SESSION);
    }
    // Look-alikes: padded, NUL, unicode, bidi controls (up to 128 bytes: unknown; longer:
    // refused before any lookup).
    let padded = [" ", "\n", "\u{0}"].map(|pad| format!("{pad}{a_ch}{pad}"));
    let odd = ["\u{0}".repeat(10), "ü".repeat(64), "\u{202e}x".repeat(20)];
    for token in padded.iter().chain(&odd) {
        is(lab.verify(token, &lab.code(&a_key)), GONE);
    }
    for token in ["ü".repeat(65), "a".repeat(10_000)] {
        is(lab.at(SEND, &token, None), "400 invalid_field");
    }
    let long = "GET /v1/me HTTP/1.1\r\nAuthorization: Bearer ".to_owned() + &"a".repeat(8000);
    let long = long + "\r\n";
    let obs = b"GET /v1/me HTTP/1.1\r\nAuthorization: Bearer \xc3\xbc\xff\r\n";
    for head in [long.as_bytes(), obs] {
        let (status, text) = raw_http(&lab.s.base, head, b"", NOW);
        assert!(status == 401 && text.contains("invalid_session"), "{text}");
    }
    // Nothing above spent A's challenge or code.
    lab.session(lab.verify(&a_ch, &lab.code(&a_key)));
    lab.logs_clean();
}

#[test]
fn lost_device_setup_keeps_the_old_device_and_parallel_setups_have_one_winner() {
    let email = "lost@example.com";
    let lab = Lab::new(&[email]);
    let (old, session) = lab.enroll(email);
    // Two "set up a new mobile device" flows from two sign-ins, both up to device_pending.
    let chs = [lab.challenge(email), lab.challenge(email)];
    lab.email_step(&chs[0]);
    lab.email_step(&chs[1]);
    let keys = [lab.link(&chs[0]), lab.link(&chs[1])];
    assert_ne!(keys[0], keys[1]);
    // Until a setup code verifies, the old device signs in and the old session lives.
    lab.clock.advance(30);
    let ch = lab.challenge(email);
    lab.session(lab.verify(&ch, &lab.code(&old)));
    assert_eq!(lab.me(&session), "200");
    // Both setup codes at once. Whichever comes second finds the device it was started to
    // replace gone, and must not replace the newer one.
    let codes = [lab.code(&keys[0]), lab.code(&keys[1])];
    let answers = burst(2, |i| lab.verify(&chs[i], &codes[i]));
    let t = tally(&answers);
    assert_eq!(t.get("200 signed_in"), Some(&1), "both setups won: {t:?}");
    let won = answers.iter().position(|a| a.status == 200).unwrap();
    let lost = 1 - won;
    let loser = what(&answers[lost]);
    assert!(["409 conflict", GONE].contains(&loser.as_str()), "{loser}");
    assert_eq!(lab.me(&session), NO_SESSION);
    // Afterwards neither the old secret nor the loser's signs in; the winner's does.
    lab.clock.advance(30);
    let ch = lab.challenge(email);
    for k in [&old, &keys[lost]] {
        is(lab.verify(&ch, &lab.code(k)), WRONG);
    }
    let winner_session = lab.session(lab.verify(&ch, &lab.code(&keys[won])));
    // Nor can the losing setup take over later by trying again.
    lab.clock.advance(30);
    let retry = lab.verify(&chs[lost], &lab.code(&keys[lost]));
    assert_ne!(retry.status, 200, "the losing setup took over: {retry:?}");
    assert_eq!(lab.me(&winner_session), "200");
    lab.logs_clean();
}

#[test]
fn challenges_emailed_codes_and_sessions_end_exactly_on_time() {
    let email = "clock@example.com";
    let lab = Lab::new(&[email]);
    let ch = lab.challenge(email); // at T0: lives until T0 + 15 min
    let code = lab.send_code(&ch); // lives until T0 + 10 min
    lab.clock.set(T0 + 600);
    is(lab.at(CONFIRM, &ch, Some(&code)), USED_UP);
    lab.clock.set(T0 + 599);
    is(lab.at(CONFIRM, &ch, Some(&code)), OK_EMAIL);
    lab.clock.set(T0 + 899);
    let key = lab.link(&ch);
    lab.clock.set(T0 + 900);
    is(lab.verify(&ch, &lab.code(&key)), GONE);
    lab.clock.set(T0 + 901);
    is(lab.at(DEVICE, &ch, None), GONE);
    // Nothing was enrolled (sign-in asks for enrollment again); a session lasts 12 hours.
    let (_, session) = lab.enroll(email);
    let start = lab.clock.now();
    lab.clock.set(start + 12 * 3600 - 1);
    assert_eq!(lab.me(&session), "200");
    lab.clock.set(start + 12 * 3600);
    assert_eq!(lab.me(&session), NO_SESSION);
    lab.logs_clean();
}

/// Asserts a refusal: 4xx and exactly `{"error":{"code","message"}}` with a snake_case code.
fn refusal(a: &Answer, what: &str) {
    let code = a.code();
    let shape = json!({ "error": { "code": code, "message": a.body["error"]["message"] } });
    let ok = (400..500).contains(&a.status) && a.body == shape;
    assert!(ok, "{what}: {a:?}");
    assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
}

/// Bodies that must be refused, one a line (`$ch` is the live challenge, `$email` the user).
const ODD_JSON: &str = r#"{"challenge":"$ch","code":1e999999}
{"challenge":"$ch","code":-0.0e-999}
{"challenge":"$ch","code":18446744073709551616}
{"challenge":"$ch","code":"12345\u0000"}
{"challenge":"$ch","code":"\u0030\u0030\u0030\u0030\u0030\u0030\u0030"}
{"challenge":"$ch\u0000","code":"000000"}
{"challenge":"\ud800$ch","code":"000000"}
{"challenge":"$ch","code":"000000"}}
{"challenge":"$ch","code":"000000"},
{"email":"a\u0000b@example.com","password":"x"}
{"email":"$email\u0000","password":"x"}"#;

#[test]
fn odd_json_is_refused_with_a_stable_code_and_breaks_nothing() {
    let email = "json@example.com";
    let lab = Lab::new(&[email]);
    let ch = lab.challenge(email);
    let code = lab.send_code(&ch);
    let text = ODD_JSON.replace("$ch", &ch).replace("$email", email);
    let mut bodies: Vec<String> = text.lines().map(str::to_owned).collect();
    let (open, close) = ("[".repeat(5_000), "]".repeat(5_000));
    bodies.push(format!(r#"{{"challenge":"{ch}","code":{open}"x"{close}}}"#));
    bodies.push(format!("{open}{open}{close}{close}"));
    bodies.push("[".repeat(10_000));
    let nines = "9".repeat(15_000);
    bodies.push(format!(r#"{{"challenge":"{ch}","code":{nines}}}"#));
    bodies.push(format!("\u{feff}{{\"challenge\":\"{ch}\"}}"));
    for path in [SIGN_IN, CONFIRM, VERIFY] {
        for body in &bodies {
            let a = lab.s.raw("POST", path, body.clone().into_bytes(), None);
            refusal(&a, body.get(..60).unwrap_or(body));
        }
    }
    // Duplicate keys: read one way only, the last (as JSON.parse does), or refused.
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let dup = format!(r#"{{"challenge":"{ch}","code":"{wrong}","code":"{code}"}}"#);
    let a = lab.s.raw("POST", CONFIRM, dup.into_bytes(), None);
    if a.status == 200 {
        is(a, OK_EMAIL);
    } else {
        refusal(&a, "duplicate keys");
        is(lab.at(CONFIRM, &ch, Some(&code)), OK_EMAIL);
    }
    // The content type changes nothing: a form body is no JSON object.
    let form = format!("challenge={ch}");
    let head = format!(
        "POST {DEVICE} HTTP/1.1\r\nContent-Length: {}\r\n",
        form.len()
    );
    let head = head + "Content-Type: application/x-www-form-urlencoded\r\n";
    let (_, text) = raw_http(&lab.s.base, head.as_bytes(), form.as_bytes(), NOW);
    assert!(text.starts_with("HTTP/1.1 400") && text.contains("malformed_json"));
    // Still healthy, and the challenge moved only by the right requests.
    lab.link(&ch);
    lab.logs_clean();
}

/// Sends `head` (request line and headers, each ending in CRLF), `Host`, `Connection: close`
/// and `body` (in 9-byte pieces `pause` apart) on a bare connection; returns the status (0 if
/// none) and the whole answer.
fn raw_http(base: &str, head: &[u8], body: &[u8], pause: Duration) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let mut req = head.to_vec();
    req.extend(format!("Host: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    let _ = conn.write_all(&req);
    for piece in body.chunks(9) {
        std::thread::sleep(pause);
        let _ = conn.write_all(piece);
    }
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok());
    (status.unwrap_or(0), text)
}

const NOW: Duration = Duration::ZERO;

/// Request lines with a two-byte `{}` body and the status they must get (405 and 404 come
/// from the router; a 400 means the route matched and read the body).
const ODD_TARGETS: &str = "405 HEAD /v1/me|405 OPTIONS /v1/sign-in|404 OPTIONS *|\
404 POST /v1//sign-in|404 POST //v1/sign-in|400 POST /v1/sign-in/|400 POST /v1/sign-in?x=../..|\
404 POST /v1%2Fsign-in|404 POST /v1/x/../sign-in|404 POST /v1/./sign-in|404 POST /v1/sign-in%00|\
404 POST /v1/sign-in;x|404 POST /V1/SIGN-IN|404 GET /v1/accounts/%2e%2e/policy|\
404 GET /v1/accounts/..%2f/policy|405 TRACE /v1/me|405 BREW /v1/me";

#[test]
fn odd_http_gets_sane_answers_and_the_server_stays_up() {
    let email = "http@example.com";
    let lab = Lab::new(&[email]);
    let base = lab.s.base.clone();
    let addr = base.trim_start_matches("http://").to_owned();
    // 200 requests over 20 connections at once: all answered, none 5xx.
    burst(20, |i| {
        for j in 0..10 {
            let a = match (i + j) % 3 {
                0 => lab.s.get_auth("/v1/me", "junk"),
                1 => lab.at(SEND, "junk", None),
                _ => lab.s.raw("GET", "/v1/nope", Vec::new(), None),
            };
            refusal(&a, "in parallel");
        }
        is(lab.s.get_auth("/v1/me", "junk"), "401")
    });
    // Forty connections stalled mid-body hold up nobody; a body that trickles in is read.
    let stalled: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(b"POST /v1/device HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n{")
                .unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    refusal(&lab.at(SEND, "junk", None), "while others stall");
    assert!(started.elapsed() < Duration::from_secs(5));
    let body = br#"{"challenge":"slow-token"}"#;
    let head = format!(
        "POST {DEVICE} HTTP/1.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    let (status, slow) = raw_http(&base, head.as_bytes(), body, Duration::from_millis(300));
    assert!(
        status == 401 && slow.contains("invalid_challenge"),
        "{slow}"
    );
    drop(stalled);
    // Methods and path tricks: the router's 404 or 405, or the route itself; never a 5xx.
    for case in ODD_TARGETS.split('|') {
        let (want, line) = case.split_once(' ').unwrap();
        let head = format!("{line} HTTP/1.1\r\nContent-Length: 2\r\n");
        let (status, text) = raw_http(&base, head.as_bytes(), b"{}", NOW);
        assert_eq!(status.to_string(), want, "{line}: {text}");
        let json = text.contains(r#"{"error":{"code":""#);
        assert!(json || line.starts_with("HEAD"), "{text}");
    }
    // Absolute-form targets, smuggling-shaped framing, junk request lines: a 4xx.
    let heads = format!(
        "POST {base}/v1/sign-in HTTP/1.1|POST /v1/sign-in HTTP/1.1\r\nTransfer-Encoding: chunked|\
         POST /v1/sign-in HTTP/1.1\r\nContent-Length: 3|POST /v1/sign-in\tHTTP/1.1|\
         POST /v1/sign-in HTTP/1.1\r\nTransfer-Encoding: gzip, chunked|GET /v1/\u{e9} HTTP/1.1"
    );
    for head in heads.split('|') {
        let head = format!("{head}\r\nContent-Length: 2\r\n");
        let (status, text) = raw_http(&base, head.as_bytes(), b"{}", NOW);
        assert!((400..500).contains(&status), "{head:?}: {text}");
    }
    // After all that, the server still works end to end.
    lab.enroll(email);
    lab.logs_clean();
}

#[test]
fn wrong_password_and_unknown_email_take_comparable_time() {
    let known = ["timing-a@example.com", "timing-b@example.com"];
    let lab = Lab::new(&known);
    let time = |email: &str| {
        let started = Instant::now();
        is(lab.sign_in(email, "wrong password, surely"), BAD_PW);
        started.elapsed().as_secs_f64()
    };
    time("warm-up@example.com");
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..10 {
        wrong.push(time(known[i % 2]));
        unknown.push(time(&format!("nobody-{i}@example.com")));
    }
    wrong.sort_by(f64::total_cmp);
    unknown.sort_by(f64::total_cmp);
    let (w, u) = (wrong[5], unknown[5]);
    eprintln!("medians: wrong password {w:.4}s, unknown email {u:.4}s");
    assert!(w < 3.0 * u && u < 3.0 * w, "{w:.4}s vs {u:.4}s");
    lab.logs_clean();
}
