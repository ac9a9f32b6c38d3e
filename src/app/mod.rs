//! Wiring: settings -> store, sealer, service, sweeper -> the actix server. `Application::build`
//! is the one entry point for `main` and for the integration tests.

use std::fs;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::accounts::{Accounts, SignInSettings};
use crate::config::{Backend, Settings};
use crate::crypto::{KdfParams, KdfPool, Sealer};
use crate::http::client::ClientResolver;
use crate::http::forward_auth::TrustedHeader;
use crate::http::params::{BodyLimit, BodyLimits};
use crate::http::ratelimit::RateLimits;
use crate::mail::{Mailer, Outbox, RetryPolicy};
use crate::oidc::Oidc;
use crate::service::{RateLimiter, Service};
use crate::store::{Store, StoreError};
use crate::{admin, http, sweeper};

mod listen;
mod metrics;
mod stores;

use listen::{bind_configured, bound_base_url, check_links};
use stores::upgrade;

pub use stores::{
    open_existing_store, open_named_store, open_offline, open_store, redis_tls, server_key,
    store_description,
};

/// Why the server could not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or key file could not be prepared. The message holds the cause, so
    /// it is not a `source` (a printed chain would repeat it).
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The store refused to open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setting names something this build cannot do.
    #[error("configuration: {0}")]
    Unsupported(String),
    /// The mail settings are unusable.
    #[error("configuration: {0}")]
    Mail(crate::mail::MailError),
    /// A configuration value could not be used.
    #[error(transparent)]
    Settings(#[from] crate::config::SettingsError),
    /// An offline command found no store where the configuration points: it never makes one.
    #[error(
        "no store at {path}, the storage.path of {config}: start the server once to create \
         it, or point --config (or ONETIME_CONFIG) at the server's configuration"
    )]
    NoStore {
        /// The configured store.
        path: String,
        /// Where the configuration came from.
        config: String,
    },
}

impl From<crate::mail::MailError> for StartError {
    fn from(e: crate::mail::MailError) -> Self {
        // Not a `source`: the message holds it, and a printed chain would repeat it.
        Self::Mail(e)
    }
}

/// A built, bound server, not yet running.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    store: Arc<dyn Store>,
    sweeper: Option<tokio::task::JoinHandle<()>>,
    admin: tokio::task::JoinHandle<()>,
    admin_socket: std::path::PathBuf,
    outbox: Option<tokio::task::JoinHandle<()>>,
    /// The `/metrics` listener (`metrics.bind`), stopped before the store is closed.
    metrics: Option<metrics::MetricsServer>,
}

/// The process's one scrypt pool: one derivation per core, `crypto.kdf_queue` more waiting.
pub fn kdf_pool(settings: &Settings) -> KdfPool {
    KdfPool::per_core(settings.crypto.kdf_queue)
}

/// The account use cases over `store`, with the plans, the scrypt cost and the session
/// lifetime from `settings`, deriving on `kdf` (the process's one pool, shared with the
/// secrets' use cases so the bound on scrypt memory is the process's).
pub fn accounts(
    settings: &Settings,
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    kdf: KdfPool,
) -> Accounts {
    let c = &settings.crypto;
    let sign_in = SignInSettings {
        scrypt: (c.scrypt_log_n, c.scrypt_r, c.scrypt_p),
        session_ttl: settings.server.session_ttl,
        kdf,
    };
    Accounts::new(
        store,
        sealer,
        settings.plans.keys().cloned().collect(),
        sign_in,
    )
}

