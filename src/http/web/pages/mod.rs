//! The secret pages: create (`/`), receipt and burn, and the secret's interstitial and reveal;
//! the form checks they share.

use actix_web::http::StatusCode;
use actix_web::web;

use super::i18n::Catalog;
use super::page;
use super::refusal::Refusal;
use super::{Failure, Form, Visitor};
use crate::domain::{unix_now, Caller};
use crate::http::params::Params;
use crate::http::ratelimit::{Action, RateLimits};
use crate::service::ServiceError;

mod create;
mod incoming;
mod receipt;
mod secret;

pub use receipt::state_words;

/// Registers `/`, the receipt routes (under `/receipt` and `/private`) and `/secret/{key}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        page("/")
            .route(web::get().to(create::form))
            .route(web::post().to(create::create)),
    );
    for prefix in ["receipt", "private"] {
        cfg.service(page(format!("/{prefix}/{{key}}")).route(web::get().to(receipt::receipt)))
            .service(
                page(format!("/{prefix}/{{key}}/burn"))
                    .route(web::get().to(receipt::burn_form))
                    .route(web::post().to(receipt::burn)),
            );
    }
    cfg.service(
        page("/incoming")
            .route(web::get().to(incoming::form))
            .route(web::post().to(incoming::send)),
    );
    cfg.service(
        page("/secret/{key}")
            // Link unfurlers often ask HEAD first: same answer as GET, no body, no change.
            .route(web::get().to(secret::interstitial))
            .route(web::head().to(secret::interstitial))
            .route(web::post().to(secret::reveal)),
    );
}

/// "file, 2.3 MB" for a receipt whose end-to-end secret holds a file (never its name).
pub fn file_words(t: &Catalog, size: u64) -> String {
    // Decimal megabytes with one digit, as file managers show them; kB below one MB.
    let text = if size >= 1_000_000 {
        format!("{}.{} MB", size / 1_000_000, size % 1_000_000 / 100_000)
    } else {
        format!("{} kB", size.div_ceil(1_000))
    };
    t.fill("e2e.file_size", &text)
}

/// `2026-11-30 16:20 UTC`.
pub fn when(unix: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    let text = humantime::format_rfc3339_seconds(time).to_string();
    format!("{} {} UTC", &text[..10], &text[11..16])
}

/// Spends one `action` from an anonymous visitor's budget; accounts are exempt.
async fn spend(visitor: &Visitor, limits: &RateLimits, action: Action) -> Result<(), Failure> {
    if let Caller::Account { .. } = visitor.caller {
        return Ok(());
    }
    limits
        .spend(action, visitor.ip, unix_now())
        .await
        .map_err(|e| Failure::from_api(&e))
}

/// A form that was readable, carries this browser's anti-CSRF token, and fits the visitor's
/// `action` budget.
async fn accept(
    visitor: &Visitor,
    form: Form,
    limits: &RateLimits,
    action: Action,
) -> Result<Params, Failure> {
    let params = checked(visitor, form)?;
    spend(visitor, limits, action).await?;
    Ok(params)
}

/// A body that was readable and carries this browser's anti-CSRF token.
pub(super) fn checked(visitor: &Visitor, form: Form) -> Result<Params, Failure> {
    let params = form.0?;
    if !visitor.csrf_ok(&params) {
        tracing::warn!("form refused: missing or wrong anti-CSRF token");
        return Err(Failure::Csrf);
    }
    Ok(params)
}

/// How the reveal and burn forms answer a refused passphrase: the status and the message to
/// show on the form again, or `None` when `error` is not about the passphrase.
fn passphrase_refusal(t: &Catalog, error: &ServiceError) -> Option<(StatusCode, Refusal)> {
    match error {
        ServiceError::PassphraseRequired => Some((
            StatusCode::BAD_REQUEST,
            Refusal::on(&["passphrase"], t.get("error.passphrase_missing")),
        )),
        ServiceError::WrongPassphrase => Some((
            StatusCode::BAD_REQUEST,
            Refusal::on(&["passphrase"], t.get("error.passphrase_wrong")),
        )),
        ServiceError::Locked => Some((
            StatusCode::TOO_MANY_REQUESTS,
            Refusal::general(t.get("error.locked")),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sizes_read_in_decimal_units() {
        let en = super::super::i18n::find("en").expect("en");
        assert_eq!(file_words(en, 2_345_678), "file, 2.3 MB");
        assert_eq!(file_words(en, 1_500), "file, 2 kB");
    }

    #[test]
    fn times_read_in_utc() {
        assert_eq!(when(1_764_520_800), "2025-11-30 16:40 UTC");
    }
}
