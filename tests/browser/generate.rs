//! "Generate": the server makes a password, shows it to the creator once, and the link reveals
//! the same value.

use crate::harness::Rig;
use crate::pages::{generate, open_link, reveal};

async fn a_generated_password_is_shown_once_and_revealed_by_its_link(js: bool) {
    let rig = Rig::start();
    let (creator, recipient) = rig.creator_and_recipient(js).await;

    let receipt = generate(&creator, &rig.server).await;
    let generated = creator.value("#generated-value").await;
    assert!(
        generated.chars().count() >= 12,
        "a generated password of a useful length (got {} characters)",
        generated.chars().count()
    );
    creator.reload().await;
    assert!(
        !creator.has("#generated-value").await,
        "a reload does not show the generated value again"
    );
    creator.goto(&receipt.url).await;
    assert!(!creator.has("#generated-value").await, "nor a later visit");
    open_link(&recipient, &receipt.link).await;
    let value = reveal(&recipient, None).await;
    assert!(value == generated, "the link reveals the generated value");
}

#[tokio::test]
async fn a_generated_password_is_shown_once_and_revealed_by_its_link_with_javascript() {
    a_generated_password_is_shown_once_and_revealed_by_its_link(true).await;
}

#[tokio::test]
async fn a_generated_password_is_shown_once_and_revealed_by_its_link_without_javascript() {
    a_generated_password_is_shown_once_and_revealed_by_its_link(false).await;
}
