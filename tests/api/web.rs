//! The browser pages at the HTTP level: every page and form, CSRF refusal, escaping, the
//! no-consume interstitial for link-preview bots, locales, error pages, headers.

use reqwest::header::{ACCEPT_LANGUAGE, LOCATION, USER_AGENT};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::helpers::TestApp;

/// A browser without JavaScript: a cookie jar, no automatic redirects.
pub struct Browser {
    pub client: reqwest::Client,
    base: String,
}

/// A page as fetched.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl Page {
    pub async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let html = resp.text().await.expect("body");
        Self {
            status,
            location,
            headers,
            html,
        }
    }

    /// The `value` of the hidden `csrf` field.
    pub fn csrf(&self) -> String {
        self.attr_after("name=\"csrf\" value=\"")
            .expect("a csrf field")
    }

    /// Text after `marker` up to the next `"`.
    pub fn attr_after(&self, marker: &str) -> Option<String> {
        let start = self.html.find(marker)? + marker.len();
        let end = self.html[start..].find('"')? + start;
        Some(self.html[start..end].to_owned())
    }

    /// The text content of the `<textarea id="...">`.
    pub fn textarea(&self, id: &str) -> Option<String> {
        let open = format!("<textarea id=\"{id}\"");
        let start = self.html.find(&open)?;
        let body = self.html[start..].find('>')? + start + 1;
        let end = self.html[body..].find("</textarea>")? + body;
        Some(self.html[body..end].to_owned())
    }

    pub fn has_id(&self, id: &str) -> bool {
        self.html.contains(&format!("id=\"{id}\""))
    }

    /// The `data-state` of `#state`.
    pub fn state(&self) -> Option<String> {
        self.attr_after("id=\"state\" class=\"state state-")
            .and_then(|_| self.attr_after("data-state=\""))
    }
}

impl Browser {
    /// A fresh server and a browser on it.
    pub async fn spawn() -> (TestApp, Self) {
        let app = TestApp::spawn().await;
        let browser = Self::new(&app);
        (app, browser)
    }

    pub fn new(app: &TestApp) -> Self {
        Self::with_agent(app, "Mozilla/5.0 (X11; Linux x86_64) onetime-tests")
    }

    pub fn with_agent(app: &TestApp, agent: &str) -> Self {
        Self::at(&app.url(""), agent)
    }

