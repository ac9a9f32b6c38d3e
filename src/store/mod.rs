//! The storage seam: one small trait per concern, in domain words ([`Secrets`], [`Accounts`],
//! [`Sessions`], [`Outbox`], [`Counters`], [`Sweep`], [`Transfer`], [`Upkeep`]), which
//! [`Store`] gathers; one implementation of each per backend, in its own file; and one
//! conformance suite, split the same way, that every backend must pass.
//!
//! The store sees only sealed blobs and the few plain fields it needs to enforce lifecycle
//! rules atomically (expiry times, state). It never sees a URL key, value or passphrase.

use async_trait::async_trait;

use crate::crypto::{RecordId, Sealed};

mod error;
pub mod record;
pub mod redis;
pub mod sled;
pub mod upgrade;

pub use error::{Result, StoreError};
pub use record::{
    AccountRecord, Delivery, DeliveryState, Exported, ExportedSecret, Guess, GuessAttempt,
    GuessRules, Guesses, NewSecret, OutboxRecord, ReceiptRecord, RecentEntry, RecentSeal,
    SealedListKey, SecretRecord, SessionRecord, SsoSide, StoredState, WebPassword,
};

#[cfg(test)]
pub mod conformance;

/// Schema version this build writes; see `migrations/`. Web sign-in (`0002_web_sign_in.md`)
/// only appended fields that records of the first shape decode without, so it stayed 1;
/// accounts by keyed hash and the outbox by receipt (`0003_accounts_by_hash.md`) made it 2.
pub const SCHEMA_VERSION: u32 = 2;

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

/// What [`Secrets::take_plain`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlainTake {
    /// Taken by this call: no other caller will ever get it.
    Taken(SecretRecord),
    /// It needs a passphrase: left in place, here to check one against.
    Protected(SecretRecord),
    /// No such secret (revealed, burned, expired or never there).
    Gone,
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired secrets removed.
    pub secrets: usize,
    /// Expired receipts removed.
    pub receipts: usize,
}

/// Durable storage of sealed secrets and receipts: every concern together, for the callers
/// that need several (the use cases, the app's wiring). A worker that needs one concern takes
/// only that trait (the sweeper [`Sweep`], the mail worker [`Outbox`], the rate limiter
/// [`Counters`]).
///
/// Every method that changes state is one atomic step, and, when the backend is configured to
/// sync, durable before it returns: callers answer the client right after.
pub trait Store:
    Secrets + Accounts + Sessions + Outbox + Counters + Sweep + Transfer + Upkeep + 'static
{
}

impl<T> Store for T where
    T: Secrets + Accounts + Sessions + Outbox + Counters + Sweep + Transfer + Upkeep + 'static
{
}

