//! conceal and generate: a new secret from a v2 payload (`secret[...]`).

use actix_web::{HttpRequest, HttpResponse};

use super::error::V2Error;
use super::model::{
    self, ConcealDetails, ConcealRecord, ReceiptBase, RecordResponse, SecretRecord, SecretState,
};
use super::{caller, ok_json, UseCases, V2Params, Version};
use crate::crypto::CharSets;
use crate::domain::{unix_now, Caller, Receipt, RequestedTtl, Sensitive, GENERATE_LENGTH};
use crate::http::api::spend;
use crate::http::ratelimit::Action;
use crate::service::{CreateRequest, ServiceError};

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

/// What a v2 route answers.
type Answer = Result<HttpResponse, V2Error>;

pub(super) async fn conceal(req: HttpRequest, use_cases: UseCases, params: V2Params) -> Answer {
    create(req, use_cases, params, Kind::Conceal).await
}

pub(super) async fn generate(req: HttpRequest, use_cases: UseCases, params: V2Params) -> Answer {
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
