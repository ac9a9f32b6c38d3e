//! The passphrase KDF: scrypt parameters and the bounded pool that runs derivations.

use std::sync::Arc;

use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use super::CryptoError;

/// A key derived from a passphrase with scrypt; joins the HKDF input of a sealed record.
pub struct PassKey(pub(super) Zeroizing<[u8; 32]>);

/// scrypt parameters and salt, stored with each record so the cost can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// N = 2^log_n.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
    /// Per-record random salt.
    pub salt: [u8; 16],
}

impl KdfParams {
    /// Fresh parameters with a random salt; `log_n`, `r`, `p` come from config.
    pub fn fresh(log_n: u8, r: u32, p: u32) -> Self {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        Self { log_n, r, p, salt }
    }

    /// The allow-list for parameters, in config and in stored records: a record can never make
    /// the server spend more than 1 GiB or more than a few seconds on one derivation.
    pub fn check(log_n: u8, r: u32, p: u32) -> Result<(), String> {
        if !(1..=20).contains(&log_n) || !(1..=32).contains(&r) || !(1..=16).contains(&p) {
            return Err("want scrypt_log_n 1..=20, scrypt_r 1..=32, scrypt_p 1..=16".into());
        }
        let memory = (128u64 * u64::from(r)) << log_n;
        if memory > 1 << 30 {
            return Err("scrypt memory (128 * r * 2^log_n) must stay within 1 GiB".into());
        }
        Ok(())
    }

    /// Whether the cost meets OWASP ASVS 5.0 Appendix C for scrypt.
    pub fn meets_asvs(log_n: u8, r: u32, p: u32) -> bool {
        r >= 8
            && match p {
                1 => log_n >= 17,
                2 => log_n >= 16,
                _ => log_n >= 15,
            }
    }

    /// Runs scrypt. Blocking and memory-hungry: call through [`KdfPool`].
    fn derive(&self, passphrase: &str) -> Result<PassKey, CryptoError> {
        Self::check(self.log_n, self.r, self.p).map_err(|_| CryptoError::KdfParams)?;
        let params = scrypt::Params::new(self.log_n, self.r, self.p, 32)
            .map_err(|_| CryptoError::KdfParams)?;
        let mut out = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(
            passphrase.as_bytes(),
            &self.salt,
            &params,
            out.as_mut_slice(),
        )
        .map_err(|_| CryptoError::KdfParams)?;
        Ok(PassKey(out))
    }
}

/// Runs scrypt on the blocking pool, about one derivation per core at a time; one pool serves
/// the whole process (passphrase reveal, burn and create, web password sign-in, `account
/// passwd`), so the bound is the process's, not each use case's.
///
/// Why a bounded queue: each derivation holds 32 MiB; under a flood, piling up waiters would
/// exhaust memory, so past `queue` waiters new requests fail fast with [`CryptoError::Busy`].
///
/// Why the permits move into the blocking job: a request whose client goes away is dropped by
/// actix, but a derivation already on the blocking pool runs to its end. Permits held by the
/// request's future would be released at the drop while the 32 MiB stayed in use, so a client
/// resetting connections could start derivations without limit. Owned by the job, a permit is
/// released only when the derivation's memory is.
#[derive(Clone)]
pub struct KdfPool {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    /// The two semaphores' sizes, so [`KdfPool::load`] can tell what is in use.
    parallel: usize,
    capacity: usize,
}

