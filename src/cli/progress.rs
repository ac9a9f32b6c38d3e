//! Progress for long commands (migrate, sweep): a bar with counts and rate on a terminal, a
//! plain line every few seconds otherwise (a log, a pipe, cron), and a summary at the end.
//! Everything goes to standard error, so standard output stays the command's result.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Seconds between plain lines when standard error is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// One long piece of work: `what` it does (`"migrate"`) and the `unit` it counts.
pub struct Progress {
    what: &'static str,
    unit: &'static str,
    done: Arc<AtomicU64>,
    started: Instant,
    bar: Option<ProgressBar>,
    /// Prints plain lines while nothing calls `inc` (a single long store call).
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing progress of `total` items (`None`: unknown, a spinner with a count).
    pub fn start(what: &'static str, unit: &'static str, total: Option<u64>) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let (bar, template) = match total {
                Some(n) => (
                    ProgressBar::new(n),
                    "{prefix} [{bar:30}] {human_pos}/{human_len} {msg} ({per_sec}, {eta} left)",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{prefix} {spinner} {human_pos} {msg} ({per_sec}, {elapsed})",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(what);
            bar.set_message(unit);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        // Plain mode: a line every few seconds even while one store call runs for long.
        let ticker = bar.is_none().then(|| {
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(PLAIN_EVERY);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    let n = done.load(Ordering::Relaxed);
                    eprintln!("{}", line(what, unit, n, total, started.elapsed()));
                }
            })
        });
        Self {
            what,
            unit,
            done,
            started,
            bar,
            ticker,
        }
    }

    /// `n` more items done.
    pub fn inc(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Ends the display and prints `summary` with the count, time and rate.
    pub fn finish(self, summary: &str) {
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let n = self.done.load(Ordering::Relaxed);
        let took = self.started.elapsed();
        eprintln!(
            "{}: done: {summary} ({n} {} in {:.1} s, {:.0}/s)",
            self.what,
            self.unit,
            took.as_secs_f64(),
            rate(n, took)
        );
    }
}

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(0.001)
}

/// A plain progress line: `migrate: 1200/5000 records (24%, 600/s)`.
fn line(what: &str, unit: &str, n: u64, total: Option<u64>, took: Duration) -> String {
    match total {
        Some(t) => format!(
            "{what}: {n}/{t} {unit} ({}%, {:.0}/s)",
            (n * 100).checked_div(t).unwrap_or(100),
            rate(n, took)
        ),
        None => format!(
            "{what}: {n} {unit} so far, {:.0} s ({:.0}/s)",
            took.as_secs_f64(),
            rate(n, took)
        ),
    }
}
