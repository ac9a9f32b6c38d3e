//! A PNG of every page in three looks (light and dark desktop at 1280x900, a 390x844 phone) and
//! both languages in `<target dir>/screenshots/<page>[-nl]-<look>.png`, for people to look at.
//! Asserted on the way: the look is really in effect on each page, no page scrolls sideways, and
//! axe-core finds no WCAG 2.0-2.2 A/AA violation on any of them (error states included): the
//! pages are visited once, for both.

use crate::harness::{Browser, Look, Rig, Server};
use crate::pages::{create, open_link, receipt_here, reveal, Receipt, REVEAL_FORM};

/// The private note the screenshots carry: long enough to wrap on a phone.
const MEMO: &str = "db password for Anna, the staging cluster (rotate after the migration)";

/// What every page has, by the contract: a `lang`, `main#main` with a skip link to it, the site
/// name linking home, and an anti-CSRF field in each form.
const FRAME: [(&str, &str); 4] = [
    ("html[lang='en'], html[lang='nl']", "no <html lang>"),
    ("main#main", "no main#main"),
    ("a[href='#main']", "no skip link"),
    ("header a[href='/']", "no site name linking home"),
];

/// The pages a recipient sees under a secret link: they offer no sign-in; every other page
/// has a sign-in link or the signed-in email.
const RECIPIENT_PAGES: [&str; 3] = ["interstitial", "revealed", "gone"];

/// The languages every page is checked in, with the suffix their screenshots get.
const LANGUAGES: [(&str, &str); 2] = [("en", ""), ("nl", "-nl")];

/// Screenshots the page shown as `name` and runs axe on it; notes a complaint if it does not fit
/// its look, lacks part of the frame every page shares, or has an accessibility violation.
async fn shoot(browser: &Browser, name: &str, complaints: &mut Vec<String>) {
    let seen = browser
        .eval(
            "return [matchMedia('(prefers-color-scheme: dark)').matches, \
             document.documentElement.scrollWidth, innerWidth, \
             [...document.forms].every(f => f.querySelector('input[type=hidden][name=csrf]'))]",
        )
        .await;
    browser.screenshot(name).await;
    let look = browser.profile.look;
    for violation in browser.axe().await {
        complaints.push(format!("{name}-{}: axe: {violation}", look.name()));
    }
    if seen[3] != serde_json::json!(true) {
        complaints.push(format!("{name}-{}: a form without csrf", look.name()));
    }
    for (css, missing) in FRAME {
        if !browser.has(css).await {
            complaints.push(format!("{name}-{}: {missing}", look.name()));
        }
    }
    if RECIPIENT_PAGES.iter().any(|page| name.starts_with(page)) {
        if browser.has("a#signin-link").await {
            complaints.push(format!("{name}-{}: a sign-in for a recipient", look.name()));
        }
    } else if !browser.has("a#signin-link, #signed-in-as").await {
        complaints.push(format!(
            "{name}-{}: neither a#signin-link nor #signed-in-as",
            look.name()
        ));
    }
    if seen[0] != serde_json::json!(look == Look::Dark) {
        complaints.push(format!(
            "{name}-{}: the colour scheme is not in effect",
            look.name()
        ));
    }
    let (scroll, width) = (seen[1].as_u64(), seen[2].as_u64());
    if scroll > width {
        complaints.push(format!(
            "{name}-{}: scrolls sideways ({} px wide in a {} px viewport)",
            look.name(),
            scroll.unwrap_or_default(),
            width.unwrap_or_default()
        ));
    }
}

/// Waits until `css` is on the page, then [`shoot`]s the page as `name`.
async fn shoot_at(browser: &Browser, css: &str, name: &str, complaints: &mut Vec<String>) {
    browser.find(css).await;
    shoot(browser, name, complaints).await;
}

/// Takes `tour` through every look and language: one browser per look, set to each language in
/// turn on `start` (`?locale=` is remembered in a cookie for the pages that follow). `tour` gets
/// the browser, the suffix of the screenshots in that language, and the complaints to add to;
/// then the test fails if there are any.
async fn tour_every_look_and_language(
    rig: &Rig,
    start: &str,
    tour: impl AsyncFn(&Browser, &str, &mut Vec<String>),
) {
    let mut complaints = Vec::new();
    for look in Look::ALL {
        let browser = rig.browser_in(look).await;
        for (lang, suffix) in LANGUAGES {
            let url = rig.server.url(&format!("{start}?locale={lang}"));
            browser.goto(&url).await;
            tour(&browser, suffix, &mut complaints).await;
        }
    }
    assert!(
        complaints.is_empty(),
        "pages that do not fit their look or are not accessible:\n{}",
        complaints.join("\n")
    );
}

/// Creates `secret` through the form on `/` with a passphrase and the note [`MEMO`], as a careful
/// sender would, and lands on its receipt.
async fn create_with_memo(browser: &Browser, server: &Server, secret: &str) -> Receipt {
    browser.goto(&server.url("/")).await;
    browser.fill("textarea#secret", secret).await;
    browser.fill("input#passphrase", "passphrase!").await;
    browser.fill("input#memo", MEMO).await;
    browser.submit("button#create-link").await;
    receipt_here(browser, server).await
}

