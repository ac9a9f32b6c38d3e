//! The embedded sled backend (the default): one process, one directory.
//!
//! Trees: `secrets` and `metadata` (records by id), `expiry` (big-endian
//! `expires_at ++ kind ++ id`, so the sweeper scans what is due in order), `guesses`
//! (wrong-passphrase counters by secret id), `customers` (by email), `recent` (by
//! `customer id ++ created ++ sequence`), `meta` (schema version). Each state change
//! is one multi-tree transaction.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Db, Transactional, Tree};
use tokio::sync::watch;

use super::{
    CustomerRecord, GuessRules, Guesses, MetadataRecord, NewSecret, RecentEntry, SecretRecord,
    Store, StoreError, StoredState, SweepReport, SCHEMA_VERSION,
};
use crate::crypto::{RecordId, Sealed};
use crate::domain::RECENT_WINDOW;

const KIND_SECRET: u8 = b's';
const KIND_METADATA: u8 = b'm';
const KIND_RECENT: u8 = b'r';
const SCHEMA_KEY: &[u8] = b"schema_version";
/// Expired entries handled per sweep batch, so a sweep never holds much in memory.
const SWEEP_BATCH: usize = 1000;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
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

/// Aborts a transaction with a store error.
fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

/// Decodes inside a transaction, aborting on corruption.
fn decode_tx<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, ConflictableTransactionError<StoreError>> {
    decode(bytes).or_else(abort)
}

fn tx_result<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

