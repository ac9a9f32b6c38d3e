//! [`Sweep`] on sled: the `expiry` index, scanned in order of time, in batches.

use async_trait::async_trait;

use super::trees::{KIND_METADATA, KIND_SECRET, SWEEP_BATCH};
use super::SledStore;
use crate::store::{StoreError, Sweep, SweepReport};

#[async_trait]
impl Sweep for SledStore {
    async fn sweep_expired(&self, now: u64) -> Result<SweepReport, StoreError> {
        self.run(|db| async move {
            let mut report = SweepReport::default();
            let end = (now + 1).to_be_bytes();
            loop {
                let due: Vec<_> = db
                    .expiry
                    .range(..end.as_slice())
                    .keys()
                    .take(SWEEP_BATCH)
                    .collect::<Result<_, _>>()?;
                if due.is_empty() {
                    break;
                }
                for key in &due {
                    match db.sweep_entry(key, now)? {
                        (KIND_SECRET, true) => report.secrets += 1,
                        (KIND_METADATA, true) => report.receipts += 1,
                        _ => {}
                    }
                }
            }
            if report != SweepReport::default() {
                db.durable().await?;
            }
            Ok(report)
        })
        .await
    }
}
