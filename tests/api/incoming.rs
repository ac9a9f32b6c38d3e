//! Incoming secrets: a visitor's secret reaches the configured recipient's mailbox (the real
//! SMTP sink of `mail.rs`) and never the visitor; recipients show by name and digest, never
//! by address; the hourly limits hold; and the whole feature is off unless configured.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{test_settings, Answer, TestApp};
use crate::mail::{free_port, start_smtp, Received};
use crate::v2::{assert_v2_error, conforms, post_json};

const ANNA: &str = "anna@example.org";
const BOB: &str = "bob.secret-desk@example.net";

/// A server with `[incoming]` on for Anna and Bob, mailing through the sink on `port`.
pub async fn spawn_incoming(port: u16, per_ip: u32, per_recipient: u32) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let smtp = format!("smtp://127.0.0.1:{port}");
    let mut settings = test_settings(
        dir.path(),
        &[
            ("ONETIME__MAIL__SMTP_URL", &smtp),
            ("ONETIME__MAIL__RETRY_INITIAL", "1"),
            ("ONETIME__MAIL__FROM", "secrets@onetime.test"),
        ],
    );
    settings.incoming = onetime::config::IncomingSettings {
        enabled: true,
        recipients: vec![
            onetime::config::IncomingRecipient {
                email: ANNA.into(),
                name: "Anna (IT desk)".into(),
            },
            onetime::config::IncomingRecipient {
                email: BOB.into(),
                name: "Bob".into(),
            },
        ],
        per_ip_per_hour: per_ip,
        per_recipient_per_hour: per_recipient,
        ..Default::default()
    };
    TestApp::spawn_settings(dir, settings).await
}

