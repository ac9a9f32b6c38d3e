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
    for refused in app.anonymous_creates("one too many").await {
        refused.assert_rate_limited();
    }

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

/// A passphrase guess on `path` (a reveal or a burn) from `ip`.
async fn guess(app: &TestApp, ip: &str, path: &str, passphrase: &str) -> Answer {
    post_from(app, ip, path, &[("passphrase", passphrase)]).await
}

/// A secret behind the passphrase "right one": its metadata key and the paths that reveal and
/// burn it.
struct Guarded {
    mkey: String,
    reveal: String,
    burn: String,
}

impl Guarded {
    async fn share(app: &TestApp, secret: &str) -> Self {
        let (key, mkey) = app.share_guarded(secret, "right one").await;
        Self {
            reveal: format!("/api/v1/secret/{key}"),
            burn: format!("/api/v1/private/{mkey}/burn"),
            mkey,
        }
    }
}

/// A reveal of `secret` with `passphrase` from `ip`, refused as an unknown secret.
async fn reveal_refused(app: &TestApp, secret: &Guarded, ip: &str, passphrase: &str) {
    guess(app, ip, &secret.reveal, passphrase)
        .await
        .assert_unknown_secret();
}

/// A burn of `secret` with `passphrase` from `ip`, refused as a wrong passphrase.
async fn burn_refused(app: &TestApp, secret: &Guarded, ip: &str, passphrase: &str) {
    guess(app, ip, &secret.burn, passphrase)
        .await
        .assert_wrong_passphrase();
}

#[tokio::test]
async fn wrong_passphrases_lock_a_secret_even_for_the_right_one_and_across_a_restart() {
    let app = TestApp::spawn_with(&LOCKOUT).await;
    let secret = Guarded::share(&app, "locked away").await;
    for _ in 0..2 {
        reveal_refused(&app, &secret, "198.51.100.7", "wrong").await;
    }
    // Locked: the right passphrase, from any address, is refused too.
    reveal_refused(&app, &secret, "198.51.100.8", "right one").await;
    burn_refused(&app, &secret, "198.51.100.8", "right one").await;
    assert_eq!(app.receipt(&secret.mkey).await.ok()["state"], "new");

    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &LOCKOUT).await;
    reveal_refused(&app, &secret, "198.51.100.9", "right one").await;
}

#[tokio::test]
async fn failures_from_many_addresses_add_up_and_the_lock_expires() {
    let mut env = LOCKOUT.to_vec();
    env[3] = ("ONETIME__LIMITS__PASSPHRASE_LOCKOUT", "2");
    let app = TestApp::spawn_with(&env).await;
    let secret = Guarded::share(&app, "spread guesses").await;
    // One guess each from three addresses (none reaches the per-address limit of 2); the
    // third is a wrong passphrase on burn, which counts the same.
    guess(&app, "198.51.100.1", &secret.reveal, "x1").await;
    guess(&app, "198.51.100.2", &secret.reveal, "x2").await;
    burn_refused(&app, &secret, "198.51.100.3", "x3").await;
    reveal_refused(&app, &secret, "198.51.100.4", "right one").await;

    // The lock lasts 2 s here; after it, the right passphrase works.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let body = guess(&app, "198.51.100.4", &secret.reveal, "right one")
        .await
        .ok();
    assert_eq!(body["value"], "spread guesses");
}