/// Secrets and their receipts: create, read, take (reveal), burn, and the wrong-passphrase
/// counters that lock a secret. Every change is one atomic step.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// Stores a secret with its receipt, all or nothing.
    async fn create(&self, new: &NewSecret) -> Result<()>;

    /// The secret under `id`, if it exists and `now < expires_at`. Changes nothing.
    async fn secret(&self, id: &RecordId, now: u64) -> Result<Option<SecretRecord>>;

    /// Removes the secret under `id` and marks its receipt `received`, atomically, if it still
    /// exists, has not expired and is not locked by wrong passphrases (checked in the same
    /// step, so a guess reserved before the lock engaged cannot take it after); its queued mail
    /// goes with it (see [`OutboxRecord`]). Returns whether this call took it: of any number
    /// of concurrent calls for one id, at most one returns `true`.
    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool>;

    /// Reveal's first step: takes the secret under `id` as [`take_secret`](Self::take_secret)
    /// does (one atomic step, at most one caller of any number gets it, durable before it
    /// returns) if it needs no passphrase, and returns it; a secret with a passphrase comes
    /// back untaken, to check one against. So a plain reveal is one store step, not a read and
    /// then a take.
    async fn take_plain(&self, id: &RecordId, now: u64) -> Result<PlainTake>;

    /// The receipt under `id`, if it exists and `now < expires_at`. Changes nothing.
    async fn receipt(&self, id: &RecordId, now: u64) -> Result<Option<ReceiptRecord>>;

    /// Removes the generated value from the receipt under `id`. Returns whether this call
    /// removed it, so only one reader ever sees it.
    async fn take_generated(&self, id: &RecordId) -> Result<bool>;

    /// Replaces the sealed payload of the receipt under `id` (a new private note), changing
    /// nothing else. Returns whether there was a receipt to change.
    async fn reseal_receipt(&self, id: &RecordId, sealed: &Sealed) -> Result<bool>;

    /// Marks the receipt under `id` previewed at `now` (see [`ReceiptRecord::mark_previewed`])
    /// if its secret waits and was not previewed before, and returns when it was first
    /// previewed; `None` once revealed, burned or expired. Never takes or unmarks anything: a
    /// receipt a reveal or burn reached stays so, whichever step lands first.
    async fn mark_previewed(&self, id: &RecordId, now: u64) -> Result<Option<u64>>;

    /// Destroys the unread secret of the receipt under `id` and marks the receipt `burned`,
    /// atomically; its queued mail goes with it. Returns the updated receipt, or `None` if
    /// there was nothing to burn (already received, burned, expired or unknown) or wrong
    /// passphrases have locked it.
    /// `forced` burns even a secret wrong passphrases have locked (its creator's account
    /// asks, which needs no passphrase).
    async fn burn(&self, id: &RecordId, now: u64, forced: bool) -> Result<Option<ReceiptRecord>>;

    /// Whether wrong passphrases have locked the secret under `secret_id` at `now`.
    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool>;

    /// A reserved guess for `secret_id` from `ip_tag` was wrong: locks the secret if that used
    /// up a budget (see [`Guesses::spent`]). Returns whether this call locked it.
    async fn record_passphrase_failure(
        &self,
        secret_id: &RecordId,
        attempt: GuessAttempt,
    ) -> Result<bool>;

    /// Reserves one passphrase guess for `secret_id` from the client `ip_tag` (see
    /// [`Guesses::reserve`]): one atomic step, durable before it returns, taken before any
    /// scrypt work so that no burst, cancellation or number of nodes evaluates more guesses
    /// than `rules` allow.
    async fn reserve_guess(&self, secret_id: &RecordId, attempt: GuessAttempt) -> Result<Guess>;
}

/// Accounts (by the keyed hash of their email) and their recent lists.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Adds an account under its id; `false` if one with that id (that email) exists.
    async fn add_account(&self, account: &AccountRecord) -> Result<bool>;

    /// Replaces the account `old` with `new` (same id) if it is still exactly `old` as it
    /// was read, atomically; `false` if it changed meanwhile or is gone. So racing changes
    /// (a rotation, a new password) never undo each other: a revoked token stays revoked.
    async fn replace_account(&self, old: &AccountRecord, new: &AccountRecord) -> Result<bool>;

    /// The account under `id` (the keyed hash of its email).
    async fn account(&self, id: &RecordId) -> Result<Option<AccountRecord>>;

    /// Every account, in no particular order (their emails are sealed: callers sort).
    async fn accounts(&self) -> Result<Vec<AccountRecord>>;

    /// Removes the account under `id` and its recent list; `false` if there was none.
    async fn remove_account(&self, id: &RecordId) -> Result<bool>;

    /// Drops an account's recent list (after a token rotation it can no longer be opened).
    async fn clear_recent(&self, account_id: &RecordId) -> Result<()>;

    /// A account's recent entries created at or after `since`, newest first.
    async fn recent(&self, account_id: &RecordId, since: u64) -> Result<Vec<RecentSeal>>;
}

