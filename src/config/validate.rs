//! The checks a value's type alone does not make, run once when the settings load.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use ipnet::IpNet;
use url::Url;

use super::{invalid, Backend, Redacted, Settings, SettingsError, StorageSettings};
use crate::crypto::{KdfParams, SERVER_KEY_LEN};

/// The most replicas `storage.redis_replicas_ack` may ask for: a larger number is a typo that
/// would make every write fail.
const MAX_REPLICAS_ACK: u32 = 16;
/// One `server.trusted_proxies` entry: a CIDR network (`10.0.0.0/8`, `fd00::/8`) or a bare
/// address (a network of one).
pub(super) fn parse_proxy(entry: &str) -> Result<IpNet, String> {
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

impl Settings {
    /// Checks every value whose type alone does not make it valid, and normalises a few.
    pub(super) fn validated(mut self) -> Result<Self, SettingsError> {
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
        read_secret_file(
            ("server.secret", &mut self.server.secret),
            ("server.secret_file", &mut self.server.secret_file),
        )?;
        read_secret_file(
            ("mail.smtp_url", &mut self.mail.smtp_url),
            ("mail.smtp_url_file", &mut self.mail.smtp_url_file),
        )?;
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
            if plan.max_file_size > super::settings::MAX_FILE_SIZE_CAP {
                return Err(invalid(
                    "plans.*.max_file_size",
                    "must be at most 67108864 (64 MiB)",
                ));
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
        self.check_incoming()?;
        self.check_sso()?;
        Ok(self)
    }
}

/// `server.bind` as socket addresses: `IP:port`, `[IPv6]:port` or `name:port` (resolved).
pub(super) fn resolve_bind(bind: &str) -> Result<Vec<SocketAddr>, SettingsError> {
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

impl Settings {
    /// `[incoming]`: when on, every recipient must be a deliverable address with a name, and
    /// mail must be on (the link only ever travels by mail).
    fn check_incoming(&self) -> Result<(), SettingsError> {
        let i = &self.incoming;
        if !i.enabled {
            return Ok(());
        }
        if i.recipients.is_empty() {
            return Err(invalid(
                "incoming.recipients",
                "name at least one recipient",
            ));
        }
        for r in &i.recipients {
            if crate::domain::EmailAddress::parse(&r.email).is_none() {
                return Err(invalid("incoming.recipients", "an email is not an address"));
            }
            if r.name.trim().is_empty() || r.name.chars().count() > 100 {
                return Err(invalid(
                    "incoming.recipients",
                    "each name: 1 to 100 characters",
                ));
            }
        }
        if self.mail.smtp_url.is_none() {
            return Err(invalid(
                "incoming.enabled",
                "needs mail.smtp_url: the link is only ever mailed",
            ));
        }
        if i.memo_max_length == 0 || i.memo_max_length > crate::domain::MEMO_MAX_CHARS {
            return Err(invalid(
                "incoming.memo_max_length",
                format!("want 1 to {}", crate::domain::MEMO_MAX_CHARS),
            ));
        }
        if i.default_ttl < self.secrets.min_ttl
            || i.per_ip_per_hour == 0
            || i.per_recipient_per_hour == 0
        {
            return Err(invalid(
                "incoming.default_ttl/per_ip_per_hour/per_recipient_per_hour",
                "a lifetime of at least secrets.min_ttl, limits of at least 1",
            ));
        }
        Ok(())
    }
}

/// The secret held in `path`, for a `*_file` setting: the whole file, trailing whitespace
/// (the newline editors add) removed. Errors name the key and the path, never the contents.
/// A `NAME_file` setting: the file's contents (trimmed) become `NAME`. Setting both, or naming
/// an empty or unreadable file, is an error. `file` keeps its path; an empty path is unset.
pub(super) fn read_secret_file(
    (key, value): (&'static str, &mut Option<Redacted>),
    (file_key, file): (&'static str, &mut Option<PathBuf>),
) -> Result<(), SettingsError> {
    let Some(path) = file.take().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if value.is_some() {
        return Err(invalid(
            file_key,
            format!("{key} is set too: set one of them"),
        ));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| invalid(file_key, format!("cannot read {}: {e}", path.display())))?;
    let text = text.trim_end();
    if text.is_empty() {
        return Err(invalid(file_key, format!("{} is empty", path.display())));
    }
    *value = Some(Redacted(text.to_owned()));
    *file = Some(path);
    Ok(())
}

#[cfg(test)]
mod tests;
