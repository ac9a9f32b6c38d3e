//! The incoming page (`/incoming`): recipients by name and digest, never an address; a sent
//! secret says to whom it went and shows no link; a refusal keeps the form; Dutch too; and the
//! page does not exist unless `[incoming]` is on.

use crate::harness::Rig;

const RECIPIENTS: &str = "Anna (IT desk) <anna@example.org>; Bob <bob.desk@example.net>";

fn incoming_env(smtp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ONETIME__INCOMING__ENABLED", "true".into()),
        ("ONETIME__INCOMING__RECIPIENTS", RECIPIENTS.into()),
        // Nothing listens there: the mail waits in the outbox, which is all this test needs
        // (tests/api/incoming.rs follows it to a real SMTP server).
        ("ONETIME__MAIL__SMTP_URL", smtp.into()),
    ]
}

async fn a_visitor_sends_a_secret_to_a_named_recipient(js: bool) {
    let env = incoming_env("smtp://127.0.0.1:9");
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rig = Rig::start_with(&pairs);
    let browser = rig.browser(js).await;

    browser.goto(&rig.server.url("/incoming")).await;
    assert_eq!(browser.status().await, 200);
    let source = browser
        .eval("return document.documentElement.outerHTML")
        .await
        .to_string();
    for address in ["anna@example.org", "bob.desk@example.net", "example.org"] {
        assert!(!source.contains(address), "{address} on the page");
    }
    let form = browser.text("form#incoming").await;
    assert!(
        form.contains("Anna (IT desk)") && form.contains("Bob"),
        "{form}"
    );
    if js {
        assert_eq!(
            browser.axe().await,
            Vec::<String>::new(),
            "/incoming is clean"
        );
    }

    // Without a secret: refused, the choice and the note kept.
    browser.click("input[name=recipient]").await;
    browser.fill("input#memo", "door code").await;
    browser.submit("button#send").await;
    assert_eq!(browser.status().await, 400);
    assert!(browser.has("p#error").await, "the refusal is shown");
    assert_eq!(browser.value("input#memo").await, "door code");
    assert!(
        browser.has("input[name=recipient]:checked").await,
        "choice kept"
    );

    browser.fill("textarea#secret", "the vault code 1234").await;
    browser.submit("button#send").await;
    assert_eq!(browser.status().await, 200);
    let sent = browser.text("p#sent").await;
    assert!(sent.contains("Anna (IT desk)"), "{sent}");
    let source = browser
        .eval("return document.documentElement.outerHTML")
        .await
        .to_string();
    assert!(!source.contains("/secret/"), "no link for the sender");
    assert!(
        !source.contains("the vault code 1234"),
        "the form is empty again"
    );
    assert!(!source.contains("anna@example.org"));
}

#[tokio::test]
async fn a_visitor_sends_a_secret_to_a_named_recipient_with_javascript() {
    a_visitor_sends_a_secret_to_a_named_recipient(true).await;
}

#[tokio::test]
async fn a_visitor_sends_a_secret_to_a_named_recipient_without_javascript() {
    a_visitor_sends_a_secret_to_a_named_recipient(false).await;
}

#[tokio::test]
async fn the_incoming_page_speaks_dutch_and_is_absent_unless_configured() {
    let env = incoming_env("smtp://127.0.0.1:9");
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let rig = Rig::start_with(&pairs);
    let browser = rig.browser(true).await;
    browser.goto(&rig.server.url("/incoming?locale=nl")).await;
    assert_eq!(browser.lang().await, "nl");
    assert_eq!(browser.text("button#send").await, "Geheim versturen");

    let off = Rig::start();
    let browser = off.browser(false).await;
    browser.goto(&off.server.url("/incoming")).await;
    assert_eq!(browser.status().await, 404);
}
