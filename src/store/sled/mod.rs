//! The embedded sled backend (the default): one process, one directory.
//!
//! Trees:
//! - `entries`: metadata id -> [`Entry`]: the receipt, the sealed secret while it exists, and
//!   its wrong-passphrase counters. Everything that must change together lives in this one
//!   value, so reveal, burn and lockout are each a single compare-and-swap.
//! - `secrets`: secret id -> metadata id, the pointer a secret link follows. It stays until the
//!   secret's own time is up (the entry says whether the value is still there).
//! - `expiry`: big-endian `expires_at ++ kind ++ id`, so the sweeper scans what is due in order.
//! - `accounts` (by customer id, the keyed hash of the email; the email sealed inside),
//!   `recent` (`customer id ++ created ++ sequence`), `mail` (mails to send, by their receipt's
//!   metadata id, so the step that takes, burns or sweeps a secret removes its mail too),
//!   `sessions` (web sessions, by the keyed hash of the cookie; in the expiry index so the
//!   sweeper reclaims them), `meta` (schema). Schema 1's `customers` (by plain email) and
//!   `outbox` (by random id) exist only until [`Store::upgrade`] has rewritten them.
//!
//! Why compare-and-swap and not sled transactions: in sled 0.34 every transaction (and
//! `apply_batch`) rolls the log buffer to disk before and after itself, two synchronous writes
//! per operation, which capped throughput at a few thousand operations a second. Single-key
//! compare-and-swap is atomic without that, and lets concurrent writers share one flush.

mod flusher;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sled::{Db, Tree};

use self::flusher::Flusher;
use super::record::{decode, encode};
use super::upgrade::{rekey_mail, LegacyCustomer, UpgradeKeys};
use super::{
    CustomerRecord, Delivery, Exported, Guess, GuessRules, Guesses, MetadataRecord, NewSecret,
    OutboxRecord, RecentEntry, RecentSeal, SecretRecord, SessionRecord, Store, StoreError,
    SweepReport, SCHEMA_VERSION,
};
use crate::crypto::RecordId;
use crate::domain::RECENT_WINDOW;

const KIND_SECRET: u8 = b's';
const KIND_METADATA: u8 = b'm';
const KIND_RECENT: u8 = b'r';
const KIND_SESSION: u8 = b'w';
const SCHEMA_KEY: &[u8] = b"schema_version";
/// Schema 1's trees, read and dropped by the upgrade.
const LEGACY_CUSTOMERS: &str = "customers";
const LEGACY_OUTBOX: &str = "outbox";
/// Expired entries handled per sweep batch, so a sweep never holds much in memory.
const SWEEP_BATCH: usize = 1000;

impl From<sled::Error> for StoreError {
    /// sled's I/O errors by their kind (a full disk, or another failure: both latch, see
    /// [`SledStore`]); its other errors (a bug it reports, an unsupported operation) leave the
    /// store unable to answer.
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) => io.into(),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn expiry_key(expires_at: u64, kind: u8, id: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + 1 + id.len());
    key.extend_from_slice(&expires_at.to_be_bytes());
    key.push(kind);
    key.extend_from_slice(id);
    key
}

/// `customer id ++ created ++ sequence`: a customer's entries sort by time under one prefix,
/// and entries of the same second keep their creation order.
fn recent_key(entry: &RecentEntry, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + 8 + 8);
    key.extend_from_slice(&entry.customer_id);
    key.extend_from_slice(&entry.created.to_be_bytes());
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// One secret's whole life in one value.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    metadata: MetadataRecord,
    /// Present until revealed, burned or swept.
    secret: Option<SecretRecord>,
    /// Wrong-passphrase counters; dropped with the secret.
    guesses: Option<Guesses>,
}

/// What an [`SledStore::update_entry`] closure decides.
enum Change<T> {
    /// Leave the entry as it is and return `None`.
    Keep,
    /// Write the modified entry and return the value.
    Write(T),
    /// Delete the entry and return the value.
    Delete(T),
}

/// One open sled database and its trees. [`SledStore`] swaps in a fresh one when sled has
/// latched an I/O error (a full disk): sled 0.34 refuses every write after one failed write,
/// even once space returns, until the database is reopened.
struct Inner {
    db: Db,
    entries: Tree,
    secrets: Tree,
    expiry: Tree,
    accounts: Tree,
    recent: Tree,
    mail: Tree,
    sessions: Tree,
    meta: Tree,
    /// Rate-limit counters: `(bucket, window start) -> hits`. In memory: one process, and
    /// they guard capacity, not secrets.
    hits: std::sync::Mutex<std::collections::HashMap<(String, u64), u64>>,
    /// Present when `storage.sync` is on.
    flusher: Option<Flusher>,
}

