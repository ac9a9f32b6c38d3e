//! [`Counters`] on Redis: one key per bucket and window ([`HIT`](super::HIT)), shared by every
//! node.

use async_trait::async_trait;

use super::RedisStore;
use crate::store::{Counters, Result};

#[async_trait]
impl Counters for RedisStore {
    async fn hit(&self, bucket: &str, window: u64, now: u64) -> Result<u64> {
        let start = now - now % window.max(1);
        let key = format!("{}l:{bucket}:{start}", self.prefix);
        Ok(self
            .hit
            .key(key)
            .arg(window.max(1))
            .invoke_async(&mut self.conn.clone())
            .await?)
    }
}
