//! Wiring: settings -> store, sealer, service, sweeper -> the actix server. `Application::build`
//! is the one entry point for `main` and for the integration tests.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::accounts::{Accounts, SignInSettings};
use crate::config::Settings;
use crate::crypto::{KdfParams, KdfPool, Sealer, ServerKey};
use crate::http::params::BodyLimit;
use crate::http::ratelimit::RateLimits;
use crate::mail::{Mailer, Outbox, RetryPolicy};
use crate::service::Service;
use crate::store::redis::{RedisStore, RedisTls, ReplicasAck};
use crate::store::sled::SledStore;
use crate::store::{Store, StoreError, SCHEMA_VERSION};
use crate::{admin, http, sweeper};

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
}

/// Creates `storage.path` (server key, admin socket, sled files) with owner-only access.
fn prepare_data_dir(settings: &Settings) -> Result<(), StartError> {
    let dir = &settings.storage.path;
    fs::create_dir_all(dir).map_err(|cause| StartError::Io {
        what: format!("creating storage.path {}", dir.display()),
        cause,
    })?;
    // The directory holds the server key and sealed records: owner only.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|cause| StartError::Io {
        what: format!("restricting permissions of {}", dir.display()),
        cause,
    })
}

/// Connections the kernel queues for us while `server.max_connections` are open (actix's
/// default; the kernel caps it at `net.core.somaxconn`). std's `bind` would queue only 128,
/// and a client beyond the queue waits for SYN retransmits (1 s, 3 s, 7 s...).
const LISTEN_BACKLOG: u32 = 1024;

/// The listening socket for the first of `server.bind`'s addresses that binds (a name like
/// `localhost` may resolve to `::1` on a host without IPv6, then to `127.0.0.1`).
fn bind_configured(settings: &Settings) -> Result<TcpListener, StartError> {
    let mut last = None;
    for addr in settings.bind_addrs()? {
        match bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(cause) => last = Some(cause),
        }
    }
    Err(StartError::Io {
        what: format!("binding server.bind {}", settings.server.bind),
        cause: last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into()),
    })
}

/// The base of links when `server.base_url` is unset: the bound address, by the host name
/// `server.bind` gives, or by loopback when bound to every interface (`0.0.0.0`, `::`).
fn bound_base_url(settings: &Settings, addr: SocketAddr) -> String {
    let configured_host = settings
        .server
        .bind
        .rsplit_once(':')
        .map_or("", |(host, _)| host);
    let named =
        configured_host.parse::<std::net::IpAddr>().is_err() && !configured_host.starts_with('[');
    let host = if named {
        configured_host.to_owned()
    } else {
        match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        }
    };
    format!("http://{host}:{}", addr.port())
}

/// Says where links point, and warns when they likely lead nowhere.
fn check_links(settings: &Settings, addr: SocketAddr, base_url: &str) {
    match &settings.server.base_url {
        None if addr.ip().is_unspecified() => tracing::warn!(
            links = base_url,
            "server.base_url is unset and the server listens on every interface: links name \
             loopback, which only this machine reaches; set server.base_url to the URL people \
             use"
        ),
        None => {}
        Some(configured) => {
            let port = url::Url::parse(configured)
                .ok()
                .and_then(|u| u.port_or_known_default());
            if addr.ip().is_loopback() && port.is_some_and(|p| p != addr.port()) {
                tracing::warn!(
                    base_url = %configured,
                    address = %addr,
                    "server.base_url names another port than the loopback address the server \
                     is bound to; links lead nowhere unless a proxy on that port forwards here \
                     (unset server.base_url to have links follow server.bind)"
                );
            }
        }
    }
}

/// The listening socket for `addr`, with [`LISTEN_BACKLOG`].
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's bind does: a restarted server can bind while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)?.into_std()
}

/// Opens the configured store, creating it (and `storage.path`) if missing: for the server.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    prepare_data_dir(settings)?;
    connect_store(settings).await
}

/// Whether a sled store lives at `storage.path` (sled writes `conf` and `db` when it creates
/// one).
fn sled_store_exists(path: &std::path::Path) -> bool {
    path.join("conf").is_file() && path.join("db").is_file()
}

/// Opens the configured store for an offline command, which never creates one: a command
/// run with the wrong configuration (or in the wrong directory) must not quietly make a second
/// store that the real server never sees.
pub async fn open_existing_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    if settings.storage.backend == "sled" && !sled_store_exists(&settings.storage.path) {
        return Err(StartError::NoStore {
            path: settings.storage.path.display().to_string(),
            config: settings.described_file(),
        });
    }
    connect_store(settings).await
}

