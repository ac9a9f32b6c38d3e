//! Security headers on every response.

use crate::helpers::TestApp;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let (key, _) = app.share_ok("headers", &[]).await;
    let answers = [
        app.get("/api/v1/status").await,
        app.reveal(&key, None).await,
        app.reveal(&key, None).await,
        app.get("/api/v1/no/such/page").await,
    ];
    for answer in answers {
        let h = &answer.headers;
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-frame-options"], "DENY");
        let csp = h["content-security-policy"].to_str().expect("csp");
        for directive in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert!(h["content-type"]
            .to_str()
            .expect("type")
            .eq_ignore_ascii_case("application/json; charset=utf-8"));
        assert!(h.get("strict-transport-security").is_none());
    }
}

#[tokio::test]
async fn hsts_is_sent_when_the_base_url_is_https() {
    let app = TestApp::spawn_with(&[("server.base_url", "https://secrets.example.com/")]).await;
    let answer = app.get("/api/v1/status").await;
    assert!(answer.headers["strict-transport-security"]
        .to_str()
        .expect("hsts")
        .contains("max-age="));
    let body = app.share(&[("secret", "s")]).await.ok();
    assert!(body["metadata_url"]
        .as_str()
        .expect("url")
        .starts_with("https://secrets.example.com/receipt/"));
}
