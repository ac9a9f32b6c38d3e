//! The secret pages: create (`/`), receipt, burn, and the reveal interstitial.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::i18n::Catalog;
use super::refusal::Refusal;
use super::{Failure, Form, PageCtx, Visitor};
use crate::domain::{
    unix_now, Caller, DeliveryState, Receipt, RequestedTtl, Sensitive, State, MEMO_MAX_CHARS,
};
use crate::http::error::refusal_words;
use crate::http::params::Params;
use crate::http::ratelimit::{Action, RateLimits};
use crate::service::{CreateRequest, CreateRules, Service, ServiceError};

/// Lifetimes the create form offers, seconds; the plan's limits cut the list.
const LIFETIMES: [u64; 7] = [60, 300, 3_600, 86_400, 604_800, 1_209_600, 2_592_000];

/// Registers `/`, the receipt routes (under `/receipt` and `/private`) and `/secret/{key}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(create_form))
            .route(web::post().to(create))
            .default_service(web::to(super::page_not_found)),
    );
    for prefix in ["receipt", "private"] {
        cfg.service(
            web::resource(format!("/{prefix}/{{key}}"))
                .route(web::get().to(receipt))
                .default_service(web::to(super::page_not_found)),
        )
        .service(
            web::resource(format!("/{prefix}/{{key}}/burn"))
                .route(web::get().to(burn_form))
                .route(web::post().to(burn))
                .default_service(web::to(super::page_not_found)),
        );
    }
    cfg.service(
        web::resource("/secret/{key}")
            // Link unfurlers often ask HEAD first: same answer as GET, no body, no change.
            .route(web::get().to(interstitial))
            .route(web::head().to(interstitial))
            .route(web::post().to(reveal))
            .default_service(web::to(super::page_not_found)),
    );
}

/// `2026-11-30 16:20 UTC`.
pub fn when(unix: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    let text = humantime::format_rfc3339_seconds(time).to_string();
    format!("{} {} UTC", &text[..10], &text[11..16])
}

/// Spends one `action` from an anonymous visitor's budget; accounts are exempt.
async fn spend(visitor: &Visitor, limits: &RateLimits, action: Action) -> Result<(), Failure> {
    if let Caller::Customer { .. } = visitor.caller {
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

struct TtlOption {
    seconds: u64,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "create.html")]
struct CreatePage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    error: Refusal,
    secret: &'a str,
    recipient: &'a str,
    memo: &'a str,
    memo_max: usize,
    ttl_options: Vec<TtlOption>,
    max_size: usize,
    passphrase_min: usize,
    recipient_allowed: bool,
}

/// The lifetimes `rules` allow, with `chosen` (or the default) selected.
fn ttl_options(t: &Catalog, rules: &CreateRules, chosen: Option<u64>) -> Vec<TtlOption> {
    let mut seconds: Vec<u64> = LIFETIMES
        .into_iter()
        .filter(|s| (rules.min_ttl..=rules.max_ttl).contains(s))
        .collect();
    if seconds.last() != Some(&rules.max_ttl) {
        seconds.push(rules.max_ttl);
    }
    let wanted = chosen.unwrap_or(rules.default_ttl);
    // The longest offered lifetime not above the wanted one; the shortest if all are above.
    let selected = seconds
        .iter()
        .copied()
        .filter(|&s| s <= wanted)
        .max()
        .unwrap_or(seconds[0]);
    seconds
        .into_iter()
        .map(|s| TtlOption {
            seconds: s,
            label: t.duration(s),
            selected: s == selected,
        })
        .collect()
}

/// What the create form shows, with an error and the fields to keep after a refusal.
struct Refill<'a> {
    error: Refusal,
    secret: &'a str,
    recipient: &'a str,
    memo: &'a str,
    ttl: Option<u64>,
}

fn create_page(
    visitor: &Visitor,
    service: &Service,
    status: StatusCode,
    refill: Refill,
) -> HttpResponse {
    let rules = service.create_rules(&visitor.caller);
    let page = visitor.ctx();
    visitor.render(
        status,
        &CreatePage {
            t: visitor.t,
            page: &page,
            error: refill.error,
            secret: refill.secret,
            recipient: refill.recipient,
            memo: refill.memo,
            memo_max: MEMO_MAX_CHARS,
            ttl_options: ttl_options(visitor.t, &rules, refill.ttl),
            max_size: rules.max_size,
            passphrase_min: rules.passphrase_min,
            recipient_allowed: matches!(visitor.caller, Caller::Customer { .. })
                && rules.mail_enabled,
        },
    )
}

