//! The command-line client: `share`, `reveal`, `receipt`, `burn` and `recent`, speaking the
//! v1 API to any compatible server. Secrets are end-to-end by default (`docs/envelope.md`):
//! sealed here, the key only in the link's fragment, which is never sent; `--plain` makes a
//! server-side secret for servers and recipients without that mode.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use onetime::crypto::envelope::{self, Contents, File, Key};
use serde_json::Value;
use zeroize::Zeroizing;

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
    #[arg(
        long,
        env = "ONETIME_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
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

/// What `share` sends.
struct Share {
    ttl: Option<humantime::Duration>,
    passphrase: Option<Zeroizing<String>>,
    file: Option<PathBuf>,
    recipient: Option<String>,
    plain: bool,
}

impl Share {
    /// Shares, and returns the full link and the receipt.
    fn run(self, account: &Account) -> anyhow::Result<(Zeroizing<String>, Value)> {
        let base = account.base()?;
        let text = if self.file.is_some() {
            Zeroizing::new(String::new())
        } else {
            read_stdin_text()?
        };
        let file = self.file.as_deref().map(read_file).transpose()?;
        if file.is_none() && text.trim().is_empty() {
            bail!("nothing to share: the secret on stdin is empty");
        }
        let mut form: Vec<(&str, String)> = Vec::new();
        let key = Key::generate();
        if self.plain {
            if file.is_some() {
                bail!("--plain cannot share a file: files are end-to-end only");
            }
            form.push(("secret", text.to_string()));
        } else {
            let is_file = file.is_some();
            let contents = Contents { text, file };
            form.push(("secret", envelope::seal(&key, &contents)));
            form.push(("e2e", if is_file { "file" } else { "text" }.into()));
            form.push(("verifier", key.verifier()));
        }
        if let Some(ttl) = self.ttl {
            form.push(("ttl", ttl.as_secs().to_string()));
        }
        if let Some(p) = &self.passphrase {
            form.push(("passphrase", p.to_string()));
        }
        if let Some(to) = &self.recipient {
            form.push(("recipient", to.clone()));
        }
        // A file announces itself in the query: only then does the server give the body a
        // file's room.
        let query = if self.file.is_some() { "?e2e=file" } else { "" };
        let request = account.sign(
            http()?
                .post(format!("{base}/api/v1/share{query}"))
                .form(&form),
        );
        // The form holds the secret (or the passphrase): wiped once sent.
        for (_, value) in &mut form {
            zeroize::Zeroize::zeroize(value);
        }
        let receipt = call(request)?;
        let secret_key = receipt["secret_key"]
            .as_str()
            .ok_or_else(|| anyhow!("the server's answer has no secret_key"))?;
        let share_domain = receipt["share_domain"].as_str().unwrap_or_default();
        let link_base = if share_domain.is_empty() {
            base
        } else {
            format!("https://{share_domain}")
        };
        let mut link = Zeroizing::new(format!("{link_base}/secret/{secret_key}"));
        if !self.plain {
            link.push('#');
            link.push_str(&key.fragment());
        }
        Ok((link, receipt))
    }
}

/// Reveals `link` once and writes what it holds.
fn reveal(
    link: &str,
    output: Option<&Path>,
    force: bool,
    passphrase: Option<&str>,
) -> anyhow::Result<()> {
    let (without_key, fragment) = match link.split_once('#') {
        Some((bare, key)) => (bare, Some(key)),
        None => (link, None),
    };
    let (base, secret_key) = split_link(without_key, &["secret"])?;
    // A key that cannot be one is refused here: nothing is sent, the secret stays unread.
    let key = match fragment.filter(|f| !f.is_empty()) {
        Some(f) => Some(Key::parse(f).map_err(|_| {
            anyhow!(
                "the link's key (after #) is incomplete or damaged; the secret was not revealed"
            )
        })?),
        None => None,
    };
    let verifier = key.as_ref().map(Key::verifier);
    let attempt = |passphrase: Option<&str>| {
        let mut form: Vec<(&str, &str)> = Vec::new();
        match &verifier {
            Some(v) => form.push(("verifier", v)),
            // No key: an end-to-end secret must stay unread rather than be handed out.
            None => form.push(("require_key", "1")),
        }
        if let Some(p) = passphrase {
            form.push(("passphrase", p));
        }
        call(
            http()?
                .post(format!("{base}/api/v1/secret/{secret_key}"))
                .form(&form),
        )
    };
    let body = match attempt(passphrase) {
        Ok(body) => body,
        Err(e)
            if passphrase.is_none()
                && std::io::stdin().is_terminal()
                && asks_passphrase(&base, &secret_key) =>
        {
            drop(e);
            let typed = Zeroizing::new(
                rpassword::prompt_password("Passphrase: ").context("reading the passphrase")?,
            );
            attempt(Some(&typed))?
        }
        Err(e) => return Err(e),
    };
    let value = Zeroizing::new(
        body["value"]
            .as_str()
            .ok_or_else(|| anyhow!("the server's answer has no value"))?
            .to_owned(),
    );
    if !value.starts_with(envelope::PREFIX) {
        print_text(&value)?;
        return Ok(());
    }
    let key = key.ok_or_else(|| {
        anyhow!("this secret is end-to-end and the link has no key (the part after #)")
    })?;
    let contents = envelope::open(&key, &value).map_err(|_| {
        anyhow!("could not decrypt: the key is wrong or the encrypted secret was changed (it is now deleted)")
    })?;
    if !contents.text.is_empty() || contents.file.is_none() {
        print_text(&contents.text)?;
    }
    if let Some(file) = &contents.file {
        let path = write_file(file, output, force)?;
        eprintln!("wrote {} ({} bytes)", path.display(), file.bytes.len());
    }
    Ok(())
}

