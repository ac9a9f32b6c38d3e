//! API tokens: proving a caller, and the API side's list key an older account gets at the
//! first use of its token.

use subtle::ConstantTimeEq;

use super::Accounts;
use crate::crypto::{Binding, ListSecretKey, RecordId, RecordKind};
use crate::domain::{Caller, RecentAccess, Sensitive};
use crate::service::StorageFailure;
use crate::store::CustomerRecord;

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
                        Binding::new(RecordKind::ApiListKey, &customer_id, token),
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
    pub(super) async fn add_api_list_key(
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
