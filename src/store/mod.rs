//! The storage seam: one small trait in domain words, one implementation per backend, and
//! one conformance suite every backend must pass.
//!
//! The store sees only sealed blobs and the few plain fields it needs to enforce lifecycle
//! rules atomically (expiry times, state). It never sees a URL key, value or passphrase.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::crypto::{KdfParams, RecordId, Sealed};
pub use crate::domain::DeliveryState;

pub mod redis;
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
    /// How emailing the link to the recipient went, when there is one.
    pub delivery: Option<Delivery>,
}

/// The delivery state shown on the receipt, with the SMTP server's last word (addresses
/// removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Queued, sent or failed.
    pub state: DeliveryState,
    /// The last SMTP error, if any.
    pub reason: Option<String>,
    /// Unix seconds of the last change.
    pub updated: u64,
}

/// A mail waiting in the outbox: sealed under the server key alone, so it can be sent after a
/// restart (DESIGN.md's one planned exception), and deleted once delivered or given up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The receipt whose delivery state this mail updates.
    pub metadata_id: RecordId,
    /// Unix seconds when it was queued.
    pub created: u64,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix seconds of the next attempt.
    pub next_attempt: u64,
    /// The sealed message.
    pub sealed: Sealed,
}

/// An account as stored. The token exists only as a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// Lowercased email; the account's name and `custid`.
    pub email: String,
    /// Plan name from `[plans.NAME]`.
    pub plan: String,
    /// Unix seconds.
    pub created: u64,
    /// HMAC-SHA256(server key, token): enough to check a token, useless to forge one.
    pub token_hash: [u8; 32],
    /// Unix seconds of the last token issue (creation or rotation).
    pub token_created: u64,
}

/// One line of a customer's recent list: the metadata key, sealed under a key derived from
/// the customer's API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEntry {
    /// Keyed hash of the customer's email.
    pub customer_id: RecordId,
    /// Unix seconds; the list keeps entries for [`RECENT_WINDOW`](crate::domain::RECENT_WINDOW).
    pub created: u64,
    /// The sealed metadata key.
    pub sealed: Sealed,
}

/// When wrong passphrases lock a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessRules {
    /// Failures per secret and client address.
    pub per_ip: u32,
    /// Failures per secret in all.
    pub total: u32,
    /// Seconds over which failures count.
    pub window: u64,
    /// Seconds the secret stays locked.
    pub lockout: u64,
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
    /// The creator's recent-list entry, for account holders.
    pub recent: Option<RecentEntry>,
    /// A mail to the recipient, queued with the secret.
    pub mail: Option<(RecordId, OutboxRecord)>,
}

/// Wrong-passphrase counters of one secret, stored next to it and removed with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guesses {
    /// Start of the current counting window, unix seconds.
    pub window_start: u64,
    /// Failures in the window, all addresses.
    pub total: u32,
    /// Failures in the window per keyed hash of the client address.
    pub per_ip: Vec<([u8; 8], u32)>,
    /// Locked until this time, unix seconds (0: not locked).
    pub locked_until: u64,
}

impl Guesses {
    /// Counts one failure at `now`; returns whether the secret is now locked.
    pub fn fail(&mut self, ip_tag: [u8; 8], now: u64, rules: GuessRules) -> bool {
        if now >= self.window_start.saturating_add(rules.window) {
            self.window_start = now;
            self.total = 0;
            self.per_ip.clear();
        }
        self.total += 1;
        let from_ip = match self.per_ip.iter_mut().find(|(tag, _)| *tag == ip_tag) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.per_ip.push((ip_tag, 1));
                1
            }
        };
        if from_ip >= rules.per_ip || self.total >= rules.total {
            self.locked_until = now.saturating_add(rules.lockout);
        }
        self.locked(now)
    }

    /// Whether the lock holds at `now`.
    pub fn locked(&self, now: u64) -> bool {
        now < self.locked_until
    }
}

/// One live record, as `onetime migrate` moves it between backends. Sealed parts travel as
/// they are: nothing is opened, and the destination needs the same server key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // sealed payloads dwarf the size difference anyway
pub enum Exported {
    /// A receipt, with its secret and lockout counters while they exist.
    Secret {
        /// Id of the receipt.
        metadata_id: RecordId,
        /// The receipt.
        metadata: MetadataRecord,
        /// The secret, if not yet revealed, burned or expired.
        secret: Option<SecretRecord>,
        /// Wrong-passphrase counters.
        guesses: Option<Guesses>,
    },
    /// An account.
    Customer(CustomerRecord),
    /// A recent-list entry.
    Recent(RecentEntry),
    /// A mail waiting in the outbox.
    Mail(RecordId, OutboxRecord),
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

    /// Adds an account; `false` if one with that email exists.
    async fn add_customer(&self, customer: &CustomerRecord) -> Result<bool, StoreError>;

    /// Replaces an existing account; `false` if there is none with that email.
    async fn replace_customer(&self, customer: &CustomerRecord) -> Result<bool, StoreError>;

    /// The account with this (lowercased) email.
    async fn customer(&self, email: &str) -> Result<Option<CustomerRecord>, StoreError>;

    /// Every account, ordered by email.
    async fn customers(&self) -> Result<Vec<CustomerRecord>, StoreError>;

    /// Removes an account and its recent list; `false` if there was none.
    async fn remove_customer(
        &self,
        email: &str,
        customer_id: &RecordId,
    ) -> Result<bool, StoreError>;

    /// Drops a customer's recent list (after a token rotation it can no longer be opened).
    async fn clear_recent(&self, customer_id: &RecordId) -> Result<(), StoreError>;

    /// A customer's recent entries created at or after `since`, newest first.
    async fn recent(&self, customer_id: &RecordId, since: u64) -> Result<Vec<Sealed>, StoreError>;

    /// Whether wrong passphrases have locked the secret under `secret_id` at `now`.
    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool, StoreError>;

    /// Counts a wrong passphrase for `secret_id` from the client `ip_tag`, atomically, and
    /// locks the secret when `rules` say so. Returns whether it is now locked.
    async fn record_passphrase_failure(
        &self,
        secret_id: &RecordId,
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> Result<bool, StoreError>;

    /// Mails whose next attempt is due at `now`, at most `limit`.
    async fn due_mail(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<(RecordId, OutboxRecord)>, StoreError>;

    /// Stores a mail's new attempt count and time, and the receipt's delivery state.
    async fn retry_mail(
        &self,
        id: &RecordId,
        mail: &OutboxRecord,
        delivery: Delivery,
    ) -> Result<(), StoreError>;

    /// Deletes a mail from the outbox (delivered or given up) and records the outcome on its
    /// receipt.
    async fn finish_mail(
        &self,
        id: &RecordId,
        metadata_id: &RecordId,
        delivery: Delivery,
    ) -> Result<(), StoreError>;

    /// Counts one hit on `bucket` in the fixed window of `window` seconds containing `now`,
    /// and returns the hits so far in that window. Rate limits use it; on Redis the count is
    /// shared by every node.
    async fn hit(&self, bucket: &str, window: u64, now: u64) -> Result<u64, StoreError>;

    /// Whether the backend answers (for `/health` and `/api/v1/status`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Every live record at `now` (for `onetime migrate`).
    async fn export(&self, now: u64) -> Result<Vec<Exported>, StoreError>;

    /// Writes one exported record, keeping its expiry.
    async fn import(&self, record: &Exported) -> Result<(), StoreError>;

    /// Makes every acknowledged write durable (used at shutdown).
    async fn flush(&self) -> Result<(), StoreError>;
}
