//! The creator's side: the receipt, its private note, burn and the recent list.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::V2Error;
use super::model::{
    ListResponse, ReceiptBase, ReceiptDetails, ReceiptListDetails, ReceiptRecord, RecordResponse,
    SecretDetails, SecretState,
};
use super::{caller, ok_json, Access, Surface, UseCases, V2Params};
use crate::domain::{unix_now, Receipt, ReceiptKey, Sensitive, State};
use crate::http::api::spend;
use crate::http::ratelimit::Action;
use crate::service::{Service, ServiceError};

fn receipt_key(raw: &str) -> Result<ReceiptKey, V2Error> {
    ReceiptKey::parse(raw).ok_or(V2Error::NotFound)
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
        secret_state: waiting.then_some(match receipt.previewed {
            Some(_) => SecretState::Previewed,
            None => SecretState::New,
        }),
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
pub(super) async fn show(
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
pub(super) async fn update(
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
pub(super) async fn burn(
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
pub(super) async fn recent(
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
