//! The create form (`/`): share a typed secret or generate one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::super::i18n::Catalog;
use super::super::refusal::Refusal;
use super::super::{Failure, Form, PageCtx, Visitor};
use super::accept;
use crate::domain::{unix_now, Caller, RequestedTtl, Sensitive, MEMO_MAX_CHARS};
use crate::http::error::refusal_words;
use crate::http::ratelimit::{Action, RateLimits};
use crate::service::{CreateRequest, CreateRules, Service, ServiceError};

/// Lifetimes the create form offers, seconds; the plan's limits cut the list.
const LIFETIMES: [u64; 7] = [60, 300, 3_600, 86_400, 604_800, 1_209_600, 2_592_000];

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
    max_file_size: usize,
    generate_length: usize,
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
            max_file_size: rules.max_file_size,
            generate_length: rules.generate_length,
            passphrase_min: rules.passphrase_min,
            recipient_allowed: matches!(visitor.caller, Caller::Account { .. })
                && rules.mail_enabled,
        },
    )
}

pub(super) async fn form(visitor: Visitor, service: web::Data<Service>) -> HttpResponse {
    if !service.may_create(&visitor.caller) {
        // `secrets.allow_anonymous = false`: sign in first, then back here.
        return visitor.failure(Failure::SignInRequired);
    }
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
pub(super) async fn create(
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
        charsets: None,
        // Set by static/e2e.js when it encrypted the secret in this browser.
        e2e: form.e2e_share(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(max_ttl: u64) -> CreateRules {
        CreateRules {
            min_ttl: 60,
            default_ttl: 604_800.min(max_ttl),
            max_ttl,
            max_size: 10_000,
            max_file_size: 0,
            generate_length: 16,
            passphrase_min: 4,
            mail_enabled: false,
        }
    }

    #[test]
    fn lifetimes_are_capped_by_the_plan_and_default_to_seven_days() {
        let en = crate::http::web::i18n::find("en").expect("en");
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
}
