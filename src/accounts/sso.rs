//! Single sign-on: a person the identity provider (`[oidc]`) or the trusted proxy header
//! (`[auth]`) vouched for.
//!
//! The first single sign-on of an email creates its account with the configured plan (its API
//! token is never shown: the account page issues one); later ones find it, also an account the
//! admin made. Such a sign-in proves no credential this server could derive a key from, so the
//! account's single-sign-on list key is sealed under the server key alone
//! ([`SsoSide`](crate::store::SsoSide)): whoever holds the data directory *and* the server key
//! can open the entries sealed to it. That is weaker than the password's side, whose key only
//! the password opens, and is the price of signing in without one.

use super::{AccountError, Accounts, Session};
use crate::crypto::{Binding, ListSecretKey, RecordId, RecordKind};
use crate::domain::{Caller, RecentAccess};
use crate::store::{AccountRecord, SealedListKey, SsoSide, StoreError};

impl Accounts {
    /// A new single-sign-on side for the account `account_id`, and its private key.
    fn sso_side(&self, account_id: &RecordId, now: u64) -> (SsoSide, ListSecretKey) {
        let secret = ListSecretKey::generate();
        let sealed = self.sealer.seal(
            Binding::new(RecordKind::SsoListKey, account_id, ""),
            secret.expose(),
        );
        let key = SealedListKey {
            public: secret.public(),
            sealed,
        };
        (SsoSide { since: now, key }, secret)
    }

    /// The account of a vouched-for `email`, made with `plan` if it does not exist and given
    /// its single-sign-on side if it has none, with that side's private key.
    async fn sso_account(
        &self,
        email: &str,
        plan: &str,
        now: u64,
    ) -> Result<(String, AccountRecord, ListSecretKey), AccountError> {
        let email = Self::email(email)?;
        let id = self.account_id(&email);
        loop {
            let Some(old) = self.store.account(&id).await? else {
                let (mut record, _token) = self.new_record(&email, plan, now)?;
                let (side, key) = self.sso_side(&id, now);
                record.sso = Some(side);
                if self.store.add_account(&record).await? {
                    tracing::info!("account created by single sign-on");
                    return Ok((email, record, key));
                }
                // Made meanwhile (another node, another tab): read it.
                continue;
            };
            if let Some(side) = &old.sso {
                let opened = self.sealer.open(
                    Binding::new(RecordKind::SsoListKey, &id, ""),
                    &side.key.sealed,
                )?;
                let key = ListSecretKey::from_slice(&opened)
                    .ok_or_else(|| StoreError::Corrupt("single-sign-on list key".into()))?;
                return Ok((email, old, key));
            }
            let (side, key) = self.sso_side(&id, now);
            let new = AccountRecord {
                sso: Some(side),
                ..old.clone()
            };
            // Against the record as read: a token or password set meanwhile is never undone.
            if self.store.replace_account(&old, &new).await? {
                return Ok((email, new, key));
            }
        }
    }

    /// Signs in a person the identity provider vouched for: a new session, as a password
    /// sign-in opens, lasting while the account keeps its single-sign-on side.
    pub async fn sso_sign_in(
        &self,
        email: &str,
        plan: &str,
        now: u64,
    ) -> Result<Session, AccountError> {
        let (email, _, key) = self.sso_account(email, plan, now).await?;
        self.start_session(email, &key, key.public(), now).await
    }

    /// The caller for one request a trusted proxy vouched for (no session: the proxy vouches
    /// for every request).
    pub async fn sso_caller(
        &self,
        email: &str,
        plan: &str,
        now: u64,
    ) -> Result<Caller, AccountError> {
        let (email, record, key) = self.sso_account(email, plan, now).await?;
        Ok(Caller::Account {
            recent: RecentAccess {
                recipients: record.list_recipients(),
                key: Some(key),
                token: None,
            },
            email,
            plan: record.plan,
        })
    }
}
