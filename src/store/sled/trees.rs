//! One open sled database: its trees, the keys they use, and the steps the concern files
//! build on (read an entry, change it by compare-and-swap, index it for the sweeper).

use crate::store::Result;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::{Db, Tree};

use super::flusher::Flusher;
use crate::crypto::RecordId;
use crate::domain::RECENT_WINDOW;
use crate::store::record::{decode, encode};
use crate::store::{
    Delivery, Guesses, ReceiptRecord, RecentEntry, SecretRecord, StoreError, SCHEMA_VERSION,
};

pub(super) const KIND_SECRET: u8 = b's';
pub(super) const KIND_METADATA: u8 = b'm';
pub(super) const KIND_RECENT: u8 = b'r';
pub(super) const KIND_SESSION: u8 = b'w';
pub(super) const SCHEMA_KEY: &[u8] = b"schema_version";
/// Schema 1's trees, read and dropped by the upgrade.
pub(super) const LEGACY_CUSTOMERS: &str = "customers";
pub(super) const LEGACY_OUTBOX: &str = "outbox";
/// Expired entries handled per sweep batch: a few milliseconds of sled work, so a sweep
/// never holds much in memory nor a core for long.
pub(super) const SWEEP_BATCH: usize = 128;

pub(super) fn expiry_key(expires_at: u64, kind: u8, id: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + 1 + id.len());
    key.extend_from_slice(&expires_at.to_be_bytes());
    key.push(kind);
    key.extend_from_slice(id);
    key
}

/// `account id ++ created ++ sequence`: an account's entries sort by time under one prefix,
/// and entries of the same second keep their creation order.
fn recent_key(entry: &RecentEntry, sequence: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + 8 + 8);
    key.extend_from_slice(&entry.account_id);
    key.extend_from_slice(&entry.created.to_be_bytes());
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// One secret's whole life in one value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Entry {
    pub(super) metadata: ReceiptRecord,
    /// Present until revealed, burned or swept.
    pub(super) secret: Option<SecretRecord>,
    /// Wrong-passphrase counters; dropped with the secret.
    pub(super) guesses: Option<Guesses>,
}

/// What an [`Trees::update_entry`] closure decides.
pub(super) enum Change<T> {
    /// Leave the entry as it is and return `None`.
    Keep,
    /// Write the modified entry and return the value.
    Write(T),
    /// Delete the entry and return the value.
    Delete(T),
}

/// One open sled database and its trees. [`SledStore`](super::SledStore) swaps in a fresh one
/// when sled has latched an I/O error (a full disk): sled 0.34 refuses every write after one
/// failed write, even once space returns, until the database is reopened.
pub(super) struct Trees {
    pub(super) db: Db,
    pub(super) entries: Tree,
    pub(super) secrets: Tree,
    pub(super) expiry: Tree,
    pub(super) accounts: Tree,
    pub(super) recent: Tree,
    pub(super) mail: Tree,
    pub(super) sessions: Tree,
    pub(super) meta: Tree,
    /// Rate-limit counters: `(bucket, window start) -> hits`. In memory: one process, and
    /// they guard capacity, not secrets.
    pub(super) hits: std::sync::Mutex<std::collections::HashMap<(String, u64), u64>>,
    /// Present when `storage.sync` is on.
    pub(super) flusher: Option<Flusher>,
}

