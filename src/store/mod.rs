//! The storage seam: one small trait in domain words, one implementation per backend, and
//! one conformance suite every backend must pass.
//!
//! The store sees only sealed blobs and the few plain fields it needs to enforce lifecycle
//! rules atomically (expiry times, state). It never sees a URL key, value or passphrase.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::crypto::{KdfParams, ListPublicKey, RecordId, Sealed};
pub use crate::domain::DeliveryState;

pub mod redis;
pub mod sled;
pub mod upgrade;

#[cfg(test)]
pub mod conformance;

/// Schema version this build writes; see `migrations/`. Web sign-in (`0002_web_sign_in.md`)
/// only appended fields that records of the first shape decode without, so it stayed 1;
/// accounts by keyed hash and the outbox by receipt (`0003_accounts_by_hash.md`) made it 2.
pub const SCHEMA_VERSION: u32 = 2;

/// Why a store operation failed. Carries no key or value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, full disk, lost connection).
    #[error("storage backend: {0}")]
    Backend(String),
    /// Fewer replicas than `storage.redis_replicas_ack` confirmed a write in time: it was not
    /// acknowledged (and a reveal's value is not handed out).
    #[error("only {confirmed} of {wanted} replicas confirmed the write in time")]
    NotReplicated {
        /// `storage.redis_replicas_ack`.
        wanted: u32,
        /// Replicas that confirmed.
        confirmed: i64,
    },
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

impl MetadataRecord {
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

/// An account as stored. Stored under its id, the keyed hash of its email, with the email
/// itself sealed under the server key alone: a copy of the store without the server key does
/// not list who has an account. The token exists only as a keyed hash, the web password only
/// as a scrypt PHC string.
///
/// postcard is not self-describing: fields are only ever appended. Records of schema 1 (keyed
/// by their plain email) are read only by [`upgrade`], which rewrites them into this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// HMAC-SHA256(server key, the lowercased email): the key the account is stored under,
    /// and the customer id its recent list is kept under.
    pub id: RecordId,
    /// The lowercased email (the account's name and `custid`), sealed under the server key
    /// alone and bound to `id`.
    pub email: Sealed,
    /// Plan name from `[plans.NAME]`.
    pub plan: String,
    /// Unix seconds.
    pub created: u64,
    /// HMAC-SHA256(server key, token): enough to check a token, useless to forge one.
    pub token_hash: [u8; 32],
    /// Unix seconds of the last token issue (creation or rotation).
    pub token_created: u64,
    /// The API side's list key, its private half sealed under the token. `None` in an account
    /// from schema 1 until its token is next used.
    pub api_key: Option<SealedListKey>,
    /// The web password, once `account passwd` set one.
    pub password: Option<WebPassword>,
}

impl CustomerRecord {
    /// The record's stored bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, StoreError> {
        postcard::to_allocvec(self).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Reads a stored record, which must account for every byte.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        match postcard::take_from_bytes::<Self>(bytes) {
            Ok((record, [])) => Ok(record),
            _ => Err(StoreError::Corrupt("customer record".into())),
        }
    }

    /// The public list keys every new recent entry of this account is sealed to.
    pub fn list_recipients(&self) -> Vec<ListPublicKey> {
        let web = self.password.as_ref().map(|p| &p.key);
        self.api_key.iter().chain(web).map(|k| k.public).collect()
    }
}

/// One of an account's list keys: the public half in the clear, the private half sealed
/// under the credential it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedListKey {
    /// What new recent entries are sealed to.
    pub public: ListPublicKey,
    /// The private half, sealed under the API token or the web password's derived key.
    pub sealed: Sealed,
}

/// An account's web password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPassword {
    /// scrypt PHC string: verifies a password at sign-in, and nothing more.
    pub phc: String,
    /// Unix seconds when it was set.
    pub set_at: u64,
    /// The separate scrypt derivation (own salt) whose output seals the web list key.
    pub kdf: KdfParams,
    /// The web side's list key, sealed under that derivation.
    pub key: SealedListKey,
}

