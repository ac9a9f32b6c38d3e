//! The browser pages: create, receipt, burn, reveal, sign-in, recent, API token, plus the
//! embedded static assets and the HTML error pages.
//!
//! Every page works without JavaScript; `static/app.js` only adds copy buttons and a live
//! size hint. Templates (askama, auto-escaping) live in `templates/` beside this module, the
//! words in `locales/`. Safety rules the pages keep:
//! - a GET never consumes a secret: `/secret/{key}` is an interstitial, the reveal is a POST;
//! - every state-changing form carries an anti-CSRF token: the keyed hash (server key) of a
//!   random per-browser cookie, compared in constant time. A form POST under
//!   `Referrer-Policy: no-referrer` may carry `Origin: null`, so `Origin` alone proves nothing;
//! - pages that show a key or a value are `Cache-Control: no-store`, like every response here.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use subtle::ConstantTimeEq;

use super::forward_auth::{TrustedHeader, Vouched};
use super::params::Params;
use super::ratelimit::RateLimits;
use crate::accounts::Accounts;
use crate::crypto::{generate_key, RecordKind, Sealer};
use crate::domain::{unix_now, Caller};

pub mod account;
pub mod assets;
mod failure;
pub mod i18n;
pub mod pages;
pub mod refusal;
pub mod sso;

pub use failure::Failure;

use i18n::Catalog;

/// Cookie holding the per-browser anti-CSRF secret.
const CSRF_COOKIE: &str = "onetime_csrf";
/// Cookie holding the signed-in session.
const SESSION_COOKIE: &str = "onetime_session";
/// Cookie remembering a `?locale=` choice.
const LOCALE_COOKIE: &str = "onetime_locale";

/// How this server's cookies are made: names, flags, and the anti-CSRF token of a browser.
pub struct Cookies {
    sealer: Arc<Sealer>,
    /// `base_url` is https: cookies get `Secure` and the `__Host-` prefix.
    https: bool,
    /// Seconds a sign-in lasts (cookie `Max-Age`; the store enforces the same expiry).
    session_ttl: u64,
}

impl Cookies {
    /// Cookies under `sealer`'s key; `https` when `server.base_url` is https.
    pub fn new(sealer: Arc<Sealer>, https: bool, session_ttl: u64) -> Self {
        Self {
            sealer,
            https,
            session_ttl,
        }
    }

    /// A cookie name, with the `__Host-` prefix (no Domain, Path=/, Secure) over https.
    fn cookie_name(&self, base: &str) -> String {
        if self.https {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    fn cookie(&self, base: &str, value: String, max_age: Option<u64>) -> Cookie<'static> {
        let mut cookie = Cookie::build(self.cookie_name(base), value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.https)
            .finish();
        if let Some(seconds) = max_age {
            let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
            cookie.set_max_age(actix_web::cookie::time::Duration::seconds(seconds));
        }
        cookie
    }

    /// The form token for a CSRF cookie value: hex HMAC under the server key.
    fn csrf_token(&self, cookie: &str) -> String {
        hex::encode(self.sealer.record_id(RecordKind::Csrf, cookie))
    }
}

/// Who is looking, in which language, with which anti-CSRF cookie: everything a page needs
/// about the browser. Never fails: a broken cookie is simply a new visitor.
pub struct Visitor {
    /// The visitor's language.
    pub t: &'static Catalog,
    /// The signed-in account, or anonymous.
    pub caller: Caller,
    /// The client address (for rate limits and passphrase lockouts).
    pub ip: IpAddr,
    csrf_cookie: String,
    csrf_is_new: bool,
    remember_locale: Option<&'static str>,
    session_cookie: Option<String>,
    /// A session cookie that no longer signs anyone in: cleared on the next response.
    stale_session: bool,
    /// The store could not be asked about the session.
    session_unavailable: bool,
    /// The request path; only ever compared, never put into a page or a header.
    path: String,
    cookies: web::Data<Cookies>,
}

/// What every page template gets for the layout.
pub struct PageCtx {
    /// The form token.
    pub csrf: String,
    /// The signed-in email.
    pub signed_in: Option<String>,
    /// A page under a secret link: the recipient's. It offers no sign-in (a recipient has no
    /// account to sign in to, and the link is not the place to ask for a password).
    pub for_recipient: bool,
    /// `(tag, name, current)` for the language switcher.
    /// Each links to `?locale=TAG`: relative to the page itself, never built from the
    /// request path (`//evil.example/` would make it a link off the site).
    pub languages: Vec<(&'static str, String, bool)>,
}

fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

async fn visitor(req: HttpRequest) -> Visitor {
    // app data is registered by `app.rs`; its absence is a wiring bug caught by every test.
    let cookies = req
        .app_data::<web::Data<Cookies>>()
        .cloned()
        .expect("Cookies app data");
    let accounts = req
        .app_data::<web::Data<Accounts>>()
        .cloned()
        .expect("Accounts app data");
    let limits = req
        .app_data::<web::Data<RateLimits>>()
        .cloned()
        .expect("RateLimits app data");

    let query_locale =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("locale").and_then(|l| i18n::find(l)));
    let cookie_locale =
        cookie_value(&req, &cookies.cookie_name(LOCALE_COOKIE)).and_then(|l| i18n::find(&l));
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let t = query_locale
        .or(cookie_locale)
        .unwrap_or_else(|| i18n::negotiate(accept));