/// Signed-in browser sessions.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Stores a web session under `id` until its `expires_at`.
    async fn put_session(&self, id: &RecordId, session: &SessionRecord) -> Result<()>;

    /// The session under `id`, if it exists and `now < expires_at`. Changes nothing.
    async fn session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>>;

    /// Ends the session under `id` (sign-out); nothing happens if there is none.
    async fn remove_session(&self, id: &RecordId) -> Result<()>;

    /// Removes the record under `id` and returns it if `now < expires_at`, in one step: of
    /// callers racing for it, at most one gets it. For single-use records (a sign-in with the
    /// identity provider in progress).
    async fn take_session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>>;
}

/// Mail waiting to be sent to recipients; the mail worker's whole view of the store.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Mails whose next attempt is due at `now`, at most `limit`. A mail whose secret was
    /// revealed, burned or has expired is never among them.
    async fn due_mail(&self, now: u64, limit: usize) -> Result<Vec<OutboxRecord>>;

    /// Stores a mail's new attempt count and time, and the receipt's delivery state. Does not
    /// bring back a mail removed meanwhile (its secret was taken while it was being sent).
    async fn retry_mail(&self, mail: &OutboxRecord, delivery: Delivery) -> Result<()>;

    /// Deletes the mail of the receipt `receipt_id` from the outbox (delivered or given up)
    /// and records the outcome on the receipt.
    async fn finish_mail(&self, receipt_id: &RecordId, delivery: Delivery) -> Result<()>;
}

/// Rate-limit counters; the rate limiter's whole view of the store.
#[async_trait]
pub trait Counters: Send + Sync {
    /// Counts one hit on `bucket` in the fixed window of `window` seconds containing `now`,
    /// and returns the hits so far in that window. Rate limits use it; on Redis the count is
    /// shared by every node.
    async fn hit(&self, bucket: &str, window: u64, now: u64) -> Result<u64>;
}

/// Reclaiming the space of what has expired; the sweeper's whole view of the store.
#[async_trait]
pub trait Sweep: Send + Sync {
    /// Deletes every record whose time is up at `now`.
    async fn sweep_expired(&self, now: u64) -> Result<SweepReport>;
}

/// Moving every live record between stores (`onetime migrate`).
#[async_trait]
pub trait Transfer: Send + Sync {
    /// Every live record at `now` (for `onetime migrate`), web sessions excepted: they are
    /// short-lived, and after a migration people sign in again.
    async fn export(&self, now: u64) -> Result<Vec<Exported>>;

    /// Writes one exported record, keeping its expiry.
    async fn import(&self, record: &Exported) -> Result<()>;
}

/// The store as a whole: health, durability at shutdown, and its schema version.
#[async_trait]
pub trait Upkeep: Send + Sync {
    /// Whether the backend answers (for `/health` and `/api/v1/status`).
    async fn ping(&self) -> Result<()>;

    /// What the store holds, for the metrics; read-only. A backend that cannot tell cheaply
    /// leaves a count out.
    async fn footprint(&self) -> Result<Footprint> {
        Ok(Footprint::default())
    }

    /// Makes every acknowledged write durable (used at shutdown).
    async fn flush(&self) -> Result<()>;

    /// Records where the store stands, so that the next start need not replay what was written
    /// since this one started (used at shutdown, after [`flush`](Self::flush)). Takes as long
    /// as such a start would. `false`: nothing to do, the backend keeps no log of its own.
    async fn checkpoint(&self) -> Result<bool> {
        Ok(false)
    }

    /// The schema version of what is stored (see `migrations/`).
    async fn schema(&self) -> Result<u32>;

    /// Brings a store of an older schema up to [`SCHEMA_VERSION`], with the server key behind
    /// `keys` (the store never holds it). Idempotent and crash-safe: each record is written in
    /// its new form before its old form is removed, and the version is recorded last.
    async fn upgrade(&self, keys: &dyn upgrade::UpgradeKeys) -> Result<()>;
}
