//! Sign-in with the team's OpenID Connect provider (`[oidc]`), with the `openidconnect` crate:
//! discovery, the authorization code flow with PKCE (S256), `state` and `nonce`, and the ID
//! token verified against the provider's published keys (JWKS).
//!
//! # The flow
//! 1. [`Oidc::begin`]: a random `state`, `nonce` and PKCE verifier. They are kept server-side,
//!    in the store's session records (so every node of a Redis deployment finds them) under
//!    the keyed hash of `state`, sealed under `state`, for [`PENDING_TTL`] seconds, together
//!    with the browser's anti-CSRF token (a callback is accepted only in the browser that
//!    began it: nobody can sign a victim's browser in to their own account) and where to go
//!    afterwards. The browser goes to the provider.
//! 2. [`Oidc::complete`]: the callback's `state` takes that record (single use: a replayed or
//!    forged `state` finds nothing), the code is exchanged with the PKCE verifier, and the ID
//!    token is verified: signature by a key from the provider's JWKS (asymmetric algorithms
//!    only; the key set is cached and fetched again, at most once a minute, when a token names
//!    a key it does not hold), `iss`, `aud` (this client, no untrusted other audience), `exp`
//!    and `iat` with [`CLOCK_SKEW`], `nonce`. Then `email_verified` must be true and the email
//!    domain and groups allowed.
//!
//! Nothing here logs a token, code, state, nonce or claim; a refusal is logged by its kind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreClient, CoreIdToken, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::config::{OidcSettings, Settings, OIDC_CALLBACK_PATH};
use crate::crypto::{Binding, RecordKind, Sealer};
use crate::service::StorageFailure;
use crate::store::{SessionRecord, Store, StoreError};

pub mod http;

/// Seconds a begun sign-in waits for its callback.
pub const PENDING_TTL: u64 = 600;
/// Clock difference tolerated between this server and the provider, for `exp` and `iat`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// How old an ID token may be when it arrives (its `iat`), beyond the skew.
const MAX_TOKEN_AGE: u64 = 600;
/// Discovery is read again after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The key set is fetched again for an unknown key at most this often.
const KEYS_REFRESH_MIN: Duration = Duration::from_secs(60);
/// The longest `state` accepted from a callback (ours are 22 characters).
const STATE_MAX: usize = 128;
/// The longest code accepted from a callback.
const CODE_MAX: usize = 4096;

/// Why a sign-in with the provider did not go through. Messages hold no token, code or claim.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery, the key set or the token endpoint could not be used.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The callback's `state` is unknown, used, expired, or from another browser.
    #[error("the sign-in is unknown, used or expired")]
    UnknownState,
    /// The provider answered with an error (e.g. the person cancelled).
    #[error("the identity provider refused the sign-in")]
    Denied,
    /// The provider's answer did not verify; the kind says which check failed.
    #[error("the identity provider's answer did not verify: {0}")]
    Invalid(&'static str),
    /// The email is missing or not verified at the provider.
    #[error("the email is not verified at the identity provider")]
    EmailUnverified,
    /// The email domain or the groups are not allowed here.
    #[error("not allowed to sign in here")]
    NotAllowed,
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl From<StoreError> for OidcError {
    fn from(e: StoreError) -> Self {
        Self::Storage(e.into())
    }
}

/// What a begun sign-in keeps, sealed under its `state`.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Pending {
    nonce: String,
    pkce_verifier: String,
    /// The browser's anti-CSRF form token when it began.
    browser: String,
    /// Where to go once signed in: a local path.
    return_to: String,
}

/// Someone the provider vouched for, allowed here.
#[derive(Debug)]
pub struct SignedIn {
    /// The verified email, lowercased.
    pub email: String,
    /// The local path to go to.
    pub return_to: String,
}

struct Provider {
    metadata: CoreProviderMetadata,
    fetched: Instant,
    /// When an unknown key last made us fetch the key set again.
    keys_refreshed: Option<Instant>,
}

