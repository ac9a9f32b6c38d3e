//! Account use cases: add, list, rotate, remove, web passwords and sessions, and authenticating
//! API calls and browsers.
//!
//! # Credentials
//!
//! - **API token**: 62 random base36 characters (about 320 bits) from the OS CSPRNG, shown once,
//!   stored only as HMAC-SHA256 under the server key and compared in constant time.
//! - **Web password**: set with `onetime account passwd`, 10 characters to 1024 bytes, stored
//!   only as an scrypt PHC string at the `[crypto]` cost, hashed and checked on the blocking
//!   pool.
//! - **Web session**: a sign-in with the password issues a cookie value (62 base36 characters
//!   from the OS CSPRNG). The store keeps only HMAC(server key, cookie) as the record's id and
//!   a record sealed under the cookie value, so a store dump can neither produce nor use a
//!   session. It lasts `server.session_ttl` seconds and ends earlier at sign-out, at a new
//!   password, or when the account is removed.
//!
//! # The recent list, through either door
//!
//! A recent entry is never readable with the data directory and the server key alone. Each
//! account has two X25519 list key pairs ([`crate::crypto::list_key`]): the API side's, its
//! private key sealed under the API token, and the web side's, its private key sealed under a
//! key that scrypt derives from the web password (with its own salt: the PHC verifier does not
//! lead to it). A session keeps the web private key sealed under the cookie value. Every new
//! entry is sealed to both public keys, whichever credential created it. So:
//!
//! - each credential lists every secret created since it was issued, through the API or the
//!   web;
//! - `account rotate` and a signed-in rotation issue a new token and a new API-side pair: the
//!   API list starts fresh, the web list keeps everything;
//! - `account passwd` issues a new web-side pair: the web list starts fresh (and the sessions
//!   signed in with the old password end), the API list keeps everything.
//!
//! Entries written before web sign-in (schema 1) are sealed under the token itself: they keep
//! listing for that token, and never on the web. An account from schema 1 gets its API-side
//! pair at the first use of its token; until then, what it creates on the web lists on the web
//! only.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::crypto::{
    generate_key, Binding, CryptoError, KdfPool, ListSecretKey, RecordId, RecordKind, Sealer,
};
use crate::domain::{normalize_email, Caller, Sensitive, PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS};
use crate::service::StorageFailure;
use crate::store::{AccountRecord, SealedListKey, Store, StoreError};

mod session;
mod sso;
#[cfg(test)]
mod tests;
mod token;

pub use session::{Session, SessionPayload};

/// Why an account command failed. Messages are for the admin's terminal or the web page, and
/// never hold a password, token or cookie.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The email is not a plausible address.
    #[error("not a valid email address: {0}")]
    InvalidEmail(String),
    /// The plan is not configured.
    #[error("no plan named `{0}` in the configuration ([plans.{0}])")]
    UnknownPlan(String),
    /// An account with this email exists already.
    #[error("an account for {0} exists already")]
    Exists(String),
    /// No account with this email.
    #[error("no account for {0}")]
    NotFound(String),
    /// The new web password is unacceptable; the message says why.
    #[error("{0}")]
    Password(String),
    /// The caller is not signed in to an account.
    #[error("not signed in")]
    NotSignedIn,
    /// Too many password derivations are waiting already; try again shortly.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// A derivation failed or a stored key did not open.
    #[error(transparent)]
    Crypto(CryptoError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        Self::Storage(e.into())
    }
}

impl From<CryptoError> for AccountError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Busy => Self::Busy,
            other => Self::Crypto(other),
        }
    }
}

/// An account as `account list` shows it: never the token or the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    /// Email.
    pub email: String,
    /// The public id, also a Basic username (see [`Accounts::public_id_of`]).
    #[serde(default)]
    pub id: String,
    /// Plan name.
    pub plan: String,
    /// Unix seconds.
    pub created: u64,
    /// Whether a web password is set.
    #[serde(default)]
    pub password: bool,
    /// Whether the account has signed in through the identity provider or the trusted proxy
    /// header.
    #[serde(default)]
    pub sso: bool,
}

impl AccountSummary {
    /// How the account signs in, for `account list`.
    pub fn sign_in(&self) -> &'static str {
        match (self.password, self.sso) {
            (true, true) => "password+sso",
            (true, false) => "password",
            (false, true) => "sso",
            (false, false) => "token only",
        }
    }
}

/// What web sign-in takes from the configuration.
#[derive(Clone)]
pub struct SignInSettings {
    /// scrypt cost (log_n, r, p) for new password hashes and web list keys: `[crypto]`.
    pub scrypt: (u8, u32, u32),
    /// Seconds a web session lasts: `server.session_ttl`.
    pub session_ttl: u64,
    /// Where the scrypt work runs: the blocking pool, bounded.
    pub kdf: KdfPool,
}

/// The account use cases over one store.
pub struct Accounts {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    plans: BTreeSet<String>,
    sign_in: SignInSettings,
}

