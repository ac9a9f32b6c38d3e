//! An account holder signs in on the web: the recipient field, the recent list, a new API token,
//! and signing out.

use crate::harness::{free_port, Browser, Rig};
use crate::pages::{create, SIGNOUT_FORM};

/// The sign-in form (the contract's `form#signin` shares its id with its button).
const SIGNIN_FORM: &str = "form:has(button#signin)";

/// The token form (the contract's `form#rotate` shares its id with its button).
const ROTATE_FORM: &str = "form:has(button#rotate)";

async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser
        .find(&format!("{SIGNIN_FORM}[method=post][action='/signin']"))
        .await;
    browser.fill("input#email[name=email]", email).await;
    browser
        .fill("input#password[name=password][type=password]", password)
        .await;
    browser.submit("button#signin").await;
}

async fn a_signed_in_account_lists_its_secrets_and_rotates_its_token(js: bool) {
    // Arrange: an account with a web password, set through the CLI as an operator would, on a
    // server that sends mail (to a closed port: nothing is mailed here), so a recipient may be
    // named.
    let smtp = format!("smtp://127.0.0.1:{}", free_port());
    let rig = Rig::start_with(&[("mail.smtp_url", &smtp)]);
    let email = "ada@example.com";
    let password = "a long web password 42";
    let old_token = rig.server.cli_ok(&["account", "add", email], "");
    rig.server
        .cli_ok(&["account", "passwd", email], &format!("{password}\n"));
    let browser = rig.browser(js).await;

    // Signed out: a sign-in link, no recipient field, no recent list.
    browser.goto(&rig.server.url("/")).await;
    assert!(!browser.has("#signed-in-as").await);
    assert!(
        !browser.has("#recipient").await,
        "no recipient field for anonymous callers"
    );
    browser.goto(&rig.server.url("/recent")).await;
    assert_eq!(browser.path().await, "/signin", "/recent asks to sign in");
    browser.goto(&rig.server.url("/")).await;
    browser.submit("a#signin-link[href='/signin']").await;
    assert_eq!(browser.path().await, "/signin");

    // A wrong password: 400 and #error, the form again.
    sign_in(&browser, email, "not the password at all").await;
    assert_eq!(browser.status().await, 400, "a failed sign-in's status");
    assert!(browser.has("#error").await);
    assert!(!browser.has("#signed-in-as").await);

    // The right one: back on / and signed in.
    sign_in(&browser, email, password).await;
    assert_eq!(browser.path().await, "/", "a sign-in lands on /");
    assert_eq!(browser.text("#signed-in-as").await, email);
    assert!(
        browser
            .has(&format!("{SIGNOUT_FORM}[method=post][action='/signout']"))
            .await
    );
    assert!(!browser.has("a#signin-link").await);
    assert!(
        browser
            .has("input#recipient[name=recipient][type=email]")
            .await,
        "a signed-in account may name a recipient"
    );

    // What it creates shows up in its recent list.
    let receipt = create(&browser, &rig.server, "for the recent list", None).await;
    browser.goto(&rig.server.url("/recent")).await;
    assert_eq!(browser.status().await, 200);
    let row = format!(
        "table#recent tr.recent-row[data-state=new]:has(a[href='/receipt/{}'])",
        receipt.key
    );
    assert!(
        browser.has(&row).await,
        "/recent lists the new secret; it shows: {}",
        browser.summary().await
    );
    assert!(!browser.has("#recent-empty").await);

    // A new API token, shown once; it works and the old one no longer does.
    browser.goto(&rig.server.url("/account")).await;
    assert_eq!(browser.status().await, 200);
    assert!(!browser.has("#new-token").await, "no token before asking");
    browser.find(&format!("{ROTATE_FORM}[method=post]")).await;
    browser.submit("button#rotate").await;
    assert_eq!(browser.status().await, 200, "the new token page's status");
    let new_token = browser.value("#new-token").await;
    assert!(new_token.len() >= 20, "a token of a useful length");
    assert!(
        rig.server.token_works(email, &new_token).await,
        "the token shown authenticates against /api/v1/authcheck"
    );
    assert!(
        !rig.server.token_works(email, &old_token).await,
        "the old token stops working"
    );
    browser.goto(&rig.server.url("/account")).await;
    assert!(!browser.has("#new-token").await, "the token is shown once");

    // Signing out.
    browser.goto(&rig.server.url("/")).await;
    browser.submit("button#signout").await;
    assert_eq!(browser.path().await, "/", "sign-out lands on /");
    assert!(browser.has("a#signin-link").await);
    assert!(!browser.has("#signed-in-as").await);
    browser.goto(&rig.server.url("/recent")).await;
    assert_eq!(browser.path().await, "/signin", "signed out for real");
    let logs = rig.server.logs();
    for (what, needle) in [
        ("the password", password),
        ("the new token", new_token.as_str()),
        ("the old token", old_token.as_str()),
    ] {
        assert!(!logs.contains(needle), "the server logged {what}");
    }
}

#[tokio::test]
async fn a_signed_in_account_lists_its_secrets_and_rotates_its_token_with_javascript() {
    a_signed_in_account_lists_its_secrets_and_rotates_its_token(true).await;
}

#[tokio::test]
async fn a_signed_in_account_lists_its_secrets_and_rotates_its_token_without_javascript() {
    a_signed_in_account_lists_its_secrets_and_rotates_its_token(false).await;
}
