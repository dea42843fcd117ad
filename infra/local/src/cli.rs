//! The command line: `serve` (default), `account add`, `user add`, `policy`, `enforce-logout`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

impl Cli {
    /// The command line, or exit with clap's message. `--table` with `--data-dir` given on the
    /// command line is refused (which store did you mean?); a `TWOSTEP_DATA_DIR` in the
    /// environment is not, since `--table` plainly says where to work.
    #[must_use]
    pub fn from_command_line() -> Self {
        let mut command = Self::command();
        let matches = command.clone().get_matches();
        let dir_given = matches.value_source("data_dir") == Some(ValueSource::CommandLine);
        if dir_given && matches.get_one::<String>("table").is_some() {
            command
                .error(
                    ErrorKind::ArgumentConflict,
                    "--table works on a DynamoDB table; leave out --data-dir",
                )
                .exit();
        }
        Self::from_arg_matches(&matches).unwrap_or_else(|err| err.format(&mut command).exit())
    }
}

/// Twostep on your machine: the same handlers as the Lambdas, on an embedded store.
#[derive(Debug, Parser)]
#[command(name = "twostep-local", version, about)]
pub struct Cli {
    /// Data folder: database, outbox and local key.
    #[arg(
        long,
        global = true,
        default_value = ".twostep",
        env = "TWOSTEP_DATA_DIR"
    )]
    pub data_dir: PathBuf,

    /// Work on a deployed stack's DynamoDB table instead of the data folder (ops subcommands
    /// only; AWS settings from the standard environment, AWS_ENDPOINT_URL included).
    #[arg(long, global = true)]
    pub table: Option<String>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Turn an account's two-step verification on or off.
    Policy(PolicyArgs),
    /// Run the forced-logout job once.
    EnforceLogout,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
}

/// `account …`
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account; prints its id.
    Add {
        /// Display name.
        name: String,
        /// Two-step verification on or off.
        #[arg(long, value_enum, default_value = "off")]
        two_step: OnOff,
    },
}

/// on / off.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; reads the password from standard input; prints the user id.
    Add {
        /// Account id.
        #[arg(long)]
        account: String,
        /// Email address.
        #[arg(long)]
        email: String,
        /// Role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Device group of the user's clients.
        #[arg(long, default_value = "default")]
        device_group: String,
        /// Read the password from standard input (required: passwords never go on the
        /// command line, where other users can see them).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// agent / admin.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Agent.
    Agent,
    /// Admin.
    Admin,
}

/// `policy` options.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("switch").required(true).args(["enable", "disable"])))]
pub struct PolicyArgs {
    /// Account id.
    #[arg(long)]
    pub account: String,
    /// Turn two-step verification on.
    #[arg(long)]
    pub enable: bool,
    /// Turn it off.
    #[arg(long)]
    pub disable: bool,
}