impl Inner {
    fn open(path: &Path, sync: bool, cache_bytes: u64) -> Result<Self, StoreError> {
        refuse_if_locked(path)?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| match StoreError::from(e) {
                StoreError::Full(e) => {
                    StoreError::Full(format!("cannot open {}: {e}", path.display()))
                }
                StoreError::Io(e) => StoreError::Io(format!("cannot open {}: {e}", path.display())),
                other => {
                    StoreError::Unavailable(format!("cannot open {}: {other}", path.display()))
                }
            })?;
        check_schema(&db, path)?;
        Ok(Self {
            entries: db.open_tree("entries")?,
            secrets: db.open_tree("secrets")?,
            expiry: db.open_tree("expiry")?,
            accounts: db.open_tree("accounts")?,
            recent: db.open_tree("recent")?,
            mail: db.open_tree("mail")?,
            sessions: db.open_tree("sessions")?,
            meta: db.open_tree("meta")?,
            hits: std::sync::Mutex::default(),
            flusher: sync.then(|| Flusher::start(db.clone())),
            db,
        })
    }

    async fn durable(&self) -> Result<(), StoreError> {
        match &self.flusher {
            Some(f) => f.durable().await,
            None => Ok(()),
        }
    }

    /// The metadata id a secret id points to.
    fn pointer(&self, secret_id: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.secrets.get(secret_id)?)
    }

    fn entry(&self, metadata_id: &[u8]) -> Result<Option<Entry>, StoreError> {
        self.entries
            .get(metadata_id)?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Reads, changes and writes back the entry under `metadata_id` atomically: the write is a
    /// compare-and-swap against what was read, retried when another writer got there first.
    /// So of racing callers, each sees the entry as the previous one left it.
    fn update_entry<T>(
        &self,
        metadata_id: &[u8],
        mut change: impl FnMut(&mut Entry) -> Change<T>,
    ) -> Result<Option<T>, StoreError> {
        loop {
            let Some(old) = self.entries.get(metadata_id)? else {
                return Ok(None);
            };
            let mut entry: Entry = decode(&old)?;
            let (new, out) = match change(&mut entry) {
                Change::Keep => return Ok(None),
                Change::Write(out) => (Some(encode(&entry)?), out),
                Change::Delete(out) => (None, out),
            };
            if self
                .entries
                .compare_and_swap(metadata_id, Some(&old), new)?
                .is_ok()
            {
                return Ok(Some(out));
            }
        }
    }

    /// Handles one due expiry entry; returns its kind and whether a record went.
    fn sweep_entry(&self, key: &[u8], now: u64) -> Result<(u8, bool), StoreError> {
        let kind = key.get(8).copied().unwrap_or(0);
        let id = key.get(9..).unwrap_or_default();
        let removed = match kind {
            KIND_SECRET => match self.pointer(id)? {
                Some(metadata_id) => {
                    let gone = self.update_entry(&metadata_id, |e| match &e.secret {
                        Some(s) if s.expires_at <= now => {
                            e.secret = None;
                            e.guesses = None;
                            Change::Write(())
                        }
                        _ => Change::Keep,
                    })?;
                    // A mail still queued links to a secret whose time is up.
                    self.mail.remove(&metadata_id)?;
                    self.secrets.remove(id)?;
                    gone.is_some()
                }
                None => false,
            },
            KIND_METADATA => {
                self.mail.remove(id)?;
                self.update_entry(id, |e| {
                    if e.metadata.expires_at <= now {
                        Change::Delete(())
                    } else {
                        Change::Keep
                    }
                })?
                .is_some()
            }
            // Recent entries and sessions are due exactly when their expiry entry is.
            KIND_RECENT => self.recent.remove(id)?.is_some(),
            KIND_SESSION => self.sessions.remove(id)?.is_some(),
            _ => false,
        };
        self.expiry.remove(key)?;
        Ok((kind, removed))
    }

    /// Writes a secret's entry: expiry entries first, so the sweeper finds anything a crash
    /// leaves half-written; the pointer last, so a link never leads to a missing entry.
    fn write_entry(&self, metadata_id: &RecordId, entry: &Entry) -> Result<(), StoreError> {
        let metadata = &entry.metadata;
        self.expiry.insert(
            expiry_key(metadata.expires_at, KIND_METADATA, metadata_id),
            &[],
        )?;
        if let Some(secret) = &entry.secret {
            self.expiry.insert(
                expiry_key(secret.expires_at, KIND_SECRET, &metadata.secret_id),
                &[],
            )?;
        }
        self.entries.insert(metadata_id, encode(entry)?)?;
        if entry.secret.is_some() {
            self.secrets
                .insert(metadata.secret_id, metadata_id.as_slice())?;
        }
        Ok(())
    }

    /// Adds a recent-list entry, with the expiry entry that sweeps it after the window.
    fn add_recent(&self, entry: &RecentEntry) -> Result<(), StoreError> {
        let key = recent_key(entry, self.db.generate_id()?);
        self.expiry.insert(
            expiry_key(entry.created + RECENT_WINDOW, KIND_RECENT, &key),
            &[],
        )?;
        self.recent.insert(key, entry.sealed.to_bytes()?)?;
        Ok(())
    }

    /// Records a delivery outcome on a receipt (if it still exists).
    fn set_delivery(&self, metadata_id: &[u8], delivery: &Delivery) -> Result<(), StoreError> {
        self.update_entry(metadata_id, |e| {
            e.metadata.delivery = Some(delivery.clone());
            Change::Write(())
        })?;
        Ok(())
    }

    fn remove_prefix(tree: &Tree, prefix: &[u8]) -> Result<(), StoreError> {
        for key in tree.scan_prefix(prefix).keys() {
            tree.remove(key?)?;
        }
        Ok(())
    }
}

