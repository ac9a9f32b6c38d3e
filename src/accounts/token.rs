//! API tokens: proving a caller, and the API side's list key an older account gets at the
//! first use of its token.

use subtle::ConstantTimeEq;

use super::Accounts;
use crate::crypto::{Binding, ListSecretKey, RecordId, RecordKind};
use crate::domain::{Caller, RecentAccess, Sensitive};
use crate::service::StorageFailure;
use crate::store::AccountRecord;

impl Accounts {
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
        let account = if lookup.is_empty() {
            None
        } else {
            self.store.account(&self.account_id(&lookup)).await?
        };
        let presented = self.sealer.record_id(RecordKind::Token, token);
        let expected = account.as_ref().map_or([0u8; 32], |c| c.token_hash);
        let matches: bool = presented.ct_eq(&expected).into();
        Ok(match account {
            Some(c) if matches && !token.is_empty() => {
                Some(self.token_caller(c, lookup, token).await)
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
