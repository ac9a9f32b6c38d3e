//! Per-IP rate limits for anonymous callers, and working out who the client is.
//!
//! The counters live in the store: in memory for sled (one process; they guard capacity, not
//! secrets, and reset on restart), in Redis for several nodes, so a limit holds across them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use actix_web::HttpRequest;

use super::error::ApiError;
use crate::config::Settings;
use crate::service::ServiceError;
use crate::store::Store;

/// What a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// share, create, generate.
    Create,
    /// reveal.
    Reveal,
    /// web sign-in attempt (counted for everyone: nobody is signed in yet).
    SignIn,
}

/// Fixed-window budgets per (action, client address).
pub struct RateLimits {
    store: Arc<dyn Store>,
    trust_proxy: bool,
    create: u32,
    reveal: u32,
    signin: u32,
    window: u64,
}

impl RateLimits {
    /// Limits from `[limits]` and `server.trust_proxy`, counted in `store`.
    pub fn new(settings: &Settings, store: Arc<dyn Store>) -> Self {
        Self {
            store,
            trust_proxy: settings.server.trust_proxy,
            create: settings.limits.create_per_ip,
            reveal: settings.limits.reveal_per_ip,
            signin: settings.limits.signin_per_ip,
            window: settings.limits.window,
        }
    }

    /// The client's address: the peer, or behind a trusted proxy the last `X-Forwarded-For`
    /// entry (the one our proxy appended; earlier entries are the client's to forge).
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        let forwarded = self
            .trust_proxy
            .then(|| req.headers().get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').map(str::trim).find(|s| !s.is_empty()))
            .and_then(|ip| ip.parse().ok());
        forwarded
            .or_else(|| req.peer_addr().map(|a| a.ip()))
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
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
            .hit(&format!("{name}:{ip}"), self.window, now)
            .await
            .map_err(|e| ApiError::from_service(ServiceError::Storage(e), ""))?;
        if used > u64::from(limit) {
            return Err(ApiError::RateLimited);
        }
        Ok(())
    }
}
