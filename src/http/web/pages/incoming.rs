//! The incoming page (`/incoming`): a visitor picks one of the recipients the operator named
//! (`[incoming]`), types a note and a secret, and the recipient gets the one-time link by mail.
//! The page shows recipients by name and a short form of their keyed digest, never an
//! address, and the visitor never sees the link. Absent (404) unless `[incoming]` is on.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::super::i18n::Catalog;
use super::super::refusal::Refusal;
use super::super::{Failure, Form, PageCtx, Visitor};
use super::checked;
use crate::domain::unix_now;
use crate::service::{IncomingError, IncomingRecipient, IncomingRequest, Service, ServiceError};

struct Choice {
    digest: String,
    /// The digest's first 8 characters, to tell two recipients of one name apart.
    short: String,
    name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "incoming.html")]
struct IncomingPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    error: Refusal,
    recipients: Vec<Choice>,
    memo: &'a str,
    memo_max: usize,
    secret: &'a str,
    max_size: usize,
    /// After a send: the recipient's name.
    sent_to: Option<String>,
}

impl Refill<'_> {
    /// An empty form, saying to whom the last secret went, if one did.
    fn empty(sent_to: Option<String>) -> Self {
        Refill {
            error: Refusal::none(),
            chosen: "",
            memo: "",
            secret: "",
            sent_to,
        }
    }
}

struct Refill<'a> {
    error: Refusal,
    chosen: &'a str,
    memo: &'a str,
    secret: &'a str,
    sent_to: Option<String>,
}

fn page(visitor: &Visitor, service: &Service, status: StatusCode, refill: Refill) -> HttpResponse {
    let config = service.incoming_config();
    if !config.enabled {
        return visitor.failure(Failure::NotFound);
    }
    let only_one = config.recipients.len() == 1;
    let recipients = config
        .recipients
        .into_iter()
        .map(|IncomingRecipient { digest, name }| Choice {
            short: digest.chars().take(8).collect(),
            checked: only_one || digest == refill.chosen,
            digest,
            name,
        })
        .collect();
    let ctx = visitor.ctx();
    visitor.render(
        status,
        &IncomingPage {
            t: visitor.t,
            page: &ctx,
            error: refill.error,
            recipients,
            memo: refill.memo,
            memo_max: config.memo_max_length,
            secret: refill.secret,
            max_size: config.secret_max_length,
            sent_to: refill.sent_to,
        },
    )
}

/// `GET /incoming`.
pub(super) async fn form(visitor: Visitor, service: web::Data<Service>) -> HttpResponse {
    page(&visitor, &service, StatusCode::OK, Refill::empty(None))
}

/// `POST /incoming`: send, then the same page again, empty, saying to whom it went.
pub(super) async fn send(
    visitor: Visitor,
    service: web::Data<Service>,
    form: Form,
) -> HttpResponse {
    if !service.incoming_config().enabled {
        return visitor.failure(Failure::NotFound);
    }
    let form = match checked(&visitor, form) {
        Ok(form) => form,
        Err(failure) => return visitor.failure(failure),
    };
    let chosen = form.get("recipient").unwrap_or("").trim();
    let memo = form.get("memo").unwrap_or("");
    let secret = form.get("secret").unwrap_or("");
    let request = IncomingRequest {
        recipient: chosen.to_owned(),
        secret: form
            .sensitive("secret")
            .filter(|s| !s.expose().trim().is_empty()),
        memo: form.sensitive("memo"),
    };
    let (status, refill) = match service.send_incoming(request, visitor.ip, unix_now()).await {
        Ok((name, _receipt)) => (
            StatusCode::OK,
            Refill {
                chosen,
                ..Refill::empty(Some(name))
            },
        ),
        Err(e) => {
            let (status, error) = match refusal(visitor.t, e) {
                Ok(refused) => refused,
                Err(failure) => return visitor.failure(failure),
            };
            (
                status,
                Refill {
                    error,
                    chosen,
                    memo,
                    secret,
                    sent_to: None,
                },
            )
        }
    };
    page(&visitor, &service, status, refill)
}

/// A refused send in the visitor's words, or the error page for what is not the form's fault.
fn refusal(t: &Catalog, e: IncomingError) -> Result<(StatusCode, Refusal), Failure> {
    let bad = StatusCode::BAD_REQUEST;
    Ok(match e {
        IncomingError::RecipientRequired | IncomingError::InvalidRecipient => (
            bad,
            Refusal::on(&["recipients"], t.get("incoming.error_recipient")),
        ),
        IncomingError::SecretRequired => {
            (bad, Refusal::on(&["secret"], t.get("error.secret_empty")))
        }
        IncomingError::Service(ServiceError::TooLarge { max }) => (
            bad,
            Refusal::on(
                &["secret"],
                t.fill("error.secret_too_large", &max.to_string()),
            ),
        ),
        IncomingError::Limited => return Err(Failure::RateLimited),
        IncomingError::Disabled => return Err(Failure::NotFound),
        IncomingError::Service(e) => return Err(Failure::from_service(e)),
    })
}
