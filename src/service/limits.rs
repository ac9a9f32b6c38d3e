//! Per-client budgets for anonymous callers, and whether the store answers (health).
//!
//! The counters live in the store: in memory for sled (one process; they guard capacity, not
//! secrets, and reset on restart), in Redis for several nodes, so a limit holds across them.
//! A counter is named by a keyed hash of the address, never the address itself, so the Redis
//! key space does not list who used the service.

use std::net::IpAddr;
use std::sync::Arc;

use super::error::{Result, ServiceError};
use super::Service;
use crate::config::Settings;
use crate::crypto::{RecordKind, Sealer};
use crate::store::Counters;

/// What a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// share, create, generate.
    Create,
    /// reveal and burn (a burn with a passphrase costs the same work as a reveal).
    Reveal,
    /// web sign-in attempt (counted for everyone: nobody is signed in yet).
    SignIn,
}

/// Fixed-window budgets per (action, client address).
pub struct RateLimiter {
    /// Where the counters live; only its rate-limit counters are used.
    counters: Arc<dyn Counters>,
    /// Names the counters: HMAC of the address under the server key.
    sealer: Arc<Sealer>,
    create: u32,
    reveal: u32,
    signin: u32,
    window: u64,
}

impl RateLimiter {
    /// Limits from `[limits]`, counted in `counters` under names `sealer` hashes. The one
    /// place that knows which store trait the counters need.
    pub fn new(settings: &Settings, counters: Arc<dyn Counters>, sealer: Arc<Sealer>) -> Self {
        Self {
            counters,
            sealer,
            create: settings.limits.create_per_ip,
            reveal: settings.limits.reveal_per_ip,
            signin: settings.limits.signin_per_ip,
            window: settings.limits.window,
        }
    }

    /// The counter for `action` by `ip`: the action in clear, the address as a keyed hash.
    fn bucket(&self, name: &str, ip: IpAddr) -> String {
        let id = self.sealer.record_id(RecordKind::Client, &ip.to_string());
        format!("{name}:{}", hex::encode(id))
    }

    /// Spends one `action` for `ip` at `now`; `RateLimited` when the window's budget is gone.
    pub async fn spend(&self, action: Action, ip: IpAddr, now: u64) -> Result<()> {
        let (limit, name) = match action {
            Action::Create => (self.create, "create"),
            Action::Reveal => (self.reveal, "reveal"),
            Action::SignIn => (self.signin, "signin"),
        };
        let used = self
            .counters
            .hit(&self.bucket(name, ip), self.window, now)
            .await?;
        if used > u64::from(limit) {
            crate::metrics::rate_limited(name);
            return Err(ServiceError::RateLimited);
        }
        Ok(())
    }
}

impl Service {
    /// Whether the store answers: for load balancers, monitors and the API's `status`.
    pub async fn health(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}
