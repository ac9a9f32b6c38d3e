//! Per-IP rate limits for anonymous callers, as the HTTP layer spends them: the client's
//! address found as `[server]` says, the budget kept by the use case
//! ([`crate::service::RateLimiter`]).

use std::net::IpAddr;

use actix_web::HttpRequest;

use super::client::ClientResolver;
use super::error::ApiError;
pub use crate::service::Action;
use crate::service::{RateLimiter, ServiceError};

/// Budgets per (action, client address), with the client's address found per request.
pub struct RateLimits {
    limiter: RateLimiter,
    clients: ClientResolver,
}

impl RateLimits {
    /// Budgets kept by `limiter`, clients found by `clients`.
    pub fn new(limiter: RateLimiter, clients: ClientResolver) -> Self {
        Self { limiter, clients }
    }

    /// The client's address as every per-IP limit and lockout counts it (see
    /// [`ClientResolver`]).
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        self.clients.client_ip(req)
    }

    /// Spends one `action` for `ip` at `now`, or refuses when the window's budget is gone.
    pub async fn spend(&self, action: Action, ip: IpAddr, now: u64) -> Result<(), ApiError> {
        self.limiter
            .spend(action, ip, now)
            .await
            .map_err(|e: ServiceError| ApiError::from_service(e, ""))
    }
}
