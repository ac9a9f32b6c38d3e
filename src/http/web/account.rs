//! Sign-in, sign-out, the recent list and the API token page.
//!
//! A session is a random cookie (HttpOnly, SameSite=Lax, Secure and `__Host-` over https,
//! `Max-Age` of `server.session_ttl`); the store keeps only its keyed hash and a record sealed
//! under it, so sessions work on every node of a Redis deployment.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::i18n::Catalog;
use super::pages::{file_words, state_words, when};
use super::refusal::Refusal;
use super::{Failure, Form, PageCtx, Visitor};
use crate::accounts::{AccountError, Accounts};
use crate::domain::{unix_now, Caller, Sensitive, State};
use crate::http::ratelimit::{Action, RateLimits};
use crate::oidc::{return_path, Oidc};
use crate::service::Service;

/// Registers `/signin`, `/signout`, `/recent`, `/account` and `/account/token`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/signin")
            .route(web::get().to(signin_form))
            .route(web::post().to(signin)),
    )
    .service(super::page("/signout").route(web::post().to(signout)))
    .service(super::page("/recent").route(web::get().to(recent)))
    .service(super::page("/account").route(web::get().to(account)))
    .service(super::page("/account/token").route(web::post().to(rotate)));
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    email: &'a str,
    error: Refusal,
    /// "Sign in with <label>", when `[oidc]` is on.
    sso_button: Option<String>,
    /// The password form is offered (not `oidc.only`).
    password: bool,
    /// Where a sign-in returns to.
    next: &'a str,
}

/// How this server signs people in on the web: the identity provider (if configured) and
/// passwords (unless `oidc.only`).
struct SignInWays<'a>(Option<&'a Oidc>);

impl SignInWays<'_> {
    fn password(&self) -> bool {
        !self.0.is_some_and(Oidc::only)
    }
}

fn signin_page(
    visitor: &Visitor,
    ways: &SignInWays,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Refusal,
) -> HttpResponse {
    let page = visitor.ctx();
    let mut res = visitor.render(
        status,
        &SignInPage {
            t: visitor.t,
            page: &page,
            email,
            error,
            sso_button: ways
                .0
                .map(|o| visitor.t.fill("signin.with", o.button_label())),
            password: ways.password(),
            next: return_path(Some(next)),
        },
    );
    if let Some(oidc) = ways.0 {
        // The button's form is answered with a redirect to the provider, and browsers hold
        // the whole redirect chain of a form to `form-action`.
        let csp = crate::http::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", oidc.form_action_origin()),
        );
        if let Ok(value) = HeaderValue::from_str(&csp) {
            res.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    res
}

async fn signin_form(
    req: HttpRequest,
    visitor: Visitor,
    oidc: Option<web::Data<Oidc>>,
) -> HttpResponse {
    let next =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("next").map(|n| return_path(Some(n))))
            .unwrap_or("/");
    if let Caller::Account { .. } = visitor.caller {
        return visitor.redirect(next);
    }
    let ways = SignInWays(oidc.as_ref().map(|o| o.get_ref()));
    signin_page(&visitor, &ways, StatusCode::OK, "", next, Refusal::none())
}

/// `POST /signin`: email and password; a fresh session cookie on success.
async fn signin(
    visitor: Visitor,
    accounts: web::Data<Accounts>,
    limits: web::Data<RateLimits>,
    oidc: Option<web::Data<Oidc>>,
    form: Form,
) -> HttpResponse {
    let form = match super::pages::checked(&visitor, form) {
        Ok(form) => form,
        Err(failure) => return visitor.failure(failure),
    };
    let ways = SignInWays(oidc.as_ref().map(|o| o.get_ref()));
    if !ways.password() {
        tracing::info!("password sign-in refused: oidc.only");
        return visitor.failure(Failure::PasswordOff);
    }
    let next = return_path(form.get("next"));
    if let Err(e) = limits.spend(Action::SignIn, visitor.ip, unix_now()).await {
        return visitor.failure(Failure::from_api(&e));
    }
    let email = form.get("email").unwrap_or("").trim();
    let password = form
        .sensitive("password")
        .unwrap_or_else(|| Sensitive::new(String::new()));
    let now = unix_now();
    match accounts.sign_in(email, &password, now).await {
        Ok(Some(session)) => {
            tracing::info!("web sign-in");
            let mut res = visitor.redirect(next);
            let cookie = visitor.sign_in_cookie(session.cookie.expose(), now, session.expires_at);
            if let Err(e) = res.add_cookie(&cookie) {
                tracing::error!(error = %e, "could not set the session cookie");
                return visitor.failure(Failure::Unexpected);
            }
            res
        }
        Ok(None) => {
            tracing::info!("web sign-in refused");
            // Either may be wrong (saying which would tell who has an account): both are
            // marked, the email first.
            let error = Refusal::on(&["email", "password"], visitor.t.get("error.signin_failed"));
            signin_page(&visitor, &ways, StatusCode::BAD_REQUEST, email, next, error)
        }
        Err(AccountError::Storage(e)) => visitor.failure(Failure::from_storage(&e)),
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            visitor.failure(Failure::Unexpected)
        }
    }
}

