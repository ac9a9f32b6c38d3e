//! `[auth] trusted_header`: a forward-auth proxy (oauth2-proxy, Authelia, Pomerium) in front
//! of the server names the signed-in person's email in a header.
//!
//! The header is believed only on a connection whose peer is in `server.trusted_proxies` (the
//! proxy itself; never an address from `X-Forwarded-For`, which a client writes), and only for
//! an email in `oidc.allowed_domains`. On the web pages such a request is that person, their
//! account made on first sight with `oidc.plan` (see [`crate::accounts`] for its recent list).
//! The API keeps its own credentials (HTTP Basic with a token) and ignores the header from a
//! trusted proxy. A request carrying the header from any other peer, or naming an email that is
//! not admitted, is refused (403 page; the API's `Not authorized`) and logged, without the
//! header's value.

use std::net::IpAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, ResponseError};
use ipnet::IpNet;

use super::error::ApiError;
use super::web::{Failure, Visitor};
use crate::config::{OidcSettings, Settings};
use crate::domain::normalize_email;

/// The trusted header's rule, from the settings.
pub struct TrustedHeader {
    name: HeaderName,
    proxies: Vec<IpNet>,
    admitted: OidcSettings,
}

/// What a request's trusted header says.
#[derive(Debug, PartialEq, Eq)]
pub enum Vouched {
    /// No header.
    Absent,
    /// From a trusted proxy, for an admitted email (lowercased).
    Person(String),
    /// Present but not from a trusted proxy.
    Untrusted,
    /// From a trusted proxy, but no email, or one whose domain is not admitted.
    NotAdmitted,
}

impl TrustedHeader {
    /// The rule of `auth.trusted_header`, or `None` when it is off.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let name = settings.auth.trusted_header.as_deref()?;
        Some(Self {
            name: HeaderName::from_bytes(name.as_bytes()).ok()?,
            proxies: settings.trusted_proxies(),
            admitted: settings.oidc.clone(),
        })
    }

    /// The plan of accounts the header makes.
    pub fn plan(&self) -> &str {
        &self.admitted.plan
    }

    /// What the header of a request from `peer` says.
    pub fn vouched(&self, req: &HttpRequest) -> Vouched {
        let mut values = req.headers().get_all(&self.name);
        let Some(value) = values.next() else {
            return Vouched::Absent;
        };
        let peer = req.peer_addr().map(|a| unmapped(a.ip()));
        if !peer.is_some_and(|p| self.proxies.iter().any(|net| net.contains(&p))) {
            return Vouched::Untrusted;
        }
        // One value, an email, in an admitted domain.
        let (Some(email), None) = (value.to_str().ok().and_then(normalize_email), values.next())
        else {
            return Vouched::NotAdmitted;
        };
        if self.admitted.domain_allowed(&email) {
            Vouched::Person(email)
        } else {
            Vouched::NotAdmitted
        }
    }
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Refuses a request whose trusted header is not to be believed, before any handler runs.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = req
        .app_data::<actix_web::web::Data<TrustedHeader>>()
        .map_or(Vouched::Absent, |rule| rule.vouched(req.request()));
    let failure = match verdict {
        Vouched::Absent | Vouched::Person(_) => {
            return Ok(next.call(req).await?.map_into_left_body());
        }
        Vouched::Untrusted => {
            tracing::warn!(
                "refused a request with the trusted identity header from a peer that is not in \
                 server.trusted_proxies"
            );
            Failure::Forbidden
        }
        Vouched::NotAdmitted => {
            tracing::info!("refused a trusted identity header naming no admitted email");
            Failure::SsoNotAllowed
        }
    };
    let path = req.path();
    let res = if path == "/api" || path.starts_with("/api/") {
        ApiError::NotAuthorized.error_response()
    } else {
        match Visitor::from_request(req.request(), &mut Payload::None).await {
            Ok(visitor) => visitor.failure(failure),
            Err(never) => match never {},
        }
    };
    Ok(req.into_response(res).map_into_right_body())
}
