//! The Onetime Secret v1 API handlers.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::json;

use super::error::{api_not_found, ApiError, JSON_UTF8};
use super::params::Params;
use super::ratelimit::{Action, RateLimits};
use crate::accounts::Accounts;
use crate::domain::{unix_now, Caller, ReceiptKey, RequestedTtl, SecretKey};
use crate::service::{CreateRequest, KeyProof, Service, ServiceError};

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
    cfg.service(scope.default_service(web::to(api_not_found)));
}

/// A resource whose unsupported methods answer like unknown routes.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(api_not_found))
}

/// `(email, token)` from `Authorization: Basic base64(email:token)`, or `None` for any header
/// that is not exactly that with both parts present.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (email, token) = text.split_once(':')?;
    (!email.is_empty() && !token.is_empty()).then(|| (email.to_owned(), token.to_owned()))
}

/// Who is calling. No header: anonymous. A header that does not prove an account is refused,
/// even where anonymous callers are welcome (API.md): a client that meant to authenticate
/// must learn that it did not.
pub(super) async fn caller(req: &HttpRequest, accounts: &Accounts) -> Result<Caller, ApiError> {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let (email, token) = header
        .to_str()
        .ok()
        .and_then(basic_credentials)
        .ok_or(ApiError::NotAuthorized)?;
    accounts
        .authenticate(&email, &token)
        .await
        .map_err(|e| ApiError::from_storage(&e))?
        .ok_or(ApiError::NotAuthorized)
}

/// Spends one `action` from the client's budget; accounts are exempt.
pub(super) async fn spend(
    req: &HttpRequest,
    limits: &RateLimits,
    caller: &Caller,
    action: Action,
) -> Result<(), ApiError> {
    match caller {
        Caller::Account { .. } => Ok(()),
        Caller::Anonymous => {
            limits
                .spend(action, limits.client_ip(req), unix_now())
                .await
        }
    }
}

/// `Unknown secret` for `key` as the path gave it: a key that cannot be ours, or one the use
/// case does not know.
fn unknown(key: &str) -> ApiError {
    ApiError::Unknown {
        key: key.to_owned(),
    }
}

fn ok_json<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().content_type(JSON_UTF8).json(body)
}

fn nominal() -> HttpResponse {
    ok_json(&json!({ "status": "nominal", "locale": "en" }))
}

/// `nominal` while the store answers, `offline` while it does not (Redis down).
async fn status(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    service: web::Data<Service>,
) -> Result<HttpResponse, ApiError> {
    caller(&req, &accounts).await?;
    if service.health().await.is_err() {
        return Ok(ok_json(&json!({ "status": "offline", "locale": "en" })));
    }
    Ok(nominal())
}

async fn authcheck(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    match caller(&req, &accounts).await? {
        Caller::Anonymous => Err(ApiError::NotAuthorized),
        Caller::Account { .. } => Ok(nominal()),
    }
}

async fn recent(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    service: web::Data<Service>,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&req, &accounts).await?;
    let receipts = service.recent(&caller, unix_now()).await?;
    Ok(ok_json(&receipts))
}

fn create_request(params: &Params) -> CreateRequest {
    CreateRequest {
        secret: params.sensitive("secret"),
        length: params.get("length").map(str::to_owned),
        ttl: params.get("ttl").and_then(RequestedTtl::parse),
        passphrase: params.sensitive("passphrase"),
        recipients: params.all("recipient"),
        share_domain: params.get("share_domain").map(str::to_owned),
        memo: params.sensitive("memo"),
        charsets: None,
        e2e: params.e2e_share(),
    }
}

/// The use cases every create, reveal and burn handler needs besides its own parameters.
type UseCases = (
    web::Data<Service>,
    web::Data<Accounts>,
    web::Data<RateLimits>,
);

async fn share(
    req: HttpRequest,
    use_cases: UseCases,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    create(req, use_cases, params, false).await
}