impl Application {
    /// Binds the listener, opens the store and builds the server. The bind comes first, so a
    /// server that cannot listen leaves no data directory behind.
    pub async fn build(mut settings: Settings) -> Result<Self, StartError> {
        let listener = bind_configured(&settings)?;
        let metrics_listener = metrics::bind(&settings)?;
        let addr = listener.local_addr().map_err(|cause| StartError::Io {
            what: "reading the bound address".into(),
            cause,
        })?;
        let links_from = if settings.server.base_url.is_some() {
            "server.base_url"
        } else {
            "server.bind"
        };
        let base_url = settings
            .link_base(&bound_base_url(&settings, addr))
            .to_owned();
        check_links(&settings, addr, &base_url);
        // From here on every link (API, pages, mail) uses it.
        settings.server.base_url = Some(base_url.clone());
        let store = open_store(&settings).await?;
        let sealer = Arc::new(Sealer::new(server_key(&settings)?));
        upgrade(store.as_ref(), &sealer).await?;
        if settings.storage.backend == Backend::Redis && settings.server.secret.is_none() {
            tracing::warn!(
                "storage.backend = \"redis\" without server.secret: this node uses its own key \
                 file, so other nodes cannot read its secrets; give every node the same \
                 server.secret"
            );
        }
        let c = &settings.crypto;
        if !KdfParams::meets_asvs(c.scrypt_log_n, c.scrypt_r, c.scrypt_p) {
            tracing::warn!(
                log_n = c.scrypt_log_n,
                r = c.scrypt_r,
                p = c.scrypt_p,
                "scrypt cost is below the OWASP ASVS floor; passphrases are easier to guess"
            );
        }
        let wake_outbox = Arc::new(tokio::sync::Notify::new());
        let outbox = Mailer::from_settings(&settings.mail)?.map(|mailer| {
            Outbox {
                store: store.clone(),
                sealer: Arc::clone(&sealer),
                mailer,
                retry: RetryPolicy::from_settings(&settings.mail),
                wake: Arc::clone(&wake_outbox),
            }
            .spawn()
        });
        // One scrypt pool for every use case: the memory bound is the process's.
        let kdf = kdf_pool(&settings);
        let metrics = metrics_listener
            .map(|listener| metrics::MetricsServer::start(listener, &settings, &store, &kdf))
            .transpose()?;
        let service = web::Data::new(Service::new(
            Arc::clone(&store),
            Arc::clone(&sealer),
            wake_outbox,
            kdf.clone(),
            &settings,
        ));
        let cookies = web::Data::new(http::web::Cookies::new(
            Arc::clone(&sealer),
            base_url.starts_with("https://"),
            settings.server.session_ttl,
        ));
        let limits = web::Data::new(RateLimits::new(
            RateLimiter::new(&settings, store.clone(), Arc::clone(&sealer)),
            ClientResolver::new(&settings),
        ));
        let oidc = Oidc::new(
            &settings,
            &base_url,
            Arc::clone(&store),
            Arc::clone(&sealer),
        )
        .map_err(StartError::Unsupported)?
        .map(web::Data::new);
        if let Some(oidc) = &oidc {
            tracing::info!(
                redirect_uri = oidc.redirect_uri(),
                only = oidc.only(),
                "sign-in with the identity provider is on; register this redirect URI there"
            );
        }
        let trusted_header = TrustedHeader::from_settings(&settings).map(web::Data::new);
        let accounts = web::Data::new(accounts(&settings, Arc::clone(&store), sealer, kdf));
        let deadline = Duration::from_secs(settings.server.body_timeout);
        let anonymous = settings.plans.get("anonymous");
        let limit = BodyLimits {
            plain: BodyLimit::for_secret(settings.largest_secret(), deadline),
            account_files: BodyLimit::for_plan(
                settings.largest_secret(),
                settings.largest_file(),
                deadline,
            ),
            anonymous_files: BodyLimit::for_plan(
                anonymous.map_or(0, |p| p.max_size),
                anonymous.map_or(0, |p| p.max_file_size),
                deadline,
            ),
        };
        let admin_socket = admin::socket_path(&settings);
        let admin = admin::listen(
            &admin_socket,
            accounts.clone().into_inner(),
            Arc::clone(&store),
        )
        .map_err(|cause| StartError::Io {
            what: format!("creating the admin socket {}", admin_socket.display()),
            cause,
        })?;
        let https = base_url.starts_with("https://");
        let mut server = HttpServer::new(move || {
            let mut app = App::new();
            if let Some(oidc) = &oidc {
                app = app.app_data(oidc.clone());
            }
            if let Some(rule) = &trusted_header {
                app = app.app_data(rule.clone());
            }
            app.app_data(service.clone())
                .app_data(accounts.clone())
                .app_data(limits.clone())
                .app_data(cookies.clone())
                .app_data(limit)
                .wrap(from_fn(http::forward_auth::guard))
                .wrap(http::security_headers(https))
                .wrap(from_fn(http::access_log))
                .wrap(from_fn(http::close_on_unread_body))
                .configure(http::configure)
                .default_service(web::to(http::unknown_route))
        })
        .shutdown_timeout(settings.server.shutdown_timeout)
        // actix treats SIGINT as a forced shutdown that drops requests in flight; `main`
        // handles both signals with the graceful stop (`stop_on_signals`).
        .disable_signals();
        let workers = settings.server.worker_count();
        server = server
            .workers(workers)
            .keep_alive(Duration::from_secs(settings.server.keepalive_timeout))
            // actix's request timeout covers the head only; `read_body` holds the body to the
            // same deadline.
            .client_request_timeout(Duration::from_secs(settings.server.body_timeout))
            // actix counts connections per worker; the setting is for the whole process, which
            // is what the open-file limit is about.
            .max_connections((settings.server.max_connections / workers).max(1));
        let server = server
            .listen(listener)
            .map_err(|cause| StartError::Io {
                what: "listening".into(),
                cause,
            })?
            .run();
        // Redis expires records itself; sled needs its space reclaimed.
        let sweeper = (settings.storage.backend == Backend::Sled).then(|| {
            sweeper::spawn(
                store.clone(),
                Duration::from_secs(settings.storage.sweep_interval),
            )
        });
        tracing::info!(
            address = %addr,
            links_from,
            store = %store_description(&settings),
            config = %settings.described_file(),
            sync = settings.storage.sync,
            mail = settings.mail.smtp_url.is_some(),
            "onetime listening on {base_url}"
        );
        if let Some(m) = &metrics {
            tracing::info!("metrics on http://{}/metrics", m.addr);
        }
        Ok(Self {
            server,
            addr,
            store,
            sweeper,
            admin,
            admin_socket,
            outbox,
            metrics,
        })
    }

