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
use self::model::{
    ConcealDetails, ConcealRecord, ListResponse, LocalesBody, ReceiptBase, ReceiptDetails,
    ReceiptListDetails, ReceiptRecord, RecordResponse, SecretDetails, SecretRecord, SecretState,
    StatusBody, StatusDetails, UnknownRecord, VersionBody,
};
use super::api::{caller as authenticate, spend};
use super::error::JSON_UTF8;
use super::params::{extract_nested, Params};
use super::ratelimit::{Action, RateLimits};
use crate::accounts::Accounts;
use crate::crypto::CharSets;
use crate::domain::{
    unix_now, Caller, Receipt, ReceiptKey, RequestedTtl, SecretKey, Sensitive, State,
    GENERATE_LENGTH,
};
use crate::service::{CreateRequest, SecretStatus, Service, ServiceError};

pub mod error;
pub mod model;
pub mod openapi;

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
            .route(web::get().to(meta)),
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
                .route(web::post().to(batch_status)),
        )
        .service(
            resource("/secret/{key}/status")
                .app_data(surface)
                .route(web::get().to(secret_status)),
        );
    }
}

/// conceal, generate, reveal and show: the secret routes of every flavour, guest included.
fn create_and_reveal_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/secret/conceal").route(web::post().to(conceal)))
        .service(resource("/secret/generate").route(web::post().to(generate)))
        .service(resource("/secret/{key}/reveal").route(web::post().to(reveal)))
        .service(resource("/secret/{key}").route(web::get().to(show_secret)));
}

/// The secret routes of a scope whose [`Surface`] is already set: the statuses first, so
/// `/secret/status` is not taken for a key.
pub fn secret_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/secret/status").route(web::post().to(batch_status)))
        .service(resource("/secret/{key}/status").route(web::get().to(secret_status)))
        .configure(create_and_reveal_routes);
}

/// The receipt routes under `/<prefix>` (`receipt`, or v2's old `private`).
pub fn receipt_routes(cfg: &mut web::ServiceConfig, prefix: &str) {
    cfg.service(resource(&format!("/{prefix}/recent")).route(web::get().to(recent)))
        .service(resource(&format!("/{prefix}/{{key}}/burn")).route(web::post().to(burn)))
        .service(
            resource(&format!("/{prefix}/{{key}}"))
                .route(web::get().to(show_receipt))
                .route(web::patch().to(update_receipt)),
        );
}

/// The `/guest/*` routes (their scope's [`Surface`] says `Guest`): no status, recent or note.
pub fn guest_routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(create_and_reveal_routes)
        .service(resource("/receipt/{key}/burn").route(web::post().to(burn)))
        .service(resource("/receipt/{key}").route(web::get().to(show_receipt)));
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

fn secret_key(raw: &str) -> Result<SecretKey, V2Error> {
    SecretKey::parse(raw).ok_or(V2Error::NotFound)
}

fn receipt_key(raw: &str) -> Result<ReceiptKey, V2Error> {
    ReceiptKey::parse(raw).ok_or(V2Error::NotFound)
}

async fn meta(
    req: HttpRequest,
    which: web::Path<String>,
    service: web::Data<Service>,
    accounts: web::Data<Accounts>,
    surface: web::Data<Surface>,
) -> Result<HttpResponse, V2Error> {
    let success = surface.success(true);
    Ok(match which.as_str() {
        "status" => {
            // Public, like upstream's; a bad header is still refused.
            authenticate(&req, &accounts).await?;
            let status = if service.health().await.is_ok() {
                "nominal"
            } else {
                "offline"
            };
            ok_json(&StatusBody {
                success,
                status,
                locale: "en",
            })
        }
        "supported-locales" => ok_json(&LocalesBody {
            success,
            locales: crate::http::web::i18n::catalogs()
                .iter()
                .map(|c| c.lang)
                .collect(),
            default_locale: "en",
            locale: "en",
        }),
        "openapi.json" => ok_json(&openapi::document(surface.version)),
        // The exact build is what fingerprinting wants: accounts only, as upstream.
        _ => {
            caller(&req, &accounts, **surface).await?;
            ok_json(&VersionBody {
                success,
                version: env!("CARGO_PKG_VERSION")
                    .split('.')
                    .filter_map(|p| p.parse().ok())
                    .collect(),
                locale: "en",
            })
        }
    })
}