/// Refuses a store another process has open, before sled tries: sled holds an exclusive
/// `flock` on `<path>/db` for as long as the database is open, and its own refusal says so
/// only in text.
fn refuse_if_locked(path: &Path) -> Result<(), StoreError> {
    let Ok(file) = std::fs::File::open(path.join("db")) else {
        // No database yet (sled creates it), or unreadable (sled reports why).
        return Ok(());
    };
    match file.try_lock() {
        // Released when `file` closes, right here, before sled takes its own.
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// The schema version recorded in `meta`.
fn read_version(meta: &Tree) -> Result<u32, StoreError> {
    let v = meta
        .get(SCHEMA_KEY)?
        .ok_or_else(|| StoreError::Corrupt("no schema version".into()))?;
    v.as_ref()
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("schema version".into()))
}

/// Refuses a store of a newer schema; records the current one in a new store. An older one
/// opens, and waits for [`Store::upgrade`].
fn check_schema(db: &Db, path: &Path) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    match meta.get(SCHEMA_KEY)? {
        Some(_) => {
            let found = read_version(&meta)?;
            if found > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    path: path.display().to_string(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
        }
        None => {
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            db.flush()?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for Inner {
    async fn create(&self, new: &NewSecret) -> Result<(), StoreError> {
        // Without a transaction, in an order whose every prefix is harmless: until the create
        // is acknowledged nobody holds its keys, and the sweeper reclaims what a crash leaves.
        // The mail comes after the entry, so a recipient is never sent a link to nothing.
        let entry = Entry {
            metadata: new.metadata.clone(),
            secret: Some(new.secret.clone()),
            guesses: None,
        };
        self.write_entry(&new.metadata_id, &entry)?;
        if let Some(recent) = &new.recent {
            self.add_recent(recent)?;
        }
        if let Some(mail) = &new.mail {
            self.mail.insert(mail.metadata_id, encode(mail)?)?;
        }
        self.durable().await
    }

    async fn secret(&self, id: &RecordId, now: u64) -> Result<Option<SecretRecord>, StoreError> {
        let Some(metadata_id) = self.pointer(id)? else {
            return Ok(None);
        };
        Ok(self
            .entry(&metadata_id)?
            .and_then(|e| e.secret)
            .filter(|s| s.expires_at > now))
    }

    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool, StoreError> {
        let Some(metadata_id) = self.pointer(id)? else {
            return Ok(false);
        };
        // One compare-and-swap removes the value and marks the receipt: of N racing reveals,
        // exactly one swaps against an entry that still holds the secret. A lock in the same
        // entry is checked in the same swap.
        let taken = self.update_entry(&metadata_id, |e| match &e.secret {
            Some(s) if s.expires_at > now && !e.guesses.as_ref().is_some_and(|g| g.locked(now)) => {
                e.secret = None;
                e.guesses = None;
                e.metadata.mark_received(now);
                Change::Write(())
            }
            _ => Change::Keep,
        })?;
        if taken.is_none() {
            return Ok(false);
        }
        // The mail with the link goes in the same flush. It is a second write, not part of the
        // swap (sled 0.34 transactions cost two synchronous log writes each): if the process
        // dies between the two, `due_mail` finds the secret gone and drops the mail unsent.
        self.mail.remove(metadata_id)?;
        // The pointer and expiry entry stay until the secret's time is up: the sweeper drops
        // them then, and a reveal costs one write instead of three.
        // The value goes out only after its removal is on disk: a crash right after the
        // response can never bring it back for a second read.
        self.durable().await?;
        Ok(true)
    }

    async fn metadata(
        &self,
        id: &RecordId,
        now: u64,
    ) -> Result<Option<MetadataRecord>, StoreError> {
        Ok(self
            .entry(id)?
            .map(|e| e.metadata)
            .filter(|m| m.expires_at > now))
    }

    async fn take_generated(&self, id: &RecordId) -> Result<bool, StoreError> {
        let taken = self.update_entry(id, |e| match e.metadata.generated.take() {
            Some(_) => Change::Write(()),
            None => Change::Keep,
        })?;
        if taken.is_some() {
            self.durable().await?;
        }
        Ok(taken.is_some())
    }

    async fn burn(
        &self,
        id: &RecordId,
        now: u64,
        despite_lock: bool,
    ) -> Result<Option<MetadataRecord>, StoreError> {
        let burned = self.update_entry(id, |e| {
            let locked = !despite_lock && e.guesses.as_ref().is_some_and(|g| g.locked(now));
            if locked || e.secret.is_none() || !e.metadata.mark_burned(now) {
                return Change::Keep;
            }
            e.secret = None;
            e.guesses = None;
            Change::Write(e.metadata.clone())
        })?;
        if burned.is_some() {
            // As in `take_secret`: the mail goes in the same flush, and `due_mail` drops it
            // should a crash come between.
            self.mail.remove(id)?;
            self.durable().await?;
        }
        Ok(burned)
    }

    async fn sweep_expired(&self, now: u64) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let end = (now + 1).to_be_bytes();
        loop {
            let due: Vec<_> = self
                .expiry
                .range(..end.as_slice())
                .keys()
                .take(SWEEP_BATCH)
                .collect::<Result<_, _>>()?;
            if due.is_empty() {
                break;
            }
            for key in &due {
                match self.sweep_entry(key, now)? {
                    (KIND_SECRET, true) => report.secrets += 1,
                    (KIND_METADATA, true) => report.receipts += 1,
                    _ => {}
                }
            }
        }
        if report != SweepReport::default() {
            self.durable().await?;
        }
        Ok(report)
    }

    async fn add_customer(&self, customer: &CustomerRecord) -> Result<bool, StoreError> {
        let bytes = customer.to_bytes()?;
        let added = self
            .accounts
            .compare_and_swap(customer.id, None::<&[u8]>, Some(bytes))?
            .is_ok();
        if added {
            self.durable().await?;
        }
        Ok(added)
    }

    async fn replace_customer(
        &self,
        old: &CustomerRecord,
        new: &CustomerRecord,
    ) -> Result<bool, StoreError> {
        if old.id != new.id {
            return Ok(false);
        }
        let bytes = new.to_bytes()?;
        let Ok(()) = self
            .accounts
            .compare_and_swap(new.id, Some(old.to_bytes()?), Some(bytes))?
        else {
            return Ok(false);
        };
        // A rotated token must stay rotated across a crash: the old one is revoked.
        self.durable().await?;
        Ok(true)
    }

    async fn customer(&self, id: &RecordId) -> Result<Option<CustomerRecord>, StoreError> {
        self.accounts
            .get(id)?
            .map(|bytes| CustomerRecord::from_bytes(&bytes))
            .transpose()
    }

    async fn customers(&self) -> Result<Vec<CustomerRecord>, StoreError> {
        self.accounts
            .iter()
            .values()
            .map(|bytes| CustomerRecord::from_bytes(&bytes?))
            .collect()
    }

    async fn remove_customer(&self, id: &RecordId) -> Result<bool, StoreError> {
        let removed = self.accounts.remove(id)?.is_some();
        Self::remove_prefix(&self.recent, id)?;
        self.durable().await?;
        Ok(removed)
    }

    async fn clear_recent(&self, customer_id: &RecordId) -> Result<(), StoreError> {
        Self::remove_prefix(&self.recent, customer_id)?;
        self.durable().await
    }

    async fn recent(
        &self,
        customer_id: &RecordId,
        since: u64,
    ) -> Result<Vec<RecentSeal>, StoreError> {
        let mut start = customer_id.to_vec();
        start.extend_from_slice(&since.to_be_bytes());
        let mut end = customer_id.to_vec();
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        self.recent
            .range(start..end)
            .values()
            .rev()
            .map(|bytes| RecentSeal::from_bytes(&bytes?))
            .collect()
    }

    async fn put_session(&self, id: &RecordId, session: &SessionRecord) -> Result<(), StoreError> {
        // The expiry entry first: whatever a crash leaves, the sweeper finds.
        self.expiry
            .insert(expiry_key(session.expires_at, KIND_SESSION, id), &[])?;
        self.sessions.insert(id, encode(session)?)?;
        self.durable().await
    }

    async fn session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .sessions
            .get(id)?
            .map(|bytes| decode::<SessionRecord>(&bytes))
            .transpose()?
            .filter(|s| s.expires_at > now))
    }

    async fn remove_session(&self, id: &RecordId) -> Result<(), StoreError> {
        // Durable: a signed-out session must not come back after a crash. Its expiry entry
        // stays for the sweeper, which finds nothing left to remove.
        if self.sessions.remove(id)?.is_some() {
            self.durable().await?;
        }
        Ok(())
    }

    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool, StoreError> {
        let Some(metadata_id) = self.pointer(secret_id)? else {
            return Ok(false);
        };
        Ok(self
            .entry(&metadata_id)?
            .and_then(|e| e.guesses)
            .is_some_and(|g| g.locked(now)))
    }

    async fn record_passphrase_failure(
        &self,
        secret_id: &RecordId,
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> Result<bool, StoreError> {
        let Some(metadata_id) = self.pointer(secret_id)? else {
            return Ok(false);
        };
        let locked = self.update_entry(&metadata_id, |e| {
            let Some(guesses) = e.guesses.as_mut().filter(|_| e.secret.is_some()) else {
                return Change::Keep;
            };
            if guesses.spent(ip_tag, now, rules) {
                Change::Write(())
            } else {
                Change::Keep
            }
        })?;
        if locked.is_some() {
            // Durable like any write that guards a secret: a crash must not lift a lockout.
            self.durable().await?;
        }
        Ok(locked.is_some())
    }

    async fn reserve_guess(
        &self,
        secret_id: &RecordId,
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> Result<Guess, StoreError> {
        let Some(metadata_id) = self.pointer(secret_id)? else {
            return Ok(Guess::Gone);
        };
        // Counters sit in the secret's own entry: one compare-and-swap reserves the guess, and
        // no counters are kept for a secret that is gone.
        let mut guess = Guess::Gone;
        let written = self.update_entry(&metadata_id, |e| {
            if e.secret.as_ref().is_none_or(|s| s.expires_at <= now) {
                guess = Guess::Gone;
                return Change::Keep;
            }
            let counters = e.guesses.get_or_insert_with(Guesses::default);
            guess = counters.reserve(ip_tag, now, rules);
            match guess {
                Guess::Locked { newly: false } => Change::Keep,
                _ => Change::Write(()),
            }
        })?;
        if written.is_none() {
            return Ok(guess);
        }
        // Durable before the guess is evaluated: a crash must not hand out a fresh budget.
        self.durable().await?;
        Ok(guess)
    }

    async fn due_mail(&self, now: u64, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        let mut due = Vec::new();
        for item in self.mail.iter() {
            let (key, bytes) = item?;
            let mail: OutboxRecord = decode(&bytes)?;
            if mail.next_attempt > now {
                continue;
            }
            // Left behind by a crash between a take and the mail's removal, or expired before
            // the sweeper came: its link leads nowhere, so it goes unsent.
            let live = self
                .entry(&key)?
                .and_then(|e| e.secret)
                .is_some_and(|s| s.expires_at > now);
            if !live {
                self.mail.remove(&key)?;
                continue;
            }
            due.push(mail);
            if due.len() == limit {
                break;
            }
        }
        Ok(due)
    }

    async fn retry_mail(&self, mail: &OutboxRecord, delivery: Delivery) -> Result<(), StoreError> {
        // Only over the mail still queued: a reveal or burn during the attempt removed it, and
        // it must not come back.
        let key = mail.metadata_id;
        let bytes = encode(mail)?;
        loop {
            let Some(current) = self.mail.get(key)? else {
                break;
            };
            if self
                .mail
                .compare_and_swap(key, Some(current), Some(bytes.as_slice()))?
                .is_ok()
            {
                self.set_delivery(&key, &delivery)?;
                break;
            }
        }
        self.durable().await
    }

    async fn finish_mail(
        &self,
        metadata_id: &RecordId,
        delivery: Delivery,
    ) -> Result<(), StoreError> {
        // Outcome first, then removal: a crash in between resends rather than forgets.
        self.set_delivery(metadata_id, &delivery)?;
        self.mail.remove(metadata_id)?;
        self.durable().await
    }

    async fn hit(&self, bucket: &str, window: u64, now: u64) -> Result<u64, StoreError> {
        let start = now - now % window.max(1);
        let mut hits = self
            .hits
            .lock()
            .map_err(|_| StoreError::Unavailable("rate-limit counters poisoned".into()))?;
        // Bounded memory under address floods: windows that ended are dropped.
        if hits.len() >= 100_000 {
            hits.retain(|(_, s), _| *s == start);
        }
        let n = hits.entry((bucket.to_owned(), start)).or_insert(0);
        *n += 1;
        Ok(*n)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn export(&self, now: u64) -> Result<Vec<Exported>, StoreError> {
        let mut out = Vec::new();
        for item in self.entries.iter() {
            let (id, bytes) = item?;
            let entry: Entry = decode(&bytes)?;
            if entry.metadata.expires_at <= now {
                continue;
            }
            out.push(Exported::Secret {
                metadata_id: RecordId::try_from(id.as_ref())
                    .map_err(|_| StoreError::Corrupt("entry id".into()))?,
                secret: entry.secret.filter(|s| s.expires_at > now),
                guesses: entry.guesses,
                metadata: entry.metadata,
            });
        }
        for customer in self.customers().await? {
            out.push(Exported::Customer(customer));
        }
        for item in self.recent.iter() {
            let (key, bytes) = item?;
            let (customer_id, created) = (key.get(..32), key.get(32..40));
            let (Some(customer_id), Some(created)) = (customer_id, created) else {
                continue;
            };
            let created = u64::from_be_bytes(
                created
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("recent key".into()))?,
            );
            if created + RECENT_WINDOW > now {
                out.push(Exported::Recent(RecentEntry {
                    customer_id: RecordId::try_from(customer_id)
                        .map_err(|_| StoreError::Corrupt("recent key".into()))?,
                    created,
                    sealed: RecentSeal::from_bytes(&bytes)?,
                }));
            }
        }
        for item in self.mail.iter().values() {
            let mail: OutboxRecord = decode(&item?)?;
            out.push(Exported::Mail(mail));
        }
        Ok(out)
    }

    async fn import(&self, record: &Exported) -> Result<(), StoreError> {
        match record {
            Exported::Secret {
                metadata_id,
                metadata,
                secret,
                guesses,
            } => {
                let entry = Entry {
                    metadata: metadata.clone(),
                    secret: secret.clone(),
                    guesses: guesses.clone(),
                };
                self.write_entry(metadata_id, &entry)?;
            }
            Exported::Customer(customer) => {
                self.accounts.insert(customer.id, customer.to_bytes()?)?;
            }
            Exported::Recent(entry) => self.add_recent(entry)?,
            Exported::Mail(mail) => {
                self.mail.insert(mail.metadata_id, encode(mail)?)?;
            }
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Unavailable(format!("flush task: {e}")))??;
        Ok(())
    }

    async fn schema(&self) -> Result<u32, StoreError> {
        read_version(&self.meta)
    }

    async fn upgrade(&self, keys: &dyn UpgradeKeys) -> Result<(), StoreError> {
        if read_version(&self.meta)? >= SCHEMA_VERSION {
            return Ok(());
        }
        // Each record in its new form first, then the old one goes: a crash anywhere leaves
        // both or the new one, and the next open picks up where this one stopped.
        let customers = self.db.open_tree(LEGACY_CUSTOMERS)?;
        for item in customers.iter() {
            let (email, bytes) = item?;
            let record = LegacyCustomer::from_bytes(&bytes)?.upgrade(keys);
            self.accounts.insert(record.id, record.to_bytes()?)?;
            customers.remove(email)?;
        }
        let outbox = self.db.open_tree(LEGACY_OUTBOX)?;
        for item in outbox.iter() {
            let (id, bytes) = item?;
            let old_id = RecordId::try_from(id.as_ref())
                .map_err(|_| StoreError::Corrupt("outbox key".into()))?;
            // Kept only while its secret is unread, and only if it opens (else it could never
            // be sent).
            if let Some(mail) = rekey_mail(keys, &old_id, decode(&bytes)?) {
                let unread = self
                    .entry(&mail.metadata_id)?
                    .is_some_and(|e| e.secret.is_some());
                if unread {
                    self.mail.insert(mail.metadata_id, encode(&mail)?)?;
                }
            }
            outbox.remove(id)?;
        }
        self.flush().await?;
        self.db.drop_tree(LEGACY_CUSTOMERS)?;
        self.db.drop_tree(LEGACY_OUTBOX)?;
        self.meta
            .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        self.flush().await?;
        Ok(())
    }
}

/// The database a [`SledStore`] currently serves from; `None` while it is being reopened.
type Slot = Arc<RwLock<Option<Arc<Inner>>>>;

/// sled-backed [`Store`]: the open database, reopened after sled latches an I/O error.
pub struct SledStore {
    current: Slot,
    /// Set when an operation failed with an I/O error; the doctor thread then reopens.
    failed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    doctor: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store at `path`. `sync`: flush before acknowledging writes.
    /// `cache_bytes`: sled's page cache (its 1 GiB default lets RSS grow far past it).
    pub fn open(path: &Path, sync: bool, cache_bytes: u64) -> Result<Self, StoreError> {
        let inner = Arc::new(Inner::open(path, sync, cache_bytes)?);
        let current: Slot = Arc::new(RwLock::new(Some(inner)));
        let failed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let doctor = Doctor {
            current: Arc::clone(&current),
            failed: Arc::clone(&failed),
            stop: Arc::clone(&stop),
            path: path.to_owned(),
            sync,
            cache_bytes,
        };
        let doctor = std::thread::Builder::new()
            .name("sled-doctor".into())
            .spawn(move || doctor.run())
            .ok();
        Ok(Self {
            current,
            failed,
            stop,
            doctor,
            path: path.to_owned(),
        })
    }

    fn current(&self) -> Result<Arc<Inner>, StoreError> {
        self.current
            .read()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(|| StoreError::Unavailable("store is reopening after an I/O error".into()))
    }

    /// Notes an I/O failure so the doctor reopens the database.
    fn watch<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.as_ref().is_err_and(StoreError::is_disk_failure) {
            self.failed.store(true, Ordering::SeqCst);
        }
        result
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(doctor) = self.doctor.take() {
            let _ = doctor.join();
        }
    }
}

/// Reopens the database after sled latched an I/O error (sled 0.34 refuses every later write,
/// even once the disk has room again, until it is reopened).
struct Doctor {
    current: Slot,
    failed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    path: PathBuf,
    sync: bool,
    cache_bytes: u64,
}

impl Doctor {
    fn run(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(200));
            if self.failed.swap(false, Ordering::SeqCst) {
                self.reopen();
            }
        }
    }

    fn reopen(&self) {
        tracing::warn!(path = %self.path.display(), "store hit an I/O error; reopening it");
        let Ok(mut slot) = self.current.write() else {
            return;
        };
        let Some(old) = slot.take() else {
            return;
        };
        // sled's file lock goes with the last handle: wait for in-flight operations.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Arc::strong_count(&old) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        drop(old);
        loop {
            match Inner::open(&self.path, self.sync, self.cache_bytes) {
                Ok(inner) => {
                    *slot = Some(Arc::new(inner));
                    tracing::info!("store reopened");
                    return;
                }
                Err(e) if !self.stop.load(Ordering::SeqCst) => {
                    tracing::warn!(error = %e, "store cannot be reopened yet; retrying");
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
                Err(_) => return,
            }
        }
    }
}

/// Delegates each [`Store`] method to the current database, noting I/O failures.
macro_rules! delegate {
    ($( async fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        #[async_trait]
        impl Store for SledStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    let inner = self.current()?;
                    self.watch(inner.$name($($arg),*).await)
                }
            )*
        }
    };
}

