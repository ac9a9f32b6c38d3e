//! Typed settings: built-in defaults < `onetime.toml` (or `--config PATH`) < `ONETIME__*` env.
//!
//! The built-in defaults are the repository's documented `onetime.toml`, embedded at build
//! time, so the documentation and the defaults cannot drift apart.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::crypto::{KdfParams, SERVER_KEY_LEN};

/// The documented default configuration, also the lowest-precedence source.
pub const DEFAULTS: &str = include_str!("../onetime.toml");

/// Name of the config file looked for in the working directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "onetime.toml";

/// The most replicas `storage.redis_replicas_ack` may ask for: a larger number is a typo that
/// would make every write fail.
const MAX_REPLICAS_ACK: u32 = 16;

/// A configuration problem that stops the start. The message names the key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The sources could not be read or a value has the wrong type. Not marked as a source:
    /// the message already holds it, and a printed cause chain would repeat it.
    #[error("configuration: {0}")]
    Load(config::ConfigError),
    /// A value has the right type but is not acceptable.
    #[error("configuration: invalid `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl From<config::ConfigError> for SettingsError {
    fn from(e: config::ConfigError) -> Self {
        Self::Load(e)
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// A string that never shows up in `Debug` output or in `config check`'s TOML (keys, URLs
/// with passwords).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Redacted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// A list from TOML, or a comma-separated string from an environment variable (the config
/// crate only splits env lists when it also guesses types, which would mangle hex keys).
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::List(items) => items,
        Raw::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// One `server.trusted_proxies` entry: a CIDR network (`10.0.0.0/8`, `fd00::/8`) or a bare
/// address (a network of one).
fn parse_proxy(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    if let Ok(net) = entry.parse::<IpNet>() {
        // `10.1.2.3/8` is accepted by ipnet; the operator surely meant the network.
        return Ok(net.trunc());
    }
    entry
        .parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| "not a CIDR network or an IP address".to_owned())
}

/// All settings, one section per table in `onetime.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[server]`: listening, links, keys.
    pub server: ServerSettings,
    /// `[storage]`: backend and durability.
    pub storage: StorageSettings,
    /// `[secrets]`: lifetimes and passphrase rules.
    pub secrets: SecretsSettings,
    /// `[crypto]`: passphrase KDF cost.
    pub crypto: CryptoSettings,
    /// `[limits]`: per-IP rate limits and passphrase lockout.
    pub limits: Limits,
    /// `[plans.NAME]`: per-plan limits; `anonymous` and `default` must exist.
    pub plans: BTreeMap<String, Plan>,
    /// `[mail]`: SMTP delivery of links to recipients.
    pub mail: MailSettings,
    /// `[log]`: log filter and format.
    pub log: LogSettings,
    /// `[metrics]`: the Prometheus endpoint. Every key is optional, so the table may be
    /// absent.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// The configuration file these settings were read from; `None`: built-in defaults (and
    /// the environment) only. Named by commands, so an operator sees which file was used.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address, `host:port`; a host name is resolved at load; port 0 picks a free one.
    pub bind: String,
    /// Scheme and host used in links; no trailing slash after loading. Unset: links follow
    /// the bound address (`Application::build` fills it in once the port is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The server key as 64 hex characters; unset means `<storage.path>/server.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Redacted>,
    /// A file holding `secret` (e.g. a systemd credential), read at load so the key need not
    /// sit in a file every local user may read; trailing whitespace is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Believe `X-Forwarded-For` for client addresses.
    pub trust_proxy: bool,
    /// Hosts a create may name in `share_domain`. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub share_domains: Vec<String>,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Seconds in-flight requests get after SIGTERM/SIGINT.
    pub shutdown_timeout: u64,
    /// Seconds a web sign-in lasts (at least 60).
    pub session_ttl: u64,
    /// Seconds a request may take to deliver its head, and then its whole body (at least 1).
    pub body_timeout: u64,
    /// Seconds an idle keep-alive connection stays open (0 = close after each response).
    pub keepalive_timeout: u64,
    /// Open client connections across all workers; more wait in the listen backlog. Keep it
    /// below the process's open-file limit (`LimitNOFILE`).
    pub max_connections: usize,
    /// Proxies whose `X-Forwarded-For` entries are skipped when finding the client (CIDR or
    /// bare addresses; only with `trust_proxy`). From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<String>,
}

