//! Per-IP rate limits for anonymous callers, and working out who the client is.
//!
//! Counters live in memory: they guard capacity, not secrets (the passphrase lockout, which
//! does guard secrets, lives in the store). A restart resets them.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use actix_web::HttpRequest;

use super::error::ApiError;
use crate::config::Settings;

/// What a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// share, create, generate.
    Create,
    /// reveal.
    Reveal,
}

/// Fixed-window counters per (action, client address).
#[derive(Debug)]
pub struct RateLimits {
    trust_proxy: bool,
    create: u32,
    reveal: u32,
    window: u64,
    counts: Mutex<HashMap<(Action, IpAddr), (u64, u32)>>,
}

/// Counters kept before stale windows are dropped; bounds memory under address floods.
const MAX_TRACKED: usize = 100_000;

impl RateLimits {
    /// Limits from `[limits]` and `server.trust_proxy`.
    pub fn new(settings: &Settings) -> Self {
        Self {
            trust_proxy: settings.server.trust_proxy,
            create: settings.limits.create_per_ip,
            reveal: settings.limits.reveal_per_ip,
            window: settings.limits.window,
            counts: Mutex::new(HashMap::new()),
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
    pub fn spend(&self, action: Action, ip: IpAddr, now: u64) -> Result<(), ApiError> {
        let limit = match action {
            Action::Create => self.create,
            Action::Reveal => self.reveal,
        };
        let window_start = now - now % self.window;
        let mut counts = self.counts.lock().map_err(|_| ApiError::Unexpected)?;
        if counts.len() >= MAX_TRACKED {
            counts.retain(|_, (start, _)| *start == window_start);
        }
        let (start, used) = counts.entry((action, ip)).or_insert((window_start, 0));
        if *start != window_start {
            *start = window_start;
            *used = 0;
        }
        if *used >= limit {
            return Err(ApiError::RateLimited);
        }
        *used += 1;
        Ok(())
    }
}