    /// A browser for a server at `base` (`http://host:port`).
    pub fn at(base: &str, agent: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .user_agent(agent)
            .build()
            .expect("client");
        Self {
            client,
            base: base.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.fetch(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// GETs `path` with the header `name: value` (one a proxy adds, say).
    pub async fn get_with(&self, path: &str, name: &str, value: &str) -> Page {
        self.fetch(
            self.client
                .get(format!("{}{path}", self.base))
                .header(name, value),
        )
        .await
    }

    async fn fetch(&self, request: reqwest::RequestBuilder) -> Page {
        Page::from(request.send().await.expect("get")).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("post");
        Page::from(resp).await
    }

    /// Loads `form_page`, then posts `form` with its CSRF token to `action`.
    pub async fn submit(&self, form_page: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post(action, &fields).await
    }

    /// Submits the create form on `/` with its share button and `fields`; the page answered.
    pub async fn submit_create(&self, fields: &[(&str, &str)]) -> Page {
        let mut form = vec![("action", "share")];
        form.extend_from_slice(fields);
        self.submit("/", "/", &form).await
    }

    /// Creates `secret` behind `passphrase` through the form; returns the receipt path.
    pub async fn create_guarded(&self, secret: &str, passphrase: &str) -> String {
        self.create(&[("secret", secret), ("passphrase", passphrase)])
            .await
    }

    /// Creates a secret through the form; returns the receipt path.
    pub async fn create(&self, form: &[(&str, &str)]) -> String {
        let mut fields = vec![("ttl", "3600")];
        fields.extend_from_slice(form);
        let page = self.submit_create(&fields).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        let location = page.location.expect("location");
        assert!(location.starts_with("/receipt/"), "{location}");
        location
    }
}

/// Undoes the templates' HTML escaping of an attribute value.
pub fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').map_or(rest.len(), |e| at + e + 1);
        let entity = &rest[at..end];
        let decoded = match entity {
            "&amp;" => Some('&'),
            "&lt;" => Some('<'),
            "&gt;" => Some('>'),
            "&quot;" => Some('"'),
            "&apos;" => Some('\''),
            _ => entity
                .strip_prefix("&#")
                .and_then(|n| n.strip_suffix(';'))
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(entity),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The secret path (`/secret/<key>`) from a receipt page.
pub fn secret_path(receipt: &Page) -> String {
    let link = receipt
        .attr_after("id=\"secret-link\" class=\"mono\" type=\"text\" readonly value=\"")
        .expect("a secret link");
    let at = link.find("/secret/").expect("path");
    link[at..].to_owned()
}

/// The API's view of a receipt's state.
pub async fn api_state(app: &TestApp, receipt_path: &str) -> String {
    let key = receipt_path.rsplit('/').next().expect("key");
    let body = app.get(&format!("/api/v1/receipt/{key}")).await.ok();
    body["state"].as_str().expect("state").to_owned()
}

#[tokio::test]
async fn create_form_offers_lifetimes_up_to_the_plan_and_sets_a_csrf_cookie() {
    let (_app, browser) = Browser::spawn().await;
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/html"));
    let cookie = page.headers["set-cookie"].to_str().expect("cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    for id in [
        "create",
        "secret",
        "passphrase",
        "ttl",
        "create-link",
        "generate",
    ] {
        assert!(page.has_id(id), "#{id} missing");
    }
    assert!(
        !page.has_id("recipient"),
        "anonymous visitors cannot email links"
    );
    assert!(page
        .html
        .contains("<option value=\"604800\" selected>7 days</option>"));
    assert!(page.html.contains("<option value=\"60\">1 minute</option>"));
    assert!(
        !page.html.contains("2592000"),
        "anonymous plan is capped at 7 days"
    );
    assert_eq!(page.csrf().len(), 64);
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let (app, browser) = Browser::spawn().await;
    // No cookie at all (a cross-site POST from a fresh browser).
    let page = browser
        .post("/", &[("secret", "csrf"), ("action", "share")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.has_id("csrf-error"));
    // A cookie, but a forged token.
    browser.get("/").await;
    let page = browser
        .post(
            "/",
            &[
                ("secret", "csrf"),
                ("action", "share"),
                ("csrf", &"0".repeat(64)),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Another browser's token does not fit this browser's cookie.
    let other = Browser::new(&app);
    let foreign = other.get("/").await.csrf();
    let page = browser
        .post(
            "/",
            &[("secret", "x"), ("action", "share"), ("csrf", &foreign)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // Reveal and burn forms are checked too, and refusing them consumes nothing.
    let receipt = browser.create(&[("secret", "still here")]).await;
    let secret = secret_path(&browser.get(&receipt).await);
    let stranger = Browser::new(&app);
    assert_eq!(
        stranger.post(&secret, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        stranger.post(&format!("{receipt}/burn"), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(api_state(&app, &receipt).await, "new");
}

#[tokio::test]
async fn a_secret_goes_from_form_to_receipt_to_one_reveal() {
    let (app, creator) = Browser::spawn().await;
    let receipt_path = creator.create(&[("secret", "correct horse")]).await;
    let receipt = creator.get(&receipt_path).await;
    assert_eq!(receipt.status, StatusCode::OK);
    assert_eq!(receipt.state().as_deref(), Some("new"));
    for id in [
        "receipt-warning",
        "secret-link",
        "copy-link",
        "qr",
        "expires",
        "burn",
    ] {
        assert!(receipt.has_id(id), "#{id} missing");
    }
    assert!(receipt.html.contains("<svg"), "inline QR code");
    assert!(!receipt.has_id("passphrase-reminder"));
    let secret = secret_path(&receipt);

    let recipient = Browser::new(&app);
    let interstitial = recipient.get(&secret).await;
    assert_eq!(interstitial.status, StatusCode::OK);
    assert!(interstitial.has_id("reveal") && !interstitial.has_id("passphrase"));
    assert!(!interstitial.html.contains("correct horse"));
    let revealed = recipient
        .post(&secret, &[("csrf", &interstitial.csrf())])
        .await;
    assert_eq!(revealed.status, StatusCode::OK);
    assert_eq!(
        revealed.textarea("secret-value").as_deref(),
        Some("correct horse")
    );
    assert!(revealed.has_id("deleted-notice") && revealed.has_id("copy-secret"));

    // Reload (the browser re-posts) and a fresh visit: gone.
    let again = recipient
        .post(&secret, &[("csrf", &interstitial.csrf())])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.has_id("gone") && !again.html.contains("correct horse"));
    assert_eq!(recipient.get(&secret).await.status, StatusCode::NOT_FOUND);

    let receipt = creator.get(&receipt_path).await;
    assert_eq!(receipt.state().as_deref(), Some("received"));
    assert!(!receipt.has_id("secret-link") && !receipt.has_id("burn"));
}

#[tokio::test]
async fn link_preview_bots_never_consume_a_secret() {
    let (app, creator) = Browser::spawn().await;
    let receipt = creator.create(&[("secret", "for humans")]).await;
    let secret = secret_path(&creator.get(&receipt).await);
    for agent in [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1",
        "Twitterbot/1.0",
        "WhatsApp/2.23.20.0",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Microsoft Office/16.0 (Outlook SafeLinks)",
        "curl/8.5.0",
    ] {
        let bot = Browser::with_agent(&app, agent);
        for _ in 0..2 {
            let page = bot.get(&secret).await;
            assert_eq!(page.status, StatusCode::OK, "{agent}");
            assert!(!page.html.contains("for humans"), "{agent}");
        }
        let head = bot
            .client
            .head(app.url(&secret))
            .send()
            .await
            .expect("head");
        assert_eq!(head.status(), StatusCode::OK, "{agent}");
    }
    // A preview is what a bot's GET is: v1 says `viewed`, and nothing was consumed.
    assert_eq!(api_state(&app, &receipt).await, "viewed");
    let human = Browser::new(&app);
    let csrf = human.get(&secret).await.csrf();
    let page = human.post(&secret, &[("csrf", &csrf)]).await;
    assert_eq!(page.textarea("secret-value").as_deref(), Some("for humans"));
}

#[tokio::test]
async fn hostile_input_is_rendered_as_text() {
    let (_app, browser) = Browser::spawn().await;
    let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>&amp;";
    let receipt = browser.create(&[("secret", hostile)]).await;
    let secret = secret_path(&browser.get(&receipt).await);
    let csrf = browser.get(&secret).await.csrf();
    let page = browser.post(&secret, &[("csrf", &csrf)]).await;
    assert!(!page.html.contains("<script>alert"), "{}", page.html);
    assert!(!page.html.contains("<img src=x"));
    let escaped = page.textarea("secret-value").expect("value");
    assert_eq!(
        escaped,
        "&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#62;&#60;img src=x onerror=alert(2)&#62;&#38;amp;"
    );

    // A refused create shows the typed text back, escaped, and nothing else unescaped.
    let refused = browser
        .submit(
            "/",
            "/",
            &[
                ("secret", hostile),
                ("passphrase", "ab"),
                ("action", "share"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.has_id("error"));
    assert!(!refused.html.contains("<script>alert"));
    assert!(
        !refused.html.contains("ab\""),
        "the passphrase is never echoed"
    );

    // Every script and stylesheet is a file: the CSP allows nothing inline.
    for html in [&page.html, &refused.html] {
        assert!(!html.contains("<script>") && !html.contains("style="));
        assert!(!html.contains("<style"));
    }
}

#[tokio::test]
async fn passphrases_are_asked_for_checked_and_locked_after_many_guesses() {
    let app = TestApp::spawn_with(&[("limits.passphrase_failures_per_ip", "3")]).await;
    let creator = Browser::new(&app);
    let receipt_path = creator.create_guarded("behind a pass", "open sesame").await;
    let receipt = creator.get(&receipt_path).await;
    assert!(receipt.has_id("passphrase-reminder"));
    let secret = secret_path(&receipt);

    let recipient = Browser::new(&app);
    let page = recipient.get(&secret).await;
    assert!(page.has_id("passphrase"));
    let csrf = page.csrf();
    let missing = recipient.post(&secret, &[("csrf", &csrf)]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.has_id("error") && missing.has_id("passphrase"));
    let wrong = recipient
        .post(&secret, &[("csrf", &csrf), ("passphrase", "open says me")])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.html.contains("That passphrase is not right"));
    assert!(!wrong.html.contains("open says me"));
    let right = recipient
        .post(&secret, &[("csrf", &csrf), ("passphrase", "open sesame")])
        .await;
    assert_eq!(
        right.textarea("secret-value").as_deref(),
        Some("behind a pass")
    );

    // Lockout: three wrong guesses from one address lock the secret, even for the right one.
    let receipt = creator.create_guarded("guarded", "right one").await;
    let secret = secret_path(&creator.get(&receipt).await);
    for _ in 0..3 {
        let page = recipient
            .post(&secret, &[("csrf", &csrf), ("passphrase", "nope")])
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
    }
    let locked = recipient
        .post(&secret, &[("csrf", &csrf), ("passphrase", "right one")])
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.html.contains("locked") && !locked.html.contains("guarded"));
    assert_eq!(api_state(&app, &receipt).await, "new");
}

#[tokio::test]
async fn burning_asks_for_confirmation_and_the_passphrase() {
    let (app, creator) = Browser::spawn().await;
    let receipt = creator.create(&[("secret", "burn me")]).await;
    let secret = secret_path(&creator.get(&receipt).await);
    let confirm = creator.get(&format!("{receipt}/burn")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.has_id("confirm-burn") && !confirm.has_id("passphrase"));
    assert_eq!(
        api_state(&app, &receipt).await,
        "new",
        "the GET burns nothing"
    );
    let done = creator
        .post(&format!("{receipt}/burn"), &[("csrf", &confirm.csrf())])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location.as_deref(), Some(receipt.as_str()));
    assert_eq!(
        creator.get(&receipt).await.state().as_deref(),
        Some("burned")
    );
    assert!(Browser::new(&app).get(&secret).await.has_id("gone"));
    // The confirmation page of a burned secret leads back to the receipt.
    let again = creator.get(&format!("{receipt}/burn")).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);

    // With a passphrase: missing and wrong are refused, the right one burns.
    let receipt = creator.create_guarded("guarded", "pass word").await;
    let confirm = creator.get(&format!("{receipt}/burn")).await;
    assert!(confirm.has_id("passphrase"));
    let csrf = confirm.csrf();
    let path = format!("{receipt}/burn");
    let missing = creator.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.has_id("error"));
    let wrong = creator
        .post(&path, &[("csrf", &csrf), ("passphrase", "pass wort")])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(api_state(&app, &receipt).await, "new");
    let right = creator
        .post(&path, &[("csrf", &csrf), ("passphrase", "pass word")])
        .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(api_state(&app, &receipt).await, "burned");
}

#[tokio::test]
async fn a_generated_password_is_shown_once_on_the_receipt() {
    let (_app, browser) = Browser::spawn().await;
    let page = browser
        .submit("/", "/", &[("action", "generate"), ("ttl", "300")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let receipt = page.location.expect("location");
    let first = browser.get(&receipt).await;
    let value = first
        .attr_after("id=\"generated-value\" class=\"mono\" type=\"text\" readonly value=\"")
        .expect("generated value");
    let value = unescape(&value);
    assert_eq!(value.chars().count(), 12, "{value}");
    assert!(first.has_id("expires"));
    let second = browser.get(&receipt).await;
    assert!(!second.has_id("generated-value") && !second.html.contains(&value));
    // The recipient reads the same value through the link.
    let secret = secret_path(&second);
    let csrf = browser.get(&secret).await.csrf();
    let revealed = browser.post(&secret, &[("csrf", &csrf)]).await;
    assert_eq!(
        revealed.textarea("secret-value").map(|v| unescape(&v)),
        Some(value)
    );
}

#[tokio::test]
async fn create_refusals_explain_themselves_and_keep_the_form() {
    let (_app, browser) = Browser::spawn().await;
    let empty = browser
        .submit_create(&[("secret", "  "), ("ttl", "300")])
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.html.contains("Type or paste the secret"));
    assert!(empty.html.contains("<option value=\"300\" selected>"));
    let big = "x".repeat(10_001);
    let large = browser.submit_create(&[("secret", &big)]).await;
    assert_eq!(large.status, StatusCode::BAD_REQUEST);
    assert!(large.html.contains("larger than 10000 bytes"));
    // Far beyond any plan: refused while reading, with the too-large page.
    let huge = "x".repeat(200_000);
    let page = browser.submit_create(&[("secret", &huge)]).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.has_id("too-large"));
}

#[tokio::test]
async fn anonymous_visitors_are_rate_limited_with_a_page() {
    let app = TestApp::spawn_with(&[("limits.create_per_ip", "2")]).await;
    let browser = Browser::new(&app);
    browser.create(&[("secret", "one")]).await;
    browser.create(&[("secret", "two")]).await;
    let page = browser.submit_create(&[("secret", "three")]).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.has_id("rate-limited"));
    assert!(page.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn unknown_pages_receipts_and_secrets_have_friendly_404s() {
    let (_app, browser) = Browser::spawn().await;
    let key = "k".repeat(62);
    for (path, id) in [
        ("/nope".to_owned(), "not-found"),
        (format!("/receipt/{key}"), "not-found"),
        (format!("/private/{key}/burn"), "not-found"),
        (format!("/secret/{key}"), "gone"),
        ("/secret/..%2f..%2fetc".to_owned(), "gone"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.has_id(id), "{path}: {}", page.html);
        assert!(page.html.contains("<html lang=\"en\">"));
    }
}

#[tokio::test]
async fn pages_speak_dutch_when_asked() {
    let (app, browser) = Browser::spawn().await;
    let english = browser.get("/").await;
    assert!(english.html.contains("<html lang=\"en\">"));
    assert!(english.html.contains("Create link"));

    let by_header = browser
        .client
        .get(app.url("/"))
        .header(ACCEPT_LANGUAGE, "nl-NL,nl;q=0.9,en;q=0.8")
        .send()
        .await
        .expect("get");
    let by_header = Page::from(by_header).await;
    assert!(by_header.html.contains("<html lang=\"nl\">"));
    assert!(by_header.html.contains("Link maken"));

    // ?locale= wins over the header and is remembered for the next pages.
    let chosen = Browser::new(&app);
    let page = chosen.get("/?locale=nl").await;
    assert!(page.html.contains("Link maken"));
    assert!(chosen
        .get("/nope")
        .await
        .html
        .contains("Pagina niet gevonden"));
    let back = chosen.get("/?locale=en").await;
    assert!(back.html.contains("Create link"));
    let unknown = chosen.get("/?locale=xx").await;
    assert!(unknown.html.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_assets_are_served() {
    let (app, browser) = Browser::spawn().await;
    let receipt = browser.create(&[("secret", "headers")]).await;
    let secret = secret_path(&browser.get(&receipt).await);
    for path in ["/", receipt.as_str(), secret.as_str(), "/nope"] {
        let page = browser.get(path).await;
        let h = &page.headers;
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let csp = h["content-security-policy"].to_str().expect("csp");
        assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"));
    }
    for (asset, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
        ("/robots.txt", "text/plain"),
    ] {
        let resp = browser
            .client
            .get(app.url(asset))
            .header(USER_AGENT, "test")
            .send()
            .await
            .expect("asset");
        assert_eq!(resp.status(), StatusCode::OK, "{asset}");
        let ty = resp.headers()["content-type"].to_str().expect("type");
        assert!(ty.starts_with(kind), "{asset}: {ty}");
    }
    assert_eq!(
        browser.get("/static/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_base_url_is_https() {
    let app = TestApp::spawn_with(&[("server.base_url", "https://secrets.example.com")]).await;
    let page = Browser::new(&app).get("/").await;
    let cookie = page.headers["set-cookie"].to_str().expect("cookie");
    assert!(cookie.starts_with("__Host-onetime_csrf="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
}
