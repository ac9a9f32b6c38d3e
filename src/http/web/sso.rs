//! Sign-in with the identity provider: `POST /signin/oidc` begins it (the sign-in page's
//! button, a form with the anti-CSRF token), `GET /signin/oidc/callback` finishes it. The
//! protocol is in [`crate::oidc`]; here are the pages and the session cookie.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};

use super::{Failure, Form, Visitor};
use crate::accounts::{AccountError, Accounts};
use crate::config::OIDC_CALLBACK_PATH;
use crate::domain::unix_now;
use crate::http::ratelimit::{Action, RateLimits};
use crate::oidc::{Oidc, OidcError};

/// Registers `/signin/oidc` and its callback (answering 404 while `[oidc]` is off).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/signin/oidc")
            .route(web::post().to(begin))
            .default_service(web::to(super::page_not_found)),
    )
    .service(
        web::resource(OIDC_CALLBACK_PATH)
            .route(web::get().to(callback))
            .default_service(web::to(super::page_not_found)),
    );
}

/// `POST /signin/oidc`: off to the provider, to come back to `next`.
async fn begin(
    visitor: Visitor,
    oidc: Option<web::Data<Oidc>>,
    limits: web::Data<RateLimits>,
    form: Form,
) -> HttpResponse {
    let Some(oidc) = oidc else {
        return visitor.failure(Failure::NotFound);
    };
    let form = match super::pages::checked(&visitor, form) {
        Ok(form) => form,
        Err(failure) => return visitor.failure(failure),
    };
    // Each begin writes a pending record: the sign-in budget bounds them per client.
    if let Err(e) = limits.spend(Action::SignIn, visitor.ip, unix_now()).await {
        return visitor.failure(Failure::from_api(&e));
    }
    let next = form.get("next").unwrap_or("/");
    match oidc.begin(&visitor.browser_token(), next, unix_now()).await {
        Ok(url) => visitor.redirect(&url),
        Err(e) => visitor.failure(refused(&e)),
    }
}

/// `GET /signin/oidc/callback?state=...&code=...` (or `&error=...`): the provider's answer.
async fn callback(
    req: HttpRequest,
    visitor: Visitor,
    oidc: Option<web::Data<Oidc>>,
    accounts: web::Data<Accounts>,
) -> HttpResponse {
    let Some(oidc) = oidc else {
        return visitor.failure(Failure::NotFound);
    };
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let state = query.get("state").map_or("", String::as_str);
    let code = query.get("code").map(String::as_str);
    let now = unix_now();
    let signed_in = match oidc
        .complete(
            state,
            code,
            query.contains_key("error"),
            &visitor.browser_token(),
            now,
        )
        .await
    {
        Ok(signed_in) => signed_in,
        Err(e) => return visitor.failure(refused(&e)),
    };
    match accounts
        .sso_sign_in(&signed_in.email, oidc.plan(), now)
        .await
    {
        Ok(session) => {
            tracing::info!("signed in with the identity provider");
            let mut res = visitor.redirect(&signed_in.return_to);
            let cookie = visitor.sign_in_cookie(session.cookie.expose(), now, session.expires_at);
            if let Err(e) = res.add_cookie(&cookie) {
                tracing::error!(error = %e, "could not set the session cookie");
                return visitor.failure(Failure::Unexpected);
            }
            res
        }
        Err(AccountError::Storage(e)) => visitor.failure(Failure::from_storage(&e)),
        Err(e) => {
            tracing::error!(error = %e, "single sign-on could not open the account");
            visitor.failure(Failure::Unexpected)
        }
    }
}

/// The page for a refused sign-in, logged by its kind (never a token, code or claim).
fn refused(e: &OidcError) -> Failure {
    match e {
        OidcError::Storage(cause) => return Failure::from_storage(cause),
        OidcError::Unavailable(_) => tracing::warn!(error = %e, "identity provider sign-in"),
        _ => tracing::info!(error = %e, "identity provider sign-in refused"),
    }
    match e {
        OidcError::Unavailable(_) => Failure::SsoUnavailable,
        OidcError::UnknownState => Failure::SsoExpired,
        OidcError::Denied => Failure::SsoDenied,
        OidcError::Invalid(_) => Failure::SsoInvalid,
        OidcError::EmailUnverified => Failure::SsoUnverified,
        OidcError::NotAllowed => Failure::SsoNotAllowed,
        OidcError::Storage(cause) => Failure::from_storage(cause),
    }
}