/// conceal and generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Conceal,
    Generate,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Conceal => "conceal",
            Self::Generate => "generate",
        }
    }

    fn disabled_code(self) -> &'static str {
        match self {
            Self::Conceal => "GUEST_CONCEAL_DISABLED",
            Self::Generate => "GUEST_GENERATE_DISABLED",
        }
    }
}

async fn conceal(
    req: HttpRequest,
    use_cases: UseCases,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    create(req, use_cases, params, Kind::Conceal).await
}

async fn generate(
    req: HttpRequest,
    use_cases: UseCases,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    create(req, use_cases, params, Kind::Generate).await
}

/// The create request from a v2 payload (`secret[...]`).
fn create_request(params: &V2Params, kind: Kind) -> Result<CreateRequest, V2Error> {
    if kind == Kind::Conceal && params.0.get("secret").is_some() {
        // `secret=value` flat: upstream reads only the `secret` object.
        return Err(V2Error::form("Incorrect payload format", Some("secret")));
    }
    let mut recipients = params.0.all("secret[recipient]");
    recipients.retain(|r| !r.trim().is_empty());
    let length = params.payload("length").map(str::to_owned);
    let charsets = charsets(params)?;
    if kind == Kind::Generate {
        if let Some(raw) = &length {
            match raw.trim().parse::<usize>() {
                Ok(n) if n > *GENERATE_LENGTH.end() => {
                    return Err(V2Error::form(
                        format!(
                            "Generated password length must be no more than {} characters",
                            GENERATE_LENGTH.end()
                        ),
                        Some("length"),
                    ))
                }
                Ok(n) if n >= *GENERATE_LENGTH.start() => {}
                _ => {
                    return Err(V2Error::form(
                        format!(
                            "Generated password length must be at least {} characters",
                            GENERATE_LENGTH.start()
                        ),
                        Some("length"),
                    ))
                }
            }
        }
    }
    Ok(CreateRequest {
        secret: (kind == Kind::Conceal)
            .then(|| params.payload_sensitive("secret"))
            .flatten(),
        length,
        ttl: params.payload("ttl").and_then(RequestedTtl::parse),
        passphrase: params.payload_sensitive("passphrase"),
        recipients,
        share_domain: params.payload("share_domain").map(str::to_owned),
        memo: params.payload_sensitive("memo"),
        charsets,
        // An end-to-end envelope made by a v1 or web client passes through as it is (its value);
        // v2 has no field that marks one.
        e2e: None,
    })
}

/// `secret[character_sets][...]`: every class on unless switched off; all off is refused.
fn charsets(params: &V2Params) -> Result<Option<CharSets>, V2Error> {
    let flag = |name: &str| params.0.get(&format!("secret[character_sets][{name}]"));
    let read = |name: &str, default: bool| -> Result<bool, V2Error> {
        match flag(name) {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(_) => Err(V2Error::form(
                format!("character_sets.{name} must be true or false"),
                Some("character_sets"),
            )),
        }
    };
    let names = [
        "uppercase",
        "lowercase",
        "numbers",
        "symbols",
        "exclude_ambiguous",
    ];
    if names.iter().all(|n| flag(n).is_none()) {
        return Ok(None);
    }
    let sets = CharSets {
        upper: read("uppercase", true)?,
        lower: read("lowercase", true)?,
        digits: read("numbers", true)?,
        symbols: read("symbols", true)?,
        exclude_ambiguous: read("exclude_ambiguous", true)?,
    };
    if !sets.any() {
        return Err(V2Error::form(
            "Choose at least one character set",
            Some("character_sets"),
        ));
    }
    Ok(Some(sets))
}

