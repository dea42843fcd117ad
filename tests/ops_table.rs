//! `twostep-local --table NAME`: the ops subcommands on a DynamoDB table (on the emulator), as an
//! operator runs them after `sam deploy`, with AWS settings from the standard environment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod aws;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use aws::{Stack, binary};
use twostep::domain::email::Email;
use twostep::domain::ids::AccountId;
use twostep::domain::model::Role;

/// Runs `twostep-local` with the emulator as the AWS endpoint and `data_dir` as
/// `TWOSTEP_DATA_DIR` in the environment; `stdin` is written and closed.
fn ops(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(binary("twostep-local"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TWOSTEP_DATA_DIR", data_dir)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", twostep::testing::moto::endpoint())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "{}: {text} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_subcommands_bootstrap_a_table() {
    let stack = Stack::new("ops").await;
    let table = stack.settings.table_name.as_str();
    let scratch = std::env::temp_dir().join(format!("twostep-ops-{}", std::process::id()));
    // TWOSTEP_DATA_DIR in the environment does not stop --table, and is not touched.
    let account = ok(&ops(
        &scratch,
        &["--table", table, "account", "add", "Ops Co"],
        None,
    ));
    let account_id = account.lines().last().unwrap().to_owned();
    let password = "a long operator password";
    let add_user = [
        "--table",
        table,
        "user",
        "add",
        "--account",
        &account_id,
        "--email",
        "Admin@Ops.Example",
        "--role",
        "admin",
        "--password-stdin",
    ];
    let out = ops(&scratch, &add_user, Some(password));
    let printed = ok(&out);
    let all = format!("{printed}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains(password), "the password is never echoed");
    let policy = [
        "--table",
        table,
        "policy",
        "--account",
        &account_id,
        "--enable",
    ];
    ok(&ops(&scratch, &policy, None));
    let job = ok(&ops(&scratch, &["--table", table, "enforce-logout"], None));
    assert!(job.contains("enforce-logout:"), "{job}");
    assert!(!scratch.exists(), "the data folder was not created");

    let store = &stack.app.store;
    let id = AccountId::from_raw(account_id.as_str());
    let stored = store.get_account(&id).await.unwrap().expect("account");
    assert_eq!(stored.name, "Ops Co");
    assert!(stored.policy.enabled, "policy --enable reached the table");
    let email = Email::parse("admin@ops.example").unwrap();
    let admin = store
        .find_user_by_email(&email)
        .await
        .unwrap()
        .expect("user");
    assert_eq!((admin.account_id, admin.role), (id, Role::Admin));

    // A data folder on the command line as well is refused: which store was meant?
    let both = ops(
        &scratch,
        &[
            "--data-dir",
            "elsewhere",
            "--table",
            table,
            "enforce-logout",
        ],
        None,
    );
    assert!(!both.status.success());
    let err = String::from_utf8_lossy(&both.stderr);
    assert!(err.contains("leave out --data-dir"), "{err}");
}