    let existing_csrf = cookie_value(&req, &cookies.cookie_name(CSRF_COOKIE));
    let csrf_is_new = existing_csrf.is_none();
    let csrf_cookie = existing_csrf.unwrap_or_else(generate_key);

    let session_cookie = cookie_value(&req, &cookies.cookie_name(SESSION_COOKIE));
    // A trusted proxy's header names the person (refused before here when not trusted).
    let vouched =
        req.app_data::<web::Data<TrustedHeader>>()
            .and_then(|rule| match rule.vouched(&req) {
                Vouched::Person(email) => Some((email, rule.plan().to_owned())),
                _ => None,
            });
    let (caller, stale_session, session_unavailable) = match (&vouched, &session_cookie) {
        (Some((email, plan)), _) => match accounts.sso_caller(email, plan, unix_now()).await {
            Ok(caller) => (caller, false, false),
            Err(e) => {
                tracing::warn!(error = %e, "the trusted header's account could not be opened");
                (Caller::Anonymous, false, true)
            }
        },
        (None, None) => (Caller::Anonymous, false, false),
        (None, Some(cookie)) => match accounts.session(cookie, unix_now()).await {
            Ok(Some(caller)) => (caller, false, false),
            Ok(None) => (Caller::Anonymous, true, false),
            Err(e) => {
                tracing::warn!(error = %e, "session lookup failed");
                (Caller::Anonymous, false, true)
            }
        },
    };
    Visitor {
        t,
        caller,
        ip: limits.client_ip(&req),
        csrf_cookie,
        csrf_is_new,
        remember_locale: query_locale.map(|c| c.lang),
        session_cookie,
        stale_session,
        session_unavailable,
        path: req.path().to_owned(),
        cookies,
    }
}

impl FromRequest for Visitor {
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(visitor(req).await) })
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    t: &'static Catalog,
    page: &'a PageCtx,
    id: &'a str,
    heading: &'a str,
    body: &'a str,
}

impl Visitor {
    /// The layout context for this visitor.
    pub fn ctx(&self) -> PageCtx {
        PageCtx {
            csrf: self.cookies.csrf_token(&self.csrf_cookie),
            signed_in: match &self.caller {
                Caller::Account { email, .. } => Some(email.clone()),
                Caller::Anonymous => None,
            },
            // Every answer under `/secret/`, error pages included, is the recipient's.
            for_recipient: self.path.starts_with("/secret/"),
            languages: i18n::catalogs()
                .iter()
                .map(|c| (c.lang, c.name.clone(), c.lang == self.t.lang))
                .collect(),
        }
    }

    /// This browser's anti-CSRF form token (what its forms carry): binds a sign-in with the
    /// identity provider to the browser that began it.
    pub fn browser_token(&self) -> String {
        self.cookies.csrf_token(&self.csrf_cookie)
    }

    /// Whether a submitted form carries this browser's anti-CSRF token.
    pub fn csrf_ok(&self, form: &Params) -> bool {
        if self.csrf_is_new {
            // No cookie came with the POST: nothing to match.
            return false;
        }
        let expected = self.cookies.csrf_token(&self.csrf_cookie);
        let given = form.get("csrf").unwrap_or("");
        given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
    }