async fn create(
    req: HttpRequest,
    (service, accounts, limits, surface): UseCases,
    params: V2Params,
    kind: Kind,
) -> Result<HttpResponse, V2Error> {
    let caller = caller(&req, &accounts, **surface).await?;
    spend(&req, &limits, &caller, Action::Create).await?;
    let request = create_request(&params, kind)?;
    let created = match kind {
        Kind::Conceal => service.share(&caller, request, unix_now()).await,
        Kind::Generate => service.generate(&caller, request, unix_now()).await,
    };
    let mut receipt = created.map_err(|e| match e {
        // The operator switched anonymous creation off (`secrets.allow_anonymous = false`).
        ServiceError::NotAuthorized if caller == Caller::Anonymous => V2Error::GuestDisabled {
            op: kind.name(),
            code: kind.disabled_code(),
        },
        e => V2Error::from_service(e),
    })?;
    let value = receipt.value.take();
    let base = || ReceiptBase::from_receipt(&receipt, Some(kind.name()));
    let record = ConcealRecord {
        receipt: base(),
        metadata: (surface.version == Version::V2).then(base),
        secret: new_secret_record(&receipt, value),
        share_domain: Some(receipt.share_domain.clone()).filter(|d| !d.is_empty()),
    };
    let details = ConcealDetails {
        kind: kind.name(),
        recipient: receipt.recipient.clone(),
        recipient_safe: receipt.recipient.clone(),
    };
    Ok(ok_json(&RecordResponse {
        success: surface.success(true),
        record,
        details: Some(details),
    }))
}

/// The secret object of a secret just created; `value` is a generated password, which the
/// creator sees once (as v1's generate response does).
fn new_secret_record(receipt: &Receipt, value: Option<Sensitive>) -> SecretRecord {
    let key = receipt.secret_key.clone().unwrap_or_default();
    SecretRecord {
        shortid: model::prefix(&key),
        identifier: key.clone(),
        key,
        state: SecretState::New,
        lifespan: receipt.ttl,
        secret_ttl: receipt.secret_ttl.flatten().unwrap_or(0),
        has_passphrase: receipt.passphrase_required,
        verification: false,
        created: receipt.created,
        updated: receipt.updated,
        is_previewed: false,
        is_revealed: false,
        is_viewed: false,
        is_received: false,
        secret_value: value,
    }
}

/// The secret object of a secret that waits (or was just revealed, with its value).
fn secret_record(
    key: &SecretKey,
    status: &SecretStatus,
    now: u64,
    revealed: Option<Sensitive>,
) -> SecretRecord {
    let done = revealed.is_some();
    SecretRecord {
        identifier: key.as_str().to_owned(),
        key: key.as_str().to_owned(),
        shortid: model::prefix(key.as_str()),
        state: if done {
            SecretState::Revealed
        } else {
            SecretState::New
        },
        lifespan: status.expires_at.saturating_sub(status.created),
        secret_ttl: if done {
            0
        } else {
            status.expires_at.saturating_sub(now)
        },
        has_passphrase: status.passphrase_required,
        verification: false,
        created: status.created,
        updated: if done { now } else { status.created },
        is_previewed: false,
        is_revealed: done,
        is_viewed: false,
        is_received: done,
        secret_value: revealed,
    }
}

/// The first steps of show and reveal: who calls, their budget, and the waiting secret (or
/// `NotFound`), with the time they were read at.
async fn waiting(
    req: &HttpRequest,
    raw_key: &str,
    (service, accounts, limits, surface): &UseCases,
) -> Result<(SecretKey, SecretStatus, u64), V2Error> {
    let caller = caller(req, accounts, ***surface).await?;
    spend(req, limits, &caller, Action::Reveal).await?;
    let key = secret_key(raw_key)?;
    let now = unix_now();
    let status = service
        .secret_status(&key, now)
        .await?
        .ok_or(V2Error::NotFound)?;
    Ok((key, status, now))
}

/// A waiting secret described, not revealed.
fn described(
    surface: Surface,
    (key, status, now): &(SecretKey, SecretStatus, u64),
    continue_: bool,
) -> HttpResponse {
    ok_json(&RecordResponse {
        success: surface.success(true),
        record: secret_record(key, status, *now, None),
        details: Some(SecretDetails::new(
            continue_,
            !status.passphrase_required,
            None,
        )),
    })
}

/// GET /secret/{key}: describes the secret; never consumes it (link previews GET).
async fn show_secret(
    req: HttpRequest,
    key: web::Path<String>,
    use_cases: UseCases,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    let found = waiting(&req, &key, &use_cases).await?;
    Ok(described(**use_cases.3, &found, params.continues()))
}