/// `POST /signout`: ends the session in the store and drops the cookie.
async fn signout(visitor: Visitor, accounts: web::Data<Accounts>, form: Form) -> HttpResponse {
    if let Err(failure) = super::pages::checked(&visitor, form) {
        return visitor.failure(failure);
    }
    if let Some(cookie) = visitor.session_cookie() {
        if let Err(e) = accounts.sign_out(cookie).await {
            return visitor.failure(Failure::from_storage(&e));
        }
    }
    let mut res = visitor.redirect("/");
    if let Err(e) = res.add_cookie(&visitor.sign_out_cookie()) {
        tracing::error!(error = %e, "could not clear the session cookie");
    }
    res
}

/// One line of the recent list: what tells one secret from another at a glance.
struct RecentRow {
    key: String,
    /// The creator's private note, when there is one.
    memo: Option<String>,
    created: String,
    state: &'static str,
    state_words: String,
    /// "expires in 3 days", while it can still be read.
    expires: Option<String>,
    /// Whether it needs a passphrase; `None` once it can no longer be read.
    passphrase: Option<bool>,
    /// The obscured address the link was emailed to.
    recipient: Option<String>,
    /// "file, 2.3 MB" for an end-to-end file.
    file: Option<String>,
}

#[derive(Template)]
#[template(path = "recent.html")]
struct RecentPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    rows: Vec<RecentRow>,
}

/// `GET /recent`: the account's secrets of the last 30 days with their states.
async fn recent(visitor: Visitor, service: web::Data<Service>) -> HttpResponse {
    if matches!(visitor.caller, Caller::Anonymous) {
        return visitor.failure(Failure::SignInRequired);
    }
    let receipts = match service.recent(&visitor.caller, unix_now()).await {
        Ok(receipts) => receipts,
        Err(e) => return visitor.failure(Failure::from_service(e)),
    };
    let t = visitor.t;
    let rows = receipts
        .iter()
        .map(|r| {
            let (state, words) = state_words(t, r);
            let expires = match (r.state, r.secret_ttl) {
                (State::New, Some(Some(left))) => {
                    Some(t.fill("recent.expires_in", &t.duration(left)))
                }
                _ => None,
            };
            RecentRow {
                key: r.metadata_key.clone(),
                memo: r.memo.as_ref().map(|m| m.expose().to_owned()),
                created: when(r.created),
                state,
                state_words: words,
                expires,
                passphrase: (r.state == State::New).then_some(r.passphrase_required),
                recipient: r.recipient.first().cloned(),
                file: r.file_size.map(|size| file_words(t, size)),
            }
        })
        .collect();
    let page = visitor.ctx();
    visitor.render(
        StatusCode::OK,
        &RecentPage {
            t,
            page: &page,
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    email: &'a str,
    /// The public account id, another Basic username.
    id: String,
    plan: &'a str,
    new_token: Option<&'a str>,
}

fn account_page(visitor: &Visitor, accounts: &Accounts, new_token: Option<&str>) -> HttpResponse {
    let Caller::Account { email, .. } = &visitor.caller else {
        return visitor.failure(Failure::SignInRequired);
    };
    let page = visitor.ctx();
    visitor.render(
        StatusCode::OK,
        &AccountPage {
            t: visitor.t,
            page: &page,
            email,
            id: accounts.public_id(email),
            plan: visitor.caller.plan_name(),
            new_token,
        },
    )
}

async fn account(visitor: Visitor, accounts: web::Data<Accounts>) -> HttpResponse {
    account_page(&visitor, &accounts, None)
}

/// `POST /account/token`: a new API token, shown once; the old one stops working.
async fn rotate(visitor: Visitor, accounts: web::Data<Accounts>, form: Form) -> HttpResponse {
    if let Err(failure) = super::pages::checked(&visitor, form) {
        return visitor.failure(failure);
    }
    if matches!(visitor.caller, Caller::Anonymous) {
        return visitor.failure(Failure::SignInRequired);
    }
    match accounts.rotate_signed_in(&visitor.caller, unix_now()).await {
        Ok(token) => {
            tracing::info!("API token rotated from the web");
            account_page(&visitor, &accounts, Some(token.expose()))
        }
        Err(AccountError::Storage(e)) => visitor.failure(Failure::from_storage(&e)),
        Err(e) => {
            tracing::error!(error = %e, "token rotation failed");
            visitor.failure(Failure::Unexpected)
        }
    }
}
