//! The typed sections of `onetime.toml`: one struct a table, every field documented. An
//! optional key left unset is `None`, and left out of the TOML `config check` prints
//! (`#[skip_serializing_none]`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

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
pub(super) fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
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
    /// `[incoming]`: visitors send a secret to a recipient the operator names. Off, and the
    /// table optional.
    #[serde(default)]
    pub incoming: IncomingSettings,
    /// `[oidc]`: sign-in with the team's OpenID Connect provider; optional.
    #[serde(default)]
    pub oidc: super::sso::OidcSettings,
    /// `[auth]`: identity from a forward-auth proxy's header; optional.
    #[serde(default)]
    pub auth: super::sso::AuthSettings,
    /// The configuration file these settings were read from; `None`: built-in defaults (and
    /// the environment) only. Named by commands, so an operator sees which file was used.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// `[incoming]`: "request a secret". A visitor picks one of `recipients`, types a memo and a
/// secret, and the recipient gets the one-time link by mail; the visitor never sees it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncomingSettings {
    /// Off unless switched on (and then it needs recipients and `mail.smtp_url`).
    pub enabled: bool,
    /// Who may be sent a secret; shown by name and a keyed digest, never by address. In TOML
    /// a list of `{ email, name }` tables; from the environment
    /// (`ONETIME__INCOMING__RECIPIENTS`) the text `Name <email>; Other Name <other@email>`.
    #[serde(deserialize_with = "recipients_from_tables_or_text")]
    pub recipients: Vec<IncomingRecipient>,
    /// Longest memo, characters (upstream's default: 50).
    pub memo_max_length: usize,
    /// Lifetime of an incoming secret, seconds.
    pub default_ttl: u64,
    /// Submissions one client address may make per hour.
    pub per_ip_per_hour: u32,
    /// Submissions one recipient may receive per hour.
    pub per_recipient_per_hour: u32,
}

impl Default for IncomingSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            recipients: Vec::new(),
            memo_max_length: 50,
            default_ttl: 604_800,
            per_ip_per_hour: 10,
            per_recipient_per_hour: 30,
        }
    }
}

/// Recipients from TOML tables, or from `Name <email>; Name <email>` text (an environment
/// variable cannot hold tables).
fn recipients_from_tables_or_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<IncomingRecipient>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Tables(Vec<IncomingRecipient>),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Tables(list) => Ok(list),
        Raw::Text(text) => text
            .split(';')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (name, rest) = entry.split_once('<').ok_or_else(|| {
                    serde::de::Error::custom("incoming.recipients: want `Name <email>; ...`")
                })?;
                let email = rest.trim_end().strip_suffix('>').ok_or_else(|| {
                    serde::de::Error::custom("incoming.recipients: an address lacks its `>`")
                })?;
                Ok(IncomingRecipient {
                    email: email.trim().to_owned(),
                    name: name.trim().to_owned(),
                })
            })
            .collect(),
    }
}

/// One `[[incoming.recipients]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingRecipient {
    /// Where the link goes; never shown.
    pub email: String,
    /// What visitors see.
    pub name: String,
}

/// `[server]`
#[skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address, `host:port`; a host name is resolved at load; port 0 picks a free one.
    pub bind: String,
    /// Scheme and host used in links; no trailing slash after loading. Unset: links follow
    /// the bound address (`Application::build` fills it in once the port is known).
    pub base_url: Option<String>,
    /// The server key as 64 hex characters; unset means `<storage.path>/server.key`.
    pub secret: Option<Redacted>,
    /// A file holding `secret` (e.g. a systemd credential), read at load so the key need not
    /// sit in a file every local user may read; trailing whitespace is ignored.
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

impl ServerSettings {
    /// HTTP worker threads to start: `workers`, or one per core when it is 0.
    #[must_use]
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
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
#[skip_serializing_none]
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
    pub redis_tls_ca: Option<PathBuf>,
    /// PEM client certificate (chain) presented to a Redis that requires one
    /// (`tls-auth-clients yes`); set together with `redis_tls_key`.
    pub redis_tls_cert: Option<PathBuf>,
    /// PEM private key of `redis_tls_cert`.
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
    /// Largest file in an end-to-end secret, in bytes (at most 64 MiB; 0: no files). A plan
    /// that does not say gets 10 MiB; `onetime.toml` gives `anonymous` 1 MiB.
    #[serde(default = "default_max_file_size")]
    pub max_file_size: usize,
}

/// Largest file in a plan that does not name its own: 10 MiB.
fn default_max_file_size() -> usize {
    10 * 1024 * 1024
}

/// The most `plans.*.max_file_size` may be: 64 MiB.
pub const MAX_FILE_SIZE_CAP: usize = 64 * 1024 * 1024;

/// `[mail]`
#[skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// SMTP URL; unset means mail is off.
    pub smtp_url: Option<Redacted>,
    /// A file holding `smtp_url` (it may carry the SMTP password), read at load; trailing
    /// whitespace is ignored.
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
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// `IP:port` of the separate `/metrics` listener; unset (or empty): no listener.
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

#[cfg(test)]
mod tests {
    use crate::config::load_env;

    #[test]
    fn secret_never_shows_in_debug_output() {
        let hex = "ab".repeat(32);
        let s = load_env(&[("server.secret", &hex)]).expect("loads");
        assert!(!format!("{s:?}").contains(&hex));
    }
}
