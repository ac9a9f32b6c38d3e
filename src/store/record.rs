//! Record types as every backend stores them, and their one encoding.
//!
//! postcard is not self-describing: a record's fields are only ever appended, and a change of
//! shape is a new schema version (see `migrations/`). Both backends encode and decode through
//! [`encode`] and [`decode`] here, so a record reads back the same whichever wrote it.

use crate::store::Result;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::StoreError;
use crate::crypto::{KdfParams, RecordId, Sealed};
pub use crate::domain::DeliveryState;

mod account;
mod guess;

pub use account::{AccountRecord, RecentEntry, RecentSeal, SealedListKey, SsoSide, WebPassword};
pub use guess::{Guess, GuessAttempt, GuessRules, Guesses};

/// A record's stored bytes.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads a record from its stored bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A secret as stored: where its receipt is, when it dies, and the sealed value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// The receipt to mark `received` when this secret is taken.
    pub receipt_id: RecordId,
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
pub struct ReceiptRecord {
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

impl ReceiptRecord {
    /// The receipt of a secret revealed at `now`. Every backend's take writes this.
    pub fn mark_received(&mut self, now: u64) {
        self.state = StoredState::Received;
        self.received = Some(now);
        self.updated = now;
        self.cancel_queued_mail(now);
    }

    /// The receipt of a secret burned at `now`; `false` (and unchanged) when there is nothing
    /// to burn: already received or burned, or the secret's time is up. Every backend's burn
    /// writes this.
    pub fn mark_burned(&mut self, now: u64) -> bool {
        if self.state != StoredState::New || self.secret_expires_at <= now {
            return false;
        }
        self.state = StoredState::Burned;
        self.updated = now;
        self.cancel_queued_mail(now);
        true
    }

    /// The receipt of a secret whose link was first previewed at `now` (its page or a v2/v3
    /// show, a link-preview bot included): `false` (and unchanged) unless the secret waits and
    /// was not previewed before. While a secret waits nothing else changes `updated`, so the
    /// preview lives there and the record keeps its shape; a reveal or burn overwrites it.
    pub fn mark_previewed(&mut self, now: u64) -> bool {
        if self.state != StoredState::New
            || self.secret_expires_at <= now
            || self.previewed().is_some()
        {
            return false;
        }
        // A preview in the second of the create still shows, a second late.
        self.updated = now.max(self.created + 1);
        true
    }

    /// When the link was first previewed, while the secret waits (see [`Self::mark_previewed`]).
    pub fn previewed(&self) -> Option<u64> {
        (self.state == StoredState::New && self.updated > self.created).then_some(self.updated)
    }

    /// Notes on the receipt that a mail still queued for it will not be sent: its secret was
    /// revealed or burned, so the mail (and the link in it) is deleted in the same step.
    fn cancel_queued_mail(&mut self, now: u64) {
        if let Some(d) = self
            .delivery
            .as_mut()
            .filter(|d| d.state == DeliveryState::Queued)
        {
            d.state = DeliveryState::Failed;
            d.reason = Some("not sent: the secret was revealed or burned first".into());
            d.updated = now;
        }
    }
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
/// restart (DESIGN.md's one planned exception), and deleted once delivered or given up, or
/// once its secret is revealed, burned or expired (the link in it is useless then).
///
/// The outbox is keyed by the receipt's metadata id (one mail per secret at most), so the step
/// that takes, burns or sweeps a secret finds and removes its mail without a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The receipt whose delivery state this mail updates.
    pub receipt_id: RecordId,
    /// Unix seconds when it was queued.
    pub created: u64,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix seconds of the next attempt.
    pub next_attempt: u64,
    /// The sealed message.
    pub sealed: Sealed,
}

/// A signed-in browser session. Stored under the keyed hash of its cookie value and sealed
/// under that value, so the store alone can neither produce nor use a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Unix seconds of the sign-in.
    pub created: u64,
    /// Unix seconds; at or after this the session is gone, swept or not.
    pub expires_at: u64,
    /// The sealed [`SessionPayload`](crate::accounts::SessionPayload).
    pub sealed: Sealed,
}

/// A secret and its receipt, written together.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// Id of the secret.
    pub secret_id: RecordId,
    /// The secret record.
    pub secret: SecretRecord,
    /// Id of the receipt.
    pub receipt_id: RecordId,
    /// The receipt record.
    pub metadata: ReceiptRecord,
    /// The creator's recent-list entry, for account holders.
    pub recent: Option<RecentEntry>,
    /// A mail to the recipient, queued with the secret (under its receipt's id).
    pub mail: Option<OutboxRecord>,
}

/// One live record, as `onetime migrate` moves it between backends. Sealed parts travel as
/// they are: nothing is opened, and the destination needs the same server key. Web sessions
/// are not among them: after a migration people sign in again. A backup line is one of these,
/// postcard-encoded (`crate::backup`): the variants and their fields keep their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // sealed payloads dwarf the size difference anyway
pub enum Exported {
    /// A receipt, with its secret and lockout counters while they exist.
    Secret(ExportedSecret),
    /// An account.
    Account(AccountRecord),
    /// A recent-list entry.
    Recent(RecentEntry),
    /// A mail waiting in the outbox.
    Mail(OutboxRecord),
}

/// A receipt with its secret and lockout counters while they exist, as exported. The fields
/// keep the order they had as the fields of [`Exported::Secret`] (postcard writes both alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedSecret {
    /// Id of the receipt.
    pub receipt_id: RecordId,
    /// The receipt.
    pub metadata: ReceiptRecord,
    /// The secret, if not yet revealed, burned or expired.
    pub secret: Option<SecretRecord>,
    /// Wrong-passphrase counters.
    pub guesses: Option<Guesses>,
}