impl Accounts {
    /// Account use cases; `plans` are the configured plan names.
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
        plans: BTreeSet<String>,
        sign_in: SignInSettings,
    ) -> Self {
        Self {
            store,
            sealer,
            plans,
            sign_in,
        }
    }

    fn email(raw: &str) -> Result<String, AccountError> {
        normalize_email(raw).ok_or_else(|| AccountError::InvalidEmail(raw.to_owned()))
    }

    fn account_id(&self, email: &str) -> RecordId {
        self.sealer.record_id(RecordKind::Account, email)
    }

    /// The account of a normalized email. The store sees only its keyed hash.
    async fn existing(&self, email: &str) -> Result<AccountRecord, AccountError> {
        self.store
            .account(&self.account_id(email))
            .await?
            .ok_or_else(|| AccountError::NotFound(email.to_owned()))
    }

    fn new_token(&self) -> (Sensitive, [u8; 32]) {
        let token = generate_key();
        let hash = self.sealer.record_id(RecordKind::Token, &token);
        (Sensitive::new(token), hash)
    }

    /// A fresh API-side list key, its private half sealed under `token`.
    fn api_list_key(&self, account_id: &RecordId, token: &str) -> (SealedListKey, ListSecretKey) {
        let secret = ListSecretKey::generate();
        let sealed = self.sealer.seal(
            Binding::new(RecordKind::ApiListKey, account_id, token),
            secret.expose(),
        );
        let public = secret.public();
        (SealedListKey { public, sealed }, secret)
    }

    /// Creates an account and returns its API token (shown this once).
    pub async fn add(
        &self,
        email: &str,
        plan: Option<&str>,
        now: u64,
    ) -> Result<Sensitive, AccountError> {
        let email = Self::email(email)?;
        let (record, token) = self.new_record(&email, plan.unwrap_or("default"), now)?;
        if !self.store.add_account(&record).await? {
            return Err(AccountError::Exists(email));
        }
        Ok(token)
    }

    /// A new account's record for a normalized email, and its first API token.
    fn new_record(
        &self,
        email: &str,
        plan: &str,
        now: u64,
    ) -> Result<(AccountRecord, Sensitive), AccountError> {
        if plan == "anonymous" || !self.plans.contains(plan) {
            return Err(AccountError::UnknownPlan(plan.to_owned()));
        }
        let (token, token_hash) = self.new_token();
        let id = self.account_id(email);
        let (api_key, _) = self.api_list_key(&id, token.expose());
        let record = AccountRecord {
            id,
            email: self.sealer.seal_email(&id, email),
            plan: plan.to_owned(),
            created: now,
            token_hash,
            token_created: now,
            api_key: Some(api_key),
            password: None,
            sso: None,
        };
        Ok((record, token))
    }

    /// Every account, by email (opened with the server key: the store holds them sealed).
    pub async fn list(&self) -> Result<Vec<AccountSummary>, AccountError> {
        let mut accounts =
            self.store
                .accounts()
                .await?
                .into_iter()
                .map(|c| {
                    let email = self.sealer.open_email(&c.id, &c.email).map_err(|_| {
                        StoreError::Corrupt("an account's email does not open".into())
                    })?;
                    Ok(AccountSummary {
                        id: Self::public_id_of(&c.id),
                        password: c.password.is_some(),
                        sso: c.sso.is_some(),
                        email,
                        plan: c.plan,
                        created: c.created,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        accounts.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(accounts)
    }

    /// Issues a new token and API-side list key; the old token stops working at once, and the
    /// API side's recent list starts fresh (the web side's keeps everything).
    pub async fn rotate(&self, email: &str, now: u64) -> Result<Sensitive, AccountError> {
        let email = Self::email(email)?;
        self.issue_token(&email, now).await
    }

    /// A new API token for a signed-in caller (from [`Accounts::session`]), shown once by the
    /// web page; the same rule as [`Accounts::rotate`].
    pub async fn rotate_signed_in(
        &self,
        caller: &Caller,
        now: u64,
    ) -> Result<Sensitive, AccountError> {
        let Caller::Account { email, .. } = caller else {
            return Err(AccountError::NotSignedIn);
        };
        self.issue_token(email, now).await
    }

    async fn issue_token(&self, email: &str, now: u64) -> Result<Sensitive, AccountError> {
        let account_id = self.account_id(email);
        loop {
            let old = self.existing(email).await?;
            let (token, token_hash) = self.new_token();
            let (api_key, _) = self.api_list_key(&account_id, token.expose());
            let new = AccountRecord {
                token_hash,
                token_created: now,
                api_key: Some(api_key),
                ..old.clone()
            };
            // Against the record as read: a password set meanwhile is never undone. If it
            // changed, start again from a fresh read.
            if !self.store.replace_account(&old, &new).await? {
                continue;
            }
            if new.password.is_none() && new.sso.is_none() {
                // No other side: nothing opens the old entries any more, so they go (as before).
                self.store.clear_recent(&account_id).await?;
            }
            return Ok(token);
        }
    }

    /// Deletes an account and its recent list. Its secrets stay readable by their links; its
    /// sessions end (they find no account).
    pub async fn remove(&self, email: &str) -> Result<(), AccountError> {
        let email = Self::email(email)?;
        if !self.store.remove_account(&self.account_id(&email)).await? {
            return Err(AccountError::NotFound(email));
        }
        Ok(())
    }
}

/// Whether `password` may be a web password; the message says why not (never the password).
pub fn check_password(password: &str) -> Result<(), AccountError> {
    if password.is_empty() {
        return Err(AccountError::Password("the web password is empty".into()));
    }
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(AccountError::Password(format!(
            "a web password needs at least {PASSWORD_MIN_CHARS} characters"
        )));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(AccountError::Password(format!(
            "a web password may have at most {PASSWORD_MAX_BYTES} bytes"
        )));
    }
    Ok(())
}