delegate! {
    async fn create(&self, new: &NewSecret) -> Result<(), StoreError>;
    async fn secret(&self, id: &RecordId, now: u64) -> Result<Option<SecretRecord>, StoreError>;
    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool, StoreError>;
    async fn metadata(&self, id: &RecordId, now: u64) -> Result<Option<MetadataRecord>, StoreError>;
    async fn take_generated(&self, id: &RecordId) -> Result<bool, StoreError>;
    async fn burn(&self, id: &RecordId, now: u64, despite_lock: bool) -> Result<Option<MetadataRecord>, StoreError>;
    async fn sweep_expired(&self, now: u64) -> Result<SweepReport, StoreError>;
    async fn add_customer(&self, customer: &CustomerRecord) -> Result<bool, StoreError>;
    async fn replace_customer(&self, old: &CustomerRecord, new: &CustomerRecord) -> Result<bool, StoreError>;
    async fn customer(&self, id: &RecordId) -> Result<Option<CustomerRecord>, StoreError>;
    async fn customers(&self) -> Result<Vec<CustomerRecord>, StoreError>;
    async fn remove_customer(&self, id: &RecordId) -> Result<bool, StoreError>;
    async fn clear_recent(&self, customer_id: &RecordId) -> Result<(), StoreError>;
    async fn recent(&self, customer_id: &RecordId, since: u64) -> Result<Vec<RecentSeal>, StoreError>;
    async fn put_session(&self, id: &RecordId, session: &SessionRecord) -> Result<(), StoreError>;
    async fn session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>, StoreError>;
    async fn remove_session(&self, id: &RecordId) -> Result<(), StoreError>;
    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool, StoreError>;
    async fn record_passphrase_failure(&self, secret_id: &RecordId, ip_tag: [u8; 8], now: u64, rules: GuessRules) -> Result<bool, StoreError>;
    async fn reserve_guess(&self, secret_id: &RecordId, ip_tag: [u8; 8], now: u64, rules: GuessRules) -> Result<Guess, StoreError>;
    async fn due_mail(&self, now: u64, limit: usize) -> Result<Vec<OutboxRecord>, StoreError>;
    async fn retry_mail(&self, mail: &OutboxRecord, delivery: Delivery) -> Result<(), StoreError>;
    async fn finish_mail(&self, metadata_id: &RecordId, delivery: Delivery) -> Result<(), StoreError>;
    async fn hit(&self, bucket: &str, window: u64, now: u64) -> Result<u64, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    async fn export(&self, now: u64) -> Result<Vec<Exported>, StoreError>;
    async fn import(&self, record: &Exported) -> Result<(), StoreError>;
    async fn flush(&self) -> Result<(), StoreError>;
    async fn schema(&self) -> Result<u32, StoreError>;
    async fn upgrade(&self, keys: &dyn UpgradeKeys) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> SledStore {
        SledStore::open(dir, true, 8 << 20).expect("open")
    }

    crate::conformance_suite!(|dir: std::path::PathBuf| async move { open(&dir) });

    // Sweeping is sled's own: these cases are not in the shared suite.
    #[tokio::test]
    async fn sweep_removes_only_what_is_due() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(open(dir.path()));
        super::super::conformance::sweep_removes_only_what_is_due(store).await;
    }

    #[tokio::test]
    async fn recent_entries_are_swept_after_the_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(open(dir.path()));
        super::super::conformance::recent_entries_are_swept_after_the_window(store).await;
    }

    #[tokio::test]
    async fn sessions_are_swept_once_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(open(dir.path()));
        super::super::conformance::sessions_are_swept_once_expired(store).await;
    }

    #[tokio::test]
    async fn a_schema_1_store_is_upgraded_on_open_and_keeps_its_accounts_and_mail() {
        // Bytes exactly as schema 1 wrote them: accounts under their plain email in both of
        // their shapes, a queued mail under a random id, a recent entry as a bare `Sealed`.
        use super::super::upgrade::{self, PlainKeys};
        let dir = tempfile::tempdir().expect("tempdir");
        let sealed = crate::crypto::Sealed {
            nonce: [4; 24],
            ciphertext: vec![5; 40],
        };
        let unread = super::super::conformance::sample(600, false);
        let taken = super::super::conformance::sample(600, false);
        let mail = |metadata_id| OutboxRecord {
            metadata_id,
            created: 1,
            attempts: 2,
            next_attempt: 3,
            sealed: sealed.clone(),
        };
        {
            let store = open(dir.path());
            store.create(&unread).await.expect("create");
            store.create(&taken).await.expect("create");
            assert!(store
                .take_secret(&taken.secret_id, super::super::conformance::NOW)
                .await
                .expect("take"));
            let inner = store.current().expect("open");
            let customers = inner.db.open_tree(LEGACY_CUSTOMERS).expect("tree");
            let outbox = inner.db.open_tree(LEGACY_OUTBOX).expect("tree");
            for (email, bytes) in upgrade::schema_1_accounts() {
                customers.insert(email, bytes).expect("insert");
            }
            for (old_id, m) in [
                ([1u8; 32], unread.metadata_id),
                ([2; 32], taken.metadata_id),
            ] {
                outbox
                    .insert(old_id, encode(&mail(m)).expect("encode"))
                    .expect("insert");
            }
            inner
                .meta
                .insert(SCHEMA_KEY, &1u32.to_be_bytes())
                .expect("insert");
        }
        let store = open(dir.path());
        assert_eq!(store.schema().await.expect("schema"), 1);

        upgrade::upgrade_twice_and_check_accounts(&store).await;
        let mut rekeyed = mail(unread.metadata_id);
        rekeyed.sealed = PlainKeys
            .reseal_mail(&[1; 32], &unread.metadata_id, &sealed)
            .expect("reseal");
        let inner = store.current().expect("open");
        assert_eq!(inner.mail.len(), 1, "the taken secret's mail is not kept");
        let due = store
            .due_mail(super::super::conformance::NOW + 1, 10)
            .await
            .expect("due");
        assert_eq!(due, vec![rekeyed]);
        let names = inner.db.tree_names();
        assert!(!names.iter().any(|n| n == LEGACY_CUSTOMERS.as_bytes()));
        assert!(!names.iter().any(|n| n == LEGACY_OUTBOX.as_bytes()));
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = sled::open(dir.path()).expect("sled");
            let meta = db.open_tree("meta").expect("tree");
            meta.insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .expect("insert");
            db.flush().expect("flush");
        }
        let err = SledStore::open(dir.path(), true, 8 << 20).expect_err("newer schema");
        let text = err.to_string();
        let (found, supported) = (SCHEMA_VERSION + 1, SCHEMA_VERSION);
        assert!(text.contains(&format!("schema version {found}")), "{text}");
        assert!(
            text.contains(&format!("supports up to {supported}")),
            "{text}"
        );
    }

    #[test]
    fn a_store_open_in_another_handle_is_refused_as_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = open(dir.path());
        let err = SledStore::open(dir.path(), true, 8 << 20).expect_err("locked");
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }

    #[test]
    fn a_new_store_records_the_schema_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(open(dir.path()));
        let db = sled::open(dir.path()).expect("sled");
        let meta = db.open_tree("meta").expect("tree");
        let v = meta.get(SCHEMA_KEY).expect("get").expect("present");
        assert_eq!(v.as_ref(), SCHEMA_VERSION.to_be_bytes());
    }

    #[tokio::test]
    async fn a_half_written_create_is_swept() {
        // What a crash mid-create can leave: expiry entries and the entry, but no pointer.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path());
        let new = super::super::conformance::sample(60, false);
        store.create(&new).await.expect("create");
        let inner = store.current().expect("open");
        inner.secrets.remove(new.secret_id).expect("remove pointer");
        let now = super::super::conformance::NOW;
        store.sweep_expired(now + 120).await.expect("sweep");
        assert!(inner.entries.is_empty());
        assert!(inner.expiry.is_empty());
    }
}