/// POST /secret/{key}/reveal: with `continue=true`, reveals once and destroys; without, only
/// describes (as upstream does).
async fn reveal(
    req: HttpRequest,
    key: web::Path<String>,
    use_cases: UseCases,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    let found = waiting(&req, &key, &use_cases).await?;
    let (service, _, limits, surface) = use_cases;
    if !params.continues() {
        return Ok(described(**surface, &found, false));
    }
    let (key, status, now) = found;
    let passphrase = params.0.sensitive("passphrase");
    let revealed = service
        .reveal(&key, passphrase.as_ref(), limits.client_ip(&req), now)
        .await?;
    let details = SecretDetails::new(true, true, Some(revealed.value.expose()));
    Ok(ok_json(&RecordResponse {
        success: surface.success(true),
        record: secret_record(&key, &status, now, Some(revealed.value)),
        details: Some(details),
    }))
}

/// GET /secret/{key}/status: `{"record":{"state":"unknown"}}` for a secret that is not there
/// (a 200: asking is not an error).
async fn secret_status(
    req: HttpRequest,
    key: web::Path<String>,
    (service, accounts, _, surface): UseCases,
) -> Result<HttpResponse, V2Error> {
    caller(&req, &accounts, **surface).await?;
    let now = unix_now();
    let status = match SecretKey::parse(&key) {
        Some(key) => service
            .secret_status(&key, now)
            .await?
            .map(|status| (key, status)),
        None => None,
    };
    Ok(match status {
        Some((key, status)) => ok_json(&RecordResponse {
            success: surface.success(true),
            details: Some(StatusDetails {
                current_expiration: Some(status.expires_at.saturating_sub(now)),
            }),
            record: secret_record(&key, &status, now, None),
        }),
        None => ok_json(&RecordResponse::<_, StatusDetails> {
            success: surface.success(true),
            record: UnknownRecord { state: "unknown" },
            details: None,
        }),
    })
}

/// POST /secret/status: the waiting secrets among `identifiers` (comma-separated, or
/// repeated), at most [`BATCH_MAX`].
async fn batch_status(
    req: HttpRequest,
    (service, accounts, _, surface): UseCases,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    caller(&req, &accounts, **surface).await?;
    let ids: Vec<String> = params
        .0
        .all("identifiers")
        .iter()
        .flat_map(|list| list.split(','))
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .collect();
    if ids.len() > BATCH_MAX {
        return Err(V2Error::form(
            format!("At most {BATCH_MAX} identifiers per request"),
            Some("identifiers"),
        ));
    }
    let now = unix_now();
    let mut records = Vec::new();
    for id in &ids {
        let Some(key) = SecretKey::parse(id) else {
            continue;
        };
        if let Some(status) = service.secret_status(&key, now).await? {
            records.push(secret_record(&key, &status, now, None));
        }
    }
    Ok(ok_json(&ListResponse::<_, ReceiptListDetails> {
        success: surface.success(true),
        custid: None,
        count: records.len(),
        records,
        details: None,
    }))
}

/// The full receipt object: the base and where everything is.
pub fn receipt_record(service: &Service, receipt: &Receipt) -> ReceiptRecord {
    let key = &receipt.metadata_key;
    let waiting = receipt.state == State::New;
    let share_path = receipt
        .secret_key
        .as_ref()
        .filter(|_| waiting)
        .map(|k| format!("/secret/{k}"));
    let left = receipt.secret_ttl.flatten().filter(|_| waiting);
    ReceiptRecord {
        base: ReceiptBase::from_receipt(receipt, None),
        secret_state: waiting.then_some(SecretState::New),
        natural_expiration: crate::http::web::i18n::catalogs()[0].duration(receipt.ttl),
        expiration: left.map(|_| receipt.created + receipt.ttl),
        expiration_in_seconds: left.unwrap_or(0),
        share_path,
        burn_path: format!("/receipt/{key}/burn"),
        receipt_path: format!("/receipt/{key}"),
        metadata_path: format!("/receipt/{key}"),
        share_url: service.secret_link(receipt),
        receipt_url: receipt.metadata_url.clone(),
        metadata_url: receipt.metadata_url.clone(),
        burn_url: format!("{}/burn", receipt.metadata_url),
    }
}

