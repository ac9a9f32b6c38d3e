//! `onetime config check`: the configuration loaded and validated, printed as TOML.

use clap::Subcommand;
use onetime::app;
use onetime::config::Settings;

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings as TOML.
    ///
    /// Reads the storage.redis_tls_* and *_file files as a start would; secrets are printed
    /// as [redacted].
    Check,
}

/// Runs a configuration command.
pub fn run(settings: &Settings, command: ConfigCommand) -> anyhow::Result<()> {
    let ConfigCommand::Check = command;
    // The files storage.redis_tls_* name are read and checked as a start would.
    app::redis_tls(settings)?;
    let effective = settings.to_redacted_toml()?;
    println!(
        "# configuration is valid: the effective settings, from {} and ONETIME__* \
         variables; secrets are [redacted]\n{effective}",
        settings.described_file()
    );
    Ok(())
}