async fn create_form(visitor: Visitor, service: web::Data<Service>) -> HttpResponse {
    let refill = Refill {
        error: Refusal::none(),
        secret: "",
        recipient: "",
        memo: "",
        ttl: None,
    };
    create_page(&visitor, &service, StatusCode::OK, refill)
}

/// `POST /`: share the typed secret or generate one, then go to its receipt.
async fn create(
    visitor: Visitor,
    service: web::Data<Service>,
    limits: web::Data<RateLimits>,
    form: Form,
) -> HttpResponse {
    let form = match accept(&visitor, form, &limits, Action::Create).await {
        Ok(form) => form,
        Err(failure) => return visitor.failure(failure),
    };
    let generate = form.get("action") == Some("generate");
    let secret = form.get("secret").unwrap_or("");
    let recipient = form.get("recipient").unwrap_or("").trim();
    let memo = form.get("memo").unwrap_or("");
    let ttl = form.get("ttl").and_then(RequestedTtl::parse);
    let request = CreateRequest {
        // A secret of blanks is no secret: the form says so, as for an empty one.
        secret: (!generate && !secret.trim().is_empty()).then(|| Sensitive::new(secret.to_owned())),
        length: None,
        ttl,
        passphrase: form.sensitive("passphrase"),
        recipients: if recipient.is_empty() {
            Vec::new()
        } else {
            vec![recipient.to_owned()]
        },
        share_domain: None,
        memo: form.sensitive("memo"),
    };
    let now = unix_now();
    let created = if generate {
        service.generate(&visitor.caller, request, now).await
    } else {
        service.share(&visitor.caller, request, now).await
    };
    let error = match created {
        Ok(receipt) => return visitor.redirect(&format!("/receipt/{}", receipt.metadata_key)),
        Err(e) => match create_refusal(visitor.t, &e) {
            Some(error) => error,
            None => return visitor.failure(Failure::from_service(e)),
        },
    };
    let refill = Refill {
        error,
        secret,
        recipient,
        memo,
        ttl: ttl.map(RequestedTtl::asked),
    };
    create_page(&visitor, &service, StatusCode::BAD_REQUEST, refill)
}

/// A refused create in the visitor's words, on the field it is about; `None` for errors that
/// are not the form's (they get an error page).
fn create_refusal(t: &Catalog, e: &ServiceError) -> Option<Refusal> {
    Some(match e {
        ServiceError::NothingToShare => Refusal::on(&["secret"], t.get("error.secret_empty")),
        ServiceError::TooLarge { max } => Refusal::on(
            &["secret"],
            t.fill("error.secret_too_large", &max.to_string()),
        ),
        ServiceError::PassphraseTooShort { min } => Refusal::on(
            &["passphrase"],
            t.fill("error.passphrase_short", &min.to_string()),
        ),
        ServiceError::MemoTooLong { max } => {
            Refusal::on(&["memo"], t.fill("error.memo_too_long", &max.to_string()))
        }
        // The API's own words (English) for the rarer refusals: an undeliverable address,
        // mail switched off, a passphrase over the API's maximum. The message itself takes the
        // focus.
        other => Refusal::general(refusal_words(other)?),
    })
}

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
    /// The creator's private note: this page is the creator's (its address is the proof).
    memo: Option<&'a str>,
    can_burn: bool,
}