fn receipt_details(receipt: &mut Receipt) -> ReceiptDetails {
    let waiting = receipt.state == State::New;
    let value = receipt.value.take();
    ReceiptDetails {
        kind: "record",
        display_lines: SecretDetails::new(false, true, value.as_ref().map(Sensitive::expose))
            .display_lines,
        no_cache: true,
        secret_realttl: receipt.secret_ttl.flatten().filter(|_| waiting),
        has_passphrase: receipt.passphrase_required,
        can_decrypt: waiting,
        show_secret: value.is_some(),
        secret_value: value,
        show_secret_link: waiting,
        show_receipt_link: false,
        show_receipt: true,
        show_recipients: !receipt.recipient.is_empty(),
    }
}

/// GET /receipt/{key}: holding the receipt key is the capability; no account needed.
async fn show_receipt(
    req: HttpRequest,
    key: web::Path<String>,
    (service, accounts, _, surface): UseCases,
) -> Result<HttpResponse, V2Error> {
    caller(&req, &accounts, **surface).await?;
    let key = receipt_key(&key)?;
    let receipt = service.receipt(&key, unix_now()).await?;
    Ok(receipt_answer(&service, **surface, receipt, true))
}

/// The answer of show and burn: the full receipt and what to show; `done` says whether the
/// action happened (v2's `success`).
fn receipt_answer(
    service: &Service,
    surface: Surface,
    mut receipt: Receipt,
    done: bool,
) -> HttpResponse {
    let details = receipt_details(&mut receipt);
    ok_json(&RecordResponse {
        success: surface.success(done),
        record: receipt_record(service, &receipt),
        details: Some(details),
    })
}

/// PATCH /receipt/{key}: sets the private note (`memo`; empty removes it). The creating
/// account only (HTTP Basic); the receipt key alone is not enough to change it.
async fn update_receipt(
    req: HttpRequest,
    key: web::Path<String>,
    (service, accounts, _, surface): UseCases,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    let caller = caller(&req, &accounts, **surface).await?;
    let key = receipt_key(&key)?;
    let now = unix_now();
    let receipt = match params.0.sensitive("memo") {
        Some(memo) => service.update_memo(&caller, &key, &memo, now).await,
        None => service.receipt_status(&key, now).await,
    }
    .map_err(|e| match e {
        ServiceError::NotAuthorized => V2Error::Unauthorized,
        e => V2Error::from_service(e),
    })?;
    Ok(ok_json(&RecordResponse::<_, ReceiptDetails> {
        success: surface.success(true),
        record: ReceiptBase::from_receipt(&receipt, None),
        details: None,
    }))
}

/// POST /receipt/{key}/burn: with `continue=true`, destroys the unread secret; without, sends
/// the receipt back unchanged with `success: false` (as upstream does).
async fn burn(
    req: HttpRequest,
    key: web::Path<String>,
    (service, accounts, limits, surface): UseCases,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    let caller = caller(&req, &accounts, **surface).await?;
    // A burn with a passphrase costs a derivation, like a reveal: same budget.
    spend(&req, &limits, &caller, Action::Reveal).await?;
    let key = receipt_key(&key)?;
    let now = unix_now();
    if !params.continues() {
        let receipt = service.receipt_status(&key, now).await?;
        return Ok(receipt_answer(&service, **surface, receipt, false));
    }
    // A missing or wrong passphrase is upstream's "Incorrect passphrase" (V2Error's mapping).
    let passphrase = params.0.sensitive("passphrase");
    let burned = service
        .burn(
            &caller,
            &key,
            passphrase.as_ref(),
            limits.client_ip(&req),
            now,
        )
        .await?;
    Ok(receipt_answer(&service, **surface, burned.state, true))
}

/// GET /receipt/recent: the caller's receipts of the last 30 days, newest first.
async fn recent(
    req: HttpRequest,
    (service, accounts, _, surface): UseCases,
) -> Result<HttpResponse, V2Error> {
    let required = Surface {
        access: Access::Required,
        ..**surface
    };
    let caller = caller(&req, &accounts, required).await?;
    let now = unix_now();
    let receipts = service.recent(&caller, now).await?;
    let records: Vec<ReceiptBase> = receipts
        .iter()
        .map(|r| ReceiptBase::from_receipt(r, None))
        .collect();
    Ok(ok_json(&ListResponse {
        success: surface.success(true),
        custid: Some(caller.custid().to_owned()),
        count: records.len(),
        details: Some(ReceiptListDetails {
            kind: "list",
            scope: None,
            since: now.saturating_sub(crate::domain::RECENT_WINDOW),
            now,
            has_items: !records.is_empty(),
        }),
        records,
    }))
}
