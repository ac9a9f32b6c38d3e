//! `onetime`: the command line. Each command lives in its own module under `cli/`; this file
//! is the parser and the dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use onetime::config::Settings;

mod cli;

/// Share secrets through links that work exactly once.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (default: ./onetime.toml if present, else built-in defaults). The
    /// systemd unit sets ONETIME_CONFIG; set it in an admin shell too, or pass --config.
    #[arg(long, global = true, value_name = "PATH", env = "ONETIME_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Delete expired records once and exit (the server does this on its own while running).
    /// Needs an existing store; never creates one.
    Sweep,
    /// Manage accounts (works whether the server is running or not; never creates a store).
    ///
    /// An account has two credentials, its API token and its web password, and each sees the
    /// account's recent list: every secret created since that credential was issued, whether
    /// created through the API or on the web. `rotate` starts the API side's list afresh and
    /// `passwd` the web side's; the other side keeps everything.
    Account {
        #[command(subcommand)]
        command: cli::account::AccountCommand,
    },
    /// Copy every live secret, receipt, account, recent entry and queued mail from one store
    /// to another, expiry preserved: `--from sled:./data --to redis://host:6379` (or
    /// `redis+cluster://host1:6379,host2:6379`) or back. A `rediss://` endpoint uses
    /// storage.redis_tls_* as the server does.
    /// Run it with the servers stopped; the destination needs the same server key. Web
    /// sessions are not copied: people sign in again.
    Migrate {
        /// Source: `sled:PATH`, a redis:// URL or a redis+cluster:// URL.
        #[arg(long)]
        from: String,
        /// Destination: `sled:PATH`, a redis:// URL or a redis+cluster:// URL.
        #[arg(long)]
        to: String,
    },
    /// Email tools.
    Mail {
        #[command(subcommand)]
        command: cli::mail::MailCommand,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: cli::config::ConfigCommand,
    },
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), None)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => cli::serve::run(settings).await,
        Command::Sweep => cli::serve::sweep(&settings).await,
        Command::Account { command } => cli::account::run(&settings, command).await,
        Command::Migrate { from, to } => cli::migrate::run(&settings, &from, &to).await,
        Command::Mail { command } => cli::mail::run(&settings, command).await,
        Command::Config { command } => cli::config::run(&settings, command),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("onetime: {e:#}");
            ExitCode::FAILURE
        }
    }
}
