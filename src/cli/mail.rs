//! `onetime mail test ADDRESS`: one message through the configured SMTP settings.

use clap::Subcommand;
use onetime::config::Settings;
use onetime::mail::Mailer;

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test message with the configured mail settings; prints the SMTP answer.
    Test {
        /// Where to send it.
        address: String,
    },
}

/// Runs a mail command.
pub async fn run(settings: &Settings, command: MailCommand) -> anyhow::Result<()> {
    let MailCommand::Test { address } = command;
    eprintln!(
        "mail settings from {}; no store is used",
        settings.described_file()
    );
    let mailer = Mailer::from_settings(&settings.mail)?
        .ok_or_else(|| anyhow::anyhow!("mail is off: set mail.smtp_url (or mail.smtp_url_file)"))?;
    let bound = format!("http://{}", settings.server.bind);
    let link = format!(
        "{}/secret/(test message: no secret)",
        settings.link_base(&bound)
    );
    let mut message = onetime::mail::compose(&settings.mail.from, &address, &link, false);
    message.subject = "onetime test message".into();
    let response = mailer.send(&message).await?;
    let words: Vec<&str> = response.message().collect();
    println!(
        "accepted by the SMTP server: {} {}",
        response.code(),
        words.join(" ")
    );
    Ok(())
}
