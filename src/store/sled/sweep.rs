//! [`Sweep`] on sled: the `expiry` index, scanned in order of time, in small batches.

use crate::store::Result;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::trees::{Trees, KIND_METADATA, KIND_SECRET, SWEEP_BATCH};
use super::SledStore;
use crate::store::{StoreError, Sweep, SweepReport};

#[async_trait]
impl Sweep for SledStore {
    /// Sweeps in batches of [`SWEEP_BATCH`] entries, each on the blocking pool (sled's calls
    /// block), with a pause after each as long as the batch took: the sweeper never holds a
    /// request worker and takes at most about half of one core, however much is due.
    async fn sweep_expired(&self, now: u64) -> Result<SweepReport> {
        self.run(|db| async move {
            let mut report = SweepReport::default();
            loop {
                let started = Instant::now();
                let batch = Arc::clone(&db);
                let (swept, more) = tokio::task::spawn_blocking(move || sweep_batch(&batch, now))
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("sweep task: {e}")))??;
                report.secrets += swept.secrets;
                report.receipts += swept.receipts;
                if !more {
                    break;
                }
                tokio::time::sleep(started.elapsed()).await;
            }
            if report != SweepReport::default() {
                db.durable().await?;
            }
            Ok(report)
        })
        .await
    }
}

/// Sweeps up to [`SWEEP_BATCH`] due entries; says whether it found any (a swept secret can
/// make its receipt due, so the sweep goes on until a batch finds nothing).
fn sweep_batch(db: &Trees, now: u64) -> Result<(SweepReport, bool)> {
    let end = (now + 1).to_be_bytes();
    let due: Vec<_> = db
        .expiry
        .range(..end.as_slice())
        .keys()
        .take(SWEEP_BATCH)
        .collect::<Result<_, _>>()?;
    let mut report = SweepReport::default();
    for key in &due {
        match db.sweep_entry(key, now)? {
            (KIND_SECRET, true) => report.secrets += 1,
            (KIND_METADATA, true) => report.receipts += 1,
            _ => {}
        }
    }
    Ok((report, !due.is_empty()))
}
