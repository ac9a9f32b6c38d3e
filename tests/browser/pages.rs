//! The page contract (`notes/page-contract.md`) as steps a person takes: create a secret through
//! the form, open its link, reveal it. Selectors name the contract's ids.

use crate::harness::{Browser, Server};

/// The reveal form. The contract names it `form#reveal`, which is also its button's id, and an
/// id is unique in a page; so the form is found as the one holding `button#reveal`.
pub const REVEAL_FORM: &str = "form:has(button#reveal)";

/// The sign-out form (the contract's `form#signout` shares its id with its button likewise).
pub const SIGNOUT_FORM: &str = "form:has(button#signout)";

/// A receipt page reached through the create form.
pub struct Receipt {
    /// The metadata key, from the receipt's URL.
    pub key: String,
    /// The receipt page's absolute URL.
    pub url: String,
    /// `#secret-link`: the link for the recipient.
    pub link: String,
}

/// Creates `secret` (with `passphrase`, if any) through the form on `/`, and checks that it
/// lands on its receipt: a 303 to `/receipt/{metadata_key}`, state new, a link to the secret.
pub async fn create(
    browser: &Browser,
    server: &Server,
    secret: &str,
    passphrase: Option<&str>,
) -> Receipt {
    browser.goto(&server.url("/")).await;
    browser.find("form#create[method=post][action='/']").await;
    browser.fill("textarea#secret[name=secret]", secret).await;
    if let Some(passphrase) = passphrase {
        browser
            .fill(
                "input#passphrase[name=passphrase][type=password]",
                passphrase,
            )
            .await;
    }
    browser
        .submit("button#create-link[name=action][value=share]")
        .await;
    receipt_here(browser, server).await
}

/// Presses "Generate" on `/` and checks that it lands on the new receipt.
pub async fn generate(browser: &Browser, server: &Server) -> Receipt {
    browser.goto(&server.url("/")).await;
    browser
        .submit("button#generate[name=action][value=generate]")
        .await;
    receipt_here(browser, server).await
}

/// The receipt the browser has just landed on, checked to be new with a link.
pub async fn receipt_here(browser: &Browser, server: &Server) -> Receipt {
    let path = browser.path().await;
    let key = path
        .strip_prefix("/receipt/")
        .unwrap_or_else(|| panic!("landed on {path}, not on a receipt"))
        .to_owned();
    assert_eq!(browser.status().await, 200, "the receipt page's status");
    assert_eq!(
        browser.attr("#state", "data-state").await.as_deref(),
        Some("new"),
        "a fresh receipt's state"
    );
    let link = browser.value("input#secret-link[readonly]").await;
    assert!(
        link.starts_with(&server.url("/secret/")),
        "#secret-link is a full link to the secret under base_url"
    );
    Receipt {
        url: server.url(&path),
        key,
        link,
    }
}

/// Opens the secret link and checks the interstitial: a reveal form, no value yet.
pub async fn open_link(browser: &Browser, link: &str) {
    browser.goto(link).await;
    assert_eq!(browser.status().await, 200, "the interstitial's status");
    browser.find(REVEAL_FORM).await;
    assert_eq!(
        browser.attr(REVEAL_FORM, "method").await.as_deref(),
        Some("post"),
        "the reveal form posts"
    );
    assert!(
        !browser.has("#secret-value").await,
        "the interstitial shows no value"
    );
}

/// On the interstitial: types `passphrase` when given, clicks `#reveal`, and returns the value.
pub async fn reveal(browser: &Browser, passphrase: Option<&str>) -> String {
    if let Some(passphrase) = passphrase {
        browser
            .fill(&format!("{REVEAL_FORM} input#passphrase"), passphrase)
            .await;
    }
    browser.submit("button#reveal").await;
    assert_eq!(browser.status().await, 200, "the revealed page's status");
    assert!(
        browser.has("#deleted-notice").await,
        "the revealed page says the secret is now deleted"
    );
    browser.value("textarea#secret-value[readonly]").await
}

/// Checks that the page shown is the "gone" page with status 404.
pub async fn assert_gone(browser: &Browser) {
    browser.find("#gone").await;
    assert_eq!(browser.status().await, 404, "the gone page's status");
    assert!(!browser.has("#secret-value").await, "no value on #gone");
    assert!(!browser.has(REVEAL_FORM).await, "no reveal form on #gone");
}