/// A client built from discovered metadata: the authorization endpoint set, the token and
/// user-info endpoints as the provider named them.
type ProviderClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The OpenID Connect client of this server.
pub struct Oidc {
    settings: OidcSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    provider: Mutex<Option<Provider>>,
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
}

/// The paths a sign-in may return to; anything else returns to the create form.
const RETURN_PATHS: [&str; 3] = ["/", "/recent", "/account"];

/// `next` if it is a page a sign-in may return to, else `/`.
pub fn return_path(next: Option<&str>) -> &'static str {
    next.and_then(|n| RETURN_PATHS.iter().find(|p| **p == n))
        .copied()
        .unwrap_or("/")
}

impl Oidc {
    /// The client for `settings.oidc`, or `None` when it is off. `base_url` is the server's
    /// final link base; the redirect URI is under it.
    pub fn new(
        settings: &Settings,
        base_url: &str,
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
    ) -> Result<Option<Self>, String> {
        let o = &settings.oidc;
        let Some(issuer) = &o.issuer else {
            return Ok(None);
        };
        let issuer = IssuerUrl::new(issuer.clone()).map_err(|e| format!("oidc.issuer: {e}"))?;
        let redirect = RedirectUrl::new(format!("{base_url}{OIDC_CALLBACK_PATH}"))
            .map_err(|e| format!("server.base_url as redirect URI: {e}"))?;
        let http = http::client(Duration::from_secs(o.timeout))
            .map_err(|e| format!("the HTTP client for the identity provider: {e}"))?;
        Ok(Some(Self {
            settings: o.clone(),
            issuer,
            redirect,
            http,
            provider: Mutex::new(None),
            store,
            sealer,
        }))
    }

    /// The redirect URI to register at the provider.
    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    /// "Sign in with <this>".
    pub fn button_label(&self) -> &str {
        &self.settings.button_label
    }

    /// Whether password sign-in is off.
    pub fn only(&self) -> bool {
        self.settings.only
    }

    /// The origin the sign-in page's form may lead to (its Content-Security-Policy
    /// `form-action`): the issuer's, where providers serve their authorization endpoint.
    pub fn form_action_origin(&self) -> String {
        self.issuer.url().origin().ascii_serialization()
    }

    /// The plan of accounts a first sign-in makes.
    pub fn plan(&self) -> &str {
        &self.settings.plan
    }

    async fn call(
        &self,
        request: openidconnect::HttpRequest,
    ) -> Result<openidconnect::HttpResponse, http::CallError> {
        http::call(&self.http, request).await
    }