/// One line of a customer's recent list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEntry {
    /// Keyed hash of the customer's email.
    pub customer_id: RecordId,
    /// Unix seconds; the list keeps entries for [`RECENT_WINDOW`](crate::domain::RECENT_WINDOW).
    pub created: u64,
    /// The sealed metadata key.
    pub sealed: RecentSeal,
}

/// How a recent entry keeps its metadata key.
///
/// Schema 1: `sealed` is under a key derived from the creator's API token and `key_boxes` is
/// empty. Since web sign-in: `sealed` is under a random entry key, and `key_boxes` holds that
/// entry key in one sealed box per list key of the account, so each credential opens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentSeal {
    /// The metadata key, sealed (with the server key in the derivation, like every record).
    pub sealed: Sealed,
    /// The entry key, sealed to each of the account's public list keys.
    pub key_boxes: Vec<Vec<u8>>,
}

impl RecentSeal {
    /// The stored bytes: schema 1's bare `Sealed` when there are no key boxes, else both.
    pub fn to_bytes(&self) -> Result<Vec<u8>, StoreError> {
        let bytes = if self.key_boxes.is_empty() {
            postcard::to_allocvec(&self.sealed)
        } else {
            postcard::to_allocvec(self)
        };
        bytes.map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Reads either shape: a bare `Sealed` ends before the key boxes' length, so it fails as
    /// the pair and must then account for every byte on its own.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        if let Ok(seal) = postcard::from_bytes::<Self>(bytes) {
            return Ok(seal);
        }
        match postcard::take_from_bytes::<Sealed>(bytes) {
            Ok((sealed, [])) => Ok(Self {
                sealed,
                key_boxes: Vec::new(),
            }),
            _ => Err(StoreError::Corrupt("recent entry".into())),
        }
    }
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
    /// A mail to the recipient, queued with the secret (under its receipt's id).
    pub mail: Option<OutboxRecord>,
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

/// What a guess reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// One guess may be evaluated; it is already counted, whatever its outcome.
    Granted,
    /// The secret is locked; `newly` when this very reservation locked it.
    Locked {
        /// This reservation found the budget used up and engaged the lock.
        newly: bool,
    },
    /// No such secret (revealed, burned, expired or never there).
    Gone,
}

impl Guesses {
    /// Reserves one guess for the client `ip_tag` at `now`, before its passphrase is
    /// evaluated: so a burst, or an attempt whose client goes away mid-derivation, is counted
    /// like any wrong guess. Once this address (`rules.per_ip`) or all addresses
    /// (`rules.total`) have used the window's budget, the reservation is refused and the secret
    /// locks for `rules.lockout` seconds; a take refuses while it is locked, so a right
    /// passphrase reserved before the lock engaged is refused too.
    pub fn reserve(&mut self, ip_tag: [u8; 8], now: u64, rules: GuessRules) -> Guess {
        if self.locked(now) {
            return Guess::Locked { newly: false };
        }
        if self.fresh_window(now, rules) {
            *self = Self {
                window_start: now,
                ..Self::default()
            };
        }
        if self.budget_spent(ip_tag, rules) {
            self.locked_until = now.saturating_add(rules.lockout);
            return Guess::Locked { newly: true };
        }
        self.total += 1;
        match self.per_ip.iter_mut().find(|(tag, _)| *tag == ip_tag) {
            Some((_, n)) => *n += 1,
            None => self.per_ip.push((ip_tag, 1)),
        }
        Guess::Granted
    }

    /// A guess reserved for `ip_tag` turned out wrong: locks the secret at once when that
    /// guess used up this address's or the total budget, so the next guess (the right one
    /// included, from any address) is refused without waiting for one more reservation.
    /// Returns whether this call locked it.
    pub fn spent(&mut self, ip_tag: [u8; 8], now: u64, rules: GuessRules) -> bool {
        if self.locked(now) || self.fresh_window(now, rules) {
            return false;
        }
        if self.budget_spent(ip_tag, rules) {
            self.locked_until = now.saturating_add(rules.lockout);
            return true;
        }
        false
    }

    /// Whether `ip_tag`, or all addresses together, have used the window's budget.
    fn budget_spent(&self, ip_tag: [u8; 8], rules: GuessRules) -> bool {
        let from_ip = self
            .per_ip
            .iter()
            .find(|(tag, _)| *tag == ip_tag)
            .map_or(0, |(_, n)| *n);
        from_ip >= rules.per_ip || self.total >= rules.total
    }