async fn generate(
    req: HttpRequest,
    use_cases: UseCases,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    create(req, use_cases, params, true).await
}

/// share and generate: the same checks and limits, a given or a generated value.
async fn create(
    req: HttpRequest,
    (service, accounts, limits): UseCases,
    params: Params,
    generated: bool,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&req, &accounts).await?;
    spend(&req, &limits, &caller, Action::Create).await?;
    let request = create_request(&params);
    let receipt = if generated {
        service.generate(&caller, request, unix_now()).await?
    } else {
        service.share(&caller, request, unix_now()).await?
    };
    Ok(ok_json(&receipt))
}

async fn reveal(
    req: HttpRequest,
    key: web::Path<String>,
    (service, accounts, limits): UseCases,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&req, &accounts).await?;
    spend(&req, &limits, &caller, Action::Reveal).await?;
    let secret_key = SecretKey::parse(&key).ok_or_else(|| unknown(&key))?;
    let passphrase = params.sensitive("passphrase");
    // An end-to-end client may prove its key; a plain v1 client gets the envelope as `value`.
    // `require_key=1` (a client without the link's key) keeps an end-to-end secret unread.
    let proof = KeyProof {
        verifier: params.get("verifier").filter(|v| !v.is_empty()),
        required: params
            .get("require_key")
            .is_some_and(|v| v == "1" || v == "true"),
    };
    let revealed = service
        .reveal_proven(
            &secret_key,
            passphrase.as_ref(),
            proof,
            limits.client_ip(&req),
            unix_now(),
        )
        .await
        .map_err(|e| match e {
            // The v1 API does not tell a missing or wrong passphrase from a missing secret.
            ServiceError::PassphraseRequired
            | ServiceError::WrongPassphrase
            | ServiceError::Locked => ApiError::Unknown {
                key: key.to_string(),
            },
            e => ApiError::from_service(e, &key),
        })?;
    Ok(ok_json(&revealed))
}

async fn receipt(
    req: HttpRequest,
    key: web::Path<String>,
    service: web::Data<Service>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    caller(&req, &accounts).await?;
    let receipt_key = ReceiptKey::parse(&key).ok_or_else(|| unknown(&key))?;
    let receipt = service
        .receipt(&receipt_key, unix_now())
        .await
        .map_err(|e| ApiError::from_service(e, &key))?;
    Ok(ok_json(&receipt))
}

async fn burn(
    req: HttpRequest,
    key: web::Path<String>,
    (service, accounts, limits): UseCases,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&req, &accounts).await?;
    // A burn with a passphrase runs the same scrypt as a reveal: same budget.
    spend(&req, &limits, &caller, Action::Reveal).await?;
    let receipt_key = ReceiptKey::parse(&key).ok_or_else(|| unknown(&key))?;
    let passphrase = params.sensitive("passphrase");
    let burned = service
        .burn(
            &caller,
            &receipt_key,
            passphrase.as_ref(),
            limits.client_ip(&req),
            unix_now(),
        )
        .await
        .map_err(|e| ApiError::from_service(e, &key))?;
    Ok(ok_json(&burned))
}

#[cfg(test)]
mod tests {
    use super::basic_credentials;

    #[test]
    fn basic_credentials_need_both_parts() {
        // "alice@example.com:tok"
        let ok = basic_credentials("Basic YWxpY2VAZXhhbXBsZS5jb206dG9r");
        assert_eq!(ok, Some(("alice@example.com".into(), "tok".into())));
        assert!(basic_credentials("basic YWxpY2VAZXhhbXBsZS5jb206dG9r").is_some());
        for bad in [
            "Bearer abc",
            "Basic",
            "Basic !!!",
            "Basic Og==",
            "Basic YTo=",
            "Basic OmI=",
        ] {
            assert_eq!(basic_credentials(bad), None, "{bad}");
        }
    }
}
