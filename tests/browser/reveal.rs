//! Create through the form, open the link as someone else, reveal once; and hostile input.

use crate::harness::Rig;
use crate::pages::{assert_gone, create, open_link, reveal};

/// The whole story, with the page's JavaScript on or off.
async fn a_secret_created_in_the_form_is_revealed_exactly_once(js: bool) {
    // Arrange: a creator and a recipient, each with a fresh profile.
    let rig = Rig::start();
    let creator = rig.browser(js).await;
    let recipient = rig.browser(js).await;
    let secret = "the vault code is 4711\nsecond line — ünïcødé";

    // Act + Assert: create.
    creator.goto(&rig.server.url("/")).await;
    let hint_before = creator.text("#size-hint").await;
    creator.fill("textarea#secret", secret).await;
    let hint_after = creator.text("#size-hint").await;
    assert_eq!(
        hint_before != hint_after,
        js,
        "#size-hint updates live exactly when JavaScript runs"
    );
    let receipt = create(&creator, &rig.server, secret, None).await;
    assert!(creator.has("#receipt-warning").await);
    // With JavaScript the secret is end-to-end, and a QR code drawn by the server could not
    // hold the link's key: there is none then.
    assert_eq!(
        creator.has("#qr svg").await,
        !js,
        "a QR code of the link exactly when the server made the secret"
    );
    assert!(creator.has("#expires").await);
    assert!(creator.has("a#burn").await);
    assert_eq!(
        creator.shown("button#copy-link").await,
        js,
        "#copy-link is shown exactly when JavaScript runs"
    );

    // The recipient's GET shows the interstitial and consumes nothing, however often.
    open_link(&recipient, &receipt.link).await;
    open_link(&recipient, &receipt.link).await;
    // Previewed (v1's `viewed`), not received; the creator's page still offers the burn.
    assert_eq!(rig.server.state_of(&receipt.key).await, "viewed");
    creator.reload().await;
    assert_eq!(
        creator.attr("#state", "data-state").await.as_deref(),
        Some("new")
    );
    assert!(
        creator.text("#state").await.starts_with("Link opened"),
        "the creator sees the link was opened, not read"
    );

    let value = reveal(&recipient, None).await;

    assert!(value == secret, "#secret-value holds the secret exactly");
    assert_eq!(
        recipient.shown("button#copy-secret").await,
        js,
        "#copy-secret is shown exactly when JavaScript runs"
    );
    // Reloading the revealed page posts again and finds it gone; so does the link.
    recipient.reload().await;
    assert_gone(&recipient).await;
    recipient.goto(&receipt.link).await;
    assert_gone(&recipient).await;
    assert_eq!(rig.server.state_of(&receipt.key).await, "received");
    creator.reload().await;
    assert_eq!(
        creator.attr("#state", "data-state").await.as_deref(),
        Some("received"),
        "the creator's receipt says received"
    );
    assert!(!creator.has("#secret-link").await, "no link once received");
    assert!(
        !creator.has("a#burn").await,
        "nothing to burn once received"
    );
    assert!(!creator.has("#qr").await, "no QR code once received");
    let logs = rig.server.logs();
    let secret_key = receipt.link.rsplit('/').next().unwrap_or_default();
    for (what, needle) in [
        ("the secret", secret),
        ("the secret key", secret_key),
        ("the metadata key", receipt.key.as_str()),
    ] {
        assert!(!logs.contains(needle), "the server logged {what}");
    }
}

#[tokio::test]
async fn a_secret_created_in_the_form_is_revealed_exactly_once_with_javascript() {
    a_secret_created_in_the_form_is_revealed_exactly_once(true).await;
}

#[tokio::test]
async fn a_secret_created_in_the_form_is_revealed_exactly_once_without_javascript() {
    a_secret_created_in_the_form_is_revealed_exactly_once(false).await;
}

#[tokio::test]
async fn hostile_markup_in_a_secret_round_trips_as_text_and_never_runs() {
    let rig = Rig::start();
    let (creator, recipient) = rig.creator_and_recipient(true).await;
    let hostile = [
        "<script>window.__pwned=1</script><img src=x onerror=alert(1)>",
        // Tries to leave the textarea that shows the value.
        "</textarea><script>window.__pwned=1</script><img src=x onerror=alert(1)>",
    ];

    for secret in hostile {
        let receipt = create(&creator, &rig.server, secret, None).await;
        open_link(&recipient, &receipt.link).await;
        let value = reveal(&recipient, None).await;

        assert!(value == secret, "#secret-value holds the markup as text");
        for browser in [&creator, &recipient] {
            assert_eq!(browser.alert().await, None, "no alert is open");
            let ran = browser
                .eval(
                    "return [typeof window.__pwned, \
                     document.querySelectorAll('img[src=\"x\"]').length, \
                     [...document.scripts].filter(s => !s.src).length]",
                )
                .await;
            assert_eq!(
                ran,
                serde_json::json!(["undefined", 0, 0]),
                "[typeof __pwned, injected images, inline scripts]"
            );
        }
        creator.goto(&receipt.url).await;
        assert_eq!(
            creator.attr("#state", "data-state").await.as_deref(),
            Some("received")
        );
    }
}

/// Asserts that at most 24 CSS pixels of empty space stand between `above` and `below` on the
/// page shown.
async fn assert_no_gap(browser: &crate::harness::Browser, above: &str, below: &str) {
    let script = format!(
        "return document.querySelector('{below}').getBoundingClientRect().top - \
         document.querySelector('{above}').getBoundingClientRect().bottom"
    );
    let gap = browser.eval(&script).await.as_f64().expect("a distance");
    assert!(gap <= 24.0, "{gap} px of empty space above {below}");
}

/// Asserts that the page shown, the recipient's `page`, offers no sign-in.
async fn assert_no_sign_in(browser: &crate::harness::Browser, page: &str) {
    assert!(
        !browser.has("a#signin-link").await,
        "a sign-in on the {page}"
    );
}

#[tokio::test]
async fn the_recipients_pages_have_no_sign_in_and_no_gap_above_their_buttons() {
    // Arrange
    let rig = Rig::start();
    // A server-side secret: an end-to-end one never opens without JavaScript.
    let (creator, recipient) = rig.creator_and_recipient(false).await;
    let receipt = create(&creator, &rig.server, "no gaps", None).await;

    // Act + Assert: the interstitial's button follows its lead at the lead's own margin.
    open_link(&recipient, &receipt.link).await;
    assert_no_sign_in(&recipient, "interstitial").await;
    assert_no_gap(&recipient, "#secret-lead", "button#reveal").await;
    // Without JavaScript the copy button stays hidden: no empty row where it would be.
    reveal(&recipient, None).await;
    assert_no_sign_in(&recipient, "revealed page").await;
    assert_no_gap(&recipient, "#secret-value", "#deleted-notice").await;
    recipient.goto(&receipt.link).await;
    assert_gone(&recipient).await;
    assert_no_sign_in(&recipient, "gone page").await;
    // The creator's pages keep it.
    creator.goto(&receipt.url).await;
    assert!(creator.has("a#signin-link").await);
}
