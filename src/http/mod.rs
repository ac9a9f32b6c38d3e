//! Everything actix: routes, parameter extraction, error mapping, security headers and the
//! access log.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web as aweb, HttpRequest, HttpResponse};

pub mod api;
pub mod client;
pub mod error;
pub mod params;
pub mod ratelimit;
pub mod web;

/// The Content-Security-Policy on every response: nothing inline, nothing foreign, no framing.
pub const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
                       frame-ancestors 'none'; form-action 'self'";

/// Registers every route: the v1 API, `/health` and the browser pages.
pub fn configure(cfg: &mut aweb::ServiceConfig) {
    cfg.route("/health", aweb::get().to(health))
        .configure(api::configure)
        .configure(web::configure);
}

/// Unknown routes: the API's JSON 404 under `/api/`, a page everywhere else.
pub async fn not_found(req: HttpRequest, visitor: web::Visitor) -> HttpResponse {
    if req.path().starts_with("/api/") || req.path() == "/api" {
        error::route_not_found().await
    } else {
        visitor.failure(web::Failure::NotFound)
    }
}

/// For load balancers and monitors: 200 while the store answers, 503 while it does not.
async fn health(store: aweb::Data<dyn crate::store::Store>) -> actix_web::HttpResponse {
    match store.ping().await {
        Ok(()) => actix_web::HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unreachable");
            actix_web::HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable" }))
        }
    }
}

/// Headers every response carries unless a handler set its own.
///
/// `Cache-Control: no-store` goes everywhere: almost every response carries a key or a value,
/// and a cache or browser history is no place for either.
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add((
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ));
    if https {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// One log line per request: method, route pattern, status, latency.
///
/// Why not actix's `Logger`: its default format prints the request line, whose path holds the
/// secret or metadata key. The route pattern (`/api/v1/secret/{key}`) never does.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let res = next.call(req).await?;
    let route = res.request().match_pattern();
    let intended = res
        .headers()
        .get(error::INTENDED_STATUS)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    tracing::info!(
        method = %method,
        route = route.as_deref().unwrap_or("(unmatched)"),
        status = res.status().as_u16(),
        intended_status = %intended,
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(res)
}
