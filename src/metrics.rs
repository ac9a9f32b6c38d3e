//! Prometheus metrics: the process's counters, gauges and request histogram, and the separate
//! `metrics.bind` listener that serves them at `/metrics`.
//!
//! Why one process-wide registry: events happen in every layer (use cases, rate limits, the
//! outbox, the sweeper, the access log), and each hook is one line naming the event; threading
//! a handle through every constructor would touch every signature for no gain.
//!
//! No label ever carries a key, a value, an address or an email: labels are fixed words
//! (kind, action, method, status) and route patterns (`/api/v1/secret/{key}`), never paths.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::crypto::KdfPool;
use crate::store::Store;

/// What a created secret holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A value the creator typed or sent.
    Text,
    /// A password the server generated.
    Generated,
    /// An uploaded file (counted once file secrets exist; zero until then).
    File,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Generated => "generated",
            Self::File => "file",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BackendLabel {
    backend: &'static str,
}

/// A request: route pattern (never the path: it holds keys), method, status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

type Gauge64 = Gauge<i64, std::sync::atomic::AtomicI64>;
type Seconds = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// Every metric, registered once.
struct Metrics {
    registry: Registry,
    created: Family<KindLabel, Counter>,
    revealed: Counter,
    burned: Counter,
    expired: Counter,
    passphrase_failures: Counter,
    lockouts: Counter,
    rate_limited: Family<ActionLabel, Counter>,
    mails_queued: Counter,
    mails_sent: Counter,
    mails_failed: Counter,
    outbox_depth: Gauge64,
    kdf_running: Gauge64,
    kdf_queued: Gauge64,
    store_records: Gauge64,
    store_bytes: Gauge<u64, AtomicU64>,
    store_up: Family<BackendLabel, Gauge64>,
    requests: Seconds,
}

fn request_buckets() -> Histogram {
    // 1 ms to about 16 s: a plain reveal takes a millisecond or two, a passphrase one the
    // scrypt time, a slow body up to server.body_timeout.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("onetime");
    let m = Metrics {
        registry: Registry::default(),
        created: Family::default(),
        revealed: Counter::default(),
        burned: Counter::default(),
        expired: Counter::default(),
        passphrase_failures: Counter::default(),
        lockouts: Counter::default(),
        rate_limited: Family::default(),
        mails_queued: Counter::default(),
        mails_sent: Counter::default(),
        mails_failed: Counter::default(),
        outbox_depth: Gauge::default(),
        kdf_running: Gauge::default(),
        kdf_queued: Gauge::default(),
        store_records: Gauge::default(),
        store_bytes: Gauge::default(),
        store_up: Family::default(),
        requests: Family::new_with_constructor(request_buckets),
    };
    // Every label value exists from the start, so a rate() over a quiet series is 0, not absent.
    for kind in [Kind::Text, Kind::Generated, Kind::File] {
        let _ = m.created.get_or_create(&KindLabel { kind: kind.label() });
    }
    for action in ["create", "reveal", "signin"] {
        let _ = m.rate_limited.get_or_create(&ActionLabel { action });
    }
    let r = &mut registry;
    r.register(
        "secrets_created",
        "Secrets created, by kind (text, generated, file)",
        m.created.clone(),
    );
    r.register(
        "secrets_revealed",
        "Secrets revealed (each at most once)",
        m.revealed.clone(),
    );
    r.register(
        "secrets_burned",
        "Secrets burned by their creator",
        m.burned.clone(),
    );
    r.register(
        "secrets_expired",
        "Unread secrets removed by the sweeper after their time was up (sled; Redis expires \
         keys itself)",
        m.expired.clone(),
    );
    r.register(
        "passphrase_failures",
        "Wrong passphrases given to reveal or burn",
        m.passphrase_failures.clone(),
    );
    r.register(
        "lockouts",
        "Secrets locked after repeated wrong passphrases",
        m.lockouts.clone(),
    );
    r.register(
        "rate_limited",
        "Requests refused by a per-address rate limit, by action",
        m.rate_limited.clone(),
    );
    r.register("mails_queued", "Link emails queued", m.mails_queued.clone());
    r.register(
        "mails_sent",
        "Link emails accepted by the SMTP server",
        m.mails_sent.clone(),
    );
    r.register(
        "mails_failed",
        "Link emails given up on",
        m.mails_failed.clone(),
    );
    r.register(
        "outbox_depth",
        "Emails waiting in the outbox",
        m.outbox_depth.clone(),
    );
    r.register(
        "kdf_jobs_running",
        "Passphrase and password derivations running",
        m.kdf_running.clone(),
    );
    r.register(
        "kdf_jobs_queued",
        "Passphrase and password derivations waiting for a core",
        m.kdf_queued.clone(),
    );
    r.register(
        "store_records",
        "Receipts in the store (with their secrets while unread), including expired ones not \
         yet swept (sled)",
        m.store_records.clone(),
    );
    r.register(
        "store_size_bytes",
        "Size of the store on disk (sled)",
        m.store_bytes.clone(),
    );
    r.register(
        "store_up",
        "1 while the store answers (for Redis: reachable and writable), else 0",
        m.store_up.clone(),
    );
    r.register(
        "http_request_duration_seconds",
        "HTTP requests, by route pattern, method and status",
        m.requests.clone(),
    );
    Metrics { registry, ..m }
});