impl KdfPool {
    /// A pool running `parallel` derivations with up to `queue` more waiting.
    pub fn new(parallel: usize, queue: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(parallel.max(1))),
            admitted: Arc::new(Semaphore::new(parallel.max(1) + queue)),
            parallel: parallel.max(1),
            capacity: parallel.max(1) + queue,
        }
    }

    /// `(running, waiting)` derivations right now, for the metrics.
    pub fn load(&self) -> (usize, usize) {
        let running = self.parallel - self.running.available_permits().min(self.parallel);
        let admitted = self.capacity - self.admitted.available_permits().min(self.capacity);
        (running, admitted.saturating_sub(running))
    }

    /// A pool of one derivation per core with up to `queue` more waiting.
    pub fn per_core(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, queue)
    }

    /// Derives the passphrase key for `params` off the async workers.
    pub async fn derive(
        &self,
        passphrase: Zeroizing<String>,
        params: KdfParams,
    ) -> Result<PassKey, CryptoError> {
        self.admit()?.derive(passphrase, params).await
    }

    /// Runs one scrypt job (`work`) on the blocking pool under the same bounds as
    /// [`KdfPool::derive`]: web password hashing and verification use it.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CryptoError> {
        self.admit()?.run(work).await
    }

    /// A place in the queue, or [`CryptoError::Busy`] at once when the queue is full. Taken
    /// before a passphrase guess is reserved, so a busy server does not use up a guess.
    pub fn admit(&self) -> Result<KdfTicket, CryptoError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| CryptoError::Busy)?;
        Ok(KdfTicket {
            admitted,
            running: Arc::clone(&self.running),
        })
    }
}

/// A place in a [`KdfPool`]'s queue, spent by one derivation.
pub struct KdfTicket {
    admitted: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
}

impl KdfTicket {
    /// Derives the passphrase key for `params` off the async workers.
    pub async fn derive(
        self,
        passphrase: Zeroizing<String>,
        params: KdfParams,
    ) -> Result<PassKey, CryptoError> {
        self.run(move || params.derive(&passphrase)).await?
    }

    /// Runs `work` on the blocking pool once one of the pool's running permits is free.
    pub async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CryptoError> {
        // Dropped while waiting here, nothing has started and both permits go back.
        let running = self
            .running
            .acquire_owned()
            .await
            .map_err(|_| CryptoError::Busy)?;
        let admitted = self.admitted;
        tokio::task::spawn_blocking(move || {
            // The job owns its permits: they go back when the derivation's memory does.
            let _permits = (admitted, running);
            work()
        })
        .await
        .map_err(|_| CryptoError::Join)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_kdf_queue_fails_fast() {
        let pool = KdfPool::new(1, 0);
        let params = KdfParams::fresh(16, 8, 1);
        let first = pool.derive(Zeroizing::new("a".into()), params);
        let second = pool.derive(Zeroizing::new("b".into()), params);
        let (a, b) = tokio::join!(first, second);
        assert!(a.is_ok());
        assert!(matches!(b, Err(CryptoError::Busy)));
    }

    #[tokio::test]
    async fn a_cancelled_request_keeps_its_permit_until_the_derivation_ends() {
        // Arrange: a pool of one with no queue, and a job that runs until told to stop.
        let pool = KdfPool::new(1, 0);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move || {
                    started_tx.send(()).expect("test waits");
                    release_rx.recv().ok();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || started_rx.recv().expect("job started"))
            .await
            .expect("join");

        // Act: the request is dropped (its client went away) while the job still runs.
        first.abort();
        assert!(first.await.is_err_and(|e| e.is_cancelled()));

        // Assert: the running job still holds the only permit, so nothing more starts...
        assert!(matches!(pool.run(|| ()).await, Err(CryptoError::Busy)));
        // ...until it ends.
        release_tx.send(()).expect("job waits");
        let mut freed = false;
        for _ in 0..200 {
            if pool.run(|| ()).await.is_ok() {
                freed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(freed, "the permit came back when the job ended");
    }

    #[test]
    fn stored_kdf_params_outside_allow_list_are_refused() {
        let params = KdfParams {
            log_n: 30,
            r: 8,
            p: 1,
            salt: [0; 16],
        };
        assert!(matches!(params.derive("x"), Err(CryptoError::KdfParams)));
        assert!(KdfParams::meets_asvs(15, 8, 3));
        assert!(!KdfParams::meets_asvs(15, 8, 1));
    }
}
