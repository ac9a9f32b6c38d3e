//! `onetime`: settings, telemetry, build, run.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use onetime::admin::{self, AdminRequest, AdminResponse};
use onetime::app::{self, Application};
use onetime::config::{LogFormat, Settings};
use onetime::domain::{Sensitive, PASSWORD_MAX_BYTES};
use onetime::mail::Mailer;
use tracing_subscriber::EnvFilter;
use zeroize::Zeroizing;

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
        command: AccountCommand,
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
        command: MailCommand,
    },
    /// Configuration tools: validate and print the effective settings.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
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

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// Create an account; prints its API token alone on the last line.
    Add {
        /// The account's email (its API username).
        email: String,
        /// A plan from [plans.NAME] in the configuration.
        #[arg(long, default_value = "default")]
        plan: String,
    },
    /// List accounts: email, plan, web password set or not, created.
    ///
    /// Never tokens or passwords.
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

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Send a test message with the configured mail settings; prints the SMTP answer.
    Test {
        /// Where to send it.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective settings as TOML.
    ///
    /// Reads the storage.redis_tls_* and *_file files as a start would; secrets are printed
    /// as [redacted].
    Check,
}

/// Logs to stdout (the journal, under systemd) through a writer thread, so request handlers
/// never wait on the terminal or the journal. Lines are never dropped: when the writer falls
/// behind by its whole buffer, callers wait. The guard flushes what is queued on drop.
fn init_logging(settings: &Settings) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    match settings.log.format {
        LogFormat::Text => logs.with_ansi(ansi).init(),
        // Fields at the top level beside `message`, as shippers expect; no span lists.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    guard
}

/// Runs an account command through the running server's admin socket, or on the store
/// directly when no server is running.
async fn account(settings: &Settings, command: AccountCommand) -> anyhow::Result<()> {
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
        (AdminRequest::Add { email, plan }, AdminResponse::Token { token }) => {
            let plan = plan.unwrap_or_default();
            println!("created account {email} (plan {plan}); its API token, shown only now:");
            println!("{token}");
        }
        (AdminRequest::Rotate { email }, AdminResponse::Token { token }) => {
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
                "{:<40} {:<12} {:<12} created",
                "email", "plan", "web password"
            );
            for a in accounts {
                let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(a.created);
                let created = humantime::format_rfc3339_seconds(created);
                let password = if a.password { "set" } else { "-" };
                println!("{:<40} {:<12} {password:<12} {created}", a.email, a.plan);
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

/// `onetime migrate`: export everything live from one store, import it into the other.
async fn migrate(settings: &Settings, from: &str, to: &str) -> anyhow::Result<()> {
    use onetime::store::Exported;
    let source = app::open_named_store(settings, from, false).await?;
    let destination = app::open_named_store(settings, to, true).await?;
    eprintln!("migrate: reading everything live from {from}");
    let records = source.export(onetime::domain::unix_now()).await?;
    let progress = cli::progress::Progress::start("migrate", "records", Some(records.len() as u64));
    let (mut secrets, mut unread, mut accounts, mut recent, mut mails) = (0, 0, 0, 0, 0);
    for record in &records {
        destination.import(record).await?;
        progress.inc(1);
        match record {
            Exported::Secret { secret, .. } => {
                secrets += 1;
                unread += usize::from(secret.is_some());
            }
            Exported::Customer(_) => accounts += 1,
            Exported::Recent(_) => recent += 1,
            Exported::Mail(_) => mails += 1,
        }
    }
    destination.flush().await?;
    progress.finish(&format!("copied into {to}"));
    println!(
        "copied {secrets} receipts ({unread} with unread secrets), {accounts} accounts, \
         {recent} recent entries, {mails} queued mails"
    );
    if let Some(path) = from.strip_prefix("sled:") {
        println!(
            "the destination must use the same server key: set server.secret on every node to \
             the hex of {path}/server.key (xxd -p -c 64 {path}/server.key)"
        );
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), None)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Completions { shell } => cli::completions::run(shell, Cli::command()),
        Command::Man { dir } => cli::man::run(Cli::command(), dir.as_deref())?,
        Command::Serve => {
            let _log = init_logging(&settings);
            let application = Application::build(settings).await?;
            application.stop_on_signals()?;
            application.run_until_stopped().await?;
        }
        Command::Sweep => {
            let _log = init_logging(&settings);
            let store = app::open_existing_store(&settings).await?;
            eprintln!(
                "store: {} ({})",
                app::store_description(&settings),
                settings.described_file()
            );
            let progress = cli::progress::Progress::start("sweep", "records", None);
            let report = onetime::sweeper::sweep_once(store.as_ref()).await;
            store.flush().await?;
            progress.inc(report.map_or(0, |r| (r.secrets + r.receipts) as u64));
            progress.finish(&match report {
                Some(r) => format!(
                    "removed {} expired secrets and {} expired receipts",
                    r.secrets, r.receipts
                ),
                None => "the sweep failed (see the log line above)".to_owned(),
            });
        }
        Command::Account { command } => account(&settings, command).await?,
        Command::Migrate { from, to } => migrate(&settings, &from, &to).await?,
        Command::Backup { dest, with_key } => cli::backup::run(&settings, &dest, with_key).await?,
        Command::Restore { src } => cli::restore::run(&settings, &src).await?,
        Command::Mail {
            command: MailCommand::Test { address },
        } => {
            eprintln!(
                "mail settings from {}; no store is used",
                settings.described_file()
            );
            let mailer = Mailer::from_settings(&settings.mail)?.ok_or_else(|| {
                anyhow::anyhow!("mail is off: set mail.smtp_url (or mail.smtp_url_file)")
            })?;
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
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            // The files storage.redis_tls_* name are read and checked as a start would.
            app::redis_tls(&settings)?;
            let effective = settings.to_redacted_toml()?;
            println!(
                "# configuration is valid: the effective settings, from {} and ONETIME__* \
                 variables; secrets are [redacted]\n{effective}",
                settings.described_file()
            );
        }
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
