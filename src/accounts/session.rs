//! Web sign-in: the password, the session a sign-in opens, and signing out.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{check_password, AccountError, Accounts};
use crate::crypto::{
    generate_key, hash_password, verify_password, Binding, KdfParams, ListPublicKey, ListSecretKey,
    RecordKind, KEY_CHARS,
};
use crate::domain::{is_plausible_key, Caller, RecentAccess, Sensitive, PASSWORD_MAX_BYTES};
use crate::service::StorageFailure;
use crate::store::{AccountRecord, SealedListKey, SessionRecord, StoreError, WebPassword};

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
    /// The public list key of the side signed in with (the web password's, or the single
    /// sign-on side's) at sign-in: a new password replaces the first, which ends the session.
    password_stamp: ListPublicKey,
}

impl Accounts {
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
            Binding::new(RecordKind::WebListKey, &self.account_id(&email), "")
                .with_pass(Some(&pass_key)),
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
            let new = AccountRecord {
                password: Some(web.clone()),
                ..old.clone()
            };
            // Against the record as read: a token rotated meanwhile stays rotated.
            if self.store.replace_account(&old, &new).await? {
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
        let account = if lookup.is_empty() {
            None
        } else {
            self.store.account(&self.account_id(&lookup)).await?
        };
        let Some((account, web)) = account.and_then(|c| c.password.clone().map(|web| (c, web)))
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
            Binding::new(RecordKind::WebListKey, &account.id, "").with_pass(Some(&pass_key)),
            &web.key.sealed,
        )?;
        let list_key = ListSecretKey::from_slice(&opened)
            .ok_or_else(|| StoreError::Corrupt("web list key".into()))?;
        // The lookup is the account's email: its keyed hash is the id the record was found by.
        self.start_session(lookup, &list_key, web.key.public, now)
            .await
            .map(Some)
    }

    /// Opens a session for the account of `email` whose credential opened `list_key`; the
    /// session lasts while that side's public key is still `stamp`.
    pub(super) async fn start_session(
        &self,
        email: String,
        list_key: &ListSecretKey,
        stamp: ListPublicKey,
        now: u64,
    ) -> Result<Session, AccountError> {
        let cookie = Sensitive::new(generate_key());
        let id = self.sealer.record_id(RecordKind::Session, cookie.expose());
        let payload = SessionPayload {
            email,
            list_key: *list_key.expose(),
            password_stamp: stamp,
        };
        let sealed = self.sealer.seal_value(
            Binding::new(RecordKind::Session, &id, cookie.expose()),
            &payload,
        )?;
        let expires_at = now.saturating_add(self.sign_in.session_ttl);
        let record = SessionRecord {
            created: now,
            expires_at,
            sealed,
        };
        self.store.put_session(&id, &record).await?;
        Ok(Session { cookie, expires_at })
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
            Binding::new(RecordKind::Session, &id, cookie),
            &record.sealed,
        ) else {
            return Ok(None);
        };
        let account = self.account_id(&payload.email);
        let Some(account) = self.store.account(&account).await? else {
            return Ok(None);
        };
        // Signed in with the password or by single sign-on: that side's key must still be
        // the one the session was opened with.
        let sides = [
            account.password.as_ref().map(|web| &web.key),
            account.sso.as_ref().map(|sso| &sso.key),
        ];
        let same_side = sides.into_iter().flatten().fold(false, |found, key| {
            found | bool::from(key.public.ct_eq(&payload.password_stamp))
        });
        if !same_side {
            return Ok(None);
        }
        Ok(Some(Caller::Account {
            recent: RecentAccess {
                recipients: account.list_recipients(),
                key: ListSecretKey::from_slice(&payload.list_key),
                token: None,
            },
            email: payload.email.clone(),
            plan: account.plan,
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
}
