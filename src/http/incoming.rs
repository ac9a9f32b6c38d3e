//! The incoming-secrets API (`/api/incoming`), as upstream defines it: `GET /config` (the
//! recipients by name and digest), `POST /validate` (does a digest name a recipient) and
//! `POST /secret` (send a secret to one). Anonymous, errors in v2's shape. The answer to
//! `/secret` never carries a key or a link: the recipient gets the link by mail, the sender
//! nothing to open it with.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::JSON_UTF8;
use super::ratelimit::RateLimits;
use super::v2::error::{self, V2Error};
use super::v2::model::prefix;
use super::v2::V2Params;
use crate::domain::unix_now;
use crate::service::{IncomingConfig, IncomingError, IncomingRequest, Service};

/// Registers `/api/incoming/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/incoming")
            .configure(routes)
            .default_service(web::to(error::not_found)),
    );
}

/// `/config`, `/validate` and `/secret` below their scope: `/api/incoming`, and v3's
/// `/api/v3/incoming` (upstream serves them at both).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/config").route(web::get().to(config)))
        .service(resource("/validate").route(web::post().to(validate)))
        .service(resource("/secret").route(web::post().to(secret)));
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(error::not_found))
}

/// A recipient as visitors see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientBody {
    /// Keyed digest of the address: what `/validate` and `/secret` take.
    pub digest: String,
    /// The name the operator gave.
    pub display_name: String,
}

/// `config` of `GET /config`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigBody {
    /// Whether the feature is on.
    pub enabled: bool,
    /// Longest memo, characters.
    pub memo_max_length: usize,
    /// Largest secret, bytes.
    pub secret_max_length: usize,
    /// Lifetime of an incoming secret, seconds.
    pub default_ttl: u64,
    /// Who can be sent a secret.
    pub recipients: Vec<RecipientBody>,
}

impl From<IncomingConfig> for ConfigBody {
    fn from(c: IncomingConfig) -> Self {
        Self {
            enabled: c.enabled,
            memo_max_length: c.memo_max_length,
            secret_max_length: c.secret_max_length,
            default_ttl: c.default_ttl,
            recipients: c
                .recipients
                .into_iter()
                .map(|r| RecipientBody {
                    digest: r.digest,
                    display_name: r.name,
                })
                .collect(),
        }
    }
}

/// What `POST /secret` tells the sender: that it went, never where to open it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentReceipt {
    /// First 8 characters of the receipt key, to quote when asking about it.
    pub shortid: String,
    /// Always `new`.
    pub state: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// Lifetime, seconds.
    pub lifespan: u64,
    /// Always false: incoming secrets have no passphrase.
    pub has_passphrase: bool,
    /// Always `incoming`.
    pub source: &'static str,
    /// The recipient's name.
    pub recipient_name: String,
}

fn ok_json<T: Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().content_type(JSON_UTF8).json(body)
}

/// How an incoming refusal reads in the API.
pub fn api_error(e: IncomingError) -> V2Error {
    match e {
        IncomingError::Disabled => V2Error::form(e.to_string(), None),
        IncomingError::RecipientRequired | IncomingError::InvalidRecipient => {
            V2Error::form(e.to_string(), Some("recipient"))
        }
        IncomingError::SecretRequired => V2Error::form(e.to_string(), Some("secret")),
        IncomingError::Limited => V2Error::Limited {
            message: "Too many incoming secret submissions. Please try again later.",
            retry_after: 3600,
        },
        IncomingError::Service(e) => V2Error::from_service(e),
    }
}

async fn config(service: web::Data<Service>) -> HttpResponse {
    ok_json(&serde_json::json!({ "config": ConfigBody::from(service.incoming_config()) }))
}

async fn validate(service: web::Data<Service>, params: V2Params) -> Result<HttpResponse, V2Error> {
    let recipient = params.0.get("recipient").unwrap_or("").trim().to_owned();
    let valid = service.incoming_valid(&recipient).map_err(api_error)?;
    Ok(ok_json(
        &serde_json::json!({ "recipient": recipient, "valid": valid }),
    ))
}

async fn secret(
    req: HttpRequest,
    service: web::Data<Service>,
    limits: web::Data<RateLimits>,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    if params.0.get("secret").is_some() {
        return Err(V2Error::form("Incorrect payload format", Some("secret")));
    }
    let field = |name: &str| params.0.sensitive(&format!("secret[{name}]"));
    let recipient = params
        .0
        .get("secret[recipient]")
        .unwrap_or("")
        .trim()
        .to_owned();
    let request = IncomingRequest {
        recipient: recipient.clone(),
        secret: field("secret"),
        memo: field("memo"),
    };
    let (name, receipt) = service
        .send_incoming(request, limits.client_ip(&req), unix_now())
        .await
        .map_err(api_error)?;
    let sent = SentReceipt {
        shortid: prefix(&receipt.metadata_key),
        state: "new",
        created: receipt.created,
        lifespan: receipt.ttl,
        has_passphrase: false,
        source: "incoming",
        recipient_name: name,
    };
    let memo = receipt.memo.as_ref().map(|m| m.expose().to_owned());
    Ok(ok_json(&serde_json::json!({
        "success": true,
        "record": { "receipt": sent },
        "details": { "memo": memo, "recipient": recipient },
    })))
}
