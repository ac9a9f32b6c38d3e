//! A PNG of every page in three looks (light and dark desktop at 1280x900, a 390x844 phone) and
//! both languages in `<target dir>/screenshots/<page>[-nl]-<look>.png`, for people to look at.
//! Asserted on the way: the look is really in effect on each page, no page scrolls sideways, and
//! axe-core finds no WCAG 2.0-2.2 A/AA violation on any of them (error states included): the
//! pages are visited once, for both.

use crate::harness::{Browser, Look, Rig};
use crate::pages::{create, open_link, receipt_here, reveal, REVEAL_FORM};

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

fn assert_no_complaints(complaints: &[String]) {
    assert!(
        complaints.is_empty(),
        "pages that do not fit their look or are not accessible:\n{}",
        complaints.join("\n")
    );
}

#[tokio::test]
async fn every_public_page_fits_light_dark_and_phone_looks() {
    let rig = Rig::start();
    let mut complaints = Vec::new();

    for look in Look::ALL {
        let browser = rig.browser_in(look).await;
        let page = |path: &str| rig.server.url(path);
        for (lang, suffix) in LANGUAGES {
            let name = |page: &str| format!("{page}{suffix}");
            // The choice is remembered (a cookie) for the pages that follow.
            browser.goto(&page(&format!("/?locale={lang}"))).await;
            shoot(&browser, &name("create"), &mut complaints).await;
            let receipt = create(&browser, &rig.server, "a secret to look at", None).await;
            shoot(&browser, &name("receipt"), &mut complaints).await;
            open_link(&browser, &receipt.link).await;
            shoot(&browser, &name("interstitial"), &mut complaints).await;
            reveal(&browser, None).await;
            shoot(&browser, &name("revealed"), &mut complaints).await;
            browser.goto(&receipt.link).await;
            browser.find("#gone").await;
            shoot(&browser, &name("gone"), &mut complaints).await;
            browser.goto(&receipt.url).await;
            browser.find("#state[data-state=received]").await;
            shoot(&browser, &name("receipt-received"), &mut complaints).await;

            // A passphrase and a private note, as a careful sender would.
            browser.goto(&page("/")).await;
            browser.fill("textarea#secret", "behind a passphrase").await;
            browser.fill("input#passphrase", "passphrase!").await;
            browser.fill("input#memo", MEMO).await;
            browser.submit("button#create-link").await;
            let guarded = receipt_here(&browser, &rig.server).await;
            browser.find("#memo").await;
            shoot(&browser, &name("receipt-passphrase-memo"), &mut complaints).await;
            open_link(&browser, &guarded.link).await;
            shoot(&browser, &name("interstitial-passphrase"), &mut complaints).await;
            browser
                .fill(&format!("{REVEAL_FORM} input#passphrase"), "not it")
                .await;
            browser.submit("button#reveal").await;
            browser.find("#error").await;
            shoot(&browser, &name("interstitial-error"), &mut complaints).await;
            reveal(&browser, Some("passphrase!")).await;
            shoot(&browser, &name("revealed-passphrase"), &mut complaints).await;

            let guarded = create(&browser, &rig.server, "one to burn", Some("passphrase!")).await;
            browser.goto(&format!("{}/burn", guarded.url)).await;
            browser.find("button#confirm-burn").await;
            shoot(&browser, &name("burn"), &mut complaints).await;
            browser.fill("form#burn input#passphrase", "not it").await;
            browser.submit("button#confirm-burn").await;
            browser.find("#error").await;
            shoot(&browser, &name("burn-error"), &mut complaints).await;
            browser
                .fill("form#burn input#passphrase", "passphrase!")
                .await;
            browser.submit("button#confirm-burn").await;
            browser.find("#state[data-state=burned]").await;
            shoot(&browser, &name("burned"), &mut complaints).await;

            browser.goto(&page("/")).await;
            browser.submit("button#create-link").await;
            browser.find("#error").await;
            shoot(&browser, &name("create-error"), &mut complaints).await;
            browser.submit("button#generate").await;
            browser.find("#generated-value").await;
            shoot(&browser, &name("generated"), &mut complaints).await;

            browser.goto(&page("/no-such-page")).await;
            browser.find("#not-found").await;
            shoot(&browser, &name("404"), &mut complaints).await;
        }
    }

    assert_no_complaints(&complaints);
}

#[tokio::test]
async fn every_account_page_fits_light_dark_and_phone_looks() {
    let rig = Rig::start();
    let email = "grace@example.com";
    let password = "another long password";
    rig.server.cli_ok(&["account", "add", email], "");
    rig.server
        .cli_ok(&["account", "passwd", email], &format!("{password}\n"));
    let mut complaints = Vec::new();

    for look in Look::ALL {
        let browser = rig.browser_in(look).await;
        let page = |path: &str| rig.server.url(path);
        for (lang, suffix) in LANGUAGES {
            let name = |page: &str| format!("{page}{suffix}");
            browser.goto(&page(&format!("/signin?locale={lang}"))).await;
            browser.find("button#signin").await;
            shoot(&browser, &name("signin"), &mut complaints).await;
            browser.fill("input#email", email).await;
            browser.fill("input#password", "not the password").await;
            browser.submit("button#signin").await;
            browser.find("#error").await;
            shoot(&browser, &name("signin-error"), &mut complaints).await;
            browser.fill("input#password", password).await;
            browser.submit("button#signin").await;
            browser.find("#signed-in-as").await;
            assert!(
                !browser.has("#recipient").await,
                "no recipient field while the server sends no mail"
            );
            shoot(&browser, &name("create-signed-in"), &mut complaints).await;
            create(&browser, &rig.server, "listed", None).await;
            browser.goto(&page("/")).await;
            browser.fill("textarea#secret", "listed with a note").await;
            browser.fill("input#passphrase", "passphrase!").await;
            browser.fill("input#memo", MEMO).await;
            browser.submit("button#create-link").await;
            receipt_here(&browser, &rig.server).await;
            browser.goto(&page("/recent")).await;
            browser.find("tr.recent-row .memo").await;
            browser.find("tr.recent-row").await;
            shoot(&browser, &name("recent"), &mut complaints).await;
            browser.goto(&page("/account")).await;
            browser.find("button#rotate").await;
            shoot(&browser, &name("account"), &mut complaints).await;
            browser.submit("button#rotate").await;
            browser.find("#new-token").await;
            shoot(&browser, &name("account-token"), &mut complaints).await;
            browser.submit("button#signout").await;
            browser.find("a#signin-link").await;
        }
    }

    assert_no_complaints(&complaints);
}

#[tokio::test]
async fn the_rate_limit_page_fits_light_dark_and_phone_looks() {
    let rig = Rig::start_with(&[("limits.create_per_ip", "1")]);
    let mut complaints = Vec::new();
    // One create spends the address's budget; every later one is refused.
    let first = rig.browser_in(Look::Light).await;
    create(&first, &rig.server, "spends the budget", None).await;

    for look in Look::ALL {
        let browser = rig.browser_in(look).await;
        for (lang, suffix) in LANGUAGES {
            browser
                .goto(&rig.server.url(&format!("/?locale={lang}")))
                .await;
            browser.fill("textarea#secret", "one too many").await;
            browser.submit("button#create-link").await;
            browser.find("#rate-limited").await;
            assert_eq!(browser.status().await, 429, "the rate-limit page's status");
            shoot(&browser, &format!("rate-limited{suffix}"), &mut complaints).await;
        }
    }

    assert_no_complaints(&complaints);
}
