//! `onetime serve` (the default) and `onetime sweep`: the server, and its sweeper run once.

use onetime::app::{self, Application};
use onetime::config::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;

/// Logs to stdout (the journal, under systemd) through a writer thread, so request handlers
/// never wait on the terminal or the journal. Lines are never dropped: when the writer falls
/// behind by its whole buffer, callers wait. The guard flushes what is queued on drop.
pub fn init_logging(settings: &Settings) -> tracing_appender::non_blocking::WorkerGuard {
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

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let _log = init_logging(&settings);
    let application = Application::build(settings).await?;
    application.stop_on_signals()?;
    application.run_until_stopped().await?;
    Ok(())
}

/// Deletes expired records once, in an existing store.
pub async fn sweep(settings: &Settings) -> anyhow::Result<()> {
    let _log = init_logging(settings);
    let store = app::open_existing_store(settings).await?;
    eprintln!(
        "store: {} ({})",
        app::store_description(settings),
        settings.described_file()
    );
    let progress = super::progress::Progress::start("sweep", "records", None);
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
    Ok(())
}
