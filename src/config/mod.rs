//! Typed settings: built-in defaults < `onetime.toml` (or `--config PATH`) < `ONETIME__*` env.
//!
//! The built-in defaults are the repository's documented `onetime.toml`, embedded at build
//! time, so the documentation and the defaults cannot drift apart.
//!
//! # Layout
//! - [`settings`]: the typed sections of `onetime.toml`, one struct a table.
//! - [`validate`]: the checks a value's type alone does not make, run once at load.

mod settings;
mod sso;
mod validate;

pub use self::settings::{
    Backend, CryptoSettings, IncomingRecipient, IncomingSettings, Limits, LogFormat, LogSettings,
    MailSettings, MetricsSettings, Plan, Redacted, SecretsSettings, ServerSettings, Settings,
    StorageSettings,
};
pub use self::sso::{AuthSettings, OidcSettings, OIDC_CALLBACK_PATH};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use ipnet::IpNet;

use self::validate::{parse_proxy, resolve_bind};

/// The documented default configuration, also the lowest-precedence source.
pub const DEFAULTS: &str = include_str!("../../onetime.toml");

/// Name of the config file looked for in the working directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "onetime.toml";

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

    /// The largest file any plan allows in an end-to-end secret, which bounds request bodies.
    pub fn largest_file(&self) -> usize {
        self.plans
            .values()
            .map(|p| p.max_file_size)
            .max()
            .unwrap_or(0)
    }
}

/// For unit tests: the shipped `onetime.toml` with `pairs` on top, named as that file names
/// them (`secrets.min_ttl`) or as `ONETIME__*` variables.
#[cfg(test)]
pub(crate) fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let env = pairs
        .iter()
        .map(|(k, v)| (onetime_test_support::setting_var(k), (*v).to_owned()))
        .collect();
    Settings::load(Some(Path::new(tests::DEFAULT_FILE_FOR_TESTS)), Some(env))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const DEFAULT_FILE_FOR_TESTS: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/onetime.toml");

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
    fn env_overrides_with_double_underscores() {
        let s = load_env(&[
            ("server.bind", "127.0.0.1:0"),
            ("storage.sync", "false"),
            ("secrets.min_ttl", "5"),
            ("server.share_domains", "a.example, b.example"),
        ])
        .expect("loads");
        assert_eq!(s.server.share_domains, ["a.example", "b.example"]);
        assert_eq!(s.server.bind, "127.0.0.1:0");
        assert!(!s.storage.sync);
        assert_eq!(s.secrets.min_ttl, 5);
    }
}