/// Where records live: `storage.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded, in `storage.path`; one process.
    Sled,
    /// A Redis server, Cluster or Sentinel set at `storage.redis_url`; any number of nodes.
    Redis,
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `sled` or `redis`.
    pub backend: Backend,
    /// sled directory and default home of `server.key`.
    pub path: PathBuf,
    /// Redis URL for the Redis backend.
    pub redis_url: Redacted,
    /// PEM file of the CA certificate(s) trusted for a `rediss://` server, instead of the
    /// system's trust store; unset = the system's store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_tls_ca: Option<PathBuf>,
    /// PEM client certificate (chain) presented to a Redis that requires one
    /// (`tls-auth-clients yes`); set together with `redis_tls_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_tls_cert: Option<PathBuf>,
    /// PEM private key of `redis_tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_tls_key: Option<PathBuf>,
    /// Prefix of every Redis key.
    pub redis_prefix: String,
    /// Milliseconds a Redis connect or command may take.
    pub redis_timeout_ms: u64,
    /// Replicas that must confirm each state change (`WAIT`) before it is acknowledged;
    /// 0 = do not wait.
    pub redis_replicas_ack: u32,
    /// Flush before acknowledging a write.
    pub sync: bool,
    /// Seconds between sweeps of expired records.
    pub sweep_interval: u64,
    /// sled page cache in MiB.
    pub cache_mb: u64,
}

impl StorageSettings {
    /// The `redis_tls_*` keys: an empty value (from an environment variable) means unset; cert
    /// and key come together; with the Redis backend they need a `rediss://` URL, or a node
    /// would quietly talk plain TCP while its operator believes it uses TLS. The files
    /// themselves are read and checked when the store opens.
    fn check_redis_tls(&mut self) -> Result<(), SettingsError> {
        for path in [
            &mut self.redis_tls_ca,
            &mut self.redis_tls_cert,
            &mut self.redis_tls_key,
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                *path = None;
            }
        }
        if self.redis_tls_cert.is_some() != self.redis_tls_key.is_some() {
            return Err(invalid(
                "storage.redis_tls_cert/storage.redis_tls_key",
                "a client certificate needs its key: set both or neither",
            ));
        }
        let tls_set = self.redis_tls_ca.is_some() || self.redis_tls_cert.is_some();
        let url = &self.redis_url.0;
        let tls_url = ["rediss://", "rediss+cluster://", "rediss+sentinel://"]
            .iter()
            .any(|scheme| url.starts_with(scheme));
        if self.backend == Backend::Redis && tls_set && !tls_url {
            return Err(invalid(
                "storage.redis_url",
                "storage.redis_tls_* are set but the URL does not start with rediss:// (or \
                 rediss+cluster://, rediss+sentinel://), so the connection would not use TLS",
            ));
        }
        Ok(())
    }
}

/// `[secrets]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// May anonymous callers create secrets.
    pub allow_anonymous: bool,
    /// TTL in seconds when a create gives none.
    pub default_ttl: u64,
    /// Smallest TTL in seconds.
    pub min_ttl: u64,
    /// Shortest passphrase in characters.
    pub passphrase_min_length: usize,
    /// Generated password length when the request gives none.
    pub generate_length: usize,
}

/// `[crypto]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoSettings {
    /// scrypt cost: N = 2^scrypt_log_n.
    pub scrypt_log_n: u8,
    /// scrypt block size.
    pub scrypt_r: u32,
    /// scrypt parallelism.
    pub scrypt_p: u32,
    /// Derivations allowed to wait for a CPU before new ones fail fast.
    pub kdf_queue: usize,
}

/// `[limits]`
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Anonymous creates per IP per window.
    pub create_per_ip: u32,
    /// Anonymous reveals per IP per window.
    pub reveal_per_ip: u32,
    /// Rate-limit window in seconds.
    pub window: u64,
    /// Wrong passphrases per secret and IP before the secret locks.
    pub passphrase_failures_per_ip: u32,
    /// Wrong passphrases per secret in all before it locks.
    pub passphrase_failures_total: u32,
    /// Seconds over which wrong passphrases are counted.
    pub passphrase_window: u64,
    /// Seconds a locked secret stays locked.
    pub passphrase_lockout: u64,
    /// Web sign-in attempts per IP per window.
    pub signin_per_ip: u32,
    /// IPv6 clients are one client per prefix of this many bits (0 to 128).
    pub ipv6_prefix: u8,
}

