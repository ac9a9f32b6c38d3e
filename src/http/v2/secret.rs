//! The recipient's side: show (preview), reveal and the status routes.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::V2Error;
use super::model::{
    self, ListResponse, ReceiptListDetails, RecordResponse, SecretDetails, SecretRecord,
    SecretState, StatusDetails, UnknownRecord,
};
use super::{caller, ok_json, UseCases, V2Params, BATCH_MAX};
use crate::domain::{unix_now, SecretKey, Sensitive};
use crate::http::api::spend;
use crate::http::ratelimit::Action;
use crate::service::SecretStatus;

fn secret_key(raw: &str) -> Result<SecretKey, V2Error> {
    SecretKey::parse(raw).ok_or(V2Error::NotFound)
}

/// The secret object of a secret that waits (or was just revealed, with its value).
fn secret_record(
    key: &SecretKey,
    status: &SecretStatus,
    now: u64,
    revealed: Option<Sensitive>,
) -> SecretRecord {
    let done = revealed.is_some();
    let previewed = status.previewed.is_some() && !done;
    SecretRecord {
        identifier: key.as_str().to_owned(),
        key: key.as_str().to_owned(),
        shortid: model::prefix(key.as_str()),
        state: match (done, previewed) {
            (true, _) => SecretState::Revealed,
            (false, true) => SecretState::Previewed,
            (false, false) => SecretState::New,
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
        updated: match (done, status.previewed) {
            (true, _) => now,
            (false, Some(at)) => at,
            (false, None) => status.created,
        },
        is_previewed: previewed,
        is_revealed: done,
        is_viewed: previewed,
        is_received: done,
        secret_value: revealed,
    }
}

/// GET /secret/{key} (show) and POST /secret/{key}/reveal. Show describes the secret and
/// never consumes it (link previews GET); reveal, with `continue=true`, reveals once and
/// destroys, and without it only describes (as upstream does). One handler, so both take the
/// same steps (caller, budget, the waiting secret) before they differ.
pub(super) async fn open(
    req: HttpRequest,
    raw_key: web::Path<String>,
    (service, accounts, limits, surface): UseCases,
    params: V2Params,
) -> Result<HttpResponse, V2Error> {
    let caller = caller(&req, &accounts, **surface).await?;
    spend(&req, &limits, &caller, Action::Reveal).await?;
    let key = secret_key(&raw_key)?;
    let now = unix_now();
    let reveals = req.method() == Method::POST && params.continues();
    // Show is the preview upstream records (a bot's GET included); a reveal needs no mark.
    let status = if reveals {
        service.secret_status(&key, now).await?
    } else {
        service.preview(&key, now).await?
    };
    let status = status.ok_or(V2Error::NotFound)?;
    if !reveals {
        return Ok(ok_json(&RecordResponse {
            success: surface.success(true),
            record: secret_record(&key, &status, now, None),
            details: Some(SecretDetails::new(
                params.continues(),
                !status.passphrase_required,
                None,
            )),
        }));
    }
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
pub(super) async fn status(
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
pub(super) async fn batch_status(
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
