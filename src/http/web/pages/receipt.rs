//! The creator's pages: the receipt, and burning an unread secret.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::super::i18n::Catalog;
use super::super::refusal::Refusal;
use super::super::{Failure, Form, PageCtx, Visitor};
use super::{accept, passphrase_refusal};
use crate::domain::{unix_now, Caller, DeliveryState, Receipt, ReceiptKey, Sensitive, State};
use crate::http::ratelimit::{Action, RateLimits};
use crate::service::{Service, ServiceError};

use super::when;

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    key: &'a str,
    link: Option<String>,
    qr: Option<String>,
    state: &'static str,
    state_words: String,
    expires: Option<String>,
    recipient: Option<String>,
    passphrase: bool,
    generated: Option<&'a str>,
    /// The generated password's field: e2e.js renames the end-to-end one when it fills it.
    generated_id: &'static str,
    /// The creator's private note: this page is the creator's (its address is the proof).
    memo: Option<&'a str>,
    can_burn: bool,
    /// End-to-end: the server has the link without its key.
    e2e: bool,
    /// "file, 2.3 MB" for an end-to-end file.
    file: Option<String>,
}

/// The state's name (for `data-state` and styling) and its words.
pub fn state_words(t: &Catalog, receipt: &Receipt) -> (&'static str, String) {
    match receipt.state {
        // Opened (the interstitial marks it previewed) is still unread: the burn stays.
        State::New => match receipt.previewed {
            Some(at) => ("new", t.fill("state.previewed", &when(at))),
            None => ("new", t.get("state.new").to_owned()),
        },
        State::Received => (
            "received",
            t.fill(
                "state.received",
                &when(receipt.received.unwrap_or(receipt.updated)),
            ),
        ),
        State::Burned => ("burned", t.fill("state.burned", &when(receipt.updated))),
        State::Expired => ("expired", t.get("state.expired").to_owned()),
    }
}

/// The link as an inline SVG QR code (black on white whatever the theme, for scanners).
fn qr_svg(link: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(link, qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Drop the XML declaration (not allowed inside HTML); the caption describes the image.
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen("<svg", "<svg aria-hidden=\"true\" focusable=\"false\"", 1))
}

pub(super) async fn receipt(
    visitor: Visitor,
    key: web::Path<String>,
    service: web::Data<Service>,
) -> HttpResponse {
    let Some(receipt_key) = ReceiptKey::parse(&key) else {
        return visitor.failure(Failure::ReceiptGone);
    };
    let receipt = match service.receipt(&receipt_key, unix_now()).await {
        Ok(receipt) => receipt,
        Err(e) => return visitor.failure(Failure::from_service(e)),
    };
    let t = visitor.t;
    let (state, words) = state_words(t, &receipt);
    let link = service.secret_link(&receipt);
    // A QR code drawn here could only hold the link without its key: none for end-to-end.
    let qr = link.as_deref().filter(|_| !receipt.e2e).and_then(qr_svg);
    let recipient = receipt.recipient.first().map(|to| {
        let delivery = receipt.delivery.as_ref().map(|d| match d.state {
            DeliveryState::Queued => t.get("delivery.queued"),
            DeliveryState::Sent => t.get("delivery.sent"),
            DeliveryState::Failed => t.get("delivery.failed"),
        });
        format!("{to} {}", delivery.unwrap_or_default())
            .trim_end()
            .to_owned()
    });
    let page = visitor.ctx();
    visitor.render(
        StatusCode::OK,
        &ReceiptPage {
            t,
            page: &page,
            key: &key,
            expires: match receipt.secret_ttl {
                Some(Some(left)) if receipt.state == State::New => Some(t.duration(left)),
                _ => None,
            },
            link,
            qr,
            state,
            state_words: words,
            recipient,
            passphrase: receipt.passphrase_required,
            generated: receipt.value.as_ref().map(Sensitive::expose),
            generated_id: if receipt.value.is_some() {
                "generated-value"
            } else {
                "e2e-generated-value"
            },
            memo: receipt.memo.as_ref().map(Sensitive::expose),
            can_burn: receipt.state == State::New,
            e2e: receipt.e2e,
            file: receipt.file_size.map(|size| super::file_words(t, size)),
        },
    )
}