    /// Whether the counters are stale at `now`: their window has passed, or a lock has ended
    /// (a lock shorter than the window would otherwise last until the window's end).
    fn fresh_window(&self, now: u64, rules: GuessRules) -> bool {
        self.locked_until != 0 || now >= self.window_start.saturating_add(rules.window)
    }

    /// Whether the lock holds at `now`.
    pub fn locked(&self, now: u64) -> bool {
        now < self.locked_until
    }
}

/// One live record, as `onetime migrate` moves it between backends. Sealed parts travel as
/// they are: nothing is opened, and the destination needs the same server key. Web sessions
/// are not among them: after a migration people sign in again.
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
    Mail(OutboxRecord),
}

/// What a store holds, for the metrics (`None`: this backend does not tell).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Receipts, with their secrets while unread (expired ones not yet swept included).
    pub records: Option<u64>,
    /// Mails waiting in the outbox.
    pub outbox: Option<u64>,
    /// Bytes on disk.
    pub bytes: Option<u64>,
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
    /// exists, has not expired and is not locked by wrong passphrases (checked in the same
    /// step, so a guess reserved before the lock engaged cannot take it after); its queued mail
    /// goes with it (see [`OutboxRecord`]). Returns whether this call took it: of any number
    /// of concurrent calls for one id, at most one returns `true`.
    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool, StoreError>;

    /// The receipt under `id`, if it exists and `now < expires_at`. Changes nothing.
    async fn metadata(&self, id: &RecordId, now: u64)
        -> Result<Option<MetadataRecord>, StoreError>;

    /// Removes the generated value from the receipt under `id`. Returns whether this call
    /// removed it, so only one reader ever sees it.
    async fn take_generated(&self, id: &RecordId) -> Result<bool, StoreError>;

    /// Destroys the unread secret of the receipt under `id` and marks the receipt `burned`,
    /// atomically; its queued mail goes with it. Returns the updated receipt, or `None` if
    /// there was nothing to burn (already received, burned, expired or unknown) or wrong
    /// passphrases have locked it.
    /// `despite_lock` burns a secret wrong passphrases have locked (its creator's account
    /// asks, which needs no passphrase).
    async fn burn(
        &self,
        id: &RecordId,
        now: u64,
        despite_lock: bool,
    ) -> Result<Option<MetadataRecord>, StoreError>;

    /// Deletes every record whose time is up at `now`.
    async fn sweep_expired(&self, now: u64) -> Result<SweepReport, StoreError>;

    /// Adds an account under its id; `false` if one with that id (that email) exists.
    async fn add_customer(&self, customer: &CustomerRecord) -> Result<bool, StoreError>;

    /// Replaces the account `old` with `new` (same id) if it is still exactly `old` as it
    /// was read, atomically; `false` if it changed meanwhile or is gone. So racing changes
    /// (a rotation, a new password) never undo each other: a revoked token stays revoked.
    async fn replace_customer(
        &self,
        old: &CustomerRecord,
        new: &CustomerRecord,
    ) -> Result<bool, StoreError>;

    /// The account under `id` (the keyed hash of its email).
    async fn customer(&self, id: &RecordId) -> Result<Option<CustomerRecord>, StoreError>;

    /// Every account, in no particular order (their emails are sealed: callers sort).
    async fn customers(&self) -> Result<Vec<CustomerRecord>, StoreError>;

    /// Removes the account under `id` and its recent list; `false` if there was none.
    async fn remove_customer(&self, id: &RecordId) -> Result<bool, StoreError>;

    /// Drops a customer's recent list (after a token rotation it can no longer be opened).
    async fn clear_recent(&self, customer_id: &RecordId) -> Result<(), StoreError>;

    /// A customer's recent entries created at or after `since`, newest first.
    async fn recent(
        &self,
        customer_id: &RecordId,
        since: u64,
    ) -> Result<Vec<RecentSeal>, StoreError>;

    /// Stores a web session under `id` until its `expires_at`.
    async fn put_session(&self, id: &RecordId, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session under `id`, if it exists and `now < expires_at`. Changes nothing.
    async fn session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>, StoreError>;

    /// Ends the session under `id` (sign-out); nothing happens if there is none.
    async fn remove_session(&self, id: &RecordId) -> Result<(), StoreError>;

    /// Whether wrong passphrases have locked the secret under `secret_id` at `now`.
    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool, StoreError>;

    /// A reserved guess for `secret_id` from `ip_tag` was wrong: locks the secret if that used
    /// up a budget (see [`Guesses::spent`]). Returns whether this call locked it.
    async fn record_passphrase_failure(
        &self,
        secret_id: &RecordId,
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> Result<bool, StoreError>;

    /// Reserves one passphrase guess for `secret_id` from the client `ip_tag` (see
    /// [`Guesses::reserve`]): one atomic step, durable before it returns, taken before any
    /// scrypt work so that no burst, cancellation or number of nodes evaluates more guesses
    /// than `rules` allow.
    async fn reserve_guess(
        &self,
        secret_id: &RecordId,
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> Result<Guess, StoreError>;

    /// Mails whose next attempt is due at `now`, at most `limit`. A mail whose secret was
    /// revealed, burned or has expired is never among them.
    async fn due_mail(&self, now: u64, limit: usize) -> Result<Vec<OutboxRecord>, StoreError>;

    /// Stores a mail's new attempt count and time, and the receipt's delivery state. Does not
    /// bring back a mail removed meanwhile (its secret was taken while it was being sent).
    async fn retry_mail(&self, mail: &OutboxRecord, delivery: Delivery) -> Result<(), StoreError>;

    /// Deletes the mail of the receipt `metadata_id` from the outbox (delivered or given up)
    /// and records the outcome on the receipt.
    async fn finish_mail(
        &self,
        metadata_id: &RecordId,
        delivery: Delivery,
    ) -> Result<(), StoreError>;

    /// Counts one hit on `bucket` in the fixed window of `window` seconds containing `now`,
    /// and returns the hits so far in that window. Rate limits use it; on Redis the count is
    /// shared by every node.
    async fn hit(&self, bucket: &str, window: u64, now: u64) -> Result<u64, StoreError>;

    /// Whether the backend answers (for `/health` and `/api/v1/status`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// What the store holds, for the metrics; read-only. A backend that cannot tell cheaply
    /// leaves a count out.
    async fn footprint(&self) -> Result<Footprint, StoreError> {
        Ok(Footprint::default())
    }

    /// Every live record at `now` (for `onetime migrate`), web sessions excepted: they are
    /// short-lived, and after a migration people sign in again.
    async fn export(&self, now: u64) -> Result<Vec<Exported>, StoreError>;

    /// Writes one exported record, keeping its expiry.
    async fn import(&self, record: &Exported) -> Result<(), StoreError>;

    /// Makes every acknowledged write durable (used at shutdown).
    async fn flush(&self) -> Result<(), StoreError>;

    /// The schema version of what is stored (see `migrations/`).
    async fn schema(&self) -> Result<u32, StoreError>;

    /// Brings a store of an older schema up to [`SCHEMA_VERSION`], with the server key behind
    /// `keys` (the store never holds it). Idempotent and crash-safe: each record is written in
    /// its new form before its old form is removed, and the version is recorded last.
    async fn upgrade(&self, keys: &dyn upgrade::UpgradeKeys) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::conformance::sealed;

    #[test]
    fn recent_seals_of_both_shapes_round_trip() {
        let old = RecentSeal {
            sealed: sealed(1),
            key_boxes: Vec::new(),
        };
        let old_bytes = old.to_bytes().expect("encode");
        assert_eq!(
            old_bytes,
            postcard::to_allocvec(&sealed(1)).expect("encode"),
            "schema 1's shape: a bare Sealed"
        );
        assert_eq!(RecentSeal::from_bytes(&old_bytes).expect("decode"), old);

        let new = RecentSeal {
            sealed: sealed(2),
            key_boxes: vec![vec![3; 110], vec![4; 110]],
        };
        let bytes = new.to_bytes().expect("encode");
        assert_eq!(RecentSeal::from_bytes(&bytes).expect("decode"), new);
        assert!(RecentSeal::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
