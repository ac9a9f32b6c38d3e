//! `onetime`: the command line. Each command lives in its own module under `cli/`; this file
//! is the parser and the dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use onetime::config::Settings;

mod cli;

/// jemalloc instead of the system's malloc: faster under sled's node copies, and it hands freed
/// memory back to the OS in the background (`.cargo/config.toml`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `--version`: the crate version and the git commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ONETIME_GIT_COMMIT"),
    ")"
);

/// Share secrets through links that work exactly once.
#[derive(Debug, Parser)]
#[command(version = VERSION, about)]
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
    /// Delete expired records once and exit.
    ///
    /// The server does this on its own while running; this is for a stopped server. Needs an
    /// existing store; never creates one.
    Sweep,
    /// Manage accounts and their API tokens and web passwords.
    ///
    /// Works whether the server is running or not (through its admin socket, or on the store
    /// directly); never creates a store.
    ///
    /// An account has two credentials, its API token and its web password, and each sees the
    /// account's recent list: every secret created since that credential was issued, whether
    /// created through the API or on the web. `rotate` starts the API side's list afresh and
    /// `passwd` the web side's; the other side keeps everything.
    Account {
        #[command(subcommand)]
        command: cli::account::AccountCommand,
    },
    /// Copy everything live from one store to another (sled <-> Redis).
    ///
    /// Every live secret, receipt, account, recent entry and queued mail, expiry preserved:
    /// `--from sled:./data --to redis://host:6379` (or
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
    /// Write a snapshot of every live record to a new file, while the server runs.
    ///
    /// Taken through the running server's admin socket (or from the store when no server
    /// runs). Records stay sealed; the file holds the server key only with --with-key.
    Backup {
        /// The file to write (mode 0600; never overwritten).
        dest: PathBuf,
        /// Include the server key (warns: with it, the file and a link reveal that secret).
        #[arg(long)]
        with_key: bool,
    },
    /// Restore a backup into an empty store, with the server stopped.
    ///
    /// Puts the backup's server key in place when it holds one; otherwise the original key
    /// must be copied by hand.
    Restore {
        /// The backup file.
        src: PathBuf,
    },
    /// Email tools: send a test message.
    Mail {
        #[command(subcommand)]
        command: cli::mail::MailCommand,
    },
    /// Configuration tools: validate and print the effective settings.
    Config {
        #[command(subcommand)]
        command: cli::config::ConfigCommand,
    },
    /// Client commands: share and reveal through any compatible server's v1 API.
    #[command(flatten)]
    Client(cli::client::ClientCommand),
    /// Print a shell completion script (bash, zsh or fish).
    ///
    /// bash: `onetime completions bash > /etc/bash_completion.d/onetime`; zsh: write it as
    /// `_onetime` into a directory on $fpath; fish: `> ~/.config/fish/completions/onetime.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one per command into a directory.
    ///
    /// `onetime man | man -l -`, or `onetime man --dir /usr/local/share/man/man1`.
    Man {
        /// Write onetime.1 and a page for every subcommand here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The client needs no server configuration; its HTTP client blocks, off the runtime.
    if let Some(Command::Client(command)) = cli.command {
        return tokio::task::spawn_blocking(move || cli::client::run(command)).await?;
    }
    let settings = Settings::load(cli.config.as_deref(), None)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Completions { shell } => {
            cli::completions::run(shell, Cli::command());
            Ok(())
        }
        Command::Man { dir } => cli::man::run(Cli::command(), dir.as_deref()),
        Command::Serve => cli::serve::run(settings).await,
        Command::Sweep => cli::serve::sweep(&settings).await,
        Command::Account { command } => cli::account::run(&settings, command).await,
        Command::Migrate { from, to } => cli::migrate::run(&settings, &from, &to).await,
        Command::Backup { dest, with_key } => cli::backup::run(&settings, &dest, with_key).await,
        Command::Restore { src } => cli::restore::run(&settings, &src).await,
        Command::Mail { command } => cli::mail::run(&settings, command).await,
        Command::Config { command } => cli::config::run(&settings, command),
        Command::Client(_) => unreachable!("dispatched above"),
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
