//! `[oidc]` and `[auth]`: signing in with the team's identity provider, or trusting the
//! forward-auth proxy in front of the server. Both tables are optional; with neither, nothing
//! changes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use url::Url;

use super::settings::list_or_comma_separated;
use super::validate::read_secret_file;
use super::{invalid, Redacted, Settings, SettingsError};

/// The path of the OpenID Connect callback under `server.base_url`: the redirect URI to
/// register with the identity provider.
pub const OIDC_CALLBACK_PATH: &str = "/signin/oidc/callback";

/// `[oidc]`: OpenID Connect sign-in on the web. Off while `issuer` is unset. A key left out
/// takes its value from [`Default`].
#[skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// The issuer URL; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    /// This server's client id at the provider.
    pub client_id: Option<String>,
    /// Its client secret.
    pub client_secret: Option<Redacted>,
    /// A file holding `client_secret`, read at load; trailing whitespace is ignored.
    pub client_secret_file: Option<PathBuf>,
    /// Email domains that may sign in (lowercased at load); empty = any domain. Also the
    /// domains `auth.trusted_header` accepts. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_domains: Vec<String>,
    /// Groups of which a person must be in at least one (the `groups_claim` of the ID token);
    /// empty = no group check. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_groups: Vec<String>,
    /// The ID token claim holding the groups: a list of strings (or one string).
    pub groups_claim: String,
    /// The plan of the accounts a first sign-in creates.
    pub plan: String,
    /// The sign-in page's button says "Sign in with <button_label>".
    pub button_label: String,
    /// Turns password sign-in off: the provider is the only way in on the web.
    pub only: bool,
    /// Seconds each call to the provider (discovery, keys, token) may take.
    pub timeout: u64,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            allowed_domains: Vec::new(),
            allowed_groups: Vec::new(),
            groups_claim: "groups".into(),
            plan: "default".into(),
            button_label: "your identity provider".into(),
            only: false,
            timeout: 10,
        }
    }
}

impl OidcSettings {
    /// Whether OpenID Connect sign-in is configured.
    pub fn enabled(&self) -> bool {
        self.issuer.is_some()
    }

    /// Whether an email's domain may sign in (through the provider or the trusted header).
    pub fn domain_allowed(&self, email: &str) -> bool {
        let Some((_, domain)) = email.rsplit_once('@') else {
            return false;
        };
        self.allowed_domains.is_empty()
            || self
                .allowed_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// `[auth]`: identity from a forward-auth proxy.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// A header carrying the signed-in email (e.g. `X-Forwarded-Email`, `Remote-Email`),
    /// honoured only from `server.trusted_proxies`; unset = off.
    pub trusted_header: Option<String>,
}

impl Settings {
    /// `[oidc]` and `[auth]`: complete, consistent, and the client secret read from its file.
    pub(super) fn check_sso(&mut self) -> Result<(), SettingsError> {
        let o = &mut self.oidc;
        o.issuer = o.issuer.take().filter(|i| !i.trim().is_empty());
        for list in [&mut o.allowed_domains, &mut o.allowed_groups] {
            list.retain(|d| !d.trim().is_empty());
        }
        for domain in &mut o.allowed_domains {
            *domain = domain.trim().trim_start_matches('@').to_ascii_lowercase();
            if !domain.contains('.') || domain.contains(['@', '/', ' ']) {
                return Err(invalid(
                    "oidc.allowed_domains",
                    format!("`{domain}`: want a bare email domain like example.com"),
                ));
            }
        }
        read_secret_file(
            ("oidc.client_secret", &mut o.client_secret),
            ("oidc.client_secret_file", &mut o.client_secret_file),
        )?;
        if let Some(issuer) = &mut o.issuer {
            check_issuer(issuer)?;
            *issuer = issuer.trim_end_matches('/').to_owned();
            if o.client_id.as_deref().is_none_or(|c| c.trim().is_empty()) {
                return Err(invalid(
                    "oidc.client_id",
                    "oidc.issuer is set: the client id registered at the provider is needed",
                ));
            }
            if o.client_secret.as_ref().is_none_or(|s| s.0.is_empty()) {
                return Err(invalid(
                    "oidc.client_secret",
                    "oidc.issuer is set: set oidc.client_secret or oidc.client_secret_file",
                ));
            }
            if o.groups_claim.trim().is_empty() {
                return Err(invalid("oidc.groups_claim", "must not be empty"));
            }
            if o.button_label.trim().is_empty() {
                return Err(invalid("oidc.button_label", "must not be empty"));
            }
            if o.timeout == 0 {
                return Err(invalid("oidc.timeout", "must be at least 1 (seconds)"));
            }
        } else if o.only {
            return Err(invalid(
                "oidc.only",
                "turns password sign-in off, but oidc.issuer is not set: nobody could sign in",
            ));
        }
        let uses_plan = o.enabled() || self.auth.trusted_header.is_some();
        if uses_plan && (o.plan == "anonymous" || !self.plans.contains_key(&o.plan)) {
            return Err(invalid(
                "oidc.plan",
                format!("no plan named `{}` ([plans.NAME], not anonymous)", o.plan),
            ));
        }
        self.auth.trusted_header = self
            .auth
            .trusted_header
            .take()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty());
        if let Some(header) = &self.auth.trusted_header {
            if actix_web::http::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(invalid(
                    "auth.trusted_header",
                    format!("`{header}` is not a header name (e.g. X-Forwarded-Email)"),
                ));
            }
            if self.server.trusted_proxies.is_empty() {
                return Err(invalid(
                    "auth.trusted_header",
                    "is honoured only from server.trusted_proxies, which is empty: name the \
                     proxy's address there",
                ));
            }
            if self.oidc.allowed_domains.is_empty() {
                return Err(invalid(
                    "auth.trusted_header",
                    "needs oidc.allowed_domains: the email domains the proxy may sign in",
                ));
            }
        }
        Ok(())
    }
}

