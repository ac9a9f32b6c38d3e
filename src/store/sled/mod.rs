//! The embedded sled backend (the default): one process, one directory.
//!
//! Trees:
//! - `entries`: metadata id -> `Entry`: the receipt, the sealed secret while it exists, and
//!   its wrong-passphrase counters. Everything that must change together lives in this one
//!   value, so reveal, burn and lockout are each a single compare-and-swap.
//! - `secrets`: secret id -> metadata id, the pointer a secret link follows. It stays until the
//!   secret's own time is up (the entry says whether the value is still there).
//! - `expiry`: big-endian `expires_at ++ kind ++ id`, so the sweeper scans what is due in order.
//! - `accounts` (by account id, the keyed hash of the email; the email sealed inside),
//!   `recent` (`account id ++ created ++ sequence`), `mail` (mails to send, by their receipt's
//!   metadata id, so the step that takes, burns or sweeps a secret removes its mail too),
//!   `sessions` (web sessions, by the keyed hash of the cookie; in the expiry index so the
//!   sweeper reclaims them), `meta` (schema). Schema 1's `accounts` (by plain email) and
//!   `outbox` (by random id) exist only until
//!   [`Upkeep::upgrade`](crate::store::Upkeep::upgrade) has rewritten them.
//!
//! Why compare-and-swap and not sled transactions: in sled 0.34 every transaction (and
//! `apply_batch`) rolls the log buffer to disk before and after itself, two synchronous writes
//! per operation, which capped throughput at a few thousand operations a second. Single-key
//! compare-and-swap is atomic without that, and lets concurrent writers share one flush.
//!
//! Files: `trees` the open database and its building blocks; one file per concern
//! (`secrets`, `accounts`, `sessions`, `outbox`, `counters`, `sweep`, `transfer`, `upkeep`),
//! each implementing its trait for [`SledStore`] over the database currently open.

mod accounts;
mod counters;
mod flusher;
mod outbox;
mod secrets;
mod sessions;
mod sweep;
#[cfg(test)]
mod tests;
mod transfer;
mod trees;
mod upkeep;

use crate::store::Result;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

pub use self::flusher::Flusher;
use self::trees::Trees;
use super::StoreError;

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

/// The database a [`SledStore`] currently serves from; `None` while it is being reopened.
type Slot = Arc<RwLock<Option<Arc<Trees>>>>;

/// sled-backed [`Store`](crate::store::Store): the open database, reopened after sled latches
/// an I/O error.
pub struct SledStore {
    current: Slot,
    /// Set when an operation failed with an I/O error; the doctor thread then reopens.
    failed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    doctor: Option<std::thread::JoinHandle<()>>,
    opening: Opening,
}

/// What it takes to open the database (again).
#[derive(Clone)]
struct Opening {
    path: PathBuf,
    sync: bool,
    cache_bytes: u64,
}

impl Opening {
    fn open(&self) -> Result<Trees> {
        Trees::open(&self.path, self.sync, self.cache_bytes)
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.opening.path)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store at `path`. `sync`: flush before acknowledging writes.
    /// `cache_bytes`: sled's page cache (its 1 GiB default lets RSS grow far past it).
    pub fn open(path: &Path, sync: bool, cache_bytes: u64) -> Result<Self> {
        let opening = Opening {
            path: path.to_owned(),
            sync,
            cache_bytes,
        };
        let current: Slot = Arc::new(RwLock::new(Some(Arc::new(opening.open()?))));
        let failed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let doctor = Doctor {
            current: Arc::clone(&current),
            failed: Arc::clone(&failed),
            stop: Arc::clone(&stop),
            opening: opening.clone(),
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
            opening,
        })
    }

    fn current(&self) -> Result<Arc<Trees>> {
        self.current
            .read()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(|| StoreError::Unavailable("store is reopening after an I/O error".into()))
    }

    /// Runs `op` on the database currently open, and notes a disk failure so the doctor
    /// reopens it. Every trait method goes through here.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnOnce(Arc<Trees>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let result = op(self.current()?).await;
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
    opening: Opening,
}

/// Closes the database and opens it again, so that sled records where its log stands: sled
/// 0.34 writes that record (its snapshot) only when it opens a database, and at the next open
/// replays every write made since, so a store that ran for weeks would take seconds to start
/// (PERFORMANCE.md, "Where it stands"). Waits for the operations in flight; the store serves
/// again once it returns. Blocking.
fn checkpoint(current: &Slot, opening: &Opening) -> Result<()> {
    let mut slot = current
        .write()
        .map_err(|_| StoreError::Unavailable("store lock poisoned".into()))?;
    let Some(old) = slot.take() else {
        return Err(StoreError::Unavailable(
            "store is reopening after an I/O error".into(),
        ));
    };
    close(old);
    *slot = Some(Arc::new(opening.open()?));
    Ok(())
}

/// Drops the last handle to `trees` once the operations in flight (which hold one each) are
/// done, or after 10 s: sled's file lock goes with the last handle.
fn close(trees: Arc<Trees>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Arc::strong_count(&trees) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(trees);
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
        let path = self.opening.path.display();
        tracing::warn!(%path, "store hit an I/O error; reopening it");
        let Ok(mut slot) = self.current.write() else {
            return;
        };
        let Some(old) = slot.take() else {
            return;
        };
        close(old);
        loop {
            match self.opening.open() {
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
