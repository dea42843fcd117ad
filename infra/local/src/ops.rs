//! The ops subcommands and the first-start demo, printed for people: short lines, what and where.

use std::io::Read as _;

use twostep::domain::ids::AccountId;
use twostep::domain::model::Role;
use twostep::domain::secret::SecretText;
use twostep::flow::{App, FlowError, ops};

use crate::cli::{OnOff, RoleArg};

/// Creates an account; prints its id.
///
/// # Errors
/// A message for people.
pub async fn account_add(app: &App, name: &str, two_step: OnOff) -> Result<(), String> {
    let on = matches!(two_step, OnOff::On);
    let id = ops::add_account(app, name, on).await.map_err(explain)?;
    say(id.as_str());
    Ok(())
}

/// Creates a user with the password read from standard input; prints the user id.
///
/// # Errors
/// A message for people.
pub async fn user_add(
    app: &App,
    account: &str,
    email: &str,
    role: RoleArg,
    device_group: &str,
) -> Result<(), String> {
    let mut raw = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut raw)
        .map_err(|e| format!("could not read the password from standard input: {e}"))?;
    let password = SecretText::new(raw.trim_end_matches(['\r', '\n']).to_owned());
    raw.clear();
    let role = match role {
        RoleArg::Agent => Role::Agent,
        RoleArg::Admin => Role::Admin,
    };
    let account = AccountId::from_raw(account);
    let id = ops::add_user(app, &account, email, role, device_group, password)
        .await
        .map_err(explain)?;
    say(id.as_str());
    Ok(())
}

/// Turns two-step verification on or off.
///
/// # Errors
/// A message for people.
pub async fn policy(app: &App, account: &str, enable: bool) -> Result<(), String> {
    let account = AccountId::from_raw(account);
    ops::set_two_step(app, &account, enable)
        .await
        .map_err(explain)?;
    let state = if enable { "on" } else { "off" };
    say(&format!(
        "two-step verification is {state} for account {account}"
    ));
    Ok(())
}

/// Runs the enforce-logout job once and says what it did.
///
/// # Errors
/// A message for people.
pub async fn enforce_logout(app: &App) -> Result<(), String> {
    let report = twostep::flow::job::enforce_logout(app)
        .await
        .map_err(explain)?;
    say(&format!(
        "enforce-logout: {} account(s) enforced, {} session(s) ended, {} reminder(s) sent",
        report.accounts_enforced, report.sessions_ended, report.reminders_sent
    ));
    Ok(())
}

/// Creates the demo account (2FA on) with an admin and an agent if the store has no account,
/// and prints their sign-in details once.
///
/// # Errors
/// A message for people.
pub async fn demo_if_empty(app: &App) -> Result<(), String> {
    let accounts = app.store.list_accounts().await.map_err(|e| e.to_string())?;
    if !accounts.is_empty() {
        return Ok(());
    }
    let account = ops::add_account(app, "Demo", true).await.map_err(explain)?;
    ops::set_device_group(app, &account, "default", app.config.required_client)
        .await
        .map_err(explain)?;
    let mut lines = vec![format!(
        "Created demo account {account} (two-step verification on)."
    )];
    for (email, role) in [
        ("admin@demo.example", Role::Admin),
        ("agent@demo.example", Role::Agent),
    ] {
        let password = generate_password(app);
        let shown = password.expose().to_owned();
        ops::add_user(app, &account, email, role, "default", password)
            .await
            .map_err(explain)?;
        lines.push(format!("  {:<6} {email}  password: {shown}", role.as_str()));
    }
    lines.push("These passwords are shown only now.".to_owned());
    for line in lines {
        say(&line);
    }
    Ok(())
}

/// Eighteen characters from an alphabet without look-alikes (about 100 bits).
fn generate_password(app: &App) -> SecretText {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 18];
    app.rng.fill(&mut bytes);
    let text: String = bytes
        .iter()
        .map(|b| {
            let idx = usize::from(*b) % ALPHABET.len();
            char::from(ALPHABET.get(idx).copied().unwrap_or(b'x'))
        })
        .collect();
    SecretText::new(text)
}

/// Prints one line for people on standard output.
pub fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn explain(err: FlowError) -> String {
    match err {
        FlowError::InvalidField { reason, .. } => reason,
        FlowError::NotFound => "no such account".to_owned(),
        FlowError::Conflict => "that email is already in use".to_owned(),
        other => other.to_string(),
    }
}
