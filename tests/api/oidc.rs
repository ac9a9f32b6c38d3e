//! Sign-in with the identity provider, the trusted proxy header and the intranet preset at the
//! HTTP level, on the real server. The protocol's refusals are driven through the hostile
//! stand-in provider of `tests/oidc/provider.mjs`, which signs whatever a case asks for: forged
//! `state`, a replayed code, a wrong nonce, another key, a wrong audience, an expired token, an
//! unverified or foreign email are all refused, and none of them signs anyone in. (The real
//! provider's login and consent pages are driven in Chromium: tests/browser/oidc.rs.)

use reqwest::StatusCode;

use crate::helpers::{basic, TestApp};
use crate::web::{Browser, Page};

#[path = "../oidc/provider.rs"]
mod provider;

use provider::Provider;

/// A server signing in through `provider`, links (and the redirect URI) on its bound address.
async fn app_with(provider: &Provider, extra: &[(&str, &str)]) -> TestApp {
    let settings = provider.settings();
    let mut overrides: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    overrides.push(("ONETIME__SERVER__BASE_URL", ""));
    overrides.extend_from_slice(extra);
    TestApp::spawn_with(&overrides).await
}

/// Presses "Sign in with ..." (to come back to `/recent`): the provider URL it sends to.
async fn begin(browser: &Browser) -> String {
    let page = browser
        .submit("/signin", "/signin/oidc", &[("next", "/recent")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let to = page.location.expect("to the provider");
    for part in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(
            to.contains(part),
            "{part} in the authorization request: {to}"
        );
    }
    to
}

/// The provider's answer: the callback URL it sends the browser back to.
async fn at_provider(browser: &Browser, url: &str) -> String {
    let resp = browser.client.get(url).send().await.expect("provider");
    assert_eq!(resp.status(), StatusCode::FOUND);
    resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

async fn open(browser: &Browser, url: &str) -> Page {
    Page::from(browser.client.get(url).send().await.expect("callback")).await
}

/// Begins a sign-in in `browser` and passes the provider: the callback URL it sends back to.
async fn callback(browser: &Browser) -> String {
    let to = begin(browser).await;
    at_provider(browser, &to).await
}

/// A whole sign-in in `browser`: the callback's page.
async fn sign_in(browser: &Browser) -> Page {
    let back = callback(browser).await;
    open(browser, &back).await
}

/// `url` with its query parameter `name` set to `value`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = reqwest::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

fn param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .expect(name)
}

async fn signed_in(browser: &Browser) -> bool {
    browser.get("/recent").await.status == StatusCode::OK
}

fn refused(page: &Page, status: StatusCode, id: &str) {
    assert_eq!(page.status, status, "{}", page.html);
    assert!(page.has_id(id), "#{id} in {}", page.html);
}

/// Opens `url` in `browser` and asserts the refusal page `id` with `status`.
async fn refused_at(browser: &Browser, url: &str, status: StatusCode, id: &str) {
    refused(&open(browser, url).await, status, id);
}

#[tokio::test]
async fn a_sign_in_through_the_provider_makes_the_account_and_its_session() {
    let provider = Provider::hostile();
    let app = app_with(&provider, &[]).await;
    let browser = Browser::new(&app);
    let signin = browser.get("/signin").await;
    assert!(
        signin.html.contains("Sign in with Example SSO"),
        "{}",
        signin.html
    );
    assert!(signin.has_id("signin-form"), "passwords stay on");
    let csp = signin.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.contains(&format!("form-action 'self' {}", provider.issuer)),
        "the button's form may lead to the provider: {csp}"
    );

    let page = sign_in(&browser).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(
        page.location.as_deref(),
        Some("/recent"),
        "back where it began"
    );
    assert!(signed_in(&browser).await);
    let account = browser.get("/account").await;
    assert!(account.html.contains("ann@example.com"), "{}", account.html);

    // The account exists now, made by single sign-on with the default plan.
    let list = crate::helpers::cli(&app.data(), &["account", "list"]).await;
    let listed = String::from_utf8_lossy(&list.stdout);
    let line = listed
        .lines()
        .find(|l| l.starts_with("ann@example.com"))
        .unwrap_or_else(|| panic!("listed: {listed}"));
    assert!(
        line.contains(" default ") && line.contains(" sso "),
        "{line}"
    );

    // A second sign-in finds it (one account), in a fresh browser.
    let again = Browser::new(&app);
    assert_eq!(sign_in(&again).await.status, StatusCode::SEE_OTHER);
    let list = crate::helpers::cli(&app.data(), &["account", "list"]).await;
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.matches("ann@example.com").count(), 1, "{listed}");

    // The recent list through the single-sign-on side: a secret made on the web lists there;
    // a token issued on the account page works and what it creates lists on the web too.
    let receipt = browser.create(&[("secret", "from the web")]).await;
    let recent = browser.get("/recent").await;
    assert!(
        recent.html.contains(&receipt["/receipt/".len()..]),
        "listed"
    );
    let rotated = browser.submit("/account", "/account/token", &[]).await;
    let token = rotated
        .attr_after("id=\"new-token\" class=\"mono\" type=\"text\" readonly value=\"")
        .expect("a new token shown");
    let auth = basic("ann@example.com", &token);
    let shared = app
        .share_as(&auth, &[("secret", "from a script")])
        .await
        .ok();
    let key = shared["metadata_key"].as_str().expect("metadata key");
    let recent = browser.get("/recent").await;
    assert!(
        recent.html.contains(key),
        "an API secret lists for the SSO session"
    );
    assert!(
        recent.html.contains(&receipt["/receipt/".len()..]),
        "and the web one still"
    );
    // Removing the account ends its sessions.
    let out = crate::helpers::cli(&app.data(), &["account", "remove", "ann@example.com"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !signed_in(&browser).await,
        "signed out with the account gone"
    );
}