/// Which store the settings name, for a command to say what it used: the sled directory, or
/// the Redis URL without its credentials.
pub fn store_description(settings: &Settings) -> String {
    let storage = &settings.storage;
    if storage.backend == "redis" {
        format!(
            "redis {} (prefix {})",
            crate::store::redis::redacted_url(&storage.redis_url.0),
            storage.redis_prefix
        )
    } else {
        let path = &storage.path;
        let shown = fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        format!("sled {}", shown.display())
    }
}

/// Opens the store the settings name, as it is.
async fn connect_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    let storage = &settings.storage;
    if storage.backend == "redis" {
        let timeout = Duration::from_millis(storage.redis_timeout_ms);
        let tls = redis_tls(settings)?;
        let store = RedisStore::open(&storage.redis_url.0, &storage.redis_prefix, timeout, &tls)
            .await
            .map_err(|e| {
                // The URL may hold a password: never echo it.
                StartError::Unsupported(format!("cannot use storage.redis_url: {e}"))
            })?
            .with_replicas_ack(replicas_ack(settings));
        return Ok(Arc::new(store));
    }
    let store = SledStore::open(&storage.path, storage.sync, storage.cache_mb << 20)?;
    Ok(Arc::new(store))
}

/// `storage.redis_replicas_ack`, each `WAIT` bounded by `storage.redis_timeout_ms`.
fn replicas_ack(settings: &Settings) -> ReplicasAck {
    let storage = &settings.storage;
    ReplicasAck::new(
        storage.redis_replicas_ack,
        Duration::from_millis(storage.redis_timeout_ms),
    )
}

/// The `storage.redis_tls_*` files, read and checked; errors name the key, never the contents.
pub fn redis_tls(settings: &Settings) -> Result<RedisTls, StartError> {
    RedisTls::from_settings(&settings.storage).map_err(|e| StartError::Unsupported(e.to_string()))
}

/// Brings `store` up to this build's schema with the server key behind `sealer` (an upgrade
/// seals what older versions kept plain, see `migrations/`). Run wherever the server key is at
/// hand: server start and offline commands.
async fn upgrade(store: &dyn Store, sealer: &Sealer) -> Result<(), StartError> {
    let found = store.schema().await?;
    if found < SCHEMA_VERSION {
        tracing::info!(from = found, to = SCHEMA_VERSION, "upgrading the store");
    }
    store.upgrade(sealer).await?;
    Ok(())
}

/// Opens the store a `onetime migrate` endpoint names: `sled:PATH`, a `redis://` or
/// `rediss://` URL, a cluster's `redis+cluster://` or `rediss+cluster://` URL, or Sentinel's
/// `redis+sentinel://` or `rediss+sentinel://` (with `storage.redis_prefix`,
/// `storage.redis_timeout_ms` and `storage.redis_replicas_ack`; a TLS endpoint with
/// `storage.redis_tls_*`, as the server uses them).
///
/// A source (`create` false) must exist; a sled destination is created when missing.
pub async fn open_named_store(
    settings: &Settings,
    spec: &str,
    create: bool,
) -> Result<Arc<dyn Store>, StartError> {
    if let Some(path) = spec.strip_prefix("sled:") {
        let path = std::path::Path::new(path);
        if !create && !sled_store_exists(path) {
            return Err(StartError::NoStore {
                path: path.display().to_string(),
                config: format!("--from {spec}"),
            });
        }
        let store = SledStore::open(path, true, settings.storage.cache_mb << 20)?;
        return current_schema(Arc::new(store), spec).await;
    }
    let redis_schemes = [
        "redis://",
        "rediss://",
        "redis+cluster://",
        "rediss+cluster://",
        "redis+sentinel://",
        "rediss+sentinel://",
    ];
    if redis_schemes.iter().any(|scheme| spec.starts_with(scheme)) {
        let timeout = Duration::from_millis(settings.storage.redis_timeout_ms);
        let tls = redis_tls(settings)?;
        let store = RedisStore::open(spec, &settings.storage.redis_prefix, timeout, &tls)
            .await
            .map_err(|e| StartError::Unsupported(format!("cannot use the Redis store: {e}")))?
            .with_replicas_ack(replicas_ack(settings));
        return current_schema(Arc::new(store), spec).await;
    }
    Err(StartError::Unsupported(
        "a store is `sled:PATH`, `redis://...`, `rediss://...`, `redis+cluster://...` or \
         `redis+sentinel://...`"
            .into(),
    ))
}

/// `store`, if it is at this build's schema. A `migrate` endpoint is not upgraded on the way:
/// its server key may be another node's, and the upgrade seals with it.
async fn current_schema(store: Arc<dyn Store>, spec: &str) -> Result<Arc<dyn Store>, StartError> {
    let found = store.schema().await?;
    if found < SCHEMA_VERSION {
        // A URL may hold a password: name only the kind of store.
        let what = spec.split("://").next().unwrap_or("store");
        return Err(StartError::Unsupported(format!(
            "the {what} store has schema version {found}; start this onetime on it once (or \
             run `onetime account list` with its configuration) to upgrade it, then migrate"
        )));
    }
    Ok(store)
}

