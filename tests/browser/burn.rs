//! The creator burns a secret from the receipt; its link is gone after that.

use crate::harness::Rig;
use crate::pages::{assert_gone, create, open_link};

async fn a_burned_secret_is_gone_for_the_recipient(js: bool) {
    let rig = Rig::start();
    let creator = rig.browser(js).await;
    let recipient = rig.browser(js).await;
    let receipt = create(&creator, &rig.server, "burn after reading", None).await;
    open_link(&recipient, &receipt.link).await;

    creator.submit("a#burn").await;
    assert_eq!(
        creator.path().await,
        format!("/receipt/{}/burn", receipt.key),
        "#burn leads to the confirmation"
    );
    assert_eq!(creator.status().await, 200);
    creator
        .find(&format!(
            "form#burn[method=post][action='/receipt/{}/burn']",
            receipt.key
        ))
        .await;
    assert!(
        !creator.has("form#burn input#passphrase").await,
        "no passphrase field for a secret without one"
    );
    creator.submit("button#confirm-burn").await;

    assert_eq!(creator.path().await, format!("/receipt/{}", receipt.key));
    assert_eq!(
        creator.attr("#state", "data-state").await.as_deref(),
        Some("burned"),
        "the receipt says burned"
    );
    assert!(!creator.has("a#burn").await, "nothing left to burn");
    assert!(!creator.has("#secret-link").await, "no link once burned");
    assert_eq!(rig.server.state_of(&receipt.key).await, "burned");
    // The recipient had the interstitial open: revealing now finds nothing.
    recipient.submit("button#reveal").await;
    assert_gone(&recipient).await;
    recipient.goto(&receipt.link).await;
    assert_gone(&recipient).await;
}

#[tokio::test]
async fn a_burned_secret_is_gone_for_the_recipient_with_javascript() {
    a_burned_secret_is_gone_for_the_recipient(true).await;
}

#[tokio::test]
async fn a_burned_secret_is_gone_for_the_recipient_without_javascript() {
    a_burned_secret_is_gone_for_the_recipient(false).await;
}

#[tokio::test]
async fn burning_a_passphrase_protected_secret_needs_its_passphrase() {
    let rig = Rig::start();
    let creator = rig.browser(true).await;
    let receipt = create(&creator, &rig.server, "guarded", Some("open sesame")).await;
    creator.submit("a#burn").await;

    creator
        .fill(
            "form#burn input#passphrase[name=passphrase]",
            "closed sesame",
        )
        .await;
    creator.submit("button#confirm-burn").await;

    assert_eq!(creator.status().await, 400, "a wrong passphrase's status");
    assert!(creator.has("#error").await);
    assert_eq!(rig.server.state_of(&receipt.key).await, "new");
    creator
        .fill("form#burn input#passphrase", "open sesame")
        .await;
    creator.submit("button#confirm-burn").await;
    assert_eq!(
        creator.attr("#state", "data-state").await.as_deref(),
        Some("burned")
    );
}
