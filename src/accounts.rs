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
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{
    generate_key, hash_password, verify_password, CryptoError, KdfParams, KdfPool, ListPublicKey,
    ListSecretKey, RecordId, RecordKind, Sealer, KEY_CHARS,
};
use crate::domain::{
    is_plausible_key, normalize_email, Caller, RecentAccess, Sensitive, PASSWORD_MAX_BYTES,
    PASSWORD_MIN_CHARS,
};
use crate::service::StorageFailure;
use crate::store::{CustomerRecord, SealedListKey, SessionRecord, Store, StoreError, WebPassword};

#[cfg(test)]
mod tests;

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
    /// Plan name.
    pub plan: String,
    /// Unix seconds.
    pub created: u64,
    /// Whether a web password is set.
    #[serde(default)]
    pub password: bool,
}

/// A signed-in browser session, as [`Accounts::sign_in`] hands it to the web layer.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie's value: 62 base36 characters from the OS CSPRNG. Shown to the browser only.
    pub cookie: Sensitive,
    /// Unix seconds when the session ends.
    pub expires_at: u64,
}

/// What a session record seals under its cookie value.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SessionPayload {
    /// The account.
    email: String,
    /// The web side's private list key, so the session opens the recent list.
    list_key: [u8; 32],
    /// The web side's public list key at sign-in: a new password replaces it, which ends the
    /// session.
    password_stamp: ListPublicKey,
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

    fn customer_id(&self, email: &str) -> RecordId {
        self.sealer.record_id(RecordKind::Customer, email)
    }

    /// The account of a normalized email. The store sees only its keyed hash.
    async fn existing(&self, email: &str) -> Result<CustomerRecord, AccountError> {
        self.store
            .customer(&self.customer_id(email))
            .await?
            .ok_or_else(|| AccountError::NotFound(email.to_owned()))
    }

    fn new_token(&self) -> (Sensitive, [u8; 32]) {
        let token = generate_key();
        let hash = self.sealer.record_id(RecordKind::Token, &token);
        (Sensitive::new(token), hash)
    }

    /// A fresh API-side list key, its private half sealed under `token`.
    fn api_list_key(&self, customer_id: &RecordId, token: &str) -> (SealedListKey, ListSecretKey) {
        let secret = ListSecretKey::generate();
        let sealed = self.sealer.seal(
            RecordKind::ApiListKey,
            customer_id,
            token,
            None,
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
        let plan = plan.unwrap_or("default").to_owned();
        if plan == "anonymous" || !self.plans.contains(&plan) {
            return Err(AccountError::UnknownPlan(plan));
        }
        let (token, token_hash) = self.new_token();
        let id = self.customer_id(&email);
        let (api_key, _) = self.api_list_key(&id, token.expose());
        let record = CustomerRecord {
            id,
            email: self.sealer.seal_email(&id, &email),
            plan,
            created: now,
            token_hash,
            token_created: now,
            api_key: Some(api_key),
            password: None,
        };
        if !self.store.add_customer(&record).await? {
            return Err(AccountError::Exists(email));
        }
        Ok(token)
    }

    /// Every account, by email (opened with the server key: the store holds them sealed).
    pub async fn list(&self) -> Result<Vec<AccountSummary>, AccountError> {
        let mut accounts =
            self.store
                .customers()
                .await?
                .into_iter()
                .map(|c| {
                    let email = self.sealer.open_email(&c.id, &c.email).map_err(|_| {
                        StoreError::Corrupt("an account's email does not open".into())
                    })?;
                    Ok(AccountSummary {
                        password: c.password.is_some(),
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
        let Caller::Customer { email, .. } = caller else {
            return Err(AccountError::NotSignedIn);
        };
        self.issue_token(email, now).await
    }

    async fn issue_token(&self, email: &str, now: u64) -> Result<Sensitive, AccountError> {
        let customer_id = self.customer_id(email);
        loop {
            let old = self.existing(email).await?;
            let (token, token_hash) = self.new_token();
            let (api_key, _) = self.api_list_key(&customer_id, token.expose());
            let new = CustomerRecord {
                token_hash,
                token_created: now,
                api_key: Some(api_key),
                ..old.clone()
            };
            // Against the record as read: a password set meanwhile is never undone. If it
            // changed, start again from a fresh read.
            if !self.store.replace_customer(&old, &new).await? {
                continue;
            }
            if new.password.is_none() {
                // No web side: nothing opens the old entries any more, so they go (as before).
                self.store.clear_recent(&customer_id).await?;
            }
            return Ok(token);
        }
    }

    /// Sets the account's web password (checked: 10 characters to 1024 bytes) and a new
    /// web-side list key. Sessions signed in with the old password end; the web side's recent
    /// list starts fresh, the API side's keeps everything.
    pub async fn set_password(
        &self,
        email: &str,
        password: &Sensitive,
        now: u64,
    ) -> Result<(), AccountError> {
        let email = Self::email(email)?;
        check_password(password.expose())?;
        // Fail fast, before any scrypt work.
        self.existing(&email).await?;
        let (log_n, r, p) = self.sign_in.scrypt;
        let plain = password.to_zeroizing();
        let phc = self
            .sign_in
            .kdf
            .run(move || hash_password(&plain, log_n, r, p))
            .await??;
        // A separate derivation with its own salt seals the web list key: the PHC string
        // verifies the password but does not lead to this key.
        let kdf = KdfParams::fresh(log_n, r, p);
        let pass_key = self
            .sign_in
            .kdf
            .derive(password.to_zeroizing(), kdf)
            .await?;
        let secret = ListSecretKey::generate();
        let sealed = self.sealer.seal(
            RecordKind::WebListKey,
            &self.customer_id(&email),
            "",
            Some(&pass_key),
            secret.expose(),
        );
        let web = WebPassword {
            phc,
            set_at: now,
            kdf,
            key: SealedListKey {
                public: secret.public(),
                sealed,
            },
        };
        loop {
            let old = self.existing(&email).await?;
            let new = CustomerRecord {
                password: Some(web.clone()),
                ..old.clone()
            };
            // Against the record as read: a token rotated meanwhile stays rotated.
            if self.store.replace_customer(&old, &new).await? {
                return Ok(());
            }
        }
    }

    /// Signs in with the web password: a new session, or `None` for an unknown email, an
    /// account without a password, or a wrong password, after the same work (one scrypt at
    /// the configured cost: a dummy derivation when there is no hash to check).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &Sensitive,
        now: u64,
    ) -> Result<Option<Session>, AccountError> {
        let attempt = password.expose();
        // Nothing else can have been set; refused before any work, for every email alike.
        if attempt.is_empty() || attempt.len() > PASSWORD_MAX_BYTES {
            return Ok(None);
        }
        let lookup = email.trim().to_ascii_lowercase();
        let customer = if lookup.is_empty() {
            None
        } else {
            self.store.customer(&self.customer_id(&lookup)).await?
        };
        let Some((customer, web)) = customer.and_then(|c| c.password.clone().map(|web| (c, web)))
        else {
            let (log_n, r, p) = self.sign_in.scrypt;
            let dummy = KdfParams::fresh(log_n, r, p);
            self.sign_in
                .kdf
                .derive(password.to_zeroizing(), dummy)
                .await?;
            return Ok(None);
        };
        let (plain, phc) = (password.to_zeroizing(), web.phc.clone());
        if !self
            .sign_in
            .kdf
            .run(move || verify_password(&plain, &phc))
            .await??
        {
            return Ok(None);
        }
        let pass_key = self
            .sign_in
            .kdf
            .derive(password.to_zeroizing(), web.kdf)
            .await?;
        let opened = self.sealer.open(
            RecordKind::WebListKey,
            &customer.id,
            "",
            Some(&pass_key),
            &web.key.sealed,
        )?;
        let list_key = ListSecretKey::from_slice(&opened)
            .ok_or_else(|| StoreError::Corrupt("web list key".into()))?;

        let cookie = Sensitive::new(generate_key());
        let id = self.sealer.record_id(RecordKind::Session, cookie.expose());
        // The lookup is the account's email: its keyed hash is the id the record was found by.
        let payload = SessionPayload {
            email: lookup,
            list_key: *list_key.expose(),
            password_stamp: web.key.public,
        };
        let sealed =
            self.sealer
                .seal_value(RecordKind::Session, &id, cookie.expose(), None, &payload)?;
        let expires_at = now.saturating_add(self.sign_in.session_ttl);
        let record = SessionRecord {
            created: now,
            expires_at,
            sealed,
        };
        self.store.put_session(&id, &record).await?;
        Ok(Some(Session { cookie, expires_at }))
    }

    /// The signed-in caller for a session cookie value, or `None` (unknown, expired, account
    /// removed or its password changed since).
    pub async fn session(&self, cookie: &str, now: u64) -> Result<Option<Caller>, StorageFailure> {
        if cookie.len() != KEY_CHARS || !is_plausible_key(cookie) {
            return Ok(None);
        }
        let id = self.sealer.record_id(RecordKind::Session, cookie);
        let Some(record) = self.store.session(&id, now).await? else {
            return Ok(None);
        };
        let Ok(payload) = self.sealer.open_value::<SessionPayload>(
            RecordKind::Session,
            &id,
            cookie,
            None,
            &record.sealed,
        ) else {
            return Ok(None);
        };
        let account = self.customer_id(&payload.email);
        let Some(customer) = self.store.customer(&account).await? else {
            return Ok(None);
        };
        let Some(web) = &customer.password else {
            return Ok(None);
        };
        let same_password: bool = web.key.public.ct_eq(&payload.password_stamp).into();
        if !same_password {
            return Ok(None);
        }
        Ok(Some(Caller::Customer {
            recent: RecentAccess {
                recipients: customer.list_recipients(),
                key: ListSecretKey::from_slice(&payload.list_key),
                token: None,
            },
            email: payload.email.clone(),
            plan: customer.plan,
        }))
    }

    /// Ends the session with this cookie value (nothing happens for an unknown one).
    pub async fn sign_out(&self, cookie: &str) -> Result<(), StorageFailure> {
        if cookie.len() != KEY_CHARS || !is_plausible_key(cookie) {
            return Ok(());
        }
        let id = self.sealer.record_id(RecordKind::Session, cookie);
        Ok(self.store.remove_session(&id).await?)
    }

    /// Deletes an account and its recent list. Its secrets stay readable by their links; its
    /// sessions end (they find no account).
    pub async fn remove(&self, email: &str) -> Result<(), AccountError> {
        let email = Self::email(email)?;
        if !self
            .store
            .remove_customer(&self.customer_id(&email))
            .await?
        {
            return Err(AccountError::NotFound(email));
        }
        Ok(())
    }

    /// The caller that `email` and `token` prove, or `None`.
    ///
    /// Unknown user and wrong token do the same work (one store read, one HMAC, one
    /// constant-time compare against a real or dummy hash), so neither body nor timing tells
    /// them apart.
    pub async fn authenticate(
        &self,
        email: &str,
        token: &str,
    ) -> Result<Option<Caller>, StorageFailure> {
        let lookup = email.trim().to_ascii_lowercase();
        let customer = if lookup.is_empty() {
            None
        } else {
            self.store.customer(&self.customer_id(&lookup)).await?
        };
        let presented = self.sealer.record_id(RecordKind::Token, token);
        let expected = customer.as_ref().map_or([0u8; 32], |c| c.token_hash);
        let matches: bool = presented.ct_eq(&expected).into();
        Ok(match customer {
            Some(c) if matches && !token.is_empty() => {
                Some(self.token_caller(c, lookup, token).await)
            }
            _ => None,
        })
    }

    /// The caller for a proven token of the account of `email`, with the API side's list key
    /// opened by it.
    async fn token_caller(&self, customer: CustomerRecord, email: String, token: &str) -> Caller {
        let customer_id = customer.id;
        let (customer, key) = match &customer.api_key {
            Some(api) => {
                let key = self
                    .sealer
                    .open(
                        RecordKind::ApiListKey,
                        &customer_id,
                        token,
                        None,
                        &api.sealed,
                    )
                    .ok()
                    .and_then(|bytes| ListSecretKey::from_slice(&bytes));
                if key.is_none() {
                    tracing::warn!("an account's API list key does not open with its token");
                }
                (customer, key)
            }
            None => self.add_api_list_key(customer, &customer_id, token).await,
        };
        Caller::Customer {
            recent: RecentAccess {
                recipients: customer.list_recipients(),
                key,
                token: Some(Sensitive::new(token.to_owned())),
            },
            email,
            plan: customer.plan,
        }
    }

    /// Gives an account from schema 1 its API-side list key at the first use of its token,
    /// only if the record is unchanged since it was read (a token rotated meanwhile must never
    /// come back). If that or the write fails, the caller goes on without the key, and its
    /// new entries are sealed under its token as schema 1 did.
    async fn add_api_list_key(
        &self,
        customer: CustomerRecord,
        customer_id: &RecordId,
        token: &str,
    ) -> (CustomerRecord, Option<ListSecretKey>) {
        let (api_key, secret) = self.api_list_key(customer_id, token);
        let upgraded = CustomerRecord {
            api_key: Some(api_key),
            ..customer.clone()
        };
        match self.store.replace_customer(&customer, &upgraded).await {
            Ok(true) => (upgraded, Some(secret)),
            Ok(false) => (customer, None),
            Err(e) => {
                tracing::warn!(error = %e, "could not add an API list key to an older account");
                (customer, None)
            }
        }
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