    /// The provider's metadata and keys: cached, read again after [`METADATA_TTL`], and the
    /// key set fetched again when `refresh_keys` (a token named a key we do not hold) unless
    /// that was done in the last [`KEYS_REFRESH_MIN`].
    async fn metadata(&self, refresh_keys: bool) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.provider.lock().await;
        let client = |req| self.call(req);
        match cached.as_mut() {
            Some(p) if p.fetched.elapsed() < METADATA_TTL => {
                let may_refresh = p
                    .keys_refreshed
                    .is_none_or(|at| at.elapsed() >= KEYS_REFRESH_MIN);
                if refresh_keys && may_refresh {
                    let keys = CoreJsonWebKeySet::fetch_async(p.metadata.jwks_uri(), &client)
                        .await
                        .map_err(|e| unavailable("key set", &e))?;
                    p.metadata = p.metadata.clone().set_jwks(keys);
                    p.keys_refreshed = Some(Instant::now());
                }
                Ok(p.metadata.clone())
            }
            _ => {
                let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &client)
                    .await
                    .map_err(|e| unavailable("discovery", &e))?;
                *cached = Some(Provider {
                    metadata: metadata.clone(),
                    fetched: Instant::now(),
                    keys_refreshed: None,
                });
                Ok(metadata)
            }
        }
    }

    fn client(&self, metadata: CoreProviderMetadata) -> ProviderClient {
        let secret = self
            .settings
            .client_secret
            .as_ref()
            .map(|s| ClientSecret::new(s.0.clone()));
        let id = ClientId::new(self.settings.client_id.clone().unwrap_or_default());
        CoreClient::from_provider_metadata(metadata, id, secret)
            .set_redirect_uri(self.redirect.clone())
    }

    /// Begins a sign-in for the browser whose anti-CSRF form token is `browser`: the
    /// provider's authorization URL to send it to.
    pub async fn begin(
        &self,
        browser: &str,
        return_to: &str,
        now: u64,
    ) -> Result<String, OidcError> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        if !self.settings.allowed_groups.is_empty() {
            request = request.add_scope(Scope::new("groups".into()));
        }
        let (url, state, nonce) = request.url();
        if url.origin().ascii_serialization() != self.form_action_origin() {
            tracing::warn!(
                "the provider's authorization endpoint is not on the issuer's origin: browsers \
                 refuse to follow the sign-in form there (Content-Security-Policy form-action)"
            );
        }
        let pending = Pending {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            browser: browser.to_owned(),
            return_to: return_path(Some(return_to)).to_owned(),
        };
        let id = self.sealer.record_id(RecordKind::OidcLogin, state.secret());
        let sealed = self
            .sealer
            .seal_value(
                Binding::new(RecordKind::OidcLogin, &id, state.secret()),
                &pending,
            )
            .map_err(|e| OidcError::Storage(StoreError::Corrupt(e.to_string()).into()))?;
        let record = SessionRecord {
            created: now,
            expires_at: now + PENDING_TTL,
            sealed,
        };
        self.store.put_session(&id, &record).await?;
        Ok(url.to_string())
    }

    /// Completes a sign-in from the callback's `state` and `code` (or the provider's `error`)
    /// in the browser whose form token is `browser`.
    pub async fn complete(
        &self,
        state: &str,
        code: Option<&str>,
        provider_error: bool,
        browser: &str,
        now: u64,
    ) -> Result<SignedIn, OidcError> {
        if state.is_empty() || state.len() > STATE_MAX {
            return Err(OidcError::UnknownState);
        }
        let id = self.sealer.record_id(RecordKind::OidcLogin, state);
        // Taken whatever happens next: a state is used once.
        let Some(record) = self.store.take_session(&id, now).await? else {
            return Err(OidcError::UnknownState);
        };
        let at = Binding::new(RecordKind::OidcLogin, &id, state);
        let Ok(pending) = self.sealer.open_value::<Pending>(at, &record.sealed) else {
            return Err(OidcError::UnknownState);
        };
        let same_browser = pending.browser.len() == browser.len()
            && bool::from(pending.browser.as_bytes().ct_eq(browser.as_bytes()));
        if !same_browser {
            return Err(OidcError::UnknownState);
        }
        if provider_error {
            return Err(OidcError::Denied);
        }
        let code = code
            .filter(|c| !c.is_empty() && c.len() <= CODE_MAX)
            .ok_or(OidcError::Invalid("no code"))?;
        let client = self.client(self.metadata(false).await?);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| OidcError::Unavailable("the provider names no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&|req| self.call(req))
            .await
            .map_err(|e| match e {
                // The provider refused the code (used, expired, wrong verifier).
                openidconnect::RequestTokenError::ServerResponse(_) => {
                    OidcError::Invalid("code refused")
                }
                other => unavailable("token endpoint", &other),
            })?;
        let id_token = token
            .id_token()
            .ok_or(OidcError::Invalid("no ID token"))?
            .clone();
        let nonce = Nonce::new(pending.nonce.clone());
        let email = match self.verify(&client, &id_token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // A key we do not hold: the provider may have rotated. Once more with its
                // current key set.
                let client = self.client(self.metadata(true).await?);
                self.verify(&client, &id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| OidcError::Invalid(claims_error_kind(&e)))??;
        if !self.settings.domain_allowed(&email) || !self.in_allowed_group(&id_token) {
            return Err(OidcError::NotAllowed);
        }
        Ok(SignedIn {
            email,
            return_to: pending.return_to.clone(),
        })
    }

    /// The verified token's email, if verified at the provider (the outer result is the
    /// token's own verification).
    fn verify(
        &self,
        client: &ProviderClient,
        id_token: &CoreIdToken,
        nonce: &Nonce,
    ) -> Result<Result<String, OidcError>, ClaimsVerificationError> {
        let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
        let verifier = client
            .id_token_verifier()
            // Asymmetric only: a token signed with the client secret proves nothing the
            // secret's other holders could not forge.
            .set_allowed_algs([
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
                CoreJwsSigningAlgorithm::RsaSsaPssSha256,
                CoreJwsSigningAlgorithm::RsaSsaPssSha384,
                CoreJwsSigningAlgorithm::RsaSsaPssSha512,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                CoreJwsSigningAlgorithm::EcdsaP384Sha384,
                CoreJwsSigningAlgorithm::EdDsa,
            ])
            // `exp` with the skew: "now" is taken that much earlier.
            .set_time_fn(move || chrono::Utc::now() - skew)
            .set_issue_time_verifier_fn(move |iat| {
                let now = chrono::Utc::now();
                if iat > now + skew {
                    Err("issued in the future".into())
                } else if iat + chrono::Duration::seconds(MAX_TOKEN_AGE as i64) + skew < now {
                    Err("issued too long ago".into())
                } else {
                    Ok(())
                }
            });
        let claims = id_token.claims(&verifier, nonce)?;
        let email = match (claims.email(), claims.email_verified()) {
            (Some(email), Some(true)) => crate::domain::normalize_email(email.as_str()),
            _ => None,
        };
        Ok(email.ok_or(OidcError::EmailUnverified))
    }

    /// Whether the (verified) ID token names one of `allowed_groups` in `groups_claim`; true
    /// when no groups are configured.
    fn in_allowed_group(&self, id_token: &CoreIdToken) -> bool {
        let allowed = &self.settings.allowed_groups;
        if allowed.is_empty() {
            return true;
        }
        // The crate verified this token; its claims beyond the standard ones are read from
        // the payload it verified.
        let compact = id_token.to_string();
        let Some(payload) = compact.split('.').nth(1) else {
            return false;
        };
        use base64::Engine;
        let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
            return false;
        };
        let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&json) else {
            return false;
        };
        let groups: Vec<&str> = match claims.get(&self.settings.groups_claim) {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(serde_json::Value::as_str).collect()
            }
            Some(serde_json::Value::String(one)) => vec![one.as_str()],
            _ => Vec::new(),
        };
        groups.iter().any(|g| allowed.iter().any(|a| a == g))
    }
}

