//! The create form's choices and refusals, and the error pages of the contract.

use crate::harness::Rig;
use crate::pages::{create, receipt_here};

/// Lifetimes the contract allows in `select#ttl`, in seconds.
const LIFETIMES: [u64; 7] = [60, 300, 3600, 86400, 604800, 1209600, 2592000];

#[tokio::test]
async fn the_chosen_lifetime_is_the_secrets_lifetime() {
    let rig = Rig::start();
    let browser = rig.browser(false).await;
    browser.goto(&rig.server.url("/")).await;
    let values = browser
        .eval("return [...document.querySelectorAll('select#ttl[name=ttl] option')].map(o => +o.value)")
        .await;
    let values: Vec<u64> = serde_json::from_value(values).expect("option values");
    assert!(
        !values.is_empty() && values.iter().all(|v| LIFETIMES.contains(v)),
        "lifetimes offered: {values:?}"
    );
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "in order: {values:?}"
    );
    assert_eq!(
        browser.value("select#ttl").await,
        "604800",
        "7 days by default"
    );

    browser.fill("textarea#secret", "short-lived").await;
    browser.choose("select#ttl", "3600").await;
    browser.submit("button#create-link").await;

    let receipt = receipt_here(&browser, &rig.server).await;
    let ttl = rig.server.receipt_json(&receipt.key).await["secret_ttl"].as_u64();
    assert!(
        matches!(ttl, Some(3500..=3600)),
        "the secret lives an hour: {ttl:?}"
    );
    assert!(browser.has("#expires").await);
    // The receipt answers under /private/ too.
    browser
        .goto(&rig.server.url(&format!("/private/{}", receipt.key)))
        .await;
    assert_eq!(browser.status().await, 200);
    assert_eq!(browser.value("#secret-link").await, receipt.link);
}

#[tokio::test]
async fn a_refused_form_comes_back_with_an_error_and_keeps_its_choices() {
    let rig = Rig::start();
    let browser = rig.browser(false).await;
    browser.goto(&rig.server.url("/")).await;

    // Nothing to share.
    browser.choose("select#ttl", "3600").await;
    browser.submit("button#create-link").await;

    assert_eq!(browser.status().await, 400, "an empty secret's status");
    assert!(browser.has("#error").await);
    assert_eq!(browser.path().await, "/");
    assert_eq!(
        browser.value("select#ttl").await,
        "3600",
        "the lifetime is kept"
    );

    // One byte over the plan's size: 400 and #error, the form again.
    let max = browser.attr("textarea#secret", "data-max").await;
    let max: usize = max.and_then(|m| m.parse().ok()).expect("data-max");
    set_secret(&browser, max + 1).await;
    browser.submit("button#create-link").await;
    assert_eq!(browser.status().await, 400, "an oversized secret's status");
    assert!(browser.has("#error").await);
    browser.find("form#create").await;

    // A body past the server's limit (six bytes a secret byte plus 16 KiB, for the largest
    // plan, which is the anonymous one's size in the default settings): 413 and #too-large.
    set_secret(&browser, max * 6 + 64 * 1024).await;
    browser.submit("button#create-link").await;
    assert_eq!(browser.status().await, 413, "an oversized body's status");
    browser.find("#too-large").await;

    // A forged anti-CSRF token: 403 and #csrf-error, nothing created.
    browser.goto(&rig.server.url("/")).await;
    browser.fill("textarea#secret", "forged").await;
    browser
        .eval("document.querySelector('form#create input[name=csrf]').value = 'forged'")
        .await;
    browser.submit("button#create-link").await;
    assert_eq!(browser.status().await, 403, "a forged form's status");
    browser.find("#csrf-error").await;
    assert!(!browser.path().await.starts_with("/receipt/"));
}

/// Puts `bytes` bytes into the create form's secret field (typing them would take long).
async fn set_secret(browser: &crate::harness::Browser, bytes: usize) {
    browser
        .client
        .execute(
            "document.getElementById('secret').value = 'x'.repeat(arguments[0])",
            vec![serde_json::json!(bytes)],
        )
        .await
        .expect("fill the secret field");
}

#[tokio::test]
async fn unknown_pages_receipts_and_secrets_answer_404_pages() {
    let rig = Rig::start();
    let browser = rig.browser(false).await;
    let unknown_key = "0".repeat(62);

    for (path, id) in [
        ("/no-such-page".to_owned(), "#not-found"),
        (format!("/receipt/{unknown_key}"), "#not-found"),
        (format!("/secret/{unknown_key}"), "#gone"),
        ("/secret/NOT-A-KEY".to_owned(), "#gone"),
    ] {
        browser.goto(&rig.server.url(&path)).await;
        assert_eq!(browser.status().await, 404, "{path}");
        assert!(browser.has(id).await, "{path} shows {id}");
    }
    // A real receipt still works after all that.
    let receipt = create(&browser, &rig.server, "still fine", None).await;
    assert_eq!(rig.server.state_of(&receipt.key).await, "new");
}
