//! [`Counters`] on sled: in memory, since sled serves one process and the counters guard
//! capacity, not secrets.

use crate::store::Result;
use async_trait::async_trait;

use super::SledStore;
use crate::store::{Counters, StoreError};

#[async_trait]
impl Counters for SledStore {
    async fn hit(&self, bucket: &str, window: u64, now: u64) -> Result<u64> {
        self.run(|db| async move {
            let start = now - now % window.max(1);
            let mut hits = db
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
        })
        .await
    }
}
