//! Abuse limits: per-IP rate limits (accounts exempt) and the passphrase lockout, which lives
//! in the store and so survives a restart.

use std::time::Duration;

use crate::helpers::{Answer, TestApp};

async fn post_from(app: &TestApp, ip: &str, path: &str, form: &[(&str, &str)]) -> Answer {
    Answer::of(
        app.client
            .post(app.url(path))
            .header("x-forwarded-for", format!("203.0.113.250, {ip}"))
            .form(form),
    )
    .await
}

#[tokio::test]
async fn anonymous_creates_and_reveals_are_rate_limited_per_address() {
    let app =
        TestApp::spawn_with(&[("limits.create_per_ip", "3"), ("limits.reveal_per_ip", "2")]).await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(app.share_ok("limited", &[]).await.0);
    }
    app.share(&[("secret", "one too many")])
        .await
        .assert_rate_limited();
    app.post_form("/api/v1/generate", &[])
        .await
        .assert_rate_limited();

    app.reveal(&keys[0], None).await.ok();
    app.reveal(&"a".repeat(62), None)
        .await
        .assert_unknown_secret();
    app.reveal(&keys[1], None).await.assert_rate_limited();

    // Accounts are exempt.
    let auth = app.account("ops@example.com", None).await;
    for _ in 0..5 {
        app.share_as(&auth, &[("secret", "exempt")]).await.ok();
    }
    let body = app
        .post_as(&auth, &format!("/api/v1/secret/{}", keys[1]), &[])
        .await
        .ok();
    assert_eq!(body["value"], "limited");
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let untrusted = TestApp::spawn_with(&[("limits.create_per_ip", "1")]).await;
    let trusted = TestApp::spawn_with(&[
        ("limits.create_per_ip", "1"),
        ("server.trust_proxy", "true"),
    ])
    .await;

    // In order: which server, the forwarded address, and whether the create is let through.
    let creates = [
        (&untrusted, "198.51.100.1", true),
        (&untrusted, "198.51.100.2", false),
        (&trusted, "198.51.100.1", true),
        (&trusted, "198.51.100.2", true),
        (&trusted, "198.51.100.1", false),
    ];
    for (app, ip, admitted) in creates {
        let answer = post_from(app, ip, "/api/v1/share", &[("secret", "s")]).await;
        if admitted {
            answer.ok();
        } else {
            answer.assert_rate_limited();
        }
    }
}

const LOCKOUT: [(&str, &str); 4] = [
    ("ONETIME__LIMITS__PASSPHRASE_FAILURES_PER_IP", "2"),
    ("ONETIME__LIMITS__PASSPHRASE_FAILURES_TOTAL", "3"),
    ("ONETIME__SERVER__TRUST_PROXY", "true"),
    ("ONETIME__LIMITS__PASSPHRASE_LOCKOUT", "1800"),
];

#[tokio::test]
async fn wrong_passphrases_lock_a_secret_even_for_the_right_one_and_across_a_restart() {
    let app = TestApp::spawn_with(&LOCKOUT).await;
    let (key, mkey) = app
        .share_ok("locked away", &[("passphrase", "right one")])
        .await;
    let path = format!("/api/v1/secret/{key}");
    let burn = format!("/api/v1/private/{mkey}/burn");
    for _ in 0..2 {
        post_from(&app, "198.51.100.7", &path, &[("passphrase", "wrong")])
            .await
            .assert_unknown_secret();
    }
    // Locked: the right passphrase, from any address, is refused too.
    post_from(&app, "198.51.100.8", &path, &[("passphrase", "right one")])
        .await
        .assert_unknown_secret();
    post_from(&app, "198.51.100.8", &burn, &[("passphrase", "right one")])
        .await
        .assert_wrong_passphrase();
    assert_eq!(app.receipt(&mkey).await.ok()["state"], "new");

    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &LOCKOUT).await;
    post_from(&app, "198.51.100.9", &path, &[("passphrase", "right one")])
        .await
        .assert_unknown_secret();
}

#[tokio::test]
async fn failures_from_many_addresses_add_up_and_the_lock_expires() {
    let mut env = LOCKOUT.to_vec();
    env[3] = ("ONETIME__LIMITS__PASSPHRASE_LOCKOUT", "2");
    let app = TestApp::spawn_with(&env).await;
    let (key, mkey) = app
        .share_ok("spread guesses", &[("passphrase", "right one")])
        .await;
    let path = format!("/api/v1/secret/{key}");
    let burn = format!("/api/v1/private/{mkey}/burn");
    // One guess each from three addresses (none reaches the per-address limit of 2); the
    // third is a wrong passphrase on burn, which counts the same.
    post_from(&app, "198.51.100.1", &path, &[("passphrase", "x1")]).await;
    post_from(&app, "198.51.100.2", &path, &[("passphrase", "x2")]).await;
    post_from(&app, "198.51.100.3", &burn, &[("passphrase", "x3")])
        .await
        .assert_wrong_passphrase();
    post_from(&app, "198.51.100.4", &path, &[("passphrase", "right one")])
        .await
        .assert_unknown_secret();

    // The lock lasts 2 s here; after it, the right passphrase works.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let body = post_from(&app, "198.51.100.4", &path, &[("passphrase", "right one")])
        .await
        .ok();
    assert_eq!(body["value"], "spread guesses");
}
