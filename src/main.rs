//! `onetime`: settings, telemetry, build, run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use onetime::app::{self, Application};
use onetime::config::Settings;
use tracing_subscriber::EnvFilter;

/// Share secrets through links that work exactly once.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (default: ./onetime.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Delete expired records once and exit (the server does this on its own while running).
    Sweep,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration, then print the effective settings (keys redacted).
    Check,
}

fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), None)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            init_logging(&settings);
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?;
        }
        Command::Sweep => {
            init_logging(&settings);
            let store = app::open_store(&settings)?;
            onetime::sweeper::sweep_once(store.as_ref()).await;
            store.flush().await?;
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => println!("configuration is valid:\n{settings:#?}"),
    }
    Ok(())
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
