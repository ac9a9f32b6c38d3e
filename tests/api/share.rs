//! POST /api/v1/share and /create: the receipt, validation order, TTL and domains.

use crate::helpers::TestApp;

/// The API's messages for the refusals below.
const NOTHING: &str = "You did not provide anything to share";
const TOO_BIG: &str = "Secret value exceeds the maximum size of 10000 bytes";
const SHORT_PASSPHRASE: &str = "Passphrase must be at least 4 characters long";
const LONG_PASSPHRASE: &str = "Passphrase must be no more than 128 characters long";
const NEEDS_ACCOUNT: &str = "An account is required to send emails.";

#[tokio::test]
async fn share_returns_the_receipt_object_in_documented_order() {
    let app = TestApp::spawn().await;
    let answer = app.share(&[("secret", "hunter2"), ("ttl", "3600")]).await;
    let text = answer.text.clone();
    let body = answer.ok();
    let fields = [
        "custid",
        "metadata_key",
        "secret_key",
        "ttl",
        "metadata_ttl",
        "secret_ttl",
        "metadata_url",
        "state",
        "updated",
        "created",
        "recipient",
        "share_domain",
        "passphrase_required",
    ];
    let positions: Vec<_> = fields
        .iter()
        .map(|f| {
            text.find(&format!("\"{f}\":"))
                .unwrap_or_else(|| panic!("{f} in {text}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(body["custid"], "anon");
    assert_eq!(body["state"], "new");
    assert_eq!(body["ttl"], 3600);
    assert_eq!(body["secret_ttl"], 3600);
    assert_eq!(body["metadata_ttl"], 7200);
    assert_eq!(body["recipient"], serde_json::json!([]));
    assert_eq!(body["share_domain"], "");
    assert_eq!(body["passphrase_required"], false);
    assert!(body.get("value").is_none());
    assert!(body.get("received").is_none());
    let created = body["created"].as_u64().expect("created is an integer");
    assert_eq!(body["updated"].as_u64(), Some(created));
    for key in ["secret_key", "metadata_key"] {
        let k = body[key].as_str().expect("key");
        assert_eq!(k.len(), 62);
        assert!(k
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
    }
    let mkey = body["metadata_key"].as_str().expect("mkey");
    assert_eq!(
        body["metadata_url"],
        format!("http://127.0.0.1:7143/receipt/{mkey}")
    );
    assert!(!text.contains("hunter2"));
}

#[tokio::test]
async fn create_is_an_alias_of_share() {
    let app = TestApp::spawn().await;
    let body = app
        .post_form("/api/v1/create", &[("secret", "via create")])
        .await
        .ok();
    let revealed = app.reveal_shared(&body).await;
    assert_eq!(revealed["value"], "via create");
}

#[tokio::test]
async fn missing_or_empty_secret_is_refused() {
    let app = TestApp::spawn().await;
    app.share_refused(&[], NOTHING).await;
    app.share_refused(&[("secret", "")], NOTHING).await;
}

#[tokio::test]
async fn oversized_secret_is_refused_and_a_max_size_one_accepted() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(10_001);
    app.share_refused(&[("secret", &big)], TOO_BIG).await;
    // Size counts bytes, not characters: 5001 two-byte characters are 10002 bytes.
    let wide = "é".repeat(5001);
    app.share_refused(&[("secret", &wide)], TOO_BIG).await;
    let exact = "y".repeat(10_000);
    let (key, _) = app.share_ok(&exact, &[]).await;
    assert_eq!(app.reveal(&key, None).await.ok()["value"], exact.as_str());
}

#[tokio::test]
async fn checks_run_in_the_documented_order() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(10_001);
    // size before recipient
    app.share_refused(&[("secret", &big), ("recipient", "a@example.com")], TOO_BIG)
        .await;
    // recipient before passphrase
    app.share_refused(
        &[
            ("secret", "s"),
            ("recipient", "a@example.com"),
            ("passphrase", "ab"),
        ],
        NEEDS_ACCOUNT,
    )
    .await;
    // passphrase before empty secret
    app.share_refused(&[("passphrase", "ab")], SHORT_PASSPHRASE)
        .await;
}

#[tokio::test]
async fn passphrase_length_is_bounded() {
    let app = TestApp::spawn().await;
    app.share_refused(&[("secret", "s"), ("passphrase", "abc")], SHORT_PASSPHRASE)
        .await;
    let long = "p".repeat(129);
    app.share_refused(&[("secret", "s"), ("passphrase", &long)], LONG_PASSPHRASE)
        .await;
    let max = "p".repeat(128);
    let body = app
        .share(&[("secret", "s"), ("passphrase", &max)])
        .await
        .ok();
    assert_eq!(body["passphrase_required"], true);
    // An empty passphrase counts as absent.
    let body = app.share(&[("secret", "s"), ("passphrase", "")]).await.ok();
    assert_eq!(body["passphrase_required"], false);
}

#[tokio::test]
async fn ttl_is_defaulted_and_clamped_silently() {
    let app = TestApp::spawn().await;
    let cases = [
        (None, 604_800),
        (Some("3600"), 3600),
        (Some("1"), 60),
        (Some("-100"), 60),
        (Some("garbage"), 60),
        (Some("99999999"), 604_800),
    ];
    for (ttl, expected) in cases {
        let mut form = vec![("secret", "s")];
        form.extend(ttl.map(|t| ("ttl", t)));
        let body = app.share(&form).await.ok();
        assert_eq!(body["ttl"], expected, "ttl {ttl:?}");
        assert_eq!(body["metadata_ttl"], 2 * expected, "ttl {ttl:?}");
    }
}

#[tokio::test]
async fn share_domain_must_be_configured_and_shapes_links() {
    let app = TestApp::spawn_with(&[("server.share_domains", "secrets.example.com")]).await;
    // A domain this server does not serve, and its own host, are ignored (as upstream does):
    // the link uses base_url, never a host the operator did not name.
    let (plain, _) = app.share_ok("s", &[]).await;
    let base = app.reveal(&plain, None).await.ok()["share_domain"].clone();
    let own_host = app.addr.to_string();
    for ignored in ["evil.example", "127.0.0.1", own_host.as_str()] {
        let body = app
            .share(&[("secret", "s"), ("share_domain", ignored)])
            .await
            .ok();
        assert_eq!(body["share_domain"], "", "{ignored}");
        let revealed = app.reveal_shared(&body).await;
        assert_eq!(revealed["share_domain"], base, "{ignored}");
    }
    let body = app
        .share(&[("secret", "s"), ("share_domain", "secrets.example.com")])
        .await
        .ok();
    assert_eq!(body["share_domain"], "secrets.example.com");
    let revealed = app.reveal_shared(&body).await;
    assert_eq!(revealed["share_domain"], "https://secrets.example.com");
}

#[tokio::test]
async fn refused_creates_store_nothing_and_reveal_says_unknown() {
    let app = TestApp::spawn().await;
    let refused = app.share(&[("secret", "s"), ("passphrase", "ab")]).await;
    assert!(refused.json.get("secret_key").is_none());
    assert!(refused.json.get("metadata_key").is_none());
}

#[tokio::test]
async fn anonymous_creation_can_be_switched_off() {
    let app = TestApp::spawn_with(&[("secrets.allow_anonymous", "false")]).await;
    for refused in app.anonymous_creates("s").await {
        refused.assert_not_authorized();
    }
}

#[tokio::test]
async fn receipts_carry_the_v0_24_aliases_with_upstreams_values() {
    let app = TestApp::spawn().await;
    let body = app
        .share(&[("secret", "s"), ("passphrase", "letmein")])
        .await
        .ok();
    for (alias, field) in [
        ("identifier", "metadata_key"),
        ("secret_identifier", "secret_key"),
        ("has_passphrase", "passphrase_required"),
        ("recipients", "recipient"),
        ("receipt_ttl", "metadata_ttl"),
        ("receipt_url", "metadata_url"),
    ] {
        assert!(!body[field].is_null(), "{field}");
        assert_eq!(body[alias], body[field], "{alias}");
    }
    assert_eq!(body["has_passphrase"], true);
    // Once read, the secret's key leaves the receipt, alias included.
    let key = body["secret_key"].as_str().expect("key");
    let mkey = body["metadata_key"].as_str().expect("mkey");
    app.reveal(key, Some("letmein")).await.ok();
    let receipt = app.receipt(mkey).await.ok();
    assert!(receipt.get("secret_key").is_none());
    assert!(receipt.get("secret_identifier").is_none());
    assert_eq!(receipt["identifier"], mkey);
}
