//! Account policy over HTTP on the real binary, with a clock the test moves: enabling, the
//! 14-day date rule, forced logout checked on use and by the job, the client gate, admin
//! access rules, admin reset, pre-flight, reminders and the audit trail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::totp::{code_at, decode_key};
use common::{Answer, Server, TestClock, rfc3339};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
/// 2026-12-03T12:00:00Z.
const T0: u64 = 1_796_299_200;
const HOUR: u64 = 3600;

struct Account {
    id: String,
    admin: String,
}

/// An account with 2FA off, its "default" group at 4.3 build 1575 unless told otherwise, an
/// admin and an agent.
fn account(server: &Server, name: &str) -> Account {
    let id = server.cli(&["account", "add", name, "--two-step", "off"], None);
    let admin = format!("admin@{name}.example");
    for (email, role) in [
        (admin.as_str(), "admin"),
        (&format!("agent@{name}.example"), "agent"),
    ] {
        server.cli(
            &[
                "user",
                "add",
                "--account",
                &id,
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(PASSWORD),
        );
    }
    Account { id, admin }
}

fn agent(a: &Account) -> String {
    a.admin.replace("admin@", "agent@")
}

fn sign_in(server: &Server, email: &str, client: Option<Value>) -> Answer {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let Some(client) = client {
        body["client"] = client;
    }
    server.post("/v1/sign-in", &body)
}

fn password_session(server: &Server, email: &str) -> String {
    let a = sign_in(server, email, None);
    assert_eq!(a.body["status"], "signed_in", "{a:?}");
    a.body["session"]["token"].as_str().unwrap().to_owned()
}

/// Signs in a user without a device and takes the challenge to `device_pending`; returns the
/// challenge and the new key.
fn pending_setup(server: &Server, email: &str) -> (String, Vec<u8>) {
    let a = sign_in(server, email, None);
    let challenge = a.body["challenge"]["token"]
        .as_str()
        .expect("challenge")
        .to_owned();
    assert_eq!(a.body["status"], "enrollment_required", "{a:?}");
    server.post("/v1/verification-email", &json!({ "challenge": challenge }));
    let code = server.emailed_code(email);
    server.post(
        "/v1/verification-email/confirm",
        &json!({ "challenge": challenge, "code": code }),
    );
    let device = server.post("/v1/device", &json!({ "challenge": challenge }));
    let key = decode_key(device.body["device"]["manual_key"].as_str().unwrap());
    (challenge, key)
}

/// Signs in on a 2FA account, enrolling first if needed; returns a second-step session.
fn two_step_session(server: &Server, clock: &TestClock, email: &str) -> String {
    let (challenge, key) = pending_setup(server, email);
    let code = code_at(&key, clock.now());
    let a = server.post(
        "/v1/totp/verify",
        &json!({ "challenge": challenge, "code": code }),
    );
    assert_eq!(a.body["status"], "signed_in", "{a:?}");
    a.body["session"]["token"].as_str().unwrap().to_owned()
}

fn set_group(server: &Server, a: &Account, token: &str, group: &str, build: u32) -> Answer {
    let path = format!("/v1/accounts/{}/device-groups/{group}", a.id);
    server.put_auth(
        &path,
        &json!({ "client_version": "4.3", "client_build": build }),
        token,
    )
}

fn put_policy(server: &Server, a: &Account, token: &str, body: Value) -> Answer {
    server.put_auth(&format!("/v1/accounts/{}/policy", a.id), &body, token)
}

fn events(server: &Server, a: &Account, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/accounts/{}/events?limit=3", a.id);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = server.get_auth(&path, token);
        assert_eq!(page.status, 200, "{page:?}");
        all.extend(page.body["events"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn me_status(server: &Server, token: &str) -> u16 {
    server.get_auth("/v1/me", token).status
}

#[test]
fn clock_file_format() {
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(T0), "2026-12-03T12:00:00Z");
}

#[test]
fn enabling_the_date_range_and_the_device_group_gate() {
    let clock = TestClock::at(T0);
    let server = Server::start_with_clock(&clock);
    let a = account(&server, "acme");
    let admin = password_session(&server, &a.admin);

    // The users' group has no reported version yet: enabling is refused and names it.
    let refused = put_policy(&server, &a, &admin, json!({ "enabled": true }));
    assert_eq!(
        (refused.status, refused.code()),
        (409, "device_groups_below_required")
    );
    assert_eq!(refused.body["error"]["device_groups"][0]["name"], "default");
    assert_eq!(set_group(&server, &a, &admin, "default", 1574).status, 200);
    let refused = put_policy(&server, &a, &admin, json!({ "enabled": true }));
    assert_eq!(
        refused.body["error"]["device_groups"][0]["client_build"],
        1574
    );
    assert_eq!(set_group(&server, &a, &admin, "default", 1575).status, 200);

    // Enabling with a date given with an offset: stored in UTC.
    let date = rfc3339(T0 + 48 * HOUR).replace("T12:00:00Z", "T13:00:00+01:00");
    let on = put_policy(
        &server,
        &a,
        &admin,
        json!({ "enabled": true, "forced_logout_at": date }),
    );
    assert_eq!(on.status, 200, "{on:?}");
    assert_eq!(on.body["enabled_at"], "2026-12-03T12:00:00Z");
    assert_eq!(on.body["forced_logout_at"], rfc3339(T0 + 48 * HOUR));
    assert_eq!(on.body["forced_logout_latest"], rfc3339(T0 + 336 * HOUR));

    // While 2FA is on, the admin's password-only session may not change the policy.
    let a403 = put_policy(&server, &a, &admin, json!({ "enabled": true }));
    assert_eq!((a403.status, a403.code()), (403, "second_step_required"));
    clock.advance(60);
    let admin = two_step_session(&server, &clock, &a.admin);

    // +336 h after enabling is the last instant allowed; one second more is refused.
    let last = rfc3339(T0 + 336 * HOUR);
    let ok = put_policy(
        &server,
        &a,
        &admin,
        json!({ "enabled": true, "forced_logout_at": last }),
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    let over = rfc3339(T0 + 336 * HOUR + 1);
    let no = put_policy(
        &server,
        &a,
        &admin,
        json!({ "enabled": true, "forced_logout_at": over }),
    );
    assert_eq!((no.status, no.code()), (400, "invalid_forced_logout_at"));
    // A date without a time or offset is refused with the allowed range in UTC.
    let no = put_policy(
        &server,
        &a,
        &admin,
        json!({ "enabled": true, "forced_logout_at": "2026-12-10" }),
    );
    assert_eq!((no.status, no.code()), (400, "invalid_forced_logout_at"));
    let message = no.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&last), "{message}");
    assert!(message.contains("UTC"), "{message}");
    let past = rfc3339(T0 - 1);
    let no = put_policy(
        &server,
        &a,
        &admin,
        json!({ "enabled": true, "forced_logout_at": past }),
    );
    assert_eq!(no.code(), "invalid_forced_logout_at");

    // Enabling without a date; then disabling keeps the device: sign-in is password-only again.
    let ok = put_policy(
        &server,
        &a,
        &admin,
        json!({ "enabled": true, "forced_logout_at": null }),
    );
    assert_eq!(
        (ok.status, ok.body["forced_logout_at"].clone()),
        (200, Value::Null)
    );
    let off = put_policy(&server, &a, &admin, json!({ "enabled": false }));
    assert_eq!(off.body["enabled"], false);
    assert_eq!(sign_in(&server, &a.admin, None).body["status"], "signed_in");
    let back = put_policy(
        &server,
        &a,
        &password_session(&server, &a.admin),
        json!({ "enabled": true }),
    );
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(
        sign_in(&server, &a.admin, None).body["status"],
        "totp_required",
        "device kept"
    );

    let admin = second_admin_session(&server, &clock, &a);
    let k = kinds(&events(&server, &a, &admin));
    assert!(
        k.iter().filter(|k| *k == "policy_changed").count() >= 5,
        "{k:?}"
    );
    assert!(k.contains(&"device_group_set".to_owned()), "{k:?}");
    assert!(k.contains(&"device_enrolled".to_owned()), "{k:?}");
    // The refused changes are in the trail too, each with its reason; oldest first here.
    let all = events(&server, &a, &admin);
    let refused: Vec<&Value> = all
        .iter()
        .rev()
        .filter(|e| e["kind"] == "policy_changed" && e["outcome"] == "refused")
        .collect();
    let reasons: Vec<&str> = refused
        .iter()
        .map(|e| e["detail"]["refused"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "device_groups_below_required",
            "device_groups_below_required",
            "forced_logout_out_of_range",
            "forced_logout_out_of_range",
            "forced_logout_out_of_range",
        ],
        "{refused:?}"
    );
    assert_eq!(
        refused[0]["detail"]["refused"]["groups"],
        json!(["default"])
    );
    let actor = refused[0]["actor"].as_str().unwrap();
    assert!(actor.starts_with("usr_"), "the admin is the actor: {actor}");
}

/// A second-step session of a second admin of the account, enrolled now.
fn second_admin_session(server: &Server, clock: &TestClock, a: &Account) -> String {
    clock.advance(60);
    let email = format!("second.{}", a.admin);
    server.cli(
        &[
            "user",
            "add",
            "--account",
            &a.id,
            "--email",
            &email,
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    two_step_session(server, clock, &email)
}

#[test]
fn sessions_from_before_enabling_end_at_the_date_and_the_job_records_it_once() {
    let clock = TestClock::at(T0);
    let server = Server::start_with_clock(&clock);
    let a = account(&server, "beta");
    let old_agent = password_session(&server, &agent(&a));
    let admin = password_session(&server, &a.admin);
    set_group(&server, &a, &admin, "default", 1575);
    let date = T0 + 2 * HOUR;
    let on = put_policy(
        &server,
        &a,
        &admin,
        json!({ "enabled": true, "forced_logout_at": rfc3339(date) }),
    );
    assert_eq!(on.status, 200, "{on:?}");
    clock.advance(60);
    let admin = two_step_session(&server, &clock, &a.admin);

    // Pre-flight names the agent: not enrolled, and a session the date will end.
    let pre = server.get_auth(&format!("/v1/accounts/{}/policy/preflight", a.id), &admin);
    assert_eq!(pre.status, 200, "{pre:?}");
    let emails = |field: &str| -> Vec<String> {
        pre.body[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(emails("users_not_enrolled"), vec![agent(&a)]);
    assert!(emails("users_with_sessions_to_end").contains(&agent(&a)));
    assert_eq!(pre.body["device_groups_below"], json!([]));

    // Works until the date, refused one second after it although the job has not run.
    clock.set(date - 1);
    assert_eq!(me_status(&server, &old_agent), 200);
    clock.set(date + 1);
    assert_eq!(me_status(&server, &old_agent), 401);
    assert_eq!(
        me_status(&server, &admin),
        200,
        "second-step sessions are untouched"
    );

    // The job deletes those sessions and records it; a second run does nothing.
    let first = server.cli(&["enforce-logout"], None);
    assert!(first.contains("1 account(s) enforced"), "{first}");
    let second = server.cli(&["enforce-logout"], None);
    assert!(
        second.contains("0 account(s) enforced, 0 session(s) ended"),
        "{second}"
    );
    let policy = server.get_auth(&format!("/v1/accounts/{}/policy", a.id), &admin);
    assert_eq!(
        policy.body["enforcement"]["forced_logout_done_at"],
        rfc3339(date + 1)
    );
    assert!(
        policy.body["enforcement"]["sessions_ended"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let k = kinds(&events(&server, &a, &admin));
    assert_eq!(
        k.iter().filter(|k| *k == "forced_logout").count(),
        1,
        "{k:?}"
    );
}

#[test]
fn concurrent_job_runs_enforce_each_account_once() {
    let clock = TestClock::at(T0);
    let server = Server::start_with_clock(&clock);
    let accounts: Vec<Account> = (0..3).map(|i| account(&server, &format!("c{i}"))).collect();
    for a in &accounts {
        password_session(&server, &agent(a));
        let admin = password_session(&server, &a.admin);
        set_group(&server, a, &admin, "default", 1575);
        let body = json!({ "enabled": true, "forced_logout_at": rfc3339(T0 + HOUR) });
        assert_eq!(put_policy(&server, a, &admin, body).status, 200);
    }
    clock.set(T0 + HOUR + 5);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let bin = env!("CARGO_BIN_EXE_twostep-local");
            std::process::Command::new(bin)
                .arg("--data-dir")
                .arg(server.dir())
                .arg("enforce-logout")
                .env("TWOSTEP_TEST_CLOCK_FILE", &clock.path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut enforced = 0;
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let n: u32 = text
            .split("enforce-logout: ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        enforced += n;
    }
    assert_eq!(enforced, 3, "each account enforced by exactly one run");
    for a in &accounts {
        clock.advance(1);
        let admin = two_step_session(&server, &clock, &a.admin);
        let k = kinds(&events(&server, a, &admin));
        assert_eq!(
            k.iter().filter(|k| *k == "forced_logout").count(),
            1,
            "{k:?}"
        );
    }
}

#[test]
fn client_gate_applies_to_old_desktop_and_mobile_builds_while_two_step_is_on() {
    let clock = TestClock::at(T0);
    let server = Server::start_with_clock(&clock);
    let a = account(&server, "gate");
    let old = json!({ "platform": "windows", "version": "4.3", "build": 1574 });
    assert_eq!(
        sign_in(&server, &agent(&a), Some(old.clone())).status,
        200,
        "2FA off: no gate"
    );
    let admin = password_session(&server, &a.admin);
    set_group(&server, &a, &admin, "default", 1575);
    assert_eq!(
        put_policy(&server, &a, &admin, json!({ "enabled": true })).status,
        200
    );

    let refused = sign_in(&server, &agent(&a), Some(old));
    assert_eq!(
        (refused.status, refused.code()),
        (426, "client_upgrade_required")
    );
    assert_eq!(refused.body["error"]["required_client_version"], "4.3");
    assert_eq!(refused.body["error"]["required_client_build"], 1575);
    for client in [
        json!({ "platform": "android", "version": "4.3", "build": 1575 }),
        json!({ "platform": "mac", "version": "4.4", "build": 1 }),
        json!({ "platform": "web", "version": "1.0", "build": 1 }),
    ] {
        let a = sign_in(&server, &agent(&a), Some(client.clone()));
        assert_eq!(a.body["status"], "enrollment_required", "{client}: {a:?}");
    }
    // A wrong password from an old client is still just invalid credentials.
    let wrong = server.post(
        "/v1/sign-in",
        &json!({ "email": agent(&a), "password": "wrong password!", "client": { "platform": "ios", "version": "4.2", "build": 1 } }),
    );
    assert_eq!(wrong.code(), "invalid_credentials");
}

#[test]
fn only_admins_of_the_account_see_its_policy() {
    let clock = TestClock::at(T0);
    let server = Server::start_with_clock(&clock);
    let a = account(&server, "one");
    let b = account(&server, "two");
    let agent_session = password_session(&server, &agent(&a));
    let r = server.get_auth(&format!("/v1/accounts/{}/policy", a.id), &agent_session);
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let other_admin = password_session(&server, &b.admin);
    for path in ["policy", "policy/preflight", "events"] {
        let r = server.get_auth(&format!("/v1/accounts/{}/{path}", a.id), &other_admin);
        assert_eq!((r.status, r.code()), (404, "not_found"), "{path}");
    }
    let r = put_policy(&server, &a, &other_admin, json!({ "enabled": true }));
    assert_eq!(r.status, 404);
    let r = server.get_auth(&format!("/v1/accounts/{}/policy", a.id), "not-a-session");
    assert_eq!(r.code(), "invalid_session");
}

#[test]
fn admin_reset_ends_sessions_and_forces_enrollment() {
    let clock = TestClock::at(T0);
    let server = Server::start_with_clock(&clock);
    let a = account(&server, "reset");
    let admin = password_session(&server, &a.admin);
    set_group(&server, &a, &admin, "default", 1575);
    assert_eq!(
        put_policy(&server, &a, &admin, json!({ "enabled": true })).status,
        200
    );
    // A setup left at device_pending before the agent enrolled with another sign-in (as by
    // someone who once had the password and the mailbox).
    let (stale, stale_key) = pending_setup(&server, &agent(&a));
    clock.advance(1); // outbox files are named by time: the next code is the newest mail
    let agent_session = two_step_session(&server, &clock, &agent(&a));
    clock.advance(40);
    let admin = two_step_session(&server, &clock, &a.admin);
    let me = server.get_auth("/v1/me", &agent_session);
    let user_id = me.body["user_id"].as_str().unwrap().to_owned();

    // Six resets at once: one wins, the others find no device left.
    let path = format!("/v1/accounts/{}/users/{user_id}/device/reset", a.id);
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..6)
            .map(|_| s.spawn(|| server.post_auth(&path, &json!({}), &admin)))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let won: Vec<&Answer> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    assert_eq!(won[0].body["sessions_ended"], 1);
    for r in answers.iter().filter(|r| r.status != 200) {
        assert_eq!(
            (r.status, r.code()),
            (409, "device_reset_unavailable"),
            "{r:?}"
        );
    }
    assert_eq!(me_status(&server, &agent_session), 401);
    // The setup begun before the reset cannot put its key on the account now.
    let verify = json!({ "challenge": stale, "code": code_at(&stale_key, clock.now()) });
    let late = server.post("/v1/totp/verify", &verify);
    assert_eq!(
        (late.status, late.code()),
        (401, "invalid_challenge"),
        "{late:?}"
    );
    assert_eq!(
        sign_in(&server, &agent(&a), None).body["status"],
        "enrollment_required"
    );
    let again = server.post_auth(&path, &json!({}), &admin);
    assert_eq!(
        (again.status, again.code()),
        (409, "device_reset_unavailable")
    );
    let mails = server
        .outbox()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .filter(|t| t.contains(&format!("To: {}", agent(&a))) && t.contains("was reset"))
        .count();
    assert_eq!(mails, 1, "the user is told by email, once");
    let k = kinds(&events(&server, &a, &admin));
    assert_eq!(
        k.iter().filter(|k| *k == "admin_device_reset").count(),
        1,
        "{k:?}"
    );
}

#[test]
fn reminders_go_out_three_days_and_one_day_before_once_each() {
    let clock = TestClock::at(T0);
    let server = Server::start_with_clock(&clock);
    let a = account(&server, "remind");
    let admin = password_session(&server, &a.admin);
    set_group(&server, &a, &admin, "default", 1575);
    let date = T0 + 200 * HOUR;
    let body = json!({ "enabled": true, "forced_logout_at": rfc3339(date) });
    assert_eq!(put_policy(&server, &a, &admin, body).status, 200);

    let run = |at: u64| {
        clock.set(at);
        server.cli(&["enforce-logout"], None)
    };
    assert!(run(date - 73 * HOUR).contains("0 reminder(s)"));
    assert!(
        run(date - 72 * HOUR + 1).contains("2 reminder(s)"),
        "admin and agent"
    );
    assert!(run(date - 72 * HOUR + 60).contains("0 reminder(s)"));
    assert!(run(date - 24 * HOUR + 1).contains("2 reminder(s)"));
    assert!(run(date - 24 * HOUR + 60).contains("0 reminder(s)"));
    let reminders = server
        .outbox()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .filter(|t| t.contains("set up two-step verification before"))
        .count();
    assert_eq!(reminders, 4);
}

#[test]
fn the_audit_trail_records_replays_and_lockouts() {
    let clock = TestClock::at(T0);
    let server = Server::start_with_clock(&clock);
    let a = account(&server, "audit");
    let admin = password_session(&server, &a.admin);
    set_group(&server, &a, &admin, "default", 1575);
    assert_eq!(
        put_policy(&server, &a, &admin, json!({ "enabled": true })).status,
        200
    );
    let admin = two_step_session(&server, &clock, &a.admin);

    // The agent enrolls, then replays a code and later runs into the lockout.
    let email = agent(&a);
    let a0 = sign_in(&server, &email, None);
    let challenge = a0.body["challenge"]["token"].as_str().unwrap().to_owned();
    server.post("/v1/verification-email", &json!({ "challenge": challenge }));
    let code = server.emailed_code(&email);
    server.post(
        "/v1/verification-email/confirm",
        &json!({ "challenge": challenge, "code": code }),
    );
    let device = server.post("/v1/device", &json!({ "challenge": challenge }));
    let key = decode_key(device.body["device"]["manual_key"].as_str().unwrap());
    let setup = code_at(&key, clock.now());
    let ok = server.post(
        "/v1/totp/verify",
        &json!({ "challenge": challenge, "code": setup }),
    );
    assert_eq!(ok.status, 200);

    let again = sign_in(&server, &email, None);
    let challenge = again.body["challenge"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let replay = server.post(
        "/v1/totp/verify",
        &json!({ "challenge": challenge, "code": setup }),
    );
    assert_eq!(replay.code(), "code_already_used");
    let wrong = if code_at(&key, clock.now()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        server.post(
            "/v1/totp/verify",
            &json!({ "challenge": challenge, "code": wrong }),
        );
    }

    let all = events(&server, &a, &admin);
    let k = kinds(&all);
    for kind in [
        "device_enrolled",
        "totp_replay_refused",
        "totp_lockout",
        "policy_changed",
    ] {
        assert!(k.contains(&kind.to_owned()), "{kind} in {k:?}");
    }
    // Newest first, and nothing secret in the trail.
    let times: Vec<&str> = all.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let text = serde_json::to_string(&all).unwrap();
    for secret in [setup.as_str(), PASSWORD, challenge.as_str()] {
        assert!(!text.contains(secret), "a secret in the audit trail");
    }
}