/// The digest of the recipient called `name`, from `/api/incoming/config`.
pub async fn digest_of(app: &TestApp, name: &str) -> String {
    let config = app.get("/api/incoming/config").await.ok();
    config["config"]["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .find(|r| r["display_name"] == name)
        .and_then(|r| r["digest"].as_str())
        .expect("recipient listed")
        .to_owned()
}

/// Asserts the answer of a submission over an hourly limit.
fn assert_limited(answer: &Answer) {
    assert_v2_error(
        answer,
        429,
        "LimitExceeded",
        "Too many incoming secret submissions. Please try again later.",
    );
}

async fn send(app: &TestApp, body: Value) -> Answer {
    Answer::of(app.client.post(app.url("/api/incoming/secret")).json(&body)).await
}

/// Waits until `count` messages have arrived (or 20 s pass).
pub async fn wait_for_mail(
    inbox: &std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    count: usize,
) -> Vec<Received> {
    for _ in 0..200 {
        let mails = inbox.lock().expect("inbox").clone();
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{count} mails never arrived");
}

/// The secret link in a mail body (quoted-printable soft breaks undone).
pub fn link_in(mail: &Received) -> String {
    let text = mail.data.replace("=\r\n", "").replace("=\n", "");
    let start = text.find("/secret/").expect("a secret link");
    let key: String = text[start + 8..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert!(key.len() >= 20, "{text}");
    key
}

#[tokio::test]
async fn a_visitors_secret_reaches_the_recipient_by_mail_and_never_the_visitor() {
    let port = free_port();
    let inbox = start_smtp(port);
    let app = spawn_incoming(port, 10, 30).await;

    let config = app.get("/api/incoming/config").await;
    assert!(
        !config.text.contains(ANNA) && !config.text.contains("anna@"),
        "{}",
        config.text
    );
    let config = config.ok();
    assert_eq!(config["config"]["enabled"], true);
    assert_eq!(config["config"]["memo_max_length"], 50);
    let anna = digest_of(&app, "Anna (IT desk)").await;
    assert_eq!(anna.len(), 64);
    let bob = digest_of(&app, "Bob").await;
    assert_ne!(anna, bob);

    let valid = Answer::of(
        app.client
            .post(app.url("/api/incoming/validate"))
            .json(&json!({ "recipient": anna })),
    )
    .await
    .ok();
    assert_eq!(valid, json!({ "recipient": anna, "valid": true }));
    let invalid = Answer::of(
        app.client
            .post(app.url("/api/incoming/validate"))
            .json(&json!({ "recipient": "0".repeat(64) })),
    )
    .await
    .ok();
    assert_eq!(invalid["valid"], false);

    let sent = send(
        &app,
        json!({ "secret": { "secret": "vpn password 4711", "memo": "for the VPN ticket", "recipient": anna } }),
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(sent.json["success"], true);
    assert_eq!(
        sent.json["record"]["receipt"]["recipient_name"],
        "Anna (IT desk)"
    );
    assert_eq!(sent.json["details"]["memo"], "for the VPN ticket");
    // Nothing to open it with: no key of any kind, no link, no address.
    for word in ["/secret/", "identifier", "\"key\"", ANNA, "vpn password"] {
        assert!(!sent.text.contains(word), "{word} in {}", sent.text);
    }

    let mails = wait_for_mail(&inbox, 1).await;
    assert_eq!(mails.len(), 1, "one mail");
    assert!(
        mails[0].to.iter().any(|to| to.contains(ANNA)),
        "{:?}",
        mails[0].to
    );
    assert!(
        !mails[0].to.iter().any(|to| to.contains(BOB)),
        "Bob got nothing"
    );
    assert!(
        mails[0].data.contains("for the VPN ticket"),
        "{}",
        mails[0].data
    );
    assert!(
        !mails[0].data.contains("vpn password 4711"),
        "the secret is never mailed"
    );
    let key = link_in(&mails[0]);
    let revealed = app.reveal(&key, None).await.ok();
    assert_eq!(revealed["value"], "vpn password 4711");
    app.reveal(&key, None).await.assert_unknown_secret();
}

#[tokio::test]
async fn incoming_refusals_and_hourly_limits_per_address_and_per_recipient() {
    let port = free_port();
    let _inbox = start_smtp(port);
    let app = spawn_incoming(port, 3, 2).await;
    let anna = digest_of(&app, "Anna (IT desk)").await;
    let bob = digest_of(&app, "Bob").await;

    for (body, field, message) in [
        (
            json!({ "secret": { "secret": "", "recipient": anna } }),
            "secret",
            "Secret content is required",
        ),
        (
            json!({ "secret": { "secret": "x" } }),
            "recipient",
            "Recipient is required",
        ),
    ] {
        let answer = send(&app, body).await;
        assert_v2_error(&answer, 422, "FormError", message);
        assert_eq!(answer.json["field"], field);
    }
    // Per recipient: 2 an hour; the third to Anna is refused, Bob still gets one.
    for _ in 0..2 {
        let ok = send(
            &app,
            json!({ "secret": { "secret": "s", "recipient": anna } }),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    }
    let limited = send(
        &app,
        json!({ "secret": { "secret": "s", "recipient": anna } }),
    )
    .await;
    assert_limited(&limited);
    assert_eq!(limited.json["retry_after"], 3600);
    // Per address: 3 an hour, counting every submission (the refused one too).
    let to_bob = send(
        &app,
        json!({ "secret": { "secret": "s", "recipient": bob } }),
    )
    .await;
    assert_limited(&to_bob);
}

#[tokio::test]
async fn incoming_is_off_unless_configured() {
    let app = TestApp::spawn().await;
    let config = app.get("/api/incoming/config").await.ok();
    assert_eq!(config["config"]["enabled"], false);
    assert_eq!(config["config"]["recipients"], json!([]));
    let answer = send(
        &app,
        json!({ "secret": { "secret": "x", "recipient": "0".repeat(64) } }),
    )
    .await;
    assert_v2_error(
        &answer,
        422,
        "FormError",
        "Incoming secrets feature is not enabled",
    );
    let validate = post_json(
        &app,
        None,
        "/api/incoming/validate",
        json!({ "recipient": "abc" }),
    )
    .await;
    conforms("Error", &validate.json);
    assert_eq!(validate.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = app
        .client
        .get(app.url("/incoming"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn turning_incoming_on_without_recipients_or_mail_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = onetime::config::Settings::load(
        Some(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/onetime.toml"
        ))),
        Some(
            [
                ("ONETIME__INCOMING__ENABLED".to_owned(), "true".to_owned()),
                (
                    "ONETIME__STORAGE__PATH".to_owned(),
                    dir.path().display().to_string(),
                ),
            ]
            .into(),
        ),
    )
    .expect_err("no recipients");
    assert!(err.to_string().contains("incoming.recipients"), "{err}");
}
