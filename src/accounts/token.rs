//! API tokens: proving a caller, and the API side's list key an older account gets at the
//! first use of its token.

use subtle::ConstantTimeEq;

use super::Accounts;
use crate::crypto::{Binding, ListSecretKey, RecordId, RecordKind};
use crate::domain::{Caller, RecentAccess, Sensitive};
use crate::service::StorageFailure;
use crate::store::AccountRecord;

/// What starts an account's public id (see [`Accounts::public_id`]); upstream calls its own the
/// external id (`extid`).
const PUBLIC_ID_PREFIX: &str = "ac";

/// The account id a public id names, if `text` is one.
fn parse_public_id(text: &str) -> Option<RecordId> {
    let digits = text.strip_prefix(PUBLIC_ID_PREFIX)?;
    let mut id = [0u8; 32];
    hex::decode_to_slice(digits, &mut id).ok()?;
    Some(id)
}

impl Accounts {
    /// The public id of the account stored under `account_id`: `ac` and the hex of that id,
    /// which is the keyed digest (HMAC with the server key) of the account's email. Stable
    /// while the email and the server key are; not a secret (it proves nothing without the
    /// token, and tells nothing of the email without the server key); the Basic username
    /// upstream's clients may send instead of the email. Derived, not stored, so no record
    /// changes shape.
    pub fn public_id_of(account_id: &RecordId) -> String {
        format!("{PUBLIC_ID_PREFIX}{}", hex::encode(account_id))
    }

    /// The public id of the account of `email` (see [`Self::public_id_of`]).
    pub fn public_id(&self, email: &str) -> String {
        Self::public_id_of(&self.account_id(&email.trim().to_ascii_lowercase()))
    }

    /// The caller that `user` (an email or the account's public id) and `token` prove, or
    /// `None`.
    ///
    /// Unknown user and wrong token do the same work (one store read, one HMAC, one
    /// constant-time compare against a real or dummy hash), so neither body nor timing tells
    /// them apart; by public id or by email, finding the account is one keyed lookup.
    pub async fn authenticate(
        &self,
        user: &str,
        token: &str,
    ) -> Result<Option<Caller>, StorageFailure> {
        let user = user.trim();
        let by_id = parse_public_id(user);
        let lookup = user.to_ascii_lowercase();
        let account_id = match by_id {
            Some(id) => Some(id),
            None if lookup.is_empty() => None,
            None => Some(self.account_id(&lookup)),
        };
        let account = match account_id {
            Some(id) => self.store.account(&id).await?,
            None => None,
        };
        let presented = self.sealer.record_id(RecordKind::Token, token);
        let expected = account.as_ref().map_or([0u8; 32], |c| c.token_hash);
        let matches: bool = presented.ct_eq(&expected).into();
        Ok(match account {
            Some(c) if matches && !token.is_empty() => {
                let email = match by_id {
                    None => Some(lookup),
                    // Opened only once the token proved the caller.
                    Some(_) => self.sealer.open_email(&c.id, &c.email).ok(),
                };
                match email {
                    Some(email) => Some(self.token_caller(c, email, token).await),
                    None => {
                        tracing::warn!("an account's email does not open");
                        None
                    }
                }
            }
            _ => None,
        })
    }

    /// The caller for a proven token of the account of `email`, with the API side's list key
    /// opened by it.
    async fn token_caller(&self, account: AccountRecord, email: String, token: &str) -> Caller {
        let account_id = account.id;
        let (account, key) = match &account.api_key {
            Some(api) => {
                let key = self
                    .sealer
                    .open(
                        Binding::new(RecordKind::ApiListKey, &account_id, token),
                        &api.sealed,
                    )
                    .ok()
                    .and_then(|bytes| ListSecretKey::from_slice(&bytes));
                if key.is_none() {
                    tracing::warn!("an account's API list key does not open with its token");
                }
                (account, key)
            }
            None => self.add_api_list_key(account, &account_id, token).await,
        };
        Caller::Account {
            recent: RecentAccess {
                recipients: account.list_recipients(),
                key,
                token: Some(Sensitive::new(token.to_owned())),
            },
            email,
            plan: account.plan,
        }
    }

    /// Gives an account from schema 1 its API-side list key at the first use of its token,
    /// only if the record is unchanged since it was read (a token rotated meanwhile must never
    /// come back). If that or the write fails, the caller goes on without the key, and its
    /// new entries are sealed under its token as schema 1 did.
    pub(super) async fn add_api_list_key(
        &self,
        account: AccountRecord,
        account_id: &RecordId,
        token: &str,
    ) -> (AccountRecord, Option<ListSecretKey>) {
        let (api_key, secret) = self.api_list_key(account_id, token);
        let upgraded = AccountRecord {
            api_key: Some(api_key),
            ..account.clone()
        };
        match self.store.replace_account(&account, &upgraded).await {
            Ok(true) => (upgraded, Some(secret)),
            Ok(false) => (account, None),
            Err(e) => {
                tracing::warn!(error = %e, "could not add an API list key to an older account");
                (account, None)
            }
        }
    }
}
