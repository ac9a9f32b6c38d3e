//! Account use cases: add, list, rotate, remove, and authenticating API calls.
//!
//! Tokens are 62 random base36 characters (about 320 bits) from the OS CSPRNG, shown once and
//! stored only as HMAC-SHA256 under the server key, compared in constant time.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::crypto::{generate_key, RecordKind, Sealer};
use crate::domain::{normalize_email, Caller, Sensitive};
use crate::store::{CustomerRecord, Store, StoreError};

/// Why an account command failed. Messages are for the admin's terminal.
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
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// An account as `account list` shows it: never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AccountSummary {
    /// Email.
    pub email: String,
    /// Plan name.
    pub plan: String,
    /// Unix seconds.
    pub created: u64,
}

/// The account use cases over one store.
pub struct Accounts {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    plans: BTreeSet<String>,
}

impl Accounts {
    /// Account use cases; `plans` are the configured plan names.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>, plans: BTreeSet<String>) -> Self {
        Self {
            store,
            sealer,
            plans,
        }
    }

    fn email(raw: &str) -> Result<String, AccountError> {
        normalize_email(raw).ok_or_else(|| AccountError::InvalidEmail(raw.to_owned()))
    }

    fn new_token(&self) -> (Sensitive, [u8; 32]) {
        let token = generate_key();
        let hash = self.sealer.record_id(RecordKind::Token, &token);
        (Sensitive::new(token), hash)
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
        let record = CustomerRecord {
            email: email.clone(),
            plan,
            created: now,
            token_hash,
            token_created: now,
        };
        if !self.store.add_customer(&record).await? {
            return Err(AccountError::Exists(email));
        }
        Ok(token)
    }

    /// Every account, by email.
    pub async fn list(&self) -> Result<Vec<AccountSummary>, AccountError> {
        Ok(self
            .store
            .customers()
            .await?
            .into_iter()
            .map(|c| AccountSummary {
                email: c.email,
                plan: c.plan,
                created: c.created,
            })
            .collect())
    }

    /// Issues a new token; the old one stops working at once. The recent list was sealed under
    /// the old token, so it can no longer be opened and is dropped.
    pub async fn rotate(&self, email: &str, now: u64) -> Result<Sensitive, AccountError> {
        let email = Self::email(email)?;
        let mut record = self
            .store
            .customer(&email)
            .await?
            .ok_or_else(|| AccountError::NotFound(email.clone()))?;
        let (token, token_hash) = self.new_token();
        record.token_hash = token_hash;
        record.token_created = now;
        if !self.store.replace_customer(&record).await? {
            return Err(AccountError::NotFound(email));
        }
        let customer_id = self.sealer.record_id(RecordKind::Customer, &email);
        self.store.clear_recent(&customer_id).await?;
        Ok(token)
    }

    /// Deletes an account and its recent list. Its secrets stay readable by their links.
    pub async fn remove(&self, email: &str) -> Result<(), AccountError> {
        let email = Self::email(email)?;
        let customer_id = self.sealer.record_id(RecordKind::Customer, &email);
        if !self.store.remove_customer(&email, &customer_id).await? {
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
    ) -> Result<Option<Caller>, StoreError> {
        let lookup = email.trim().to_ascii_lowercase();
        let customer = if lookup.is_empty() {
            None
        } else {
            self.store.customer(&lookup).await?
        };
        let presented = self.sealer.record_id(RecordKind::Token, token);
        let expected = customer.as_ref().map_or([0u8; 32], |c| c.token_hash);
        let matches: bool = presented.ct_eq(&expected).into();
        Ok(match customer {
            Some(c) if matches && !token.is_empty() => Some(Caller::Customer {
                email: c.email,
                plan: c.plan,
                token: Sensitive::new(token.to_owned()),
            }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ServerKey;
    use crate::store::sled::SledStore;

    fn accounts(dir: &std::path::Path) -> Accounts {
        let store = Arc::new(SledStore::open(dir, false, 8 << 20).expect("store"));
        let sealer = Arc::new(Sealer::new(
            ServerKey::from_hex(&"33".repeat(32)).expect("key"),
        ));
        let plans = ["anonymous", "default", "team"].map(String::from).into();
        Accounts::new(store, sealer, plans)
    }

    #[tokio::test]
    async fn tokens_authenticate_until_rotated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = accounts(dir.path());
        let token = a
            .add("Alice@Example.com", Some("team"), 1)
            .await
            .expect("add");
        assert!(token.expose().len() * 5 >= 160, "at least 160 bits");
        let caller = a
            .authenticate("alice@example.com", token.expose())
            .await
            .expect("auth")
            .expect("authenticated");
        assert_eq!(caller.custid(), "alice@example.com");
        assert_eq!(caller.plan_name(), "team");
        assert!(a
            .authenticate("alice@example.com", "wrong")
            .await
            .expect("auth")
            .is_none());
        assert!(a
            .authenticate("bob@example.com", token.expose())
            .await
            .expect("auth")
            .is_none());

        let rotated = a.rotate("alice@example.com", 2).await.expect("rotate");
        assert!(a
            .authenticate("alice@example.com", token.expose())
            .await
            .expect("a")
            .is_none());
        assert!(a
            .authenticate("alice@example.com", rotated.expose())
            .await
            .expect("a")
            .is_some());
    }

    #[tokio::test]
    async fn add_refuses_duplicates_bad_emails_and_unknown_plans() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = accounts(dir.path());
        a.add("a@example.com", None, 1).await.expect("add");
        assert!(matches!(
            a.add("A@example.com", None, 1).await,
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            a.add("nope", None, 1).await,
            Err(AccountError::InvalidEmail(_))
        ));
        assert!(matches!(
            a.add("b@example.com", Some("gold"), 1).await,
            Err(AccountError::UnknownPlan(_))
        ));
        assert!(matches!(
            a.add("b@example.com", Some("anonymous"), 1).await,
            Err(AccountError::UnknownPlan(_))
        ));
        a.remove("a@example.com").await.expect("remove");
        assert!(matches!(
            a.remove("a@example.com").await,
            Err(AccountError::NotFound(_))
        ));
        assert!(a.list().await.expect("list").is_empty());
    }
}