    /// A page response with this visitor's cookies.
    pub fn html(&self, status: StatusCode, body: String) -> HttpResponse {
        let mut res = HttpResponse::build(status);
        res.content_type("text/html; charset=utf-8")
            .insert_header((header::VARY, "Accept-Language, Cookie"));
        self.cookies(&mut res);
        res.body(body)
    }

    /// Renders `template` with `status`.
    pub fn render(&self, status: StatusCode, template: &impl Template) -> HttpResponse {
        match template.render() {
            Ok(body) => self.html(status, body),
            Err(e) => {
                tracing::error!(error = %e, "template failed to render");
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("internal error")
            }
        }
    }

    /// A `303 See Other` to `location` with this visitor's cookies.
    pub fn redirect(&self, location: &str) -> HttpResponse {
        let mut res = HttpResponse::SeeOther();
        res.insert_header((header::LOCATION, location));
        self.cookies(&mut res);
        res.finish()
    }

    fn cookies(&self, res: &mut actix_web::HttpResponseBuilder) {
        let cookies = &self.cookies;
        if self.csrf_is_new {
            // A year: the token only binds forms to this browser; it is not a credential.
            res.cookie(cookies.cookie(CSRF_COOKIE, self.csrf_cookie.clone(), Some(31_536_000)));
        }
        if let Some(lang) = self.remember_locale {
            res.cookie(cookies.cookie(LOCALE_COOKIE, lang.to_owned(), Some(31_536_000)));
        }
        if self.stale_session {
            res.cookie(cookies.cookie(SESSION_COOKIE, String::new(), Some(0)));
        }
    }

    /// The error page for `failure`.
    pub fn failure(&self, failure: Failure) -> HttpResponse {
        if failure == Failure::SignInRequired && !self.session_unavailable {
            // Back to this page once signed in, if it is one a sign-in may return to.
            let next = crate::oidc::return_path(Some(&self.path));
            return self.redirect(&format!("/signin?next={next}"));
        }
        let failure = if self.session_unavailable && failure == Failure::SignInRequired {
            Failure::Unavailable
        } else {
            failure
        };
        let (status, id, prefix) = failure.page();
        let heading = self.t.get(&format!("{prefix}.heading")).to_owned();
        let body = self.t.get(&format!("{prefix}.body")).to_owned();
        let page = self.ctx();
        let mut res = self.render(
            status,
            &MessagePage {
                t: self.t,
                page: &page,
                id,
                heading: &heading,
                body: &body,
            },
        );
        if failure == Failure::RateLimited {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        if failure == Failure::TimedOut {
            // As in the API: the rest of the body is never read, so the connection ends.
            res.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        res
    }

    /// The session cookie, when this browser sent one.
    pub fn session_cookie(&self) -> Option<&str> {
        self.session_cookie.as_deref()
    }

    /// A response that signs this browser in with `cookie` until `expires_at`.
    pub fn sign_in_cookie(&self, cookie: &str, now: u64, expires_at: u64) -> Cookie<'static> {
        let max_age = expires_at.saturating_sub(now).min(self.cookies.session_ttl);
        self.cookies
            .cookie(SESSION_COOKIE, cookie.to_owned(), Some(max_age))
    }

    /// A cookie that removes the session cookie.
    pub fn sign_out_cookie(&self) -> Cookie<'static> {
        self.cookies.cookie(SESSION_COOKIE, String::new(), Some(0))
    }
}

/// A form body read like the API reads bodies, with failures kept for the page to show.
pub struct Form(pub Result<Params, Failure>);

impl FromRequest for Form {
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let params = Params::from_request(req, payload);
        Box::pin(async move { Ok(Form(params.await.map_err(|e| Failure::from_api(&e)))) })
    }
}

/// Registers every page route and the static assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(assets::configure)
        .configure(pages::configure)
        .configure(account::configure)
        .configure(sso::configure);
}

/// A page's resource: methods it does not route answer with the HTML 404.
fn page(path: impl Into<String>) -> actix_web::Resource {
    let path: String = path.into();
    web::resource(path).default_service(web::to(page_not_found))
}

/// The HTML 404 for paths outside the API.
pub async fn page_not_found(visitor: Visitor) -> HttpResponse {
    visitor.failure(Failure::NotFound)
}