#[tokio::test]
async fn forged_state_replayed_codes_and_other_browsers_are_refused() {
    let provider = Provider::hostile();
    let app = app_with(&provider, &[]).await;
    let browser = Browser::new(&app);
    let back = callback(&browser).await;

    // A forged state: nothing was begun under it.
    let forged = with_param(&back, "state", "forged-state-value");
    refused_at(&browser, &forged, StatusCode::BAD_REQUEST, "sso-expired").await;
    // The real state in another browser: refused, and used up.
    let other = Browser::new(&app);
    refused_at(&other, &back, StatusCode::BAD_REQUEST, "sso-expired").await;
    assert!(!signed_in(&other).await);
    refused_at(&browser, &back, StatusCode::BAD_REQUEST, "sso-expired").await;
    assert!(!signed_in(&browser).await);

    // A good sign-in; then its callback again (state used once).
    let first = callback(&browser).await;
    assert_eq!(open(&browser, &first).await.status, StatusCode::SEE_OTHER);
    let replay = Browser::new(&app);
    refused_at(&replay, &first, StatusCode::BAD_REQUEST, "sso-expired").await;
    // The used code under a fresh state of this browser: the provider refuses the code.
    let second = callback(&replay).await;
    let replayed = with_param(&second, "code", &param(&first, "code"));
    refused_at(&replay, &replayed, StatusCode::FORBIDDEN, "sso-invalid").await;
    assert!(!signed_in(&replay).await);
    // The provider's own refusal (?error=access_denied).
    let back = callback(&replay).await;
    let denied = with_param(&back, "code", "").replace("code=", "error=access_denied");
    refused_at(&replay, &denied, StatusCode::FORBIDDEN, "sso-denied").await;
    assert!(!signed_in(&replay).await);
}

#[tokio::test]
async fn id_tokens_that_do_not_verify_sign_nobody_in() {
    let provider = Provider::hostile();
    let app = app_with(&provider, &[]).await;

    // The provider rotates to a key the server has not fetched yet: fetched again, accepted.
    provider.set_mode("rotated").await;
    let browser = Browser::new(&app);
    assert_eq!(sign_in(&browser).await.status, StatusCode::SEE_OTHER);
    assert!(signed_in(&browser).await);

    for (mode, status, id) in [
        ("wrong-nonce", StatusCode::FORBIDDEN, "sso-invalid"),
        ("wrong-aud", StatusCode::FORBIDDEN, "sso-invalid"),
        ("expired", StatusCode::FORBIDDEN, "sso-invalid"),
        ("other-key", StatusCode::FORBIDDEN, "sso-invalid"),
        ("unverified", StatusCode::FORBIDDEN, "sso-unverified"),
        ("other-domain", StatusCode::FORBIDDEN, "sso-not-allowed"),
    ] {
        provider.set_mode(mode).await;
        let browser = Browser::new(&app);
        let page = sign_in(&browser).await;
        assert_eq!(page.status, status, "{mode}: {}", page.html);
        assert!(page.has_id(id), "{mode}: #{id}");
        assert!(!signed_in(&browser).await, "{mode} signed someone in");
    }
}