/// `[plans.NAME]`: what one kind of caller may create.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Longest lifetime in seconds.
    pub max_ttl: u64,
    /// Largest secret in bytes.
    pub max_size: usize,
}

/// `[mail]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// SMTP URL; unset means mail is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<Redacted>,
    /// A file holding `smtp_url` (it may carry the SMTP password), read at load; trailing
    /// whitespace is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_url_file: Option<PathBuf>,
    /// Sender address.
    pub from: String,
    /// Seconds an SMTP exchange may take.
    pub timeout: u64,
    /// Seconds before the first retry of a failed send; doubles each time, up to an hour.
    pub retry_initial: u64,
    /// Seconds after which an undelivered mail is given up.
    pub give_up_after: u64,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing_subscriber::EnvFilter` directive.
    pub level: String,
    /// `text` (one line per event, for people and the journal) or `json` (one JSON object per
    /// line, for log shippers).
    pub format: LogFormat,
}

/// `[metrics]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// `IP:port` of the separate `/metrics` listener; unset (or empty): no listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

impl MetricsSettings {
    /// The listener's address, if metrics are on (checked at load).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.bind.as_deref().and_then(|b| b.parse().ok())
    }
}

/// `log.format`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `key=value` lines.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message` and the event's fields.
    Json,
}

