//! Signing in with the team's identity provider: a real OpenID provider (`oidc-provider`,
//! tests/oidc/provider.mjs) on loopback, its own login and consent pages filled in Chromium.
//! An allowed person gets an account, a recent list and an API token; a person from another
//! domain and one whose email is not verified are refused with a page that says so.

use crate::harness::{Browser, Rig};
use crate::pages::create;

#[path = "../oidc/provider.rs"]
mod provider;

use provider::Provider;

/// The real provider and a server signing in through it, with `extra` settings.
fn rig(extra: &[(&str, &str)]) -> (Provider, Rig) {
    let mut provider = Provider::real();
    let settings = provider.settings();
    let mut env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    let rig = Rig::start_with(&env);
    provider.register(&rig.server.url("/signin/oidc/callback"));
    (provider, rig)
}

/// From onetime's sign-in page through the provider's login (as `login`) and consent pages.
async fn through_the_provider(browser: &Browser, rig: &Rig, login: &str) {
    browser.goto(&rig.server.url("/signin")).await;
    sign_in_here(browser, login).await;
}

/// From the sign-in page shown through the provider's pages.
async fn sign_in_here(browser: &Browser, login: &str) {
    assert_eq!(browser.path().await, "/signin");
    assert_eq!(
        browser.text("button#sso-signin").await,
        "Sign in with Example SSO"
    );
    browser.submit("button#sso-signin").await;
    // The provider's own login page.
    browser.fill("input[name=login]", login).await;
    browser.fill("input[name=password]", "any password").await;
    browser.submit("button.login-submit").await;
    // Its consent page.
    browser.find("input[name=prompt][value=consent]").await;
    browser.submit("button.login-submit").await;
}

#[tokio::test]
async fn an_allowed_person_signs_in_with_the_provider_and_gets_a_recent_list_and_a_token() {
    // The intranet preset: creating needs an account.
    let (_provider, rig) = rig(&[("ONETIME__SECRETS__ALLOW_ANONYMOUS", "false")]);
    let browser = rig.browser(true).await;
    browser.goto(&rig.server.url("/")).await;
    assert!(
        !browser.has("form#create").await,
        "no create form for anonymous visitors"
    );
    sign_in_here(&browser, "ann").await;
    assert_eq!(browser.path().await, "/", "back on the create form");
    assert!(browser.has("form#create").await);
    assert_eq!(browser.text("#signed-in-as").await, "ann@example.com");
    let listed = rig.server.cli_ok(&["account", "list"], "");
    assert!(listed.contains("ann@example.com"), "{listed}");
    let list = rig.server.cli(&["account", "list"], "");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("ann@example.com") && l.contains(" sso ")),
        "the account signs in by single sign-on: {list}"
    );

    // The recent list opens for the single-sign-on session.
    let receipt = create(&browser, &rig.server, "for the recent list", None).await;
    browser.goto(&rig.server.url("/recent")).await;
    let row = format!(
        "table#recent tr.recent-row[data-state=new]:has(a[href='/receipt/{}'])",
        receipt.key
    );
    assert!(browser.has(&row).await, "{}", browser.summary().await);

    // An API token for scripts, from the account page.
    browser.goto(&rig.server.url("/account")).await;
    browser.submit("button#rotate").await;
    let token = browser.value("#new-token").await;
    assert!(rig.server.token_works("ann@example.com", &token).await);
    let violations = browser.axe().await;
    assert!(violations.is_empty(), "{violations:?}");

    // Signed out, and in again: the same account (found, not made twice), the list intact.
    browser.submit("button#signout").await;
    assert!(!browser.has("#signed-in-as").await);
    browser.goto(&rig.server.url("/signin")).await;
    browser.submit("button#sso-signin").await;
    // The provider remembers the person: straight back, signed in.
    assert_eq!(browser.text("#signed-in-as").await, "ann@example.com");
    browser.goto(&rig.server.url("/recent")).await;
    assert!(browser.has(&row).await, "{}", browser.summary().await);
}

#[tokio::test]
async fn a_person_from_another_domain_or_with_an_unverified_email_is_refused() {
    let (_provider, rig) = rig(&[]);
    for (login, page) in [("bob", "#sso-not-allowed"), ("cy", "#sso-unverified")] {
        let browser = rig.browser(true).await;
        through_the_provider(&browser, &rig, login).await;
        assert!(
            browser.has(page).await,
            "{login}: {}",
            browser.summary().await
        );
        assert_eq!(browser.status().await, 403, "{login}");
        assert!(
            !browser.has("#signed-in-as").await,
            "{login} is not signed in"
        );
        let violations = browser.axe().await;
        assert!(violations.is_empty(), "{login}: {violations:?}");
    }
    let list = rig.server.cli(&["account", "list"], "");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list.contains("bob@") && !list.contains("cy@"),
        "no accounts made: {list}"
    );
    // Nothing the provider sent is in the log but the sign-in's outcome.
    let logs = rig.server.logs();
    assert!(!logs.contains("eyJ"), "no token in the log");
    assert!(!logs.contains("bob@elsewhere.test") && !logs.contains("cy@example.com"));
}
