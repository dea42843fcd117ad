//! Starts moto's server for tests, or uses the one the test command started.
//!
//! `infra/scripts/test.sh` installs moto into `.venv/` and starts one server for the whole run,
//! exporting `TWOSTEP_TEST_AWS_ENDPOINT`. A test run without it (plain `cargo test`) starts its
//! own, watched by a shell loop that stops it when the test process exits. Either way the server
//! is `infra/scripts/moto_server.py`: moto behind one lock, so that each request is atomic as on
//! AWS (stock `moto_server` is not, and concurrent conditional writes both win on it). Without
//! moto the tests fail and say how to get it: they never skip.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The endpoint of a running moto server (`http://127.0.0.1:PORT`), started on first use.
///
/// # Panics
/// When no moto server can be found or started; the message says what to install.
pub fn endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(start).clone()
}

fn start() -> String {
    if let Ok(endpoint) = std::env::var("TWOSTEP_TEST_AWS_ENDPOINT") {
        return endpoint;
    }
    let python = find_python().unwrap_or_else(|| {
        panic!(
            "moto's server is needed for the AWS adapter tests and was not found: run \
             ./infra/scripts/test.sh (it installs moto into .venv/), or `pip install \
             \"moto[server]\"`, or set TWOSTEP_TEST_AWS_ENDPOINT to a running one"
        )
    });
    let port = free_port();
    // The shell loop outlives nothing: it stops moto as soon as this test process is gone.
    let script = format!(
        "\"$0\" \"$1\" 127.0.0.1 {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; \
         kill $m 2>/dev/null",
        parent = std::process::id()
    );
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&python)
        .arg(root().join("infra/scripts/moto_server.py"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server through sh");
    // Reaped when it ends (after this process), so it never lingers as a zombie.
    std::thread::spawn(move || watchdog.wait());
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on port {port} in 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python that has moto: the project's `.venv/`, else the one beside `moto_server` on `PATH`.
fn find_python() -> Option<PathBuf> {
    let local = root().join(".venv/bin/python");
    if local.exists() {
        return Some(local);
    }
    let path = std::env::var_os("PATH")?;
    let server = std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|p| p.exists())?;
    ["python3", "python"]
        .iter()
        .map(|n| server.with_file_name(n))
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// SDK settings for the emulator: fixed region and dummy credentials, no profile lookups.
#[cfg(feature = "aws")]
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(credentials)
        .load()
        .await
}
