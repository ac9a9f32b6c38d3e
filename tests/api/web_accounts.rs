//! The account pages at the HTTP level: sign-in, the session cookie, recent, token rotation,
//! sign-out, and their CSRF and rate-limit guards.

use reqwest::StatusCode;

use crate::helpers::{
    add_account, basic, cli_with_input, contains, read_tree, serve, Process, RedisServer, TestApp,
};
use crate::web::{secret_path, Browser};

pub const EMAIL: &str = "ada@example.com";
pub const PASSWORD: &str = "a long web password";

/// The whole `Set-Cookie` header that sets `name`.
fn set_cookie_header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// A client that keeps no cookies and follows no redirects.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Sends `request`, asserts it redirects (303), and returns the `Set-Cookie` header for `name`.
async fn redirect_cookie(request: reqwest::RequestBuilder, name: &str) -> String {
    let resp = request.send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    set_cookie_header(resp.headers(), name).unwrap_or_else(|| panic!("no Set-Cookie for {name}"))
}

/// A server with an account that has a web password; returns its API token.
pub async fn account(app: &TestApp) -> String {
    let token = add_account(&app.data(), EMAIL, None).await;
    let out = cli_with_input(
        &app.data(),
        &["account", "passwd", EMAIL],
        format!("{PASSWORD}\n").as_bytes(),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    token
}

pub async fn sign_in(browser: &Browser, email: &str, password: &str) -> crate::web::Page {
    browser
        .submit(
            "/signin",
            "/signin",
            &[("email", email), ("password", password)],
        )
        .await
}

#[tokio::test]
async fn signing_in_sets_a_session_cookie_and_wrong_passwords_get_one_message() {
    let app = TestApp::spawn().await;
    account(&app).await;
    let browser = Browser::new(&app);
    let form = browser.get("/signin").await;
    assert_eq!(form.status, StatusCode::OK);
    for id in ["signin-form", "email", "password", "signin"] {
        assert!(form.has_id(id), "#{id}");
    }
    let wrong = sign_in(&browser, EMAIL, "not the password").await;
    let unknown = sign_in(&browser, "nobody@example.com", PASSWORD).await;
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.html.contains("do not match an account"));
        assert!(!page.html.contains(PASSWORD) && !page.html.contains("not the password"));
    }
    assert!(
        wrong.html.contains(&format!("value=\"{EMAIL}\"")),
        "email kept"
    );

    let ok = sign_in(&browser, "Ada@Example.com", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    assert_eq!(ok.location.as_deref(), Some("/"));
    let cookie = set_cookie_header(&ok.headers, "onetime_session").expect("session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Max-Age=28800"), "{cookie}");
    let home = browser.get("/").await;
    assert!(home.html.contains("<span id=\"signed-in-as\""));
    assert!(home.html.contains(EMAIL));
    assert!(home
        .html
        .contains("<option value=\"2592000\">30 days</option>"));
    // Signed in: the sign-in page sends you home.
    assert_eq!(browser.get("/signin").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_recent_page_lists_secrets_from_the_web_and_the_api() {
    let app = TestApp::spawn().await;
    let token = account(&app).await;
    let browser = Browser::new(&app);
    // Signed out, the page asks for a sign-in.
    let page = browser.get("/recent").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/signin?next=/recent"),
        "and back here afterwards"
    );

    assert_eq!(
        sign_in(&browser, EMAIL, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(browser.get("/recent").await.has_id("recent-empty"));
    let web_receipt = browser.create(&[("secret", "from the web")]).await;
    let api = app
        .post_as(
            &basic(EMAIL, &token),
            "/api/v1/share",
            &[("secret", "from curl")],
        )
        .await
        .ok();
    let api_key = api["metadata_key"].as_str().expect("key").to_owned();
    let secret_key = api["secret_key"].as_str().expect("key").to_owned();
    app.reveal(&secret_key, None).await.ok();

    let recent = browser.get("/recent").await;
    assert_eq!(recent.status, StatusCode::OK);
    assert!(recent.has_id("recent"));
    assert_eq!(recent.html.matches("class=\"recent-row\"").count(), 2);
    assert!(recent
        .html
        .contains(&format!("href=\"/receipt/{api_key}\"")));
    assert!(recent.html.contains(&format!("href=\"{web_receipt}\"")));
    assert!(recent.html.contains("data-state=\"received\""));
    assert!(recent.html.contains("data-state=\"new\""));
    assert!(!recent.html.contains("from the web") && !recent.html.contains("from curl"));
    // And the API's recent list has the web-created one.
    let listed = app
        .get_as(&basic(EMAIL, &token), "/api/v1/private/recent")
        .await
        .ok();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
}

#[tokio::test]
async fn the_token_page_issues_a_new_token_once_and_the_old_one_stops_working() {
    let app = TestApp::spawn().await;
    let old = account(&app).await;
    let browser = Browser::new(&app);
    sign_in(&browser, EMAIL, PASSWORD).await;
    let page = browser.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has_id("rotate") && !page.has_id("new-token"));
    let rotated = browser
        .post("/account/token", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new = rotated
        .attr_after("id=\"new-token\" class=\"mono\" type=\"text\" readonly value=\"")
        .expect("new token");
    assert_eq!(new.len(), 62);
    assert!(
        !browser.get("/account").await.html.contains(&new),
        "shown once"
    );
    let check = |token: String| {
        let app = &app;
        async move {
            app.get_as(&basic(EMAIL, &token), "/api/v1/authcheck")
                .await
                .status
        }
    };
    assert_eq!(check(new).await, StatusCode::OK);
    assert_eq!(check(old).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn signing_out_ends_the_session_in_the_store() {
    let app = TestApp::spawn().await;
    account(&app).await;
    let browser = Browser::new(&app);
    let signed_in = sign_in(&browser, EMAIL, PASSWORD).await;
    let session = set_cookie(&signed_in, "onetime_session").expect("session");
    let session = session.trim_start_matches("onetime_session=").to_owned();
    let home = browser.get("/").await;
    let out = browser.post("/signout", &[("csrf", &home.csrf())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let cleared = set_cookie_header(&out.headers, "onetime_session").expect("cookie cleared");
    assert!(cleared.starts_with("onetime_session=;") && cleared.contains("Max-Age=0"));
    assert!(browser.get("/").await.has_id("signin-link"));

    // Replaying the old cookie signs nobody in: the store forgot the session.
    let replay = plain_client()
        .get(app.url("/recent"))
        .header("cookie", format!("onetime_session={session}"));
    let clear = redirect_cookie(replay, "onetime_session").await;
    assert!(clear.contains("Max-Age=0"), "{clear}");
}

#[tokio::test]
async fn account_forms_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    let token = account(&app).await;
    let browser = Browser::new(&app);
    browser.get("/").await;
    let forged = [("csrf", "f".repeat(64))];
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut login = forged.clone();
    login.extend([("email", EMAIL), ("password", PASSWORD)]);
    let page = browser.post("/signin", &login).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.has_id("csrf-error"));
    assert!(
        browser.get("/").await.has_id("signin-link"),
        "not signed in"
    );

    sign_in(&browser, EMAIL, PASSWORD).await;
    assert_eq!(
        browser.post("/account/token", &forged).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_as(&basic(EMAIL, &token), "/api/v1/authcheck")
            .await
            .status,
        StatusCode::OK,
        "the token was not rotated"
    );
    assert_eq!(
        browser.post("/signout", &forged).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(
        browser.get("/").await.has_id("signed-in-as"),
        "still signed in"
    );
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_address() {
    let app = TestApp::spawn_with(&[("limits.signin_per_ip", "3")]).await;
    account(&app).await;
    let browser = Browser::new(&app);
    for _ in 0..3 {
        let page = sign_in(&browser, EMAIL, "guess guess guess").await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
    }
    // Even the right password waits out the window now.
    let page = sign_in(&browser, EMAIL, PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.has_id("rate-limited"));
}

#[tokio::test]
async fn session_cookies_are_secure_over_https() {
    let app = TestApp::spawn_with(&[("server.base_url", "https://secrets.example.com")]).await;
    account(&app).await;
    // Over plain http the test client keeps no Secure cookie, so carry the CSRF cookie by hand.
    let client = plain_client();
    let form = client.get(app.url("/signin")).send().await.expect("get");
    let csrf_cookie = form.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let html = form.text().await.expect("html");
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("csrf") + marker.len();
    let csrf = &html[start..start + 64];
    let signin = client
        .post(app.url("/signin"))
        .header("cookie", csrf_cookie)
        .form(&[("csrf", csrf), ("email", EMAIL), ("password", PASSWORD)]);
    let session = redirect_cookie(signin, "__Host-onetime_session").await;
    assert!(session.contains("Secure") && session.contains("HttpOnly"));
    assert!(session.contains("Path=/") && !session.contains("Domain"));
}

#[tokio::test]
async fn nothing_secret_from_the_pages_reaches_the_logs_or_the_data_directory() {
    let (_dir, data, server) = serve(&[("log.level", "debug")]);
    add_account(&data, EMAIL, None).await;
    let out = cli_with_input(
        &data,
        &["account", "passwd", EMAIL],
        format!("{PASSWORD}\n").as_bytes(),
    )
    .await;
    assert!(out.status.success());

    let browser = Browser::at(&server.base, "Mozilla/5.0 test");
    let signed_in = sign_in(&browser, EMAIL, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let session = set_cookie(&signed_in, "onetime_session").expect("session");
    let session = session.trim_start_matches("onetime_session=").to_owned();
    let receipt = browser
        .create(&[
            ("secret", "page-secret-value-4711"),
            ("passphrase", "page-passphrase-0815"),
            ("memo", "page-memo-canary-2207"),
        ])
        .await;
    let receipt_page = browser.get(&receipt).await;
    let secret = secret_path(&receipt_page);
    let csrf = receipt_page.csrf();
    let recipient = Browser::at(&server.base, "Mozilla/5.0 test");
    let form = recipient.get(&secret).await;
    let wrong = recipient
        .post(
            &secret,
            &[("csrf", &form.csrf()), ("passphrase", "page-wrong-guess-1")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let shown = recipient
        .post(
            &secret,
            &[
                ("csrf", &form.csrf()),
                ("passphrase", "page-passphrase-0815"),
            ],
        )
        .await;
    assert_eq!(
        shown.textarea("secret-value").as_deref(),
        Some("page-secret-value-4711")
    );
    let rotated = browser.post("/account/token", &[("csrf", &csrf)]).await;
    let token = rotated
        .attr_after("id=\"new-token\" class=\"mono\" type=\"text\" readonly value=\"")
        .expect("token");
    let out = browser.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);

    let logs = server.kill9();
    assert!(
        logs.contains("/secret/{key}"),
        "the access log names routes"
    );
    let metadata_key = receipt.rsplit('/').next().expect("key").to_owned();
    let secret_key = secret.rsplit('/').next().expect("key").to_owned();
    let forbidden = [
        "page-secret-value-4711",
        "page-passphrase-0815",
        "page-wrong-guess-1",
        "page-memo-canary-2207",
        PASSWORD,
        session.as_str(),
        csrf.as_str(),
        token.as_str(),
        secret_key.as_str(),
        metadata_key.as_str(),
    ];
    for needle in forbidden {
        assert!(
            !logs.contains(needle),
            "a log line holds a secret: {needle}"
        );
    }
    for (name, bytes) in read_tree(&data) {
        for needle in forbidden {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{name} holds a secret in the clear"
            );
        }
    }
}

/// The `name=value` pair a response set for `name`.
fn set_cookie(page: &crate::web::Page, name: &str) -> Option<String> {
    set_cookie_header(&page.headers, name).and_then(|c| c.split(';').next().map(str::to_owned))
}

#[tokio::test]
async fn a_sign_in_on_one_node_holds_on_every_node_of_a_redis_deployment() {
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("ONETIME__STORAGE__BACKEND", "redis"),
        ("ONETIME__STORAGE__REDIS_URL", url.as_str()),
        ("ONETIME__STORAGE__REDIS_PREFIX", "websessions:"),
        (
            "ONETIME__SERVER__SECRET",
            "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ),
    ];
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let a = Process::start(&dir_a.path().join("data"), &env);
    let b = Process::start(&dir_b.path().join("data"), &env);
    add_account(&dir_a.path().join("data"), EMAIL, None).await;
    let out = cli_with_input(
        &dir_b.path().join("data"),
        &["account", "passwd", EMAIL],
        format!("{PASSWORD}\n").as_bytes(),
    )
    .await;
    assert!(out.status.success(), "passwd through node B");

    // Sign in and create on node A.
    let on_a = Browser::at(&a.base, "Mozilla/5.0 test");
    let signed_in = sign_in(&on_a, EMAIL, PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    let session = set_cookie(&signed_in, "onetime_session").expect("session");
    assert!(on_a.get("/").await.has_id("signed-in-as"));
    let receipt = on_a.create(&[("secret", "made on node a")]).await;

    // The same cookies on node B: signed in, same recent list, forms accepted.
    let plain = plain_client();
    let first = plain
        .get(format!("{}/recent", b.base))
        .send()
        .await
        .expect("get");
    let csrf_pair = set_cookie_header(first.headers(), "onetime_csrf")
        .map(|c| c.split(';').next().unwrap_or("").to_owned());
    assert!(csrf_pair.is_some(), "B hands out its CSRF cookie");
    let cookies = format!("{session}; {}", csrf_pair.unwrap_or_default());
    let recent = plain
        .get(format!("{}/recent", b.base))
        .header("cookie", &cookies)
        .send()
        .await
        .expect("get");
    assert_eq!(recent.status(), StatusCode::OK);
    let html = recent.text().await.expect("html");
    assert!(html.contains(EMAIL) && html.contains(&format!("href=\"{receipt}\"")));
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).expect("csrf") + marker.len();
    let csrf = html[at..at + 64].to_owned();

    // Sign out on B ends the session on A too.
    let out = plain
        .post(format!("{}/signout", b.base))
        .header("cookie", &cookies)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let home = on_a.get("/").await;
    assert!(home.has_id("signin-link"), "signed out everywhere");
    drop((a, b));
}
