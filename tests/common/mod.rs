//! Test harness: starts the real `twostep-local` binary on a free loopback port with a fresh
//! data folder, talks to it over HTTP, reads its outbox and captures its logs.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod totp;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_twostep-local");

/// A running server and its data folder.
pub struct Server {
    child: Child,
    pub base: String,
    pub data: tempfile::TempDir,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<String>>,
    http: reqwest::blocking::Client,
    env: Vec<(String, String)>,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The stable error code, or "" for a success.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Server {
    /// Starts a server with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let data = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir")
            .arg(data.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start twostep-local");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let out = child.stdout.take().unwrap();
            let lines = stdout.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(addr) = line.strip_prefix("Twostep is listening on ") {
                        let _ = tx.send(addr.to_owned());
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        {
            let mut err = child.stderr.take().unwrap();
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; stderr:\n{}", stderr.lock().unwrap());
            }
        };
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Server {
            child,
            base,
            data,
            stdout,
            stderr,
            http,
            env,
        }
    }

    /// Starts a server whose clock is read from a file the test moves (see [`TestClock`]).
    pub fn start_with_clock(clock: &TestClock) -> Server {
        Self::start_with(&[("TWOSTEP_TEST_CLOCK_FILE", clock.path.to_str().unwrap())])
    }

    /// Starts a server with the default environment.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        self.data.path()
    }

    /// Runs an ops subcommand on the same data folder; returns trimmed stdout (asserts success).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.cli_raw(args, stdin);
        assert!(ok, "twostep-local {args:?} failed: {err}");
        out
    }

    /// Runs an ops subcommand; returns (success, stdout, stderr).
    pub fn cli_raw(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(self.dir())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.stderr.lock().unwrap().push_str(&stderr);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            stderr,
        )
    }

    /// Creates an account with 2FA on and a user in it; returns (account id, user id).
    pub fn add_user(&self, email: &str, password: &str) -> (String, String) {
        let account = self.cli(
            &["account", "add", "Test account", "--two-step", "on"],
            None,
        );
        let user = self.cli(
            &[
                "user",
                "add",
                "--account",
                &account,
                "--email",
                email,
                "--role",
                "agent",
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        );
        (account, user)
    }

    /// Sends a request with a raw body.
    pub fn raw(&self, method: &str, path: &str, body: Vec<u8>, bearer: Option<&str>) -> Answer {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            body,
            headers,
        }
    }

    /// POSTs JSON.
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.raw("POST", path, serde_json::to_vec(body).unwrap(), None)
    }

    /// POSTs JSON with a session token.
    pub fn post_auth(&self, path: &str, body: &Value, token: &str) -> Answer {
        self.raw("POST", path, serde_json::to_vec(body).unwrap(), Some(token))
    }

    /// PUTs JSON with a session token.
    pub fn put_auth(&self, path: &str, body: &Value, token: &str) -> Answer {
        self.raw("PUT", path, serde_json::to_vec(body).unwrap(), Some(token))
    }

    /// GETs with a session token.
    pub fn get_auth(&self, path: &str, token: &str) -> Answer {
        self.raw("GET", path, Vec::new(), Some(token))
    }

    /// The `.eml` files in the outbox, oldest first.
    pub fn outbox(&self) -> Vec<PathBuf> {
        let dir = self.dir().join("outbox");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
    }

    /// The six-digit code in the newest verification message to `email`.
    pub fn emailed_code(&self, email: &str) -> String {
        for path in self.outbox().iter().rev() {
            let text = std::fs::read_to_string(path).unwrap();
            let to_line = format!("To: {email}");
            if text.contains(&to_line) && text.contains("verification code is") {
                return six_digits_after(&text, "verification code is").expect("code in mail");
            }
        }
        panic!("no verification mail to {email} in {:?}", self.outbox());
    }

    /// Everything the server and ops commands wrote to stderr (their logs).
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

fn six_digits_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let digits: String = text[start..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    (digits.len() == 6).then_some(digits)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds since 1970 by the system clock (the server's clock too).
#[allow(clippy::disallowed_methods)] // The server under test reads the same system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A clock file that servers started with [`Server::start_with_clock`] read on every use.
pub struct TestClock {
    dir: tempfile::TempDir,
    pub path: PathBuf,
    now: Mutex<u64>,
}

impl TestClock {
    /// A clock at `unix` seconds.
    pub fn at(unix: u64) -> TestClock {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("now");
        let clock = TestClock {
            dir,
            path,
            now: Mutex::new(unix),
        };
        clock.set(unix);
        clock
    }

    /// Moves the clock to `unix` seconds (written atomically).
    pub fn set(&self, unix: u64) {
        *self.now.lock().unwrap() = unix;
        let tmp = self.dir.path().join("now.tmp");
        std::fs::write(&tmp, rfc3339(unix)).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
    }

    /// Moves the clock forward.
    pub fn advance(&self, seconds: u64) {
        let now = self.now() + seconds;
        self.set(now);
    }

    /// The clock's time.
    pub fn now(&self) -> u64 {
        *self.now.lock().unwrap()
    }
}

/// `unix` seconds as RFC 3339 UTC, e.g. `2026-12-03T12:00:00Z`.
pub fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), to avoid a date dependency in tests.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
