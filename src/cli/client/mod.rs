//! The command-line client: `share`, `reveal`, `receipt`, `burn` and `recent`, speaking the
//! v1 API to any compatible server. Secrets are end-to-end by default (`docs/envelope.md`):
//! sealed here, the key only in the link's fragment, which is never sent; `--plain` makes a
//! server-side secret for servers and recipients without that mode.
//!
//! # Layout
//! - this module: the commands' arguments, their dispatch, and the account they act as.
//! - `share`: reading, sealing and sending a secret; the link it makes.
//! - `reveal`: reading a secret once, opening it, writing a file.
//! - `transport`: links taken apart, the HTTP client, the server's answers.

mod reveal;
mod share;
mod transport;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;
use zeroize::Zeroizing;

use self::reveal::reveal;
use self::share::Share;
use self::transport::{call, http, split_link};

/// Where the client talks to, and as whom.
#[derive(Debug, Args)]
pub struct Account {
    /// The server's base URL, e.g. https://secrets.example.com (plain http:// is fine for
    /// loopback and private addresses).
    #[arg(long, env = "ONETIME_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The account's email, for account plans, recipients and `recent` (anonymous without).
    #[arg(
        long,
        env = "ONETIME_USER",
        value_name = "EMAIL",
        hide_env_values = true
    )]
    user: Option<String>,
    /// The account's API token; set ONETIME_TOKEN rather than putting it on a command line.
    #[arg(long, env = "ONETIME_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Share a secret read from stdin (or a file); prints its link.
    ///
    /// End-to-end by default: encrypted here, the key only in the link's "#" part. Example:
    /// `ONETIME_SERVER=https://secrets.example.com onetime share --ttl 1h < note.txt`.
    Share {
        #[command(flatten)]
        account: Account,
        /// Lifetime, e.g. 30m, 1h, 7d (the server's default and plan limits apply).
        #[arg(long, value_name = "DURATION")]
        ttl: Option<humantime::Duration>,
        /// A file whose first line is the passphrase the recipient must enter.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Share this file (end-to-end only; its name, type and size are encrypted too).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Email the link (without its key) to this address (needs an account).
        #[arg(long, value_name = "ADDRESS")]
        recipient: Option<String>,
        /// A server-side secret: the server encrypts it (for servers or recipients without
        /// end-to-end mode).
        #[arg(long)]
        plain: bool,
        /// Print the receipt as JSON (with the full link as `link`).
        #[arg(long)]
        json: bool,
    },
    /// Reveal a secret once, decrypt it here, and print it (a file is written).
    Reveal {
        /// The secret link, with its "#key" for an end-to-end secret.
        link: String,
        /// Where a file goes: a directory (the file's own name inside it) or a file name.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// A file whose first line is the passphrase (else asked on the terminal if needed).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Print a receipt (the `metadata_url` that `share --json` prints).
    Receipt {
        /// The receipt link.
        link: String,
    },
    /// Destroy an unread secret through its receipt link.
    Burn {
        #[command(flatten)]
        account: Account,
        /// The receipt link.
        link: String,
        /// A file whose first line is the secret's passphrase (an account's own secrets burn
        /// without).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// List the account's receipts of the last 30 days.
    Recent {
        #[command(flatten)]
        account: Account,
    },
}

/// Runs a client command (blocking: call it off the async runtime).
pub fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Share {
            account,
            ttl,
            passphrase_file,
            file,
            recipient,
            plain,
            json,
        } => {
            let share = Share {
                ttl,
                passphrase: passphrase_file
                    .as_deref()
                    .map(read_passphrase)
                    .transpose()?,
                file,
                recipient,
                plain,
            };
            let (link, receipt) = share.run(&account)?;
            if json {
                let mut receipt = receipt;
                receipt["link"] = Value::String(link.to_string());
                println!("{}", serde_json::to_string_pretty(&receipt)?);
            } else {
                println!("{}", link.as_str());
            }
            Ok(())
        }
        ClientCommand::Reveal {
            link,
            output,
            force,
            passphrase_file,
        } => {
            let passphrase = passphrase_file
                .as_deref()
                .map(read_passphrase)
                .transpose()?;
            reveal(
                &link,
                output.as_deref(),
                force,
                passphrase.as_deref().map(String::as_str),
            )
        }
        ClientCommand::Receipt { link } => {
            let (base, key) = split_link(&link, &["receipt", "private", "metadata"])?;
            let body = call(http()?.get(format!("{base}/api/v1/receipt/{key}")))?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        ClientCommand::Burn {
            account,
            link,
            passphrase_file,
        } => {
            let (base, key) = split_link(&link, &["receipt", "private", "metadata"])?;
            let passphrase = passphrase_file
                .as_deref()
                .map(read_passphrase)
                .transpose()?;
            let mut form = Vec::new();
            if let Some(p) = &passphrase {
                form.push(("passphrase", p.as_str()));
            }
            let request = account.sign(
                http()?
                    .post(format!("{base}/api/v1/receipt/{key}/burn"))
                    .form(&form),
            );
            let body = call(request)?;
            println!(
                "burned: {}",
                body["state"]["state"].as_str().unwrap_or("burned")
            );
            Ok(())
        }
        ClientCommand::Recent { account } => {
            let base = account.base()?;
            if account.user.is_none() {
                bail!("`recent` needs an account: set ONETIME_USER and ONETIME_TOKEN");
            }
            let body = call(account.sign(http()?.get(format!("{base}/api/v1/receipt/recent"))))?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
    }
}

impl Account {
    fn base(&self) -> anyhow::Result<String> {
        let server = self
            .server
            .as_deref()
            .ok_or_else(|| anyhow!("no server: pass --server URL or set ONETIME_SERVER"))?;
        let url = url::Url::parse(server).with_context(|| format!("--server {server}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("--server must be an http:// or https:// URL");
        }
        Ok(server.trim_end_matches('/').to_owned())
    }

    fn sign(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match (&self.user, &self.token) {
            (Some(user), Some(token)) => request.basic_auth(user, Some(token)),
            _ => request,
        }
    }
}

/// The first line of `path`.
fn read_passphrase(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let all = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    Ok(Zeroizing::new(
        all.lines().next().unwrap_or_default().to_owned(),
    ))
}
