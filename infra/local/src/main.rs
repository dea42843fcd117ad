//! `twostep-local`: the local server and ops commands over the embedded adapters.

mod cli;
mod clock;
mod ops;
mod remote;
mod server;
mod stall;
mod wiring;

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::cli::{AccountCommand, Cli, Command, UserCommand};

fn main() -> ExitCode {
    let cli = Cli::from_command_line();
    tracing_subscriber::fmt()
        .with_env_filter(
            // The AWS SDK's wire-level output (used by --table) prints request bodies: capped.
            EnvFilter::try_new(format!(
                "{},aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_sdk_dynamodb=info,\
                 aws_sdk_sesv2=info,hyper=info",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned())
            ))
            .unwrap_or_else(|_| EnvFilter::new("info")),
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
    if let Some(table) = cli.table.as_deref() {
        return run_remote(table, cli.command).await;
    }
    let local = wiring::open(&cli.data_dir).map_err(|e| e.to_string())?;
    match cli.command {
        None => serve(local, default_listen()).await,
        Some(Command::Serve(args)) => serve(local, args.listen).await,
        Some(command) => run_ops(&local.app, command).await,
    }
}

async fn run_remote(table: &str, command: Option<Command>) -> Result<(), String> {
    let clock = clock::from_env()?.map(std::sync::Arc::from);
    let app = remote::open(table, clock).await?;
    match command {
        None | Some(Command::Serve(_)) => Err(
            "serve runs on the local data folder; a deployed stack serves through its Lambdas \
             (use --table with account, user, policy or enforce-logout)"
                .to_owned(),
        ),
        Some(command) => run_ops(&app, command).await,
    }
}

async fn run_ops(app: &twostep::flow::App, command: Command) -> Result<(), String> {
    match command {
        Command::Serve(_) => Err("serve is not an ops subcommand".to_owned()),
        Command::Account(AccountCommand::Add { name, two_step }) => {
            ops::account_add(app, &name, two_step).await
        }
        Command::User(UserCommand::Add {
            account,
            email,
            role,
            device_group,
            ..
        }) => ops::user_add(app, &account, &email, role, &device_group).await,
        Command::Policy(args) => ops::policy(app, &args.account, args.enable).await,
        Command::EnforceLogout => ops::enforce_logout(app).await,
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

/// Once a minute: run the enforce-logout job (the local stand-in for the EventBridge schedule),
/// then remove expired challenges, sessions and counters (reads already ignore them; this only
/// reclaims space).
fn housekeeping(
    store: std::sync::Arc<twostep::adapters::sqlite::SqliteStore>,
    app: std::sync::Arc<twostep::flow::App>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(err) = twostep::flow::job::enforce_logout(&app).await {
                tracing::warn!(error = %err, "enforce-logout run failed");
            }
            if let Err(err) = store.purge_expired(app.clock.now()).await {
                tracing::warn!(error = %err, "housekeeping failed");
            }
        }
    });
}