    /// The address the server is bound to (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to stop the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Stops the server gracefully on SIGTERM or SIGINT (Ctrl-C) alike: no new connections,
    /// in-flight requests get `server.shutdown_timeout` seconds. For the binary only: in a
    /// test process it would take Ctrl-C away from the test runner.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let handle = self.handle();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("{name} received; finishing requests in flight, then stopping");
            handle.stop(true).await;
        });
        Ok(())
    }

    /// Serves until SIGTERM/SIGINT (or a stop through the handle), lets in-flight requests
    /// finish, then flushes the store.
    pub async fn run_until_stopped(self) -> Result<(), StartError> {
        let served = self.server.await;
        if let Some(m) = self.metrics {
            m.stop().await;
        }
        // Stop the background tasks and wait until they are gone: each holds the store, and
        // sled's directory lock is only released once the last holder drops it.
        let mut tasks = vec![self.admin];
        tasks.extend(self.sweeper);
        tasks.extend(self.outbox);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        let _ = fs::remove_file(&self.admin_socket);
        // The HTTP workers drop their handles to the store as their threads wind down; wait
        // for that (briefly), so that "stopped" means the store is closed and can be reopened.
        for _ in 0..500 {
            if Arc::strong_count(&self.store) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let flushed = self.store.flush().await;
        // So that the next start reads from here instead of replaying this run's writes.
        let started = std::time::Instant::now();
        match self.store.checkpoint().await {
            Ok(true) => tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "store checkpointed: the next start begins here"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "store checkpoint failed; the next start will take longer")
            }
        }
        tracing::info!("onetime stopped; store flushed");
        served.map_err(|cause| StartError::Io {
            what: "serving".into(),
            cause,
        })?;
        flushed.map_err(StartError::Store)
    }
}