impl Trees {
    pub(super) fn open(path: &Path, sync: bool, cache_bytes: u64) -> Result<Self> {
        refuse_if_locked(path)?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            // With `sync`, every write is flushed before it is acknowledged: sled's own timer
            // flush (every 500 ms) would only add a second writer of the same log. Without it,
            // the timer is what bounds the loss on a crash.
            .flush_every_ms((!sync).then_some(500))
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

    pub(super) async fn durable(&self) -> Result<()> {
        match &self.flusher {
            Some(f) => f.durable().await,
            None => Ok(()),
        }
    }

    /// The metadata id a secret id points to.
    pub(super) fn pointer(&self, secret_id: &[u8]) -> Result<Option<sled::IVec>> {
        Ok(self.secrets.get(secret_id)?)
    }

    pub(super) fn entry(&self, receipt_id: &[u8]) -> Result<Option<Entry>> {
        self.entries
            .get(receipt_id)?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Reads, changes and writes back the entry under `receipt_id` atomically: the write is a
    /// compare-and-swap against what was read, retried when another writer got there first.
    /// So of racing callers, each sees the entry as the previous one left it.
    pub(super) fn update_entry<T>(
        &self,
        receipt_id: &[u8],
        mut change: impl FnMut(&mut Entry) -> Change<T>,
    ) -> Result<Option<T>> {
        loop {
            let Some(old) = self.entries.get(receipt_id)? else {
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
                .compare_and_swap(receipt_id, Some(&old), new)?
                .is_ok()
            {
                return Ok(Some(out));
            }
        }
    }

    /// Handles one due expiry entry; returns its kind and whether a record went.
    pub(super) fn sweep_entry(&self, key: &[u8], now: u64) -> Result<(u8, bool)> {
        let kind = key.get(8).copied().unwrap_or(0);
        let id = key.get(9..).unwrap_or_default();
        let removed = match kind {
            KIND_SECRET => match self.pointer(id)? {
                Some(receipt_id) => {
                    let mut receipt_due = None;
                    let gone = self.update_entry(&receipt_id, |e| {
                        receipt_due = Some(e.metadata.expires_at);
                        match &e.secret {
                            Some(s) if s.expires_at <= now => {
                                e.secret = None;
                                e.guesses = None;
                                Change::Write(())
                            }
                            _ => Change::Keep,
                        }
                    })?;
                    // The receipt, which outlives its secret, is indexed only now (a create
                    // writes the secret's expiry entry alone), and before the secret's entry
                    // goes: a crash in between leaves both, never neither. A store written
                    // before this has the receipt's entry already; writing it again is a no-op.
                    if let Some(due) = receipt_due {
                        self.expiry
                            .insert(expiry_key(due, KIND_METADATA, &receipt_id), &[])?;
                    }
                    // A mail still queued links to a secret whose time is up.
                    self.mail.remove(&receipt_id)?;
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

    /// Writes a secret's entry in three writes: one expiry entry, the pointer, the entry.
    ///
    /// With a secret, the expiry entry is the secret's only: the sweeper follows it through the
    /// pointer and indexes the receipt then (see [`Trees::sweep_entry`]). The expiry entry
    /// comes first and the pointer before the entry, so whatever prefix a crash leaves, the
    /// sweeper reaches it; nobody holds the link before the create is acknowledged, so a
    /// pointer to an entry not yet written is never followed.
    pub(super) fn write_entry(&self, receipt_id: &RecordId, entry: &Entry) -> Result<()> {
        let metadata = &entry.metadata;
        match &entry.secret {
            Some(secret) => {
                self.expiry.insert(
                    expiry_key(secret.expires_at, KIND_SECRET, &metadata.secret_id),
                    &[],
                )?;
                self.secrets
                    .insert(metadata.secret_id, receipt_id.as_slice())?;
            }
            None => {
                self.expiry.insert(
                    expiry_key(metadata.expires_at, KIND_METADATA, receipt_id),
                    &[],
                )?;
            }
        }
        self.entries.insert(receipt_id, encode(entry)?)?;
        Ok(())
    }

    /// Adds a recent-list entry, with the expiry entry that sweeps it after the window.
    pub(super) fn add_recent(&self, entry: &RecentEntry) -> Result<()> {
        let key = recent_key(entry, self.db.generate_id()?);
        self.expiry.insert(
            expiry_key(entry.created + RECENT_WINDOW, KIND_RECENT, &key),
            &[],
        )?;
        self.recent.insert(key, entry.sealed.to_bytes()?)?;
        Ok(())
    }

    /// Records a delivery outcome on a receipt (if it still exists).
    pub(super) fn set_delivery(&self, receipt_id: &[u8], delivery: &Delivery) -> Result<()> {
        self.update_entry(receipt_id, |e| {
            e.metadata.delivery = Some(delivery.clone());
            Change::Write(())
        })?;
        Ok(())
    }

    pub(super) fn remove_prefix(tree: &Tree, prefix: &[u8]) -> Result<()> {
        for key in tree.scan_prefix(prefix).keys() {
            tree.remove(key?)?;
        }
        Ok(())
    }
}

/// Refuses a store another process has open, before sled tries: sled holds an exclusive
/// `flock` on `<path>/db` for as long as the database is open, and its own refusal says so
/// only in text.
fn refuse_if_locked(path: &Path) -> Result<()> {
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
pub(super) fn read_version(meta: &Tree) -> Result<u32> {
    let v = meta
        .get(SCHEMA_KEY)?
        .ok_or_else(|| StoreError::Corrupt("no schema version".into()))?;
    v.as_ref()
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("schema version".into()))
}

/// Refuses a store of a newer schema; records the current one in a new store. An older one
/// opens, and waits for [`Upkeep::upgrade`](crate::store::Upkeep::upgrade).
fn check_schema(db: &Db, path: &Path) -> Result<()> {
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
