//! The use cases: share, generate, reveal, receipt, burn, recent, and the health check and
//! rate-limit budgets the HTTP layer spends. Knows nothing of HTTP or of which store backend
//! holds the records.
//!
//! # Layout
//!
//! - `error`: what went wrong, in variants (the one place a store error is classified).
//! - `policy`: the rules from settings (plans, lifetimes, sizes, passphrases, recipients).
//! - `payload`: what the secret and receipt records seal.
//! - `create`: share and generate.
//! - `reveal`: whether a secret waits, and its one reveal, with the passphrase lockout.
//! - `receipt`: reading a receipt; the receipt object.
//! - `burn`: the creator destroys an unread secret.
//! - `recent`: the caller's recent receipts.
//! - `incoming`: a visitor's secret, mailed to a recipient the operator named.
//! - `limits`: per-client budgets and health.

use std::sync::Arc;

use serde::Serialize;

use crate::config::Settings;
use crate::crypto::{Binding, KdfPool, Sealed, Sealer};
use crate::domain::{Caller, Sensitive};
use crate::store::{Store, StoreError};

mod burn;
mod create;
mod error;
mod incoming;
mod limits;
mod payload;
mod policy;
mod receipt;
mod recent;
mod reveal;
#[cfg(test)]
mod tests;

pub use create::{CreateRequest, E2eShare};
pub use error::{ServiceError, StorageFailure};
pub use incoming::{IncomingConfig, IncomingError, IncomingRecipient, IncomingRequest};
pub use limits::{Action, RateLimiter};
pub use payload::{ReceiptPayload, SecretPayload};
pub use policy::CreateRules;
use policy::Policy;
pub use reveal::{KeyProof, SecretStatus};

/// The use cases over one store.
pub struct Service {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    /// Wakes the outbox worker when a create queues mail.
    outbox: Arc<tokio::sync::Notify>,
    /// The process's one scrypt pool (shared with the account use cases).
    kdf: KdfPool,
    policy: Policy,
    /// `[incoming]`: who visitors may send a secret to.
    incoming: incoming::IncomingPolicy,
}

/// A text that counts as given: present and not empty.
fn nonempty(s: Option<&Sensitive>) -> Option<&Sensitive> {
    s.filter(|s| !s.expose().is_empty())
}

impl Service {
    /// The use cases over `store`, sealing with `sealer`, with rules from `settings`.
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
        outbox: Arc<tokio::sync::Notify>,
        kdf: KdfPool,
        settings: &Settings,
    ) -> Self {
        Self {
            store,
            sealer,
            outbox,
            kdf,
            policy: Policy::from_settings(settings),
            incoming: incoming::IncomingPolicy::from_settings(settings),
        }
    }

    /// What a create by `caller` may ask for.
    pub fn create_rules(&self, caller: &Caller) -> CreateRules {
        self.policy.rules(caller)
    }

    /// Whether `caller` may create at all (`secrets.allow_anonymous` for anonymous callers).
    pub fn may_create(&self, caller: &Caller) -> bool {
        self.policy.may_create(caller)
    }

    /// Seals `payload` for a record; an encoding failure is damage, not a client's doing.
    fn seal<T: Serialize>(&self, at: Binding<'_>, payload: &T) -> Result<Sealed, ServiceError> {
        self.sealer
            .seal_value(at, payload)
            .map_err(|e| StoreError::Corrupt(e.to_string()).into())
    }

    /// Opens a secret record's payload, of any shape it was ever sealed in.
    fn open_secret(&self, at: Binding<'_>, sealed: &Sealed) -> Result<SecretPayload, ServiceError> {
        SecretPayload::decode(&self.sealer.open(at, sealed)?)
    }
}
