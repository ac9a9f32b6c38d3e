//! The recipient's pages: the interstitial under a secret link, and the one reveal.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::super::i18n::Catalog;
use super::super::refusal::Refusal;
use super::super::{Failure, Form, PageCtx, Visitor};
use super::{accept, passphrase_refusal};
use crate::domain::{unix_now, SecretKey};
use crate::http::ratelimit::{Action, RateLimits};
use crate::service::{KeyProof, Service, ServiceError};

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    key: &'a str,
    passphrase_required: bool,
    /// End-to-end: `Some(true)`, server-side: `Some(false)`, unknown until the passphrase
    /// opens it: `None`.
    e2e: Option<bool>,
    error: Refusal,
}

fn secret_page(
    visitor: &Visitor,
    key: &str,
    passphrase_required: bool,
    e2e: Option<bool>,
    status: StatusCode,
    error: Refusal,
) -> HttpResponse {
    let page = visitor.ctx();
    visitor.render(
        status,
        &SecretPage {
            t: visitor.t,
            page: &page,
            key,
            passphrase_required,
            e2e,
            error,
        },
    )
}

/// `GET /secret/{key}`: only says a secret is waiting. Never reveals it, whoever asks (link
/// previews, mail scanners and prefetchers only GET); marks its receipt previewed (v1 `viewed`,
/// v2 `previewed`), which is what such a GET means.
pub(super) async fn interstitial(
    visitor: Visitor,
    key: web::Path<String>,
    service: web::Data<Service>,
) -> HttpResponse {
    let Some(secret_key) = SecretKey::parse(&key) else {
        return visitor.failure(Failure::Gone);
    };
    match service.preview(&secret_key, unix_now()).await {
        Ok(Some(status)) => {
            let error = if status.locked {
                Refusal::general(visitor.t.get("error.locked"))
            } else {
                Refusal::none()
            };
            secret_page(
                &visitor,
                &key,
                status.passphrase_required,
                status.e2e,
                StatusCode::OK,
                error,
            )
        }
        Ok(None) => visitor.failure(Failure::Gone),
        Err(e) => visitor.failure(Failure::from_service(e)),
    }
}

#[derive(Template)]
#[template(path = "revealed.html")]
struct RevealedPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    value: &'a str,
    rows: usize,
    /// `value` is an envelope for static/e2e.js to open with the link's key.
    e2e: bool,
}

/// `POST /secret/{key}`: reveals the secret once.
pub(super) async fn reveal(
    visitor: Visitor,
    key: web::Path<String>,
    service: web::Data<Service>,
    limits: web::Data<RateLimits>,
    form: Form,
) -> HttpResponse {
    let form = match accept(&visitor, form, &limits, Action::Reveal).await {
        Ok(form) => form,
        Err(failure) => return visitor.failure(failure),
    };
    let Some(secret_key) = SecretKey::parse(&key) else {
        return visitor.failure(Failure::Gone);
    };
    let t = visitor.t;
    let now = unix_now();
    let passphrase = form.sensitive("passphrase");
    // static/e2e.js sends the verifier of the link's key; without it (no JavaScript, no key)
    // an end-to-end secret is refused and stays unread.
    let proof = KeyProof {
        verifier: form.get("verifier").filter(|v| !v.is_empty()),
        required: true,
    };
    match service
        .reveal_proven(&secret_key, passphrase.as_ref(), proof, visitor.ip, now)
        .await
    {
        Ok(revealed) => {
            let value = revealed.value.expose();
            let rows = value.lines().count().clamp(3, 20);
            let page = visitor.ctx();
            visitor.render(
                StatusCode::OK,
                &RevealedPage {
                    t,
                    page: &page,
                    value,
                    rows,
                    e2e: revealed.e2e,
                },
            )
        }
        Err(ServiceError::KeyRequired) => secret_page(
            &visitor,
            &key,
            passphrase.is_some(),
            Some(true),
            StatusCode::BAD_REQUEST,
            Refusal::general(t.get("e2e.key_required")),
        ),
        Err(ServiceError::WrongKey) => secret_page(
            &visitor,
            &key,
            passphrase.is_some(),
            Some(true),
            StatusCode::BAD_REQUEST,
            Refusal::general(t.get("e2e.wrong_key")),
        ),
        Err(e) => match passphrase_refusal(t, &e) {
            Some((status, refusal)) => secret_page(&visitor, &key, true, None, status, refusal),
            None => visitor.failure(Failure::from_service(e)),
        },
    }
}