#[derive(Template)]
#[template(path = "burn.html")]
struct BurnPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    key: &'a str,
    passphrase_required: bool,
    /// Why the passphrase is asked, for this visitor (signed in or not).
    why: &'static str,
    error: Refusal,
}

fn burn_page(
    visitor: &Visitor,
    key: &str,
    passphrase_required: bool,
    status: StatusCode,
    error: Refusal,
) -> HttpResponse {
    let page = visitor.ctx();
    // A signed-in visitor who is asked anyway did not create it from this account: telling
    // them to sign in would not help.
    let why = match visitor.caller {
        Caller::Anonymous => visitor.t.get("burn.why"),
        Caller::Account { .. } => visitor.t.get("burn.why_signed_in"),
    };
    visitor.render(
        status,
        &BurnPage {
            t: visitor.t,
            page: &page,
            key,
            passphrase_required,
            why,
            error,
        },
    )
}

/// The receipt's path: `/receipt/{key}` or `/private/{key}`, whichever the visitor used.
fn receipt_path(visitor: &Visitor, key: &str) -> String {
    let prefix = if visitor.path.starts_with("/private/") {
        "private"
    } else {
        "receipt"
    };
    format!("/{prefix}/{key}")
}

pub(super) async fn burn_form(
    visitor: Visitor,
    key: web::Path<String>,
    service: web::Data<Service>,
) -> HttpResponse {
    let Some(receipt_key) = ReceiptKey::parse(&key) else {
        return visitor.failure(Failure::ReceiptGone);
    };
    match service.receipt_status(&receipt_key, unix_now()).await {
        Ok(r) if r.state == State::New => {
            // The account that created it burns it without the passphrase.
            let passphrase_required = r.passphrase_required && !visitor.caller.owns(&r);
            burn_page(
                &visitor,
                &key,
                passphrase_required,
                StatusCode::OK,
                Refusal::none(),
            )
        }
        // Nothing left to burn: the receipt says why.
        Ok(_) => visitor.redirect(&receipt_path(&visitor, &key)),
        Err(e) => visitor.failure(Failure::from_service(e)),
    }
}

pub(super) async fn burn(
    visitor: Visitor,
    key: web::Path<String>,
    service: web::Data<Service>,
    limits: web::Data<RateLimits>,
    form: Form,
) -> HttpResponse {
    // A burn with a passphrase runs the same scrypt as a reveal: same budget.
    let form = match accept(&visitor, form, &limits, Action::Reveal).await {
        Ok(form) => form,
        Err(failure) => return visitor.failure(failure),
    };
    let Some(receipt_key) = ReceiptKey::parse(&key) else {
        return visitor.failure(Failure::ReceiptGone);
    };
    let t = visitor.t;
    let passphrase = form.sensitive("passphrase");
    match service
        .burn(
            &visitor.caller,
            &receipt_key,
            passphrase.as_ref(),
            visitor.ip,
            unix_now(),
        )
        .await
    {
        Ok(_) => visitor.redirect(&receipt_path(&visitor, &key)),
        // Already received, burned or expired: the receipt shows which.
        Err(ServiceError::UnknownSecret) => visitor.redirect(&receipt_path(&visitor, &key)),
        Err(e) => match passphrase_refusal(t, &e) {
            Some((status, refusal)) => burn_page(&visitor, &key, true, status, refusal),
            None => visitor.failure(Failure::from_service(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_codes_are_inline_svg_without_xml_declaration() {
        let svg = qr_svg("http://127.0.0.1:7143/secret/abc").expect("qr");
        assert!(svg.starts_with("<svg aria-hidden=\"true\""));
        assert!(!svg.contains("<?xml"));
        assert!(!svg.contains("style="), "the CSP forbids inline styles");
    }
}
