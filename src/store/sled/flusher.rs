//! Group commit for sled: writers that finish around the same time share one `Db::flush()`.

use crate::store::Result;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use sled::Db;
use tokio::sync::watch;

use crate::store::StoreError;

/// Group commit: writers that finish around the same time share one `Db::flush()`.
///
/// Why a dedicated thread: `flush_async` hangs under load in sled 0.34, and the blocking
/// `flush` must not run on the async workers. A writer takes a ticket after its write is in
/// sled's buffers; a flush that starts after the ticket was issued covers that write, so
/// one fsync acknowledges every ticket issued before it began.
pub struct Flusher {
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

/// Tickets up to `through` were covered by a flush that ended with `outcome`.
#[derive(Clone, Copy, Default)]
struct FlushStatus {
    through: u64,
    outcome: FlushOutcome,
}

/// How a flush ended; the failure's kind is kept so writers report it as it was.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum FlushOutcome {
    #[default]
    Done,
    DiskFull,
    Failed,
}

impl Flusher {
    /// Starts the flusher thread for `db`.
    #[must_use]
    pub fn start(db: Db) -> Self {
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
            let outcome = match db.flush() {
                Ok(_) => FlushOutcome::Done,
                Err(e) => {
                    tracing::error!(error = %e, "store flush failed; writes are not acknowledged");
                    match StoreError::from(e) {
                        StoreError::Full(_) => FlushOutcome::DiskFull,
                        _ => FlushOutcome::Failed,
                    }
                }
            };
            flushed = target;
            done.send_replace(FlushStatus {
                through: target,
                outcome,
            });
        }
    }

    /// Waits until everything written before this call is on disk.
    ///
    /// # Errors
    /// The flush failed (a full disk, or another I/O error), or the flusher stopped.
    pub async fn durable(&self) -> Result<()> {
        let ticket = {
            let mut queue = self
                .shared
                .queue
                .lock()
                .map_err(|_| StoreError::Unavailable("flusher lock poisoned".into()))?;
            queue.issued += 1;
            queue.issued
        };
        self.shared.wake.notify_one();
        let mut done = self.done.clone();
        let status = *done
            .wait_for(|s| s.through >= ticket)
            .await
            .map_err(|_| StoreError::Unavailable("flusher stopped".into()))?;
        match status.outcome {
            FlushOutcome::Done => Ok(()),
            FlushOutcome::DiskFull => Err(StoreError::Full("flush to disk failed".into())),
            FlushOutcome::Failed => Err(StoreError::Io("flush to disk failed".into())),
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
