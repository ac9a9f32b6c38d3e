//! Everything actix: routes, parameter extraction, error mapping, security headers and the
//! access log.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web as aweb, HttpRequest, HttpResponse};

pub mod api;
pub mod client;
pub mod error;
pub mod forward_auth;
pub mod incoming;
pub mod params;
pub mod ratelimit;
pub mod v2;
pub mod v3;
pub mod web;

/// The Content-Security-Policy on every response: nothing inline, nothing foreign, no framing.
pub const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
                       frame-ancestors 'none'; form-action 'self'";

/// Registers every route: the v1 API, `/health` and the browser pages.
pub fn configure(cfg: &mut aweb::ServiceConfig) {
    cfg.route("/health", aweb::get().to(health))
        .configure(api::configure)
        .configure(v2::configure)
        .configure(v3::configure)
        .configure(incoming::configure)
        .configure(web::configure);
}

/// Unknown routes: the API's JSON 404 under `/api/`, a page everywhere else.
pub async fn unknown_route(req: HttpRequest, visitor: web::Visitor) -> HttpResponse {
    if req.path().starts_with("/api/") || req.path() == "/api" {
        error::api_not_found().await
    } else {
        web::page_not_found(visitor).await
    }
}

/// For load balancers and monitors: 200 while the store answers, 503 while it does not.
async fn health(service: aweb::Data<crate::service::Service>) -> HttpResponse {
    match service.health().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unreachable");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
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

/// Ends the connection after a response whose request body was left unread.
///
/// Why: a handler that does not read its body (status, receipts, unknown routes) drops it, and
/// actix then drains a chunked body before the next request, with no deadline: a client
/// sending a chunk a second held its connection for ever. Here the body stays owned until the
/// response has been written, and actix closes a connection whose request body is still owned
/// and unfinished instead of draining it. Bodies that handlers do read are held to
/// `server.body_timeout` (`params::read_body`).
pub async fn close_on_unread_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let body = Rc::new(RefCell::new(Some(actix_web::HttpMessage::take_payload(
        &mut req,
    ))));
    req.set_payload(actix_web::dev::Payload::from(
        Box::pin(SharedBody(Rc::clone(&body))) as BoxedBodyStream,
    ));
    let res = next.call(req).await?;
    let unread = body.borrow_mut().take();
    Ok(res.map_body(|_, inner| HoldBody {
        inner: inner.boxed(),
        _request_body: unread,
    }))
}

type BoxedBodyStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<aweb::Bytes, actix_web::error::PayloadError>>>,
>;

/// The request body as the handler sees it, while [`close_on_unread_body`] keeps ownership.
struct SharedBody(Rc<RefCell<Option<actix_web::dev::Payload>>>);

impl futures_util::Stream for SharedBody {
    type Item = Result<aweb::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        match self.0.borrow_mut().as_mut() {
            Some(payload) => std::pin::Pin::new(payload).poll_next(cx),
            None => std::task::Poll::Ready(None),
        }
    }
}

/// A response body that keeps the unread request body alive until it has been sent.
struct HoldBody {
    inner: BoxBody,
    _request_body: Option<actix_web::dev::Payload>,
}

impl MessageBody for HoldBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<aweb::Bytes, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
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
    crate::metrics::request_finished(
        route.as_deref(),
        method.as_str(),
        res.status().as_u16(),
        started.elapsed(),
    );
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
