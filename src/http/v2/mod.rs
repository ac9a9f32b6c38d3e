//! The Onetime Secret v2 API (`/api/v2`), whose handlers also serve the v3 routes
//! (`crate::http::v3`): upstream's v3 is v2 without `success` and the `metadata` alias.
//!
//! Every route calls the use cases in `crate::service`; what differs between versions and
//! between the authenticated, optional and guest flavours of a route is a [`Surface`] set on
//! the route's scope.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};

use self::error::V2Error;
use super::api::caller as authenticate;
use super::error::JSON_UTF8;
use super::params::{extract_nested, Params};
use super::ratelimit::RateLimits;
use crate::accounts::Accounts;
use crate::domain::{Caller, Sensitive};
use crate::service::Service;

mod create;
pub mod error;
mod meta;
pub mod model;
pub mod openapi;
pub mod operations;
mod receipt;
mod secret;

pub use self::receipt::receipt_record;

/// Most identifiers one batch status request may ask about: every one is a store read.
pub const BATCH_MAX: usize = 100;

/// Which API version a route answers as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Sends `success` and the `metadata` alias.
    V2,
    /// Sends neither.
    V3,
}

/// Who a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// HTTP Basic or nobody; a bad `Authorization` header is refused.
    Optional,
    /// HTTP Basic only.
    Required,
    /// Nobody: `/guest/*` treats every caller as anonymous.
    Guest,
}

/// A route's version and access, set as app data on its scope.
#[derive(Debug, Clone, Copy)]
pub struct Surface {
    /// Response shape.
    pub version: Version,
    /// Who may call.
    pub access: Access,
}

impl Surface {
    fn success(self, done: bool) -> Option<bool> {
        (self.version == Version::V2).then_some(done)
    }
}

/// Registers every `/api/v2` route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let surface = |access| Surface {
        version: Version::V2,
        access,
    };
    cfg.service(
        web::scope("/api/v2")
            .configure(|cfg| meta_routes(cfg, Version::V2))
            .service(
                web::scope("/guest")
                    .app_data(web::Data::new(surface(Access::Guest)))
                    .configure(guest_routes)
                    .default_service(web::to(error::not_found)),
            )
            .service(
                web::scope("")
                    .app_data(web::Data::new(surface(Access::Optional)))
                    .configure(secret_routes)
                    .configure(|cfg| receipt_routes(cfg, "receipt"))
                    .configure(|cfg| receipt_routes(cfg, "private"))
                    .default_service(web::to(error::not_found)),
            ),
    );
}

/// `/status`, `/version`, `/supported-locales` and the OpenAPI description, answering as
/// `version`.
pub fn meta_routes(cfg: &mut web::ServiceConfig, version: Version) {
    cfg.service(
        resource("/{meta:status|version|supported-locales|openapi.json}")
            .app_data(web::Data::new(Surface {
                version,
                access: Access::Required,
            }))
            .route(web::get().to(meta::meta)),
    );
}

/// The two status routes, answering with `surface` whatever their scope's is (v3 keeps them
/// public while its other secret routes want an account). Registered before
/// [`secret_routes`], so they win the match.
pub fn status_routes(surface: web::Data<Surface>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            resource("/secret/status")
                .app_data(surface.clone())
                .route(web::post().to(secret::batch_status)),
        )
        .service(
            resource("/secret/{key}/status")
                .app_data(surface)
                .route(web::get().to(secret::status)),
        );
    }
}

/// conceal, generate, reveal and show: the secret routes of every flavour, guest included.
fn create_and_reveal_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/secret/conceal").route(web::post().to(create::conceal)))
        .service(resource("/secret/generate").route(web::post().to(create::generate)))
        .service(resource("/secret/{key}/reveal").route(web::post().to(secret::open)))
        .service(resource("/secret/{key}").route(web::get().to(secret::open)));
}

/// The secret routes of a scope whose [`Surface`] is already set: the statuses first, so
/// `/secret/status` is not taken for a key.
pub fn secret_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/secret/status").route(web::post().to(secret::batch_status)))
        .service(resource("/secret/{key}/status").route(web::get().to(secret::status)))
        .configure(create_and_reveal_routes);
}

/// The receipt routes under `/<prefix>` (`receipt`, or v2's old `private`).
pub fn receipt_routes(cfg: &mut web::ServiceConfig, prefix: &str) {
    cfg.service(resource(&format!("/{prefix}/recent")).route(web::get().to(receipt::recent)))
        .service(resource(&format!("/{prefix}/{{key}}/burn")).route(web::post().to(receipt::burn)))
        .service(
            resource(&format!("/{prefix}/{{key}}"))
                .route(web::get().to(receipt::show))
                .route(web::patch().to(receipt::update)),
        );
}

/// The `/guest/*` routes (their scope's [`Surface`] says `Guest`): no status, recent or note.
pub fn guest_routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(create_and_reveal_routes)
        .service(resource("/receipt/{key}/burn").route(web::post().to(receipt::burn)))
        .service(resource("/receipt/{key}").route(web::get().to(receipt::show)));
}

/// A resource whose other methods answer like unknown routes.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(error::not_found))
}

/// The request parameters, JSON objects opened into bracketed names; errors in v2's shape.
pub struct V2Params(pub Params);

impl FromRequest for V2Params {
    type Error = V2Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fut = extract_nested(req.clone(), payload.take());
        Box::pin(async move { fut.await.map(V2Params).map_err(V2Error::from) })
    }
}

impl V2Params {
    /// A field of the `secret` payload: `secret[name]`.
    fn payload(&self, name: &str) -> Option<&str> {
        self.0.get(&format!("secret[{name}]"))
    }

    fn payload_sensitive(&self, name: &str) -> Option<Sensitive> {
        self.payload(name).map(|v| Sensitive::new(v.to_owned()))
    }

    /// `continue=true`: the client means it (reveal, burn).
    fn continues(&self) -> bool {
        self.0.get("continue") == Some("true")
    }
}

/// The use cases most handlers need.
type UseCases = (
    web::Data<Service>,
    web::Data<Accounts>,
    web::Data<RateLimits>,
    web::Data<Surface>,
);

/// Who is calling, as the route's access allows.
async fn caller(
    req: &HttpRequest,
    accounts: &Accounts,
    surface: Surface,
) -> Result<Caller, V2Error> {
    if surface.access == Access::Guest {
        return Ok(Caller::Anonymous);
    }
    let caller = authenticate(req, accounts).await?;
    if surface.access == Access::Required && caller == Caller::Anonymous {
        return Err(V2Error::Unauthorized);
    }
    Ok(caller)
}

fn ok_json<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().content_type(JSON_UTF8).json(body)
}