/// Group commit: writers that finish around the same time share one `Db::flush()`.
///
/// Why a dedicated thread: `flush_async` hangs under load in sled 0.34, and the blocking
/// `flush` must not run on the async workers. A writer takes a ticket after its write is in
/// sled's buffers; a flush that starts after the ticket was issued covers that write, so
/// one fsync acknowledges every ticket issued before it began.
struct Flusher {
    shared: Arc<FlushShared>,
    done: watch::Receiver<FlushStatus>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct FlushQueue {
    /// Last ticket handed out.
    issued: u64,
    /// Set when the store is dropped.
    stop: bool,
}

struct FlushShared {
    queue: Mutex<FlushQueue>,
    wake: Condvar,
}

/// Tickets up to `through` were covered by a flush that ended with `ok`.
#[derive(Clone, Copy, Default)]
struct FlushStatus {
    through: u64,
    ok: bool,
}

impl Flusher {
    fn start(db: Db) -> Self {
        let shared = Arc::new(FlushShared {
            queue: Mutex::new(FlushQueue::default()),
            wake: Condvar::new(),
        });
        let (tx, done) = watch::channel(FlushStatus::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sled-flusher".into())
            .spawn(move || Self::run(&db, &worker, &tx))
            .ok();
        Self {
            shared,
            done,
            thread,
        }
    }

    fn run(db: &Db, shared: &FlushShared, done: &watch::Sender<FlushStatus>) {
        let mut flushed = 0;
        loop {
            let target = {
                let Ok(mut queue) = shared.queue.lock() else {
                    return;
                };
                while queue.issued == flushed && !queue.stop {
                    queue = match shared.wake.wait(queue) {
                        Ok(q) => q,
                        Err(_) => return,
                    };
                }
                if queue.issued == flushed {
                    return;
                }
                queue.issued
            };
            let ok = match db.flush() {
                Ok(_) => true,
                Err(e) => {
                    tracing::error!(error = %e, "store flush failed; writes are not acknowledged");
                    false
                }
            };
            flushed = target;
            done.send_replace(FlushStatus {
                through: target,
                ok,
            });
        }
    }

    /// Waits until everything written before this call is on disk.
    async fn durable(&self) -> Result<(), StoreError> {
        let ticket = {
            let mut queue = self
                .shared
                .queue
                .lock()
                .map_err(|_| StoreError::Backend("flusher lock poisoned".into()))?;
            queue.issued += 1;
            queue.issued
        };
        self.shared.wake.notify_one();
        let mut done = self.done.clone();
        let status = *done
            .wait_for(|s| s.through >= ticket)
            .await
            .map_err(|_| StoreError::Backend("flusher stopped".into()))?;
        if status.ok {
            Ok(())
        } else {
            Err(StoreError::Backend("flush to disk failed".into()))
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.shared.queue.lock() {
            queue.stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// sled-backed [`Store`].
pub struct SledStore {
    db: Db,
    secrets: Tree,
    metadata: Tree,
    expiry: Tree,
    guesses: Tree,
    customers: Tree,
    recent: Tree,
    /// Present when `storage.sync` is on.
    flusher: Option<Flusher>,
    path: PathBuf,
}

impl SledStore {
    /// Opens (or creates) the store at `path`. `sync`: flush before acknowledging writes.
    /// `cache_bytes`: sled's page cache (its 1 GiB default lets RSS grow far past it).
    pub fn open(path: &Path, sync: bool, cache_bytes: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
        check_schema(&db, path)?;
        Ok(Self {
            secrets: db.open_tree("secrets")?,
            metadata: db.open_tree("metadata")?,
            expiry: db.open_tree("expiry")?,
            guesses: db.open_tree("guesses")?,
            customers: db.open_tree("customers")?,
            recent: db.open_tree("recent")?,
            flusher: sync.then(|| Flusher::start(db.clone())),
            db,
            path: path.to_owned(),
        })
    }

    async fn durable(&self) -> Result<(), StoreError> {
        match &self.flusher {
            Some(f) => f.durable().await,
            None => Ok(()),
        }
    }

    /// Removes one due expiry entry and its record if the record is really due.
    fn sweep_entry(&self, entry: &[u8], now: u64) -> Result<(bool, u8), StoreError> {
        let kind = entry.get(8).copied().unwrap_or(0);
        let key = entry.get(9..).unwrap_or_default().to_vec();
        let removed = match kind {
            KIND_SECRET => tx_result((&self.secrets, &self.expiry, &self.guesses).transaction(
                |(secrets, expiry, guesses)| {
                    expiry.remove(entry)?;
                    let Some(bytes) = secrets.get(&key)? else {
                        return Ok(false);
                    };
                    let due = decode_tx::<SecretRecord>(&bytes)?.expires_at <= now;
                    if due {
                        secrets.remove(key.as_slice())?;
                        guesses.remove(key.as_slice())?;
                    }
                    Ok(due)
                },
            ))?,
            KIND_METADATA => tx_result((&self.metadata, &self.expiry).transaction(
                |(metadata, expiry)| {
                    expiry.remove(entry)?;
                    let Some(bytes) = metadata.get(&key)? else {
                        return Ok(false);
                    };
                    let due = decode_tx::<MetadataRecord>(&bytes)?.expires_at <= now;
                    if due {
                        metadata.remove(key.as_slice())?;
                    }
                    Ok(due)
                },
            ))?,
            // Recent entries are due exactly when their expiry entry is.
            _ => tx_result(
                (&self.recent, &self.expiry).transaction(|(recent, expiry)| {
                    expiry.remove(entry)?;
                    Ok(recent.remove(key.as_slice())?.is_some())
                }),
            )?,
        };
        Ok((removed, kind))
    }

    fn remove_prefix(&self, tree: &Tree, prefix: &[u8]) -> Result<(), StoreError> {
        for key in tree.scan_prefix(prefix).keys() {
            tree.remove(key?)?;
        }
        Ok(())
    }
}

fn check_schema(db: &Db, path: &Path) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    match meta.get(SCHEMA_KEY)? {
        Some(v) => {
            let found = v
                .as_ref()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("schema version".into()))?;
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

/// Marks the receipt of a taken or burned secret inside a transaction.
fn set_state(
    metadata: &TransactionalTree,
    id: &[u8],
    state: StoredState,
    now: u64,
) -> Result<Option<MetadataRecord>, ConflictableTransactionError<StoreError>> {
    let Some(bytes) = metadata.get(id)? else {
        return Ok(None);
    };
    let mut record: MetadataRecord = decode_tx(&bytes)?;
    record.state = state;
    record.updated = now;
    if state == StoredState::Received {
        record.received = Some(now);
    }
    let encoded = encode(&record).or_else(abort)?;
    metadata.insert(id, encoded)?;
    Ok(Some(record))
}

#[async_trait]
impl Store for SledStore {
    async fn create(&self, new: &NewSecret) -> Result<(), StoreError> {
        let secret = encode(&new.secret)?;
        let metadata = encode(&new.metadata)?;
        let secret_due = expiry_key(new.secret.expires_at, KIND_SECRET, &new.secret_id);
        let metadata_due = expiry_key(new.metadata.expires_at, KIND_METADATA, &new.metadata_id);
        let recent = match &new.recent {
            Some(entry) => {
                let key = recent_key(entry, self.db.generate_id()?);
                let due = expiry_key(entry.created + RECENT_WINDOW, KIND_RECENT, &key);
                Some((key, due, encode(&entry.sealed)?))
            }
            None => None,
        };
        // One transaction: a crash can never leave a secret without its receipt or expiry.
        tx_result(
            (&self.secrets, &self.metadata, &self.expiry, &self.recent).transaction(
                |(s, m, e, r)| {
                    s.insert(new.secret_id.as_slice(), secret.as_slice())?;
                    m.insert(new.metadata_id.as_slice(), metadata.as_slice())?;
                    e.insert(secret_due.as_slice(), &[])?;
                    e.insert(metadata_due.as_slice(), &[])?;
                    if let Some((key, due, sealed)) = &recent {
                        r.insert(key.as_slice(), sealed.as_slice())?;
                        e.insert(due.as_slice(), &[])?;
                    }
                    Ok(())
                },
            ),
        )?;
        self.durable().await
    }

    async fn secret(&self, id: &RecordId, now: u64) -> Result<Option<SecretRecord>, StoreError> {
        let Some(bytes) = self.secrets.get(id)? else {
            return Ok(None);
        };
        let record: SecretRecord = decode(&bytes)?;
        Ok((record.expires_at > now).then_some(record))
    }

    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool, StoreError> {
        // Remove + mark received in one transaction: of N racing reveals, sled serialises the
        // removes, so exactly one sees the record and the rest see nothing.
        let taken = tx_result(
            (&self.secrets, &self.metadata, &self.expiry, &self.guesses).transaction(
                |(s, m, e, g)| {
                    let Some(bytes) = s.get(id)? else {
                        return Ok(false);
                    };
                    let record: SecretRecord = decode_tx(&bytes)?;
                    if record.expires_at <= now {
                        return Ok(false);
                    }
                    s.remove(id.as_slice())?;
                    g.remove(id.as_slice())?;
                    e.remove(expiry_key(record.expires_at, KIND_SECRET, id))?;
                    set_state(m, &record.metadata_id, StoredState::Received, now)?;
                    Ok(true)
                },
            ),
        )?;
        if taken {
            // The value goes out only after its removal is on disk: a crash right after the
            // response can never bring it back for a second read.
            self.durable().await?;
        }
        Ok(taken)
    }

    async fn metadata(
        &self,
        id: &RecordId,
        now: u64,
    ) -> Result<Option<MetadataRecord>, StoreError> {
        let Some(bytes) = self.metadata.get(id)? else {
            return Ok(None);
        };
        let record: MetadataRecord = decode(&bytes)?;
        Ok((record.expires_at > now).then_some(record))
    }

    async fn take_generated(&self, id: &RecordId) -> Result<bool, StoreError> {
        let taken = tx_result(self.metadata.transaction(|m| {
            let Some(bytes) = m.get(id)? else {
                return Ok(false);
            };
            let mut record: MetadataRecord = decode_tx(&bytes)?;
            if record.generated.take().is_none() {
                return Ok(false);
            }
            m.insert(id.as_slice(), encode(&record).or_else(abort)?)?;
            Ok(true)
        }))?;
        if taken {
            self.durable().await?;
        }
        Ok(taken)
    }

    async fn burn(&self, id: &RecordId, now: u64) -> Result<Option<MetadataRecord>, StoreError> {
        let burned = tx_result(
            (&self.secrets, &self.metadata, &self.expiry, &self.guesses).transaction(
                |(s, m, e, g)| {
                    let Some(bytes) = m.get(id)? else {
                        return Ok(None);
                    };
                    let receipt: MetadataRecord = decode_tx(&bytes)?;
                    if receipt.state != StoredState::New || receipt.secret_expires_at <= now {
                        return Ok(None);
                    }
                    let Some(secret) = s.remove(receipt.secret_id.as_slice())? else {
                        return Ok(None);
                    };
                    g.remove(receipt.secret_id.as_slice())?;
                    let secret: SecretRecord = decode_tx(&secret)?;
                    e.remove(expiry_key(
                        secret.expires_at,
                        KIND_SECRET,
                        &receipt.secret_id,
                    ))?;
                    set_state(m, id, StoredState::Burned, now)
                },
            ),
        )?;
        if burned.is_some() {
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
            for entry in &due {
                match self.sweep_entry(entry, now)? {
                    (true, KIND_SECRET) => report.secrets += 1,
                    (true, KIND_METADATA) => report.receipts += 1,
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
        let bytes = encode(customer)?;
        let added = self
            .customers
            .compare_and_swap(customer.email.as_bytes(), None::<&[u8]>, Some(bytes))?
            .is_ok();
        if added {
            self.durable().await?;
        }
        Ok(added)
    }

    async fn replace_customer(&self, customer: &CustomerRecord) -> Result<bool, StoreError> {
        let bytes = encode(customer)?;
        let replaced = tx_result(self.customers.transaction(|c| {
            if c.get(customer.email.as_bytes())?.is_none() {
                return Ok(false);
            }
            c.insert(customer.email.as_bytes(), bytes.as_slice())?;
            Ok(true)
        }))?;
        if replaced {
            // A rotated token must stay rotated across a crash: the old one is revoked.
            self.durable().await?;
        }
        Ok(replaced)
    }

    async fn customer(&self, email: &str) -> Result<Option<CustomerRecord>, StoreError> {
        self.customers
            .get(email.as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    async fn customers(&self) -> Result<Vec<CustomerRecord>, StoreError> {
        self.customers
            .iter()
            .values()
            .map(|bytes| decode(&bytes?))
            .collect()
    }

    async fn remove_customer(
        &self,
        email: &str,
        customer_id: &RecordId,
    ) -> Result<bool, StoreError> {
        let removed = self.customers.remove(email.as_bytes())?.is_some();
        self.remove_prefix(&self.recent, customer_id)?;
        self.durable().await?;
        Ok(removed)
    }

    async fn clear_recent(&self, customer_id: &RecordId) -> Result<(), StoreError> {
        self.remove_prefix(&self.recent, customer_id)?;
        self.durable().await
    }

    async fn recent(&self, customer_id: &RecordId, since: u64) -> Result<Vec<Sealed>, StoreError> {
        let mut start = customer_id.to_vec();
        start.extend_from_slice(&since.to_be_bytes());
        let mut end = customer_id.to_vec();
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        self.recent
            .range(start..end)
            .values()
            .rev()
            .map(|bytes| decode(&bytes?))
            .collect()
    }

    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool, StoreError> {
        match self.guesses.get(secret_id)? {
            Some(bytes) => Ok(decode::<Guesses>(&bytes)?.locked(now)),
            None => Ok(false),
        }
    }

    async fn record_passphrase_failure(
        &self,
        secret_id: &RecordId,
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> Result<bool, StoreError> {
        // In a transaction with the secret: counters for a secret that is gone are not kept.
        let locked = tx_result((&self.secrets, &self.guesses).transaction(|(s, g)| {
            if s.get(secret_id)?.is_none() {
                return Ok(false);
            }
            let mut guesses: Guesses = match g.get(secret_id)? {
                Some(bytes) => decode_tx(&bytes)?,
                None => Guesses::default(),
            };
            let locked = guesses.fail(ip_tag, now, rules);
            g.insert(secret_id.as_slice(), encode(&guesses).or_else(abort)?)?;
            Ok(locked)
        }))?;
        // Durable like any write that guards a secret: a crash must not reset a lockout.
        self.durable().await?;
        Ok(locked)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Backend(format!("flush task: {e}")))??;
        Ok(())
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> SledStore {
        SledStore::open(dir, true, 8 << 20).expect("open")
    }

    crate::conformance_suite!(|dir: &Path| open(dir));

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
        assert!(text.contains("schema version 2"), "{text}");
        assert!(text.contains("supports up to 1"), "{text}");
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
}