/// An issuer is an https URL without query or fragment; plain http only on loopback (a
/// provider on the same machine, or a test).
fn check_issuer(issuer: &str) -> Result<(), SettingsError> {
    let url = Url::parse(issuer)
        .map_err(|e| invalid("oidc.issuer", format!("`{issuer}` is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "oidc.issuer",
            format!(
                "`{issuer}`: want an https URL without query, e.g. \
                 https://sso.example.com/realms/team (http only on loopback)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::load_env;

    fn oidc(extra: &[(&str, &str)]) -> Result<crate::config::Settings, String> {
        let mut env = vec![
            (
                "ONETIME__OIDC__ISSUER",
                "https://sso.example.com/realms/team/",
            ),
            ("ONETIME__OIDC__CLIENT_ID", "onetime"),
            ("ONETIME__OIDC__CLIENT_SECRET", "s3cret"),
        ];
        env.extend_from_slice(extra);
        load_env(&env).map_err(|e| e.to_string())
    }

    #[test]
    fn oidc_is_off_by_default_and_loads_when_complete() {
        let s = load_env(&[]).expect("defaults");
        assert!(!s.oidc.enabled());
        assert!(s.auth.trusted_header.is_none());
        let s = oidc(&[(
            "ONETIME__OIDC__ALLOWED_DOMAINS",
            "Example.com, @team.example",
        )])
        .expect("loads");
        assert_eq!(
            s.oidc.issuer.as_deref(),
            Some("https://sso.example.com/realms/team")
        );
        assert_eq!(s.oidc.allowed_domains, ["example.com", "team.example"]);
        assert!(s.oidc.domain_allowed("Ann@EXAMPLE.com"));
        assert!(!s.oidc.domain_allowed("ann@example.com.evil"));
        assert!(!s.oidc.domain_allowed("ann@sub.example.com"));
        assert!(!s.to_redacted_toml().expect("toml").contains("s3cret"));
    }

    #[test]
    fn incomplete_or_unsafe_oidc_settings_name_their_key() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("ONETIME__OIDC__CLIENT_ID", "")], "oidc.client_id"),
            (
                &[("ONETIME__OIDC__CLIENT_SECRET", "")],
                "oidc.client_secret",
            ),
            (
                &[("ONETIME__OIDC__ISSUER", "http://sso.example.com")],
                "oidc.issuer",
            ),
            (&[("ONETIME__OIDC__PLAN", "gold")], "oidc.plan"),
            (&[("ONETIME__OIDC__PLAN", "anonymous")], "oidc.plan"),
            (
                &[("ONETIME__OIDC__ALLOWED_DOMAINS", "not a domain")],
                "oidc.allowed_domains",
            ),
        ];
        for (extra, key) in cases {
            let err = oidc(extra).expect_err(key);
            assert!(err.contains(key), "{err} should name {key}");
        }
        assert!(oidc(&[("ONETIME__OIDC__ISSUER", "http://127.0.0.1:9000")]).is_ok());
        let only = load_env(&[("ONETIME__OIDC__ONLY", "true")]).expect_err("only");
        assert!(only.to_string().contains("oidc.only"));
    }

    #[test]
    fn the_trusted_header_needs_proxies_and_domains() {
        let err = load_env(&[("ONETIME__AUTH__TRUSTED_HEADER", "X-Forwarded-Email")])
            .expect_err("no proxies");
        assert!(err.to_string().contains("server.trusted_proxies"), "{err}");
        let err = load_env(&[
            ("ONETIME__AUTH__TRUSTED_HEADER", "X-Forwarded-Email"),
            ("ONETIME__SERVER__TRUSTED_PROXIES", "10.0.0.1"),
        ])
        .expect_err("no domains");
        assert!(err.to_string().contains("oidc.allowed_domains"), "{err}");
        let s = load_env(&[
            ("ONETIME__AUTH__TRUSTED_HEADER", "X-Forwarded-Email"),
            ("ONETIME__SERVER__TRUSTED_PROXIES", "10.0.0.1"),
            ("ONETIME__OIDC__ALLOWED_DOMAINS", "example.com"),
        ])
        .expect("loads");
        assert_eq!(s.auth.trusted_header.as_deref(), Some("x-forwarded-email"));
        let err = load_env(&[
            ("ONETIME__AUTH__TRUSTED_HEADER", "Bad Header"),
            ("ONETIME__SERVER__TRUSTED_PROXIES", "10.0.0.1"),
            ("ONETIME__OIDC__ALLOWED_DOMAINS", "example.com"),
        ])
        .expect_err("bad name");
        assert!(err.to_string().contains("auth.trusted_header"), "{err}");
    }
}