#[tokio::test]
async fn groups_limit_who_may_sign_in() {
    let provider = Provider::hostile();
    let outsiders = app_with(&provider, &[("ONETIME__OIDC__ALLOWED_GROUPS", "admins")]).await;
    let browser = Browser::new(&outsiders);
    refused(
        &sign_in(&browser).await,
        StatusCode::FORBIDDEN,
        "sso-not-allowed",
    );
    let staff = app_with(
        &provider,
        &[("ONETIME__OIDC__ALLOWED_GROUPS", "admins,staff")],
    )
    .await;
    let browser = Browser::new(&staff);
    assert_eq!(sign_in(&browser).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn oidc_only_turns_password_sign_in_off() {
    let provider = Provider::hostile();
    let app = app_with(&provider, &[("ONETIME__OIDC__ONLY", "true")]).await;
    app.account("pat@example.com", None).await;
    let browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    assert!(page.has_id("sso-signin"), "{}", page.html);
    assert!(!page.has_id("signin-form"), "no password form");
    let page = browser
        .submit(
            "/signin",
            "/signin",
            &[("email", "pat@example.com"), ("password", "whatever it is")],
        )
        .await;
    refused(&page, StatusCode::FORBIDDEN, "password-off");
}

#[tokio::test]
async fn without_anonymous_creation_the_create_page_asks_to_sign_in_and_links_still_open() {
    let app = TestApp::spawn_with(&[("ONETIME__SECRETS__ALLOW_ANONYMOUS", "false")]).await;
    // The API: refused in its own shape.
    for refused in app.anonymous_creates("anonymous").await {
        refused.assert_not_authorized();
    }
    // The web: the form sends an anonymous visitor to sign in, and back to it afterwards.
    let browser = Browser::new(&app);
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/signin?next=/"));
    let signin = browser.get("/signin?next=/").await;
    assert!(
        signin.html.contains("name=\"next\" value=\"/\""),
        "{}",
        signin.html
    );
    let page = browser
        .post(
            "/",
            &[
                ("csrf", &signin.csrf()),
                ("secret", "x"),
                ("action", "share"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(page.location.as_deref(), Some("/signin?next=/"));
    // An account creates; anyone opens the link, through the API and the page.
    let auth = app.account("ida@example.com", None).await;
    let body = app.share_as(&auth, &[("secret", "for anyone")]).await.ok();
    let secret_key = body["secret_key"].as_str().expect("key").to_owned();
    assert_eq!(
        browser.get(&format!("/secret/{secret_key}")).await.status,
        StatusCode::OK
    );
    let revealed = app.reveal(&secret_key, None).await.ok();
    assert_eq!(revealed["value"], "for anyone");
}

/// A server that takes `X-Forwarded-Email` (for example.com) from the proxies `trusted`.
async fn behind_proxy(trusted: &str) -> TestApp {
    TestApp::spawn_with(&[
        ("ONETIME__AUTH__TRUSTED_HEADER", "X-Forwarded-Email"),
        ("ONETIME__OIDC__ALLOWED_DOMAINS", "example.com"),
        ("ONETIME__SERVER__TRUSTED_PROXIES", trusted),
    ])
    .await
}

#[tokio::test]
async fn the_trusted_header_counts_only_from_a_trusted_proxy() {
    let app = behind_proxy("127.0.0.1").await;
    let browser = Browser::new(&app);
    let as_ann = |path| browser.get_with(path, "X-Forwarded-Email", "Ann@Example.com");
    let account = as_ann("/account").await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.html);
    assert!(account.html.contains("ann@example.com"), "{}", account.html);
    let form = as_ann("/").await;
    let created = browser
        .client
        .post(app.url("/"))
        .header("X-Forwarded-Email", "ann@example.com")
        .form(&[
            ("csrf", form.csrf().as_str()),
            ("secret", "s"),
            ("action", "share"),
        ])
        .send()
        .await
        .expect("post");
    let receipt = Page::from(created).await.location.expect("to the receipt");
    let recent = as_ann("/recent").await;
    assert!(
        recent.html.contains(&receipt["/receipt/".len()..]),
        "listed for the proxy's person"
    );
    // A domain that is not admitted, from the trusted proxy: refused.
    let foreign = browser
        .get_with("/account", "X-Forwarded-Email", "eve@elsewhere.test")
        .await;
    refused(&foreign, StatusCode::FORBIDDEN, "sso-not-allowed");

    // The same header from a peer that is no trusted proxy: refused and logged, page and API.
    let app = behind_proxy("10.9.9.9").await;
    let browser = Browser::new(&app);
    let forged = browser
        .get_with("/account", "X-Forwarded-Email", "ann@example.com")
        .await;
    refused(&forged, StatusCode::FORBIDDEN, "forbidden");
    let api = app
        .client
        .get(app.url("/api/v1/status"))
        .header("X-Forwarded-Email", "ann@example.com");
    crate::helpers::Answer::of(api)
        .await
        .assert_not_authorized();
    assert_eq!(
        browser.get("/account").await.status,
        StatusCode::SEE_OTHER,
        "no header: anonymous"
    );
}