impl Settings {
    /// Loads the settings the server runs with.
    ///
    /// `file`: an explicit `--config` path (must exist), or `None` to read `./onetime.toml` if
    /// present. `env`: the environment to read `ONETIME__*` from; `None` is the process env
    /// (tests pass a map instead of mutating the process environment).
    pub fn load(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, SettingsError> {
        let user_file = match file {
            Some(path) => File::from(path).required(true),
            None => File::with_name(DEFAULT_FILE).required(false),
        };
        let used = match file {
            Some(path) => Some(path.to_owned()),
            None => Path::new(DEFAULT_FILE)
                .is_file()
                .then(|| PathBuf::from(DEFAULT_FILE)),
        };
        let mut settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(user_file.format(FileFormat::Toml))
            .add_source(
                Environment::with_prefix("ONETIME")
                    .prefix_separator("__")
                    .separator("__")
                    .source(env),
            )
            .build()?
            .try_deserialize()?;
        settings.file = used;
        settings.validated()
    }

    /// Where these settings came from, for messages: the file's path, or the built-in defaults.
    pub fn described_file(&self) -> String {
        match &self.file {
            Some(path) => format!("config file {}", path.display()),
            None => {
                format!("built-in defaults (no {DEFAULT_FILE} here, no --config or ONETIME_CONFIG)")
            }
        }
    }

    /// The effective configuration as TOML, every secret shown as `[redacted]`.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }

    /// Checks every value whose type alone does not make it valid, and normalises a few.
    fn validated(mut self) -> Result<Self, SettingsError> {
        resolve_bind(&self.server.bind)?;
        self.metrics.bind = self.metrics.bind.take().filter(|b| !b.trim().is_empty());
        if let Some(bind) = &self.metrics.bind {
            bind.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics.bind",
                    format!("`{bind}`: want IP:port, e.g. 127.0.0.1:9143"),
                )
            })?;
        }
        // An empty value (from an environment variable) means unset, as for the other options.
        self.server.base_url = self.server.base_url.take().filter(|u| !u.trim().is_empty());
        if let Some(base_url) = &mut self.server.base_url {
            check_base_url(base_url)?;
            *base_url = base_url.trim_end_matches('/').to_owned();
        }
        if let Some(path) = self
            .server
            .secret_file
            .take()
            .filter(|p| !p.as_os_str().is_empty())
        {
            if self.server.secret.is_some() {
                return Err(invalid(
                    "server.secret_file",
                    "server.secret is set too: set one of them",
                ));
            }
            self.server.secret = Some(read_secret_file("server.secret_file", &path)?);
            self.server.secret_file = Some(path);
        }
        if let Some(path) = self
            .mail
            .smtp_url_file
            .take()
            .filter(|p| !p.as_os_str().is_empty())
        {
            if self.mail.smtp_url.is_some() {
                return Err(invalid(
                    "mail.smtp_url_file",
                    "mail.smtp_url is set too: set one of them",
                ));
            }
            self.mail.smtp_url = Some(read_secret_file("mail.smtp_url_file", &path)?);
            self.mail.smtp_url_file = Some(path);
        }
        if let Some(secret) = &self.server.secret {
            let ok = secret.0.len() == SERVER_KEY_LEN * 2
                && secret.0.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(invalid("server.secret", "want exactly 64 hex characters"));
            }
        }
        if self.server.session_ttl < 60 {
            return Err(invalid(
                "server.session_ttl",
                "must be at least 60 (seconds)",
            ));
        }
        if self.server.body_timeout == 0 {
            return Err(invalid(
                "server.body_timeout",
                "must be at least 1 (seconds)",
            ));
        }
        if self.server.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        for proxy in &self.server.trusted_proxies {
            parse_proxy(proxy).map_err(|reason| {
                invalid(
                    "server.trusted_proxies",
                    format!("`{proxy}`: {reason} (want CIDR like 10.0.0.0/8 or an address)"),
                )
            })?;
        }
        for domain in &mut self.server.share_domains {
            *domain = domain.trim().to_ascii_lowercase();
            let valid = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
            if !valid {
                return Err(invalid(
                    "server.share_domains",
                    "each entry must be a bare host name like secrets.example.com",
                ));
            }
        }
        self.storage.check_redis_tls()?;
        if self.storage.redis_timeout_ms == 0 {
            return Err(invalid("storage.redis_timeout_ms", "must be at least 1"));
        }
        if self.storage.redis_replicas_ack > MAX_REPLICAS_ACK {
            return Err(invalid(
                "storage.redis_replicas_ack",
                format!("at most {MAX_REPLICAS_ACK} (the replicas of one primary)"),
            ));
        }
        if self.storage.redis_replicas_ack > 0 && self.storage.redis_timeout_ms < 2 {
            return Err(invalid(
                "storage.redis_replicas_ack",
                "needs storage.redis_timeout_ms of at least 2: WAIT gets half of it",
            ));
        }
        if self.storage.sweep_interval == 0 {
            return Err(invalid("storage.sweep_interval", "must be at least 1"));
        }
        if self.storage.cache_mb == 0 {
            return Err(invalid("storage.cache_mb", "must be at least 1"));
        }
        let s = &self.secrets;
        if s.min_ttl == 0 {
            return Err(invalid("secrets.min_ttl", "must be at least 1"));
        }
        if s.default_ttl < s.min_ttl {
            return Err(invalid(
                "secrets.default_ttl",
                "must not be below secrets.min_ttl",
            ));
        }
        if !(1..=crate::domain::PASSPHRASE_MAX_CHARS).contains(&s.passphrase_min_length) {
            return Err(invalid("secrets.passphrase_min_length", "want 1 to 128"));
        }
        if !crate::domain::GENERATE_LENGTH.contains(&s.generate_length) {
            return Err(invalid("secrets.generate_length", "want 4 to 128"));
        }
        for name in ["anonymous", "default"] {
            if !self.plans.contains_key(name) {
                return Err(invalid("plans", format!("plan `{name}` must be defined")));
            }
        }
        for plan in self.plans.values() {
            if plan.max_ttl < s.min_ttl {
                return Err(invalid(
                    "plans.*.max_ttl",
                    "must not be below secrets.min_ttl",
                ));
            }
            if plan.max_size == 0 {
                return Err(invalid("plans.*.max_size", "must be at least 1"));
            }
        }
        let l = &self.limits;
        for (key, value) in [
            ("limits.window", l.window),
            ("limits.passphrase_window", l.passphrase_window),
            ("limits.passphrase_lockout", l.passphrase_lockout),
            (
                "limits.passphrase_failures_per_ip",
                u64::from(l.passphrase_failures_per_ip),
            ),
            (
                "limits.passphrase_failures_total",
                u64::from(l.passphrase_failures_total),
            ),
            ("limits.signin_per_ip", u64::from(l.signin_per_ip)),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if l.ipv6_prefix > 128 {
            return Err(invalid("limits.ipv6_prefix", "want 0 to 128 (bits)"));
        }
        let c = &self.crypto;
        KdfParams::check(c.scrypt_log_n, c.scrypt_r, c.scrypt_p)
            .map_err(|reason| invalid("crypto.scrypt_log_n/r/p", reason))?;
        if c.kdf_queue == 0 {
            return Err(invalid("crypto.kdf_queue", "must be at least 1"));
        }
        if self.mail.timeout == 0 || self.mail.retry_initial == 0 {
            return Err(invalid(
                "mail.timeout/mail.retry_initial",
                "must be at least 1",
            ));
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid("mail.from", "not an email address"));
        }
        check_log_level(&self.log.level).map_err(|reason| invalid("log.level", reason))?;
        Ok(self)
    }

    /// The addresses `server.bind` names, in the resolver's order (checked at load, resolved
    /// again here: a name's addresses may have changed since).
    pub fn bind_addrs(&self) -> Result<Vec<SocketAddr>, SettingsError> {
        resolve_bind(&self.server.bind)
    }

    /// The base of links: `server.base_url`, or, when that is unset, `fallback` (the server
    /// fills in its bound address).
    pub fn link_base<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.server.base_url.as_deref().unwrap_or(fallback)
    }

    /// `server.trusted_proxies` as networks (validated at load).
    pub fn trusted_proxies(&self) -> Vec<IpNet> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|p| parse_proxy(p).ok())
            .collect()
    }

    /// The largest secret any plan allows, which bounds request bodies.
    pub fn largest_secret(&self) -> usize {
        self.plans.values().map(|p| p.max_size).max().unwrap_or(0)
    }
}