/// A provider failure for the log: what failed and its kind, never a URL or body.
fn unavailable(what: &str, e: &dyn std::error::Error) -> OidcError {
    // The crate's messages for transport failures are ours (`http::CallError`) or name
    // parse failures; neither holds a secret. Only the first line is kept.
    let cause = e.to_string();
    let cause = cause
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    OidcError::Unavailable(format!("{what}: {cause}"))
}

/// Which check an ID token failed, by kind only (the crate's messages quote claims).
fn claims_error_kind(e: &ClaimsVerificationError) -> &'static str {
    match e {
        ClaimsVerificationError::Expired(_) => "expired or issued at a wrong time",
        ClaimsVerificationError::InvalidAudience(_) => "wrong audience",
        ClaimsVerificationError::InvalidIssuer(_) => "wrong issuer",
        ClaimsVerificationError::InvalidNonce(_) => "wrong nonce",
        ClaimsVerificationError::SignatureVerification(_) => "bad signature",
        ClaimsVerificationError::InvalidSubject(_) => "bad subject",
        _ => "unverifiable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_returns_only_to_known_pages() {
        assert_eq!(return_path(Some("/recent")), "/recent");
        assert_eq!(return_path(Some("/account")), "/account");
        assert_eq!(return_path(Some("//evil.example/")), "/");
        assert_eq!(return_path(Some("https://evil.example/")), "/");
        assert_eq!(return_path(None), "/");
    }
}
