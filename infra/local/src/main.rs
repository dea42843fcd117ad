//! `twostep-local`: the local server and ops commands over the embedded adapters.

mod cli;
mod clock;
mod ops;
mod server;
mod wiring;

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{AccountCommand, Cli, Command, UserCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let local = wiring::open(&cli.data_dir).map_err(|e| e.to_string())?;
    let app = local.app.clone();
    match cli.command {
        None => serve(local, default_listen()).await,
        Some(Command::Serve(args)) => serve(local, args.listen).await,
        Some(Command::Account(AccountCommand::Add { name, two_step })) => {
            ops::account_add(&app, &name, two_step).await
        }
        Some(Command::User(UserCommand::Add {
            account,
            email,
            role,
            device_group,
            ..
        })) => ops::user_add(&app, &account, &email, role, &device_group).await,
        Some(Command::Policy(args)) => ops::policy(&app, &args.account, args.enable).await,
        Some(Command::EnforceLogout) => {
            Err("enforce-logout arrives with the account-policy work (issue 3)".to_owned())
        }
    }
}

fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 3000))
}

async fn serve(local: wiring::Local, listen: std::net::SocketAddr) -> Result<(), String> {
    ops::demo_if_empty(&local.app).await?;
    housekeeping(local.store.clone(), local.app.clone());
    let outbox = local.outbox.clone();
    server::serve(local.app, listen, |addr| {
        ops::say(&format!("Twostep is listening on http://{addr}"));
        ops::say(&format!("Mail lands in {}", outbox.display()));
    })
    .await
    .map_err(|e| format!("server on {listen}: {e}"))
}

/// Once a minute: remove expired challenges, sessions and counters (reads already ignore them;
/// this only reclaims space).
fn housekeeping(
    store: std::sync::Arc<twostep::adapters::sqlite::SqliteStore>,
    app: std::sync::Arc<twostep::flow::App>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(err) = store.purge_expired(app.clock.now()).await {
                tracing::warn!(error = %err, "housekeeping failed");
            }
        }
    });
}
