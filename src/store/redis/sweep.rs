//! [`Sweep`] on Redis: nothing to do, every key carries its own TTL.

use async_trait::async_trait;

use super::RedisStore;
use crate::store::{Result, Sweep, SweepReport};

#[async_trait]
impl Sweep for RedisStore {
    async fn sweep_expired(&self, _now: u64) -> Result<SweepReport> {
        // Every key carries its own TTL: Redis expires records itself.
        Ok(SweepReport::default())
    }
}
