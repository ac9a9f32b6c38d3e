//! Per-IP rate limits for anonymous callers.
//!
//! The counters live in the store: in memory for sled (one process; they guard capacity, not
//! secrets, and reset on restart), in Redis for several nodes, so a limit holds across them.
//! A counter is named by a keyed hash of the address, never the address itself, so the Redis
//! key space does not list who used the service.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::HttpRequest;

use super::client::ClientResolver;
use super::error::ApiError;
use crate::config::Settings;
use crate::crypto::{RecordKind, Sealer};
use crate::service::ServiceError;
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
pub struct RateLimits {
    store: Arc<dyn Counters>,
    /// Names the counters: HMAC of the address under the server key.
    sealer: Arc<Sealer>,
    clients: ClientResolver,
    create: u32,
    reveal: u32,
    signin: u32,
    window: u64,
}

impl RateLimits {
    /// Limits from `[limits]`, clients as `[server]` says to find them, counted in `store`
    /// under names `sealer` hashes.
    pub fn new(settings: &Settings, store: Arc<dyn Counters>, sealer: Arc<Sealer>) -> Self {
        Self {
            store,
            sealer,
            clients: ClientResolver::new(settings),
            create: settings.limits.create_per_ip,
            reveal: settings.limits.reveal_per_ip,
            signin: settings.limits.signin_per_ip,
            window: settings.limits.window,
        }
    }

    /// The client's address as every per-IP limit and lockout counts it (see
    /// [`ClientResolver`]).
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        self.clients.client_ip(req)
    }

    /// The counter for `action` by `ip`: the action in clear, the address as a keyed hash.
    fn bucket(&self, name: &str, ip: IpAddr) -> String {
        let id = self.sealer.record_id(RecordKind::Client, &ip.to_string());
        format!("{name}:{}", hex::encode(id))
    }

    /// Spends one `action` for `ip` at `now`, or refuses when the window's budget is gone.
    pub async fn spend(&self, action: Action, ip: IpAddr, now: u64) -> Result<(), ApiError> {
        let (limit, name) = match action {
            Action::Create => (self.create, "create"),
            Action::Reveal => (self.reveal, "reveal"),
            Action::SignIn => (self.signin, "signin"),
        };
        let used = self
            .store
            .hit(&self.bucket(name, ip), self.window, now)
            .await
            .map_err(|e| ApiError::from_service(ServiceError::Storage(e), ""))?;
        if used > u64::from(limit) {
            return Err(ApiError::RateLimited);
        }
        Ok(())
    }
}