/// The state's name (for `data-state` and styling) and its words.
pub fn state_words(t: &Catalog, receipt: &Receipt) -> (&'static str, String) {
    match receipt.state {
        State::New => ("new", t.get("state.new").to_owned()),
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

async fn receipt(
    visitor: Visitor,
    key: web::Path<String>,
    service: web::Data<Service>,
) -> HttpResponse {
    let receipt = match service.receipt(&key, unix_now()).await {
        Ok(receipt) => receipt,
        Err(e) => return visitor.failure(Failure::from_service(e)),
    };
    let t = visitor.t;
    let (state, words) = state_words(t, &receipt);
    let link = service.secret_link(&receipt);
    let qr = link.as_deref().and_then(qr_svg);
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
            memo: receipt.memo.as_ref().map(Sensitive::expose),
            can_burn: receipt.state == State::New,
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
        Caller::Customer { .. } => visitor.t.get("burn.why_signed_in"),
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

async fn burn_form(
    visitor: Visitor,
    key: web::Path<String>,
    service: web::Data<Service>,
) -> HttpResponse {
    match service.receipt_status(&key, unix_now()).await {
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

async fn burn(
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
    let t = visitor.t;
    let passphrase = form.sensitive("passphrase");
    match service
        .burn(
            &visitor.caller,
            &key,
            passphrase.as_ref(),
            visitor.ip,
            unix_now(),
        )
        .await
    {
        Ok(_) => visitor.redirect(&receipt_path(&visitor, &key)),
        Err(ServiceError::PassphraseRequired) => {
            let error = Refusal::on(&["passphrase"], t.get("error.passphrase_missing"));
            burn_page(&visitor, &key, true, StatusCode::BAD_REQUEST, error)
        }
        Err(ServiceError::WrongPassphrase) => {
            let error = Refusal::on(&["passphrase"], t.get("error.passphrase_wrong"));
            burn_page(&visitor, &key, true, StatusCode::BAD_REQUEST, error)
        }
        Err(ServiceError::Locked) => burn_page(
            &visitor,
            &key,
            true,
            StatusCode::TOO_MANY_REQUESTS,
            Refusal::general(t.get("error.locked")),
        ),
        // Already received, burned or expired: the receipt shows which.
        Err(ServiceError::UnknownSecret) => visitor.redirect(&receipt_path(&visitor, &key)),
        Err(e) => visitor.failure(Failure::from_service(e)),
    }
}

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    key: &'a str,
    passphrase_required: bool,
    error: Refusal,
}

fn secret_page(
    visitor: &Visitor,
    key: &str,
    passphrase_required: bool,
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
            error,
        },
    )
}

/// `GET /secret/{key}`: only says a secret is waiting. Never reads or changes it, whoever asks
/// (link previews, mail scanners and prefetchers only GET).
async fn interstitial(
    visitor: Visitor,
    key: web::Path<String>,
    service: web::Data<Service>,
) -> HttpResponse {
    match service.secret_status(&key, unix_now()).await {
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
}

/// `POST /secret/{key}`: reveals the secret once.
async fn reveal(
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
    let t = visitor.t;
    let now = unix_now();
    let passphrase = form.sensitive("passphrase");
    match service
        .reveal(&key, passphrase.as_ref(), visitor.ip, now)
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
                },
            )
        }
        Err(ServiceError::PassphraseRequired) => secret_page(
            &visitor,
            &key,
            true,
            StatusCode::BAD_REQUEST,
            Refusal::on(&["passphrase"], t.get("error.passphrase_missing")),
        ),
        Err(ServiceError::WrongPassphrase) => secret_page(
            &visitor,
            &key,
            true,
            StatusCode::BAD_REQUEST,
            Refusal::on(&["passphrase"], t.get("error.passphrase_wrong")),
        ),
        Err(ServiceError::Locked) => secret_page(
            &visitor,
            &key,
            true,
            StatusCode::TOO_MANY_REQUESTS,
            Refusal::general(t.get("error.locked")),
        ),
        Err(e) => visitor.failure(Failure::from_service(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(max_ttl: u64) -> CreateRules {
        CreateRules {
            min_ttl: 60,
            default_ttl: 604_800.min(max_ttl),
            max_ttl,
            max_size: 10_000,
            passphrase_min: 4,
            mail_enabled: false,
        }
    }

    #[test]
    fn lifetimes_are_capped_by_the_plan_and_default_to_seven_days() {
        let en = super::super::i18n::find("en").expect("en");
        let anonymous = ttl_options(en, &rules(604_800), None);
        assert_eq!(anonymous.last().map(|o| o.seconds), Some(604_800));
        let selected: Vec<_> = anonymous.iter().filter(|o| o.selected).collect();
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].seconds, 604_800);
        assert_eq!(selected[0].label, "7 days");
        let account = ttl_options(en, &rules(2_592_000), None);
        assert_eq!(account.first().map(|o| o.seconds), Some(60));
        assert_eq!(account.last().map(|o| o.label.as_str()), Some("30 days"));
        // A plan between the steps offers its own maximum.
        let odd = ttl_options(en, &rules(7_200), Some(999_999));
        assert_eq!(odd.last().map(|o| o.seconds), Some(7_200));
        assert!(odd.last().is_some_and(|o| o.selected));
    }

    #[test]
    fn times_read_in_utc() {
        assert_eq!(when(1_764_520_800), "2025-11-30 16:40 UTC");
    }

    #[test]
    fn qr_codes_are_inline_svg_without_xml_declaration() {
        let svg = qr_svg("http://127.0.0.1:7143/secret/abc").expect("qr");
        assert!(svg.starts_with("<svg aria-hidden=\"true\""));
        assert!(!svg.contains("<?xml"));
        assert!(!svg.contains("style="), "the CSP forbids inline styles");
    }
}