/// `server.bind` as socket addresses: `IP:port`, `[IPv6]:port` or `name:port` (resolved).
fn resolve_bind(bind: &str) -> Result<Vec<SocketAddr>, SettingsError> {
    if let Ok(addr) = bind.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let want = "want host:port, e.g. 127.0.0.1:7143, [::1]:7143 or localhost:7143";
    if bind
        .rsplit_once(':')
        .is_none_or(|(host, _)| host.is_empty())
    {
        return Err(invalid("server.bind", format!("`{bind}`: {want}")));
    }
    let addrs: Vec<SocketAddr> = bind
        .to_socket_addrs()
        .map_err(|e| invalid("server.bind", format!("`{bind}`: {e} ({want})")))?
        .collect();
    if addrs.is_empty() {
        return Err(invalid(
            "server.bind",
            format!("`{bind}` resolves to no address"),
        ));
    }
    Ok(addrs)
}

/// `server.base_url` must be an absolute http(s) URL with a host.
fn check_base_url(base_url: &str) -> Result<(), SettingsError> {
    let example = "e.g. https://secrets.example.com or http://127.0.0.1:7143";
    let base = match Url::parse(base_url) {
        Ok(base) => base,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(invalid(
                "server.base_url",
                format!(
                    "`{base_url}` has no scheme: start it with https:// or http:// ({example})"
                ),
            ))
        }
        Err(e) => return Err(invalid("server.base_url", format!("`{base_url}`: {e}"))),
    };
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        // `example.com:8080` parses with the scheme `example.com`.
        return Err(invalid(
            "server.base_url",
            format!("`{base_url}`: want http:// or https:// and a host ({example})"),
        ));
    }
    Ok(())
}

