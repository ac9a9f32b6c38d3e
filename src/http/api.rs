//! The Onetime Secret v1 API handlers.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::{route_not_found, ApiError, JSON_UTF8};
use super::params::Params;
use crate::domain::Caller;
use crate::service::{unix_now, CreateRequest, Service};

/// Paths under which the receipt routes answer (Onetime Secret has all three).
const RECEIPT_PREFIXES: [&str; 3] = ["private", "metadata", "receipt"];

/// Registers every `/api/v1` route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("/api/v1")
        .service(resource("/status").route(web::get().to(status)))
        .service(resource("/authcheck").route(web::get().to(authcheck)))
        .service(resource("/share").route(web::post().to(share)))
        .service(resource("/create").route(web::post().to(share)))
        .service(resource("/generate").route(web::post().to(generate)))
        .service(resource("/secret/{key}").route(web::post().to(reveal)));
    // `recent` and `burn` are registered before `{key}` so they win the match.
    for prefix in RECEIPT_PREFIXES {
        scope = scope
            .service(resource(&format!("/{prefix}/recent")).route(web::get().to(recent)))
            .service(resource(&format!("/{prefix}/{{key}}/burn")).route(web::post().to(burn)))
            .service(
                resource(&format!("/{prefix}/{{key}}"))
                    .route(web::get().to(receipt))
                    .route(web::post().to(receipt)),
            );
    }
    cfg.service(scope.default_service(web::to(route_not_found)));
}

/// A resource whose unsupported methods answer like unknown routes.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(route_not_found))
}

/// Who is calling. No accounts exist yet, so any `Authorization` header is one we cannot
/// accept, and must be refused rather than ignored (API.md).
fn caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    if req.headers().contains_key(AUTHORIZATION) {
        return Err(ApiError::NotAuthorized);
    }
    Ok(Caller::Anonymous)
}

fn ok_json<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().content_type(JSON_UTF8).json(body)
}

async fn status(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    caller(&req)?;
    Ok(ok_json(&json!({ "status": "nominal", "locale": "en" })))
}

async fn authcheck(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    match caller(&req)? {
        // Only an authenticated caller passes; an anonymous one is not authorized here.
        Caller::Anonymous => Err(ApiError::NotAuthorized),
    }
}

async fn recent(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    match caller(&req)? {
        Caller::Anonymous => Err(ApiError::NotAuthorized),
    }
}

fn create_request(params: &Params) -> CreateRequest {
    CreateRequest {
        secret: params.sensitive("secret"),
        length: params.get("length").map(str::to_owned),
        ttl: params.get("ttl").map(str::to_owned),
        passphrase: params.sensitive("passphrase"),
        recipients: params.all("recipient"),
        share_domain: params.get("share_domain").map(str::to_owned),
    }
}

async fn share(
    req: HttpRequest,
    service: web::Data<Service>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&req)?;
    let receipt = service
        .share(&caller, create_request(&params), unix_now())
        .await?;
    Ok(ok_json(&receipt))
}

async fn generate(
    req: HttpRequest,
    service: web::Data<Service>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&req)?;
    let receipt = service
        .generate(&caller, create_request(&params), unix_now())
        .await?;
    Ok(ok_json(&receipt))
}

async fn reveal(
    req: HttpRequest,
    key: web::Path<String>,
    service: web::Data<Service>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    caller(&req)?;
    let passphrase = params.sensitive("passphrase");
    let revealed = service
        .reveal(&key, passphrase.as_ref(), unix_now())
        .await
        .map_err(|e| ApiError::from_service(e, &key))?;
    Ok(ok_json(&revealed))
}

async fn receipt(
    req: HttpRequest,
    key: web::Path<String>,
    service: web::Data<Service>,
) -> Result<HttpResponse, ApiError> {
    caller(&req)?;
    let receipt = service
        .receipt(&key, unix_now())
        .await
        .map_err(|e| ApiError::from_service(e, &key))?;
    Ok(ok_json(&receipt))
}

async fn burn(
    req: HttpRequest,
    key: web::Path<String>,
    service: web::Data<Service>,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    caller(&req)?;
    let passphrase = params.sensitive("passphrase");
    let burned = service
        .burn(&key, passphrase.as_ref(), unix_now())
        .await
        .map_err(|e| ApiError::from_service(e, &key))?;
    Ok(ok_json(&burned))
}
