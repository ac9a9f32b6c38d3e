//! POST /api/v1/generate and the generated-value-shown-once rule.

use crate::helpers::TestApp;

const SYMBOLS: &str = "!@#$%^&*()_-+=[]{}|:;\"'<>,.?/~`";

#[tokio::test]
async fn generate_returns_a_strong_password_and_a_receipt() {
    let app = TestApp::spawn().await;
    let body = app.post_form("/api/v1/generate", &[]).await.ok();
    let value = body["value"].as_str().expect("value");
    assert_eq!(value.chars().count(), 12);
    assert!(value.chars().any(|c| c.is_ascii_uppercase()));
    assert!(value.chars().any(|c| c.is_ascii_lowercase()));
    assert!(value.chars().any(|c| c.is_ascii_digit()));
    assert!(value.chars().any(|c| SYMBOLS.contains(c)));
    assert!(!value.chars().any(|c| "ilo1IO0".contains(c)));
    assert_eq!(body["state"], "new");
    assert_eq!(body["custid"], "anon");

    let revealed = app.reveal_shared(&body).await;
    assert_eq!(revealed["value"], value);
}

#[tokio::test]
async fn generate_honours_length_and_passphrase() {
    let app = TestApp::spawn().await;
    let body = app
        .post_form(
            "/api/v1/generate",
            &[
                ("length", "40"),
                ("passphrase", "open sesame"),
                ("ttl", "600"),
            ],
        )
        .await
        .ok();
    assert_eq!(body["value"].as_str().expect("value").chars().count(), 40);
    assert_eq!(body["passphrase_required"], true);
    assert_eq!(body["ttl"], 600);
    let key = body["secret_key"].as_str().expect("key");
    app.reveal(key, None).await.assert_unknown_secret();
    let revealed = app.reveal(key, Some("open sesame")).await.ok();
    assert_eq!(revealed["value"], body["value"]);
}

#[tokio::test]
async fn generated_value_shows_on_the_first_receipt_read_only() {
    let app = TestApp::spawn().await;
    let body = app.post_form("/api/v1/generate", &[]).await.ok();
    let mkey = body["metadata_key"].as_str().expect("mkey");
    let first = app.receipt(mkey).await.ok();
    assert_eq!(first["value"], body["value"]);
    let second = app.receipt(mkey).await.ok();
    assert!(second.get("value").is_none(), "{second}");
    assert_eq!(second["state"], "new");
}

#[tokio::test]
async fn shared_secrets_never_show_their_value_on_the_receipt() {
    let app = TestApp::spawn().await;
    let (_, mkey) = app.share_ok("not for receipts", &[]).await;
    let receipt = app.receipt(&mkey).await;
    assert!(!receipt.text.contains("not for receipts"));
    assert!(receipt.json.get("value").is_none());
}