/// A secret was created.
pub fn secret_created(kind: Kind) {
    METRICS
        .created
        .get_or_create(&KindLabel { kind: kind.label() })
        .inc();
}

/// A secret was revealed.
pub fn secret_revealed() {
    METRICS.revealed.inc();
}

/// A secret was burned.
pub fn secret_burned() {
    METRICS.burned.inc();
}

/// The sweeper removed `n` expired secrets.
pub fn secrets_expired(n: usize) {
    METRICS.expired.inc_by(n as u64);
}

/// A wrong passphrase was given.
pub fn passphrase_failed() {
    METRICS.passphrase_failures.inc();
}

/// A secret was locked by wrong passphrases.
pub fn secret_locked() {
    METRICS.lockouts.inc();
}

/// A request was refused by the rate limit for `action` (`create`, `reveal`, `signin`).
pub fn rate_limited(action: &'static str) {
    METRICS
        .rate_limited
        .get_or_create(&ActionLabel { action })
        .inc();
}

/// A link email was queued.
pub fn mail_queued() {
    METRICS.mails_queued.inc();
}

/// A link email was delivered.
pub fn mail_sent() {
    METRICS.mails_sent.inc();
}

/// A link email was given up on.
pub fn mail_failed() {
    METRICS.mails_failed.inc();
}

/// A request finished. `route` is the matched pattern, or `None` for unmatched paths (counted
/// under `(unmatched)`, never under the path).
pub fn request_finished(route: Option<&str>, method: &str, status: u16, took: Duration) {
    let labels = RequestLabels {
        route: route.unwrap_or("(unmatched)").to_owned(),
        method: method.to_owned(),
        status,
    };
    METRICS
        .requests
        .get_or_create(&labels)
        .observe(took.as_secs_f64());
}

/// What the gauges read from outside this module at scrape time.
#[derive(Clone)]
pub struct Sources {
    /// The store: its footprint and whether it answers.
    pub store: Arc<dyn Store>,
    /// `storage.backend`, the `store_up` label.
    pub backend: &'static str,
    /// The scrypt pool.
    pub kdf: KdfPool,
}

impl Sources {
    /// Reads the gauges' current values. A store that does not answer leaves its gauges as
    /// they were and reports `store_up 0`.
    async fn refresh(&self) {
        let m = &*METRICS;
        let (running, queued) = self.kdf.load();
        m.kdf_running.set(running as i64);
        m.kdf_queued.set(queued as i64);
        let up = self.store.ping().await.is_ok();
        m.store_up
            .get_or_create(&BackendLabel {
                backend: self.backend,
            })
            .set(i64::from(up));
        match self.store.footprint().await {
            Ok(f) => {
                if let Some(n) = f.outbox {
                    m.outbox_depth.set(n as i64);
                }
                if let Some(n) = f.records {
                    m.store_records.set(n as i64);
                }
                if let Some(n) = f.bytes {
                    m.store_bytes.set(n);
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: reading the store's footprint failed"),
        }
    }
}

/// The text exposition (OpenMetrics) of every metric.
fn encode() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}

async fn scrape(sources: web::Data<Sources>) -> HttpResponse {
    sources.refresh().await;
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(encode())
}

/// Serves `/metrics` on its own listener (one worker), apart from the public site, so it is
/// never exposed with it by accident. Stopped through the returned server's handle.
pub fn serve(
    listener: std::net::TcpListener,
    sources: Sources,
) -> std::io::Result<actix_web::dev::Server> {
    let sources = web::Data::new(sources);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(sources.clone())
            .route("/metrics", web::get().to(scrape))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// Binds `metrics.bind` (port 0 picks a free port).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr)
}