/// The server key from `server.secret`, or `<storage.path>/server.key` (created if missing).
pub fn server_key(settings: &Settings) -> Result<ServerKey, StartError> {
    if let Some(secret) = &settings.server.secret {
        return ServerKey::from_hex(&secret.0).ok_or_else(|| {
            StartError::Unsupported("server.secret is not 64 hex characters".into())
        });
    }
    let path = settings.storage.path.join("server.key");
    ServerKey::load_or_create(&path).map_err(|cause| StartError::Io {
        what: format!("reading or creating {}", path.display()),
        cause,
    })
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

/// The server key for an offline command: from `server.secret`, or the existing key file
/// (a new one would seal records no server can read).
fn existing_server_key(settings: &Settings) -> Result<ServerKey, StartError> {
    let path = settings.storage.path.join("server.key");
    if settings.server.secret.is_none() && !path.is_file() {
        return Err(StartError::Unsupported(format!(
            "no server key: server.secret is unset (in {}) and {} does not exist",
            settings.described_file(),
            path.display()
        )));
    }
    server_key(settings)
}

/// Opens the existing store and the server key for a command run without the server.
pub async fn open_offline(
    settings: &Settings,
) -> Result<(Arc<dyn Store>, Arc<Sealer>), StartError> {
    let store = open_existing_store(settings).await.map_err(|e| match e {
        StartError::Store(StoreError::Locked { .. }) => {
            StartError::Unsupported(format!(
                "the store at {} is in use by a running server, but its admin socket {} does not answer",
                settings.storage.path.display(),
                admin::socket_path(settings).display()
            ))
        }
        other => other,
    })?;
    let sealer = Arc::new(Sealer::new(existing_server_key(settings)?));
    upgrade(store.as_ref(), &sealer).await?;
    Ok((store, sealer))
}

impl Application {
    /// Binds the listener, opens the store and builds the server. The bind comes first, so a
    /// server that cannot listen leaves no data directory behind.
    pub async fn build(mut settings: Settings) -> Result<Self, StartError> {
        let listener = bind_configured(&settings)?;
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
        if settings.storage.backend == "redis" && settings.server.secret.is_none() {
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
        let service = web::Data::new(Service::new(
            Arc::clone(&store),
            Arc::clone(&sealer),
            wake_outbox,
            kdf.clone(),
            &settings,
        ));
        let pages = web::Data::new(http::web::Web::new(
            Arc::clone(&sealer),
            base_url.starts_with("https://"),
            settings.server.session_ttl,
        ));
        let limits = web::Data::new(RateLimits::new(
            &settings,
            store.clone(),
            Arc::clone(&sealer),
        ));
        let accounts = web::Data::new(accounts(&settings, Arc::clone(&store), sealer, kdf));
        let limit = BodyLimit::for_secret(
            settings.largest_secret(),
            Duration::from_secs(settings.server.body_timeout),
        );
        let admin_socket = admin::socket_path(&settings);
        let admin =
            admin::listen(&admin_socket, accounts.clone().into_inner()).map_err(|cause| {
                StartError::Io {
                    what: format!("creating the admin socket {}", admin_socket.display()),
                    cause,
                }
            })?;
        let https = base_url.starts_with("https://");
        let health_store = Arc::clone(&store);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(service.clone())
                .app_data(accounts.clone())
                .app_data(limits.clone())
                .app_data(pages.clone())
                .app_data(limit)
                .app_data(web::Data::from(Arc::clone(&health_store)))
                .wrap(http::security_headers(https))
                .wrap(from_fn(http::access_log))
                .wrap(from_fn(http::close_on_unread_body))
                .configure(http::configure)
                .default_service(web::to(http::not_found))
        })
        .shutdown_timeout(settings.server.shutdown_timeout)
        // actix treats SIGINT as a forced shutdown that drops requests in flight; `main`
        // handles both signals with the graceful stop (`stop_on_signals`).
        .disable_signals();
        let workers = match settings.server.workers {
            // actix's own default: one per core.
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
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
        let sweeper = (settings.storage.backend == "sled").then(|| {
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
        Ok(Self {
            server,
            addr,
            store,
            sweeper,
            admin,
            admin_socket,
            outbox,
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
        tracing::info!("onetime stopped; store flushed");
        served.map_err(|cause| StartError::Io {
            what: "serving".into(),
            cause,
        })?;
        flushed.map_err(StartError::Store)
    }
}