/// The levels a directive may name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `log.level` must be a filter whose every directive sets a level. `EnvFilter` takes a bare
/// word as a target name (`loud` = "everything under the target `loud`"), so a misspelt level
/// would silence every log line, the start line included: a bare word must be a level.
fn check_log_level(level: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare_word = !directive.contains(['=', '[', ':']);
        if bare_word && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "`{directive}` is not a level: want one of {} or directives like \
                 \"onetime=debug,info\"",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

/// The secret held in `path`, for a `*_file` setting: the whole file, trailing whitespace
/// (the newline editors add) removed. Errors name the key and the path, never the contents.
fn read_secret_file(key: &'static str, path: &Path) -> Result<Redacted, SettingsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    let value = text.trim_end();
    if value.is_empty() {
        return Err(invalid(key, format!("{} is empty", path.display())));
    }
    Ok(Redacted(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load(Some(Path::new(DEFAULT_FILE_FOR_TESTS)), Some(env))
    }

    const DEFAULT_FILE_FOR_TESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/onetime.toml");

    #[test]
    fn defaults_match_the_design_table() {
        let s = load_env(&[]).expect("defaults load");
        assert_eq!(s.server.bind, "127.0.0.1:7143");
        assert!(s.server.base_url.is_none(), "links follow server.bind");
        assert!(s.server.secret.is_none());
        assert!(!s.server.trust_proxy);
        assert!(s.server.share_domains.is_empty());
        assert_eq!(s.server.session_ttl, 28_800, "8 hours");
        assert_eq!(s.storage.backend, Backend::Sled);
        assert_eq!(s.storage.path, PathBuf::from("./data"));
        assert!(s.storage.sync);
        assert_eq!(s.storage.sweep_interval, 60);
        assert!(s.secrets.allow_anonymous);
        assert_eq!(s.secrets.default_ttl, 604_800);
        assert_eq!(s.secrets.min_ttl, 60);
        assert_eq!(s.plans["anonymous"].max_ttl, 604_800);
        assert_eq!(s.plans["default"].max_ttl, 2_592_000);
        assert_eq!(s.plans["default"].max_size, 10_000);
        assert!(s.mail.smtp_url.is_none());
        assert_eq!(s.mail.from, "onetime@localhost");
        assert_eq!(s.server.body_timeout, 10);
        assert_eq!(s.server.keepalive_timeout, 5);
        assert_eq!(s.server.max_connections, 4096);
        assert!(s.server.trusted_proxies.is_empty());
        assert_eq!(s.limits.ipv6_prefix, 64);
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        let s = load_env(&[(
            "ONETIME__SERVER__TRUSTED_PROXIES",
            "10.1.2.3/8, 192.0.2.1, fd00::/8",
        )])
        .expect("loads");
        let nets: Vec<String> = s.trusted_proxies().iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.1/32", "fd00::/8"]);
    }

    #[test]
    fn env_overrides_with_double_underscores() {
        let s = load_env(&[
            ("ONETIME__SERVER__BIND", "127.0.0.1:0"),
            ("ONETIME__STORAGE__SYNC", "false"),
            ("ONETIME__SECRETS__MIN_TTL", "5"),
            ("ONETIME__SERVER__SHARE_DOMAINS", "a.example, b.example"),
        ])
        .expect("loads");
        assert_eq!(s.server.share_domains, ["a.example", "b.example"]);
        assert_eq!(s.server.bind, "127.0.0.1:0");
        assert!(!s.storage.sync);
        assert_eq!(s.secrets.min_ttl, 5);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("ONETIME__SERVER__BIND", "not an address", "server.bind"),
            ("ONETIME__SERVER__BASE_URL", "ftp://x", "server.base_url"),
            ("ONETIME__SERVER__SECRET", "abcd", "server.secret"),
            ("ONETIME__SERVER__SESSION_TTL", "59", "server.session_ttl"),
            ("ONETIME__STORAGE__BACKEND", "postgres", "storage.backend"),
            ("ONETIME__STORAGE__SWEEP_INTERVAL", "soon", "sweep_interval"),
            (
                "ONETIME__STORAGE__REDIS_REPLICAS_ACK",
                "17",
                "storage.redis_replicas_ack",
            ),
            (
                "ONETIME__STORAGE__REDIS_REPLICAS_ACK",
                "-1",
                "redis_replicas_ack",
            ),
            (
                "ONETIME__STORAGE__REDIS_REPLICAS_ACK",
                "two",
                "redis_replicas_ack",
            ),
            ("ONETIME__SECRETS__MIN_TTL", "0", "secrets.min_ttl"),
            ("ONETIME__CRYPTO__SCRYPT_LOG_N", "40", "crypto.scrypt"),
            ("ONETIME__LOG__LEVEL", "=*=", "log.level"),
            ("ONETIME__SERVER__BODY_TIMEOUT", "0", "server.body_timeout"),
            (
                "ONETIME__SERVER__MAX_CONNECTIONS",
                "0",
                "server.max_connections",
            ),
            (
                "ONETIME__SERVER__TRUSTED_PROXIES",
                "10.0.0.0/8, proxy.example",
                "server.trusted_proxies",
            ),
            (
                "ONETIME__SERVER__TRUSTED_PROXIES",
                "10.0.0.0/33",
                "trusted_proxies",
            ),
            ("ONETIME__LIMITS__IPV6_PREFIX", "129", "limits.ipv6_prefix"),
        ];
        for (var, value, key) in cases {
            let err = load_env(&[(var, value)]).expect_err(var).to_string();
            assert!(err.contains(key), "{var}={value}: {err}");
        }
    }

    #[test]
    fn redis_tls_keys_come_as_a_pair_and_need_a_rediss_url() {
        let redis = ("ONETIME__STORAGE__BACKEND", "redis");
        let tls_url = (
            "ONETIME__STORAGE__REDIS_URL",
            "rediss://:hunter2@r.example:6380",
        );
        let ca = (
            "ONETIME__STORAGE__REDIS_TLS_CA",
            "/etc/onetime/redis-ca.pem",
        );
        let cert = (
            "ONETIME__STORAGE__REDIS_TLS_CERT",
            "/etc/onetime/client.pem",
        );
        let key = ("ONETIME__STORAGE__REDIS_TLS_KEY", "/etc/onetime/client.key");

        let defaults = load_env(&[]).expect("defaults");
        let set = load_env(&[redis, tls_url, ca, cert, key]).expect("loads");
        let emptied = load_env(&[redis, ("ONETIME__STORAGE__REDIS_TLS_CA", "")]).expect("loads");
        let half = load_env(&[redis, tls_url, cert]).expect_err("cert without key");
        let plain = load_env(&[redis, ca]).expect_err("CA over plain TCP");
        let sled = load_env(&[ca]).expect("unused by sled");

        assert!(
            defaults.storage.redis_tls_ca.is_none() && defaults.storage.redis_tls_key.is_none()
        );
        assert_eq!(set.storage.redis_tls_key, Some(PathBuf::from(key.1)));
        assert!(emptied.storage.redis_tls_ca.is_none());
        assert!(half.to_string().contains("storage.redis_tls_key"), "{half}");
        let plain = plain.to_string();
        assert!(
            plain.contains("storage.redis_url") && plain.contains("rediss://"),
            "{plain}"
        );
        assert!(!plain.contains("hunter2"));
        assert!(sled.storage.redis_tls_ca.is_some());
    }

    #[test]
    fn log_level_takes_levels_and_directives_but_no_stray_word() {
        for good in [
            "info",
            "WARN",
            "onetime=debug,info",
            "off",
            "actix_web=warn,debug",
        ] {
            assert!(check_log_level(good).is_ok(), "{good}");
        }
        for bad in ["loud", "info,verbose", "=*="] {
            assert!(check_log_level(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_come_from_their_files_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = "ef".repeat(32);
        let key_file = dir.path().join("key");
        let url_file = dir.path().join("url");
        std::fs::write(&key_file, format!("{key}\n")).expect("write");
        std::fs::write(&url_file, "smtps://u:hunter2@mail.example:465\n").expect("write");
        let key_file = key_file.display().to_string();
        let url_file = url_file.display().to_string();

        let s = load_env(&[
            ("ONETIME__SERVER__SECRET_FILE", &key_file),
            ("ONETIME__MAIL__SMTP_URL_FILE", &url_file),
        ])
        .expect("loads");
        let both = load_env(&[
            ("ONETIME__SERVER__SECRET_FILE", &key_file),
            ("ONETIME__SERVER__SECRET", &key),
        ])
        .expect_err("both");

        assert_eq!(s.server.secret, Some(Redacted(key.clone())));
        assert_eq!(
            s.mail.smtp_url,
            Some(Redacted("smtps://u:hunter2@mail.example:465".into()))
        );
        assert!(both.to_string().contains("server.secret_file"), "{both}");
        let shown = s.to_redacted_toml().expect("toml");
        assert!(
            !shown.contains(&key) && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains(&key_file), "{shown}");
    }

    #[test]
    fn secret_never_shows_in_debug_output() {
        let hex = "ab".repeat(32);
        let s = load_env(&[("ONETIME__SERVER__SECRET", &hex)]).expect("loads");
        assert!(!format!("{s:?}").contains(&hex));
    }
}
