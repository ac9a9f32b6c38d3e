//! The storage seam: one small trait in domain words, one implementation per backend, and
//! one conformance suite every backend must pass.
//!
//! The store sees only sealed blobs and the few plain fields it needs to enforce lifecycle
//! rules atomically (expiry times, state). It never sees a URL key, value or passphrase.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::crypto::{KdfParams, RecordId, Sealed};

pub mod sled;

#[cfg(test)]
pub mod conformance;

/// Schema version this build writes; see `migrations/`.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a store operation failed. Carries no key or value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, full disk, lost connection).
    #[error("storage backend: {0}")]
    Backend(String),
    /// A stored record could not be decoded.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The store was written by a newer onetime.
    #[error(
        "the store at {path} has schema version {found}, but this onetime supports up to \
         {supported}; run the newer onetime or restore a backup"
    )]
    NewerSchema {
        /// Where the store lives.
        path: String,
        /// Version found.
        found: u32,
        /// Newest version this build understands.
        supported: u32,
    },
}

/// A secret as stored: where its receipt is, when it dies, and the sealed value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// The receipt to mark `received` when this secret is taken.
    pub metadata_id: RecordId,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds; at or after this the secret is gone, swept or not.
    pub expires_at: u64,
    /// scrypt parameters when a passphrase is required.
    pub kdf: Option<KdfParams>,
    /// The sealed [`SecretPayload`](crate::service::SecretPayload).
    pub sealed: Sealed,
}

/// The state a receipt can be stored in; `expired` is computed on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredState {
    /// Not yet read.
    New,
    /// Revealed once.
    Received,
    /// Destroyed unread by its creator.
    Burned,
}

/// A receipt as stored: lifecycle in the clear, everything identifying sealed under the
/// metadata key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataRecord {
    /// The secret this receipt describes.
    pub secret_id: RecordId,
    /// Lifecycle state.
    pub state: StoredState,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds of the last state change.
    pub updated: u64,
    /// Unix seconds of the reveal.
    pub received: Option<u64>,
    /// The applied TTL of the secret.
    pub ttl: u64,
    /// When the secret expires.
    pub secret_expires_at: u64,
    /// When this receipt expires (2 x ttl after creation).
    pub expires_at: u64,
    /// Whether the secret has a passphrase.
    pub passphrase_required: bool,
    /// The sealed [`ReceiptPayload`](crate::service::ReceiptPayload).
    pub sealed: Sealed,
    /// A generated password, sealed under the metadata key, until the first receipt read.
    pub generated: Option<Sealed>,
}

/// A secret and its receipt, written together.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// Id of the secret.
    pub secret_id: RecordId,
    /// The secret record.
    pub secret: SecretRecord,
    /// Id of the receipt.
    pub metadata_id: RecordId,
    /// The receipt record.
    pub metadata: MetadataRecord,
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired secrets removed.
    pub secrets: usize,
    /// Expired receipts removed.
    pub receipts: usize,
}

/// Durable storage of sealed secrets and receipts.
///
/// Every method that changes state is one atomic step, and, when the backend is configured to
/// sync, durable before it returns: callers answer the client right after.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a secret with its receipt, all or nothing.
    async fn create(&self, new: &NewSecret) -> Result<(), StoreError>;

    /// The secret under `id`, if it exists and `now < expires_at`. Changes nothing.
    async fn secret(&self, id: &RecordId, now: u64) -> Result<Option<SecretRecord>, StoreError>;

    /// Removes the secret under `id` and marks its receipt `received`, atomically, if it still
    /// exists and has not expired. Returns whether this call took it: of any number of
    /// concurrent calls for one id, at most one returns `true`.
    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool, StoreError>;

    /// The receipt under `id`, if it exists and `now < expires_at`. Changes nothing.
    async fn metadata(&self, id: &RecordId, now: u64)
        -> Result<Option<MetadataRecord>, StoreError>;

    /// Removes the generated value from the receipt under `id`. Returns whether this call
    /// removed it, so only one reader ever sees it.
    async fn take_generated(&self, id: &RecordId) -> Result<bool, StoreError>;

    /// Destroys the unread secret of the receipt under `id` and marks the receipt `burned`,
    /// atomically. Returns the updated receipt, or `None` if there was nothing to burn
    /// (already received, burned, expired or unknown).
    async fn burn(&self, id: &RecordId, now: u64) -> Result<Option<MetadataRecord>, StoreError>;

    /// Deletes every record whose time is up at `now`.
    async fn sweep_expired(&self, now: u64) -> Result<SweepReport, StoreError>;

    /// Makes every acknowledged write durable (used at shutdown).
    async fn flush(&self) -> Result<(), StoreError>;
}