#[tokio::test]
async fn every_public_page_fits_light_dark_and_phone_looks() {
    let rig = Rig::start();
    let page = |path: &str| rig.server.url(path);

    tour_every_look_and_language(&rig, "/", async |browser, suffix, complaints| {
        let name = |page: &str| format!("{page}{suffix}");
        shoot(browser, &name("create"), complaints).await;
        let receipt = create(browser, &rig.server, "a secret to look at", None).await;
        shoot(browser, &name("receipt"), complaints).await;
        open_link(browser, &receipt.link).await;
        shoot(browser, &name("interstitial"), complaints).await;
        reveal(browser, None).await;
        shoot(browser, &name("revealed"), complaints).await;
        browser.goto(&receipt.link).await;
        shoot_at(browser, "#gone", &name("gone"), complaints).await;
        browser.goto(&receipt.url).await;
        shoot_at(
            browser,
            "#state[data-state=received]",
            &name("receipt-received"),
            complaints,
        )
        .await;

        let guarded = create_with_memo(browser, &rig.server, "behind a passphrase").await;
        shoot_at(
            browser,
            "#memo",
            &name("receipt-passphrase-memo"),
            complaints,
        )
        .await;
        open_link(browser, &guarded.link).await;
        shoot(browser, &name("interstitial-passphrase"), complaints).await;
        browser
            .fill(&format!("{REVEAL_FORM} input#passphrase"), "not it")
            .await;
        browser.submit("button#reveal").await;
        shoot_at(browser, "#error", &name("interstitial-error"), complaints).await;
        reveal(browser, Some("passphrase!")).await;
        shoot(browser, &name("revealed-passphrase"), complaints).await;

        let guarded = create(browser, &rig.server, "one to burn", Some("passphrase!")).await;
        browser.goto(&format!("{}/burn", guarded.url)).await;
        shoot_at(browser, "button#confirm-burn", &name("burn"), complaints).await;
        browser.fill("form#burn input#passphrase", "not it").await;
        browser.submit("button#confirm-burn").await;
        shoot_at(browser, "#error", &name("burn-error"), complaints).await;
        browser
            .fill("form#burn input#passphrase", "passphrase!")
            .await;
        browser.submit("button#confirm-burn").await;
        shoot_at(
            browser,
            "#state[data-state=burned]",
            &name("burned"),
            complaints,
        )
        .await;

        browser.goto(&page("/")).await;
        browser.submit("button#create-link").await;
        shoot_at(browser, "#error", &name("create-error"), complaints).await;
        browser.submit("button#generate").await;
        shoot_at(browser, "#generated-value", &name("generated"), complaints).await;

        browser.goto(&page("/no-such-page")).await;
        shoot_at(browser, "#not-found", &name("404"), complaints).await;
    })
    .await;
}

#[tokio::test]
async fn every_account_page_fits_light_dark_and_phone_looks() {
    let rig = Rig::start();
    let email = "grace@example.com";
    let password = "another long password";
    rig.server.cli_ok(&["account", "add", email], "");
    rig.server
        .cli_ok(&["account", "passwd", email], &format!("{password}\n"));
    let page = |path: &str| rig.server.url(path);

    tour_every_look_and_language(&rig, "/signin", async |browser, suffix, complaints| {
        let name = |page: &str| format!("{page}{suffix}");
        shoot_at(browser, "button#signin", &name("signin"), complaints).await;
        browser.fill("input#email", email).await;
        browser.fill("input#password", "not the password").await;
        browser.submit("button#signin").await;
        shoot_at(browser, "#error", &name("signin-error"), complaints).await;
        browser.fill("input#password", password).await;
        browser.submit("button#signin").await;
        browser.find("#signed-in-as").await;
        assert!(
            !browser.has("#recipient").await,
            "no recipient field while the server sends no mail"
        );
        shoot(browser, &name("create-signed-in"), complaints).await;
        create(browser, &rig.server, "listed", None).await;
        create_with_memo(browser, &rig.server, "listed with a note").await;
        browser.goto(&page("/recent")).await;
        browser.find("tr.recent-row .memo").await;
        shoot_at(browser, "tr.recent-row", &name("recent"), complaints).await;
        browser.goto(&page("/account")).await;
        shoot_at(browser, "button#rotate", &name("account"), complaints).await;
        browser.submit("button#rotate").await;
        shoot_at(browser, "#new-token", &name("account-token"), complaints).await;
        browser.submit("button#signout").await;
        browser.find("a#signin-link").await;
    })
    .await;
}

#[tokio::test]
async fn the_rate_limit_page_fits_light_dark_and_phone_looks() {
    let rig = Rig::start_with(&[("limits.create_per_ip", "1")]);
    // One create spends the address's budget; every later one is refused.
    let first = rig.browser_in(Look::Light).await;
    create(&first, &rig.server, "spends the budget", None).await;

    tour_every_look_and_language(&rig, "/", async |browser, suffix, complaints| {
        browser.fill("textarea#secret", "one too many").await;
        browser.submit("button#create-link").await;
        browser.find("#rate-limited").await;
        assert_eq!(browser.status().await, 429, "the rate-limit page's status");
        shoot(browser, &format!("rate-limited{suffix}"), complaints).await;
    })
    .await;
}