/// Whether the secret's page asks for a passphrase (this server's page contract; a server
/// whose page differs never prompts: pass --passphrase-file).
fn asks_passphrase(base: &str, secret_key: &str) -> bool {
    http()
        .ok()
        .and_then(|c| c.get(format!("{base}/secret/{secret_key}")).send().ok())
        .and_then(|r| r.text().ok())
        .is_some_and(|page| page.contains("id=\"passphrase\""))
}

fn print_text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes a revealed file: under `output` (a directory: the file's own name inside it; else
/// that name), or under its own name here. Never overwrites without `force`.
fn write_file(file: &File, output: Option<&Path>, force: bool) -> anyhow::Result<PathBuf> {
    // The name is the sender's: only its last component, never a path.
    let own = Path::new(&file.name)
        .file_name()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .map_or_else(|| PathBuf::from("secret.bin"), PathBuf::from);
    let path = match output {
        Some(dir) if dir.is_dir() => dir.join(&own),
        Some(path) => path.to_owned(),
        None => own,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut handle = options.open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow!("{} exists; pass --force to overwrite it", path.display())
        }
        _ => anyhow!("writing {}: {e}", path.display()),
    })?;
    handle
        .write_all(&file.bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The secret on stdin, with one trailing newline removed (`echo secret | onetime share`).
fn read_stdin_text() -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the secret from stdin (it must be UTF-8 text; use --file otherwise)")?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

fn read_file(path: &Path) -> anyhow::Result<File> {
    let bytes =
        Zeroizing::new(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(File {
        name,
        media_type: String::new(),
        bytes,
    })
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

/// `(base, key)` of a link `BASE/<one of kinds>/KEY`.
fn split_link(link: &str, kinds: &[&str]) -> anyhow::Result<(String, String)> {
    let url = url::Url::parse(link.trim())
        .map_err(|_| anyhow!("not a link: expected BASE/{}/KEY", kinds[0]))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("not an http:// or https:// link");
    }
    let path = url.path().trim_end_matches('/');
    let found = kinds.iter().find_map(|kind| {
        let marker = format!("/{kind}/");
        path.rfind(&marker)
            .map(|at| (at, &path[at + marker.len()..]))
    });
    let Some((at, key)) = found.filter(|(_, key)| !key.is_empty() && !key.contains('/')) else {
        bail!("not a {} link: expected BASE/{}/KEY", kinds[0], kinds[0]);
    };
    let origin = url.origin().ascii_serialization();
    Ok((format!("{origin}{}", &path[..at]), key.to_owned()))
}

fn http() -> anyhow::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("onetime-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("starting the HTTP client")
}

/// Sends `request`; the JSON answer, or the server's one-line reason.
fn call(request: reqwest::blocking::RequestBuilder) -> anyhow::Result<Value> {
    let response = request
        .send()
        .map_err(|e| anyhow!("cannot reach the server: {}", e.without_url()))?;
    let status = response.status();
    let body: Value = response
        .json()
        .map_err(|_| anyhow!("the server's answer ({status}) is not JSON: is this an onetime (or Onetime Secret) server?"))?;
    if !status.is_success() {
        let why = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("refused");
        let why = if why == "Unknown secret" {
            "unknown secret: already revealed, burned, expired, or a wrong passphrase"
        } else {
            why
        };
        bail!("{why}");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_split_into_base_and_key_under_any_prefix() {
        let (base, key) =
            split_link("http://127.0.0.1:7143/secret/abc", &["secret"]).expect("link");
        assert_eq!(
            (base.as_str(), key.as_str()),
            ("http://127.0.0.1:7143", "abc")
        );
        let (base, key) =
            split_link("https://x.example/app/private/k1/", &["receipt", "private"]).expect("link");
        assert_eq!(
            (base.as_str(), key.as_str()),
            ("https://x.example/app", "k1")
        );
        assert!(split_link("https://x.example/other/k", &["secret"]).is_err());
        assert!(split_link("ftp://x.example/secret/k", &["secret"]).is_err());
        assert!(split_link("https://x.example/secret/", &["secret"]).is_err());
    }

    #[test]
    fn a_file_is_written_under_its_own_name_and_never_over_another() {
        let dir = tempfile::tempdir().expect("dir");
        let file = File {
            name: "../../etc/evil name.txt".into(),
            media_type: String::new(),
            bytes: Zeroizing::new(b"x".to_vec()),
        };
        let path = write_file(&file, Some(dir.path()), false).expect("written");
        assert_eq!(path, dir.path().join("evil name.txt"));
        assert!(
            write_file(&file, Some(dir.path()), false).is_err(),
            "no overwrite"
        );
        assert!(
            write_file(&file, Some(dir.path()), true).is_ok(),
            "with --force"
        );
        let named = dir.path().join("chosen");
        assert_eq!(
            write_file(&file, Some(&named), false).expect("named"),
            named
        );
    }
}
