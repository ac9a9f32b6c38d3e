//! A secret behind a passphrase: the wrong one is refused and costs nothing, the right one
//! reveals.

use crate::harness::Rig;
use crate::pages::{assert_gone, create, open_link, reveal, REVEAL_FORM};

async fn a_passphrase_protected_secret_needs_the_right_passphrase(js: bool) {
    let rig = Rig::start();
    let creator = rig.browser(js).await;
    let recipient = rig.browser(js).await;
    let secret = "behind a passphrase";
    let passphrase = "correct horse battery";

    let receipt = create(&creator, &rig.server, secret, Some(passphrase)).await;
    assert!(
        creator.has("#passphrase-reminder").await,
        "the receipt reminds that a passphrase was set"
    );

    open_link(&recipient, &receipt.link).await;
    assert!(
        recipient
            .has(&format!(
                "{REVEAL_FORM} input#passphrase[name=passphrase][type=password]"
            ))
            .await,
        "the interstitial asks for the passphrase"
    );

    // Wrong: 400, #error, the form again, nothing consumed.
    recipient
        .fill(&format!("{REVEAL_FORM} input#passphrase"), "wrong horse")
        .await;
    recipient.submit("button#reveal").await;
    assert_eq!(recipient.status().await, 400, "a wrong passphrase's status");
    assert!(recipient.has("#error").await, "#error says so");
    assert!(!recipient.has("#secret-value").await, "no value");
    recipient.find(REVEAL_FORM).await;
    // Opened (the interstitial marks it previewed: v1's `viewed`), still unread.
    assert_eq!(rig.server.state_of(&receipt.key).await, "viewed");

    // Right: the value.
    let value = reveal(&recipient, Some(passphrase)).await;

    assert!(value == secret, "#secret-value holds the secret");
    recipient.goto(&receipt.link).await;
    assert_gone(&recipient).await;
    assert_eq!(rig.server.state_of(&receipt.key).await, "received");
}

#[tokio::test]
async fn a_passphrase_protected_secret_needs_the_right_passphrase_with_javascript() {
    a_passphrase_protected_secret_needs_the_right_passphrase(true).await;
}

#[tokio::test]
async fn a_passphrase_protected_secret_needs_the_right_passphrase_without_javascript() {
    a_passphrase_protected_secret_needs_the_right_passphrase(false).await;
}
