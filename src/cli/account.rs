//! `onetime account ...`: through the running server's admin socket, or on the store directly
//! when no server runs.

use clap::Subcommand;
use onetime::admin::{self, AdminRequest, AdminResponse};
use onetime::app;
use onetime::config::Settings;
use onetime::domain::{Sensitive, PASSWORD_MAX_BYTES};
use zeroize::Zeroizing;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account; prints its API token alone on the last line.
    Add {
        /// The account's email (its API username).
        email: String,
        /// A plan from [plans.NAME] in the configuration.
        #[arg(long, default_value = "default")]
        plan: String,
    },
    /// List accounts: email, plan, how each signs in, created.
    ///
    /// How each signs in: a web password, single sign-on through the identity provider or the
    /// proxy header, or the API token only. Never tokens or passwords.
    List,
    /// Issue a new API token; the old one stops working at once.
    ///
    /// The recent list seen with the token starts afresh; the web side's keeps everything
    /// (without a web password, the list is cleared, as nothing can open it any more).
    Rotate {
        /// The account's email.
        email: String,
    },
    /// Set the web password from the first line of standard input.
    ///
    /// At least 10 characters, at most 1024 bytes:
    /// `read -rs PW; printf '%s\n' "$PW" | onetime account passwd EMAIL`. Browsers signed in
    /// with the old password are signed out, and the recent list seen on the web starts
    /// afresh; the API token's keeps everything.
    Passwd {
        /// The account's email.
        email: String,
    },
    /// Delete an account and its recent list; its secrets stay readable by their links.
    Remove {
        /// The account's email.
        email: String,
    },
}

/// Runs an account command through the running server's admin socket, or on the store
/// directly when no server is running.
pub async fn run(settings: &Settings, command: AccountCommand) -> anyhow::Result<()> {
    let request = match command {
        AccountCommand::Add { email, plan } => AdminRequest::Add {
            email,
            plan: Some(plan),
        },
        AccountCommand::List => AdminRequest::List,
        AccountCommand::Rotate { email } => AdminRequest::Rotate { email },
        AccountCommand::Passwd { email } => AdminRequest::Passwd {
            email,
            password: read_password()?,
        },
        AccountCommand::Remove { email } => AdminRequest::Remove { email },
    };
    let socket = admin::socket_path(settings);
    let used = app::store_description(settings);
    let response = match admin::request(&socket, &request).await? {
        Some(response) => {
            eprintln!(
                "store: {used}, through the running server ({})",
                settings.described_file()
            );
            response
        }
        None => {
            let (store, sealer) = app::open_offline(settings).await?;
            eprintln!(
                "store: {used}, opened directly: no server is running ({})",
                settings.described_file()
            );
            let accounts = app::accounts(
                settings,
                std::sync::Arc::clone(&store),
                sealer,
                app::kdf_pool(settings),
            );
            let response = admin::execute(&accounts, request.clone()).await;
            store.flush().await?;
            response
        }
    };
    match (request, response) {
        (_, AdminResponse::Error { message }) => anyhow::bail!(message),
        (AdminRequest::Add { email, plan }, AdminResponse::Token { token, id }) => {
            let plan = plan.unwrap_or_default();
            println!(
                "created account {email} (plan {plan}, id {id}); its API token, shown only now:"
            );
            println!("{token}");
        }
        (AdminRequest::Rotate { email }, AdminResponse::Token { token, .. }) => {
            println!("new API token for {email}; the old one no longer works:");
            println!("{token}");
        }
        (AdminRequest::Passwd { email, .. }, AdminResponse::Done) => {
            println!(
                "web password set for {email}; browsers signed in with the old one are signed \
                 out, and the web recent list starts afresh"
            );
        }
        (_, AdminResponse::Accounts { accounts }) => {
            println!(
                "{:<40} {:<12} {:<13} {:<20} {:<66}",
                "email", "plan", "signs in with", "created", "id"
            );
            for a in accounts {
                let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(a.created);
                let created = humantime::format_rfc3339_seconds(created);
                println!(
                    "{:<40} {:<12} {:<13} {created:<20} {}",
                    a.email,
                    a.plan,
                    a.sign_in(),
                    a.id
                );
            }
        }
        (AdminRequest::Remove { email }, AdminResponse::Done) => println!("removed {email}"),
        (_, other) => anyhow::bail!("unexpected answer from the server: {other:?}"),
    }
    Ok(())
}

/// The new web password: the first line of standard input, its line ending (LF or CRLF)
/// removed. Read with a bound, so a huge input is refused rather than held.
fn read_password() -> anyhow::Result<Sensitive> {
    use std::io::{BufRead, IsTerminal, Read};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("new web password (first line of standard input; it shows as you type):");
    }
    let mut line = Zeroizing::new(Vec::new());
    // Room for the longest password, its CRLF, and one byte more to tell it is too long.
    let bound = PASSWORD_MAX_BYTES as u64 + 3;
    stdin.lock().take(bound).read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.is_empty() {
        anyhow::bail!(
            "no password given: write the new web password as the first line of standard input"
        );
    }
    let text = std::str::from_utf8(&line)
        .map_err(|_| anyhow::anyhow!("the web password is not valid UTF-8"))?;
    // Checked here too, so a bad password never travels to the server.
    onetime::accounts::check_password(text)?;
    Ok(Sensitive::new(text.to_owned()))
}
