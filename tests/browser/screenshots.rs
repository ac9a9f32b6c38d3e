//! A PNG of every page in three looks (light and dark desktop at 1280x900, a 390x844 phone) in
//! `<target dir>/screenshots/<page>-<look>.png`, for people to look at. Asserted on the way: the
//! look is really in effect on each page, and no page scrolls sideways.

use crate::harness::{Browser, Look, Profile, Rig};
use crate::pages::{create, open_link, reveal};

/// What every page has, by the contract: a `lang`, `main#main` with a skip link to it, the site
/// name linking home, a sign-in link or the signed-in email, and an anti-CSRF field in each form.
const FRAME: [(&str, &str); 5] = [
    ("html[lang='en'], html[lang='nl']", "no <html lang>"),
    ("main#main", "no main#main"),
    ("a[href='#main']", "no skip link"),
    ("header a[href='/']", "no site name linking home"),
    (
        "a#signin-link, #signed-in-as",
        "neither a#signin-link nor #signed-in-as",
    ),
];

/// Screenshots the page shown as `name`; notes a complaint if it does not fit its look or lacks
/// part of the frame every page shares.
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
    if seen[3] != serde_json::json!(true) {
        complaints.push(format!("{name}-{}: a form without csrf", look.name()));
    }
    for (css, missing) in FRAME {
        if !browser.has(css).await {
            complaints.push(format!("{name}-{}: {missing}", look.name()));
        }
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
        "pages that do not fit their look:\n{}",
        complaints.join("\n")
    );
}

async fn open(rig: &Rig, look: Look) -> Browser {
    rig.driver
        .open(Profile {
            look,
            ..Profile::default()
        })
        .await
}

#[tokio::test]
async fn every_public_page_fits_light_dark_and_phone_looks() {
    let rig = Rig::start();
    let mut complaints = Vec::new();

    for look in Look::ALL {
        let browser = open(&rig, look).await;
        let page = |path: &str| rig.server.url(path);

        browser.goto(&page("/")).await;
        shoot(&browser, "create", &mut complaints).await;
        let receipt = create(&browser, &rig.server, "a secret to look at", None).await;
        shoot(&browser, "receipt", &mut complaints).await;
        open_link(&browser, &receipt.link).await;
        shoot(&browser, "interstitial", &mut complaints).await;
        reveal(&browser, None).await;
        shoot(&browser, "revealed", &mut complaints).await;
        browser.goto(&receipt.link).await;
        browser.find("#gone").await;
        shoot(&browser, "gone", &mut complaints).await;

        let burnable = create(&browser, &rig.server, "one to burn", Some("passphrase!")).await;
        browser.submit("a#burn").await;
        browser.find("button#confirm-burn").await;
        shoot(&browser, "burn", &mut complaints).await;
        browser.goto(&burnable.url).await;
        shoot(&browser, "receipt-passphrase", &mut complaints).await;

        browser.goto(&page("/")).await;
        browser.submit("button#generate").await;
        browser.find("#generated-value").await;
        shoot(&browser, "generated", &mut complaints).await;

        browser.goto(&page("/no-such-page")).await;
        browser.find("#not-found").await;
        shoot(&browser, "404", &mut complaints).await;
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
        let browser = open(&rig, look).await;
        let page = |path: &str| rig.server.url(path);

        browser.goto(&page("/signin")).await;
        browser.find("button#signin").await;
        shoot(&browser, "signin", &mut complaints).await;
        browser.fill("input#email", email).await;
        browser.fill("input#password", password).await;
        browser.submit("button#signin").await;
        browser.find("#signed-in-as").await;
        assert!(
            !browser.has("#recipient").await,
            "no recipient field while the server sends no mail"
        );
        shoot(&browser, "create-signed-in", &mut complaints).await;
        create(&browser, &rig.server, "listed", None).await;
        browser.goto(&page("/recent")).await;
        browser.find("tr.recent-row").await;
        shoot(&browser, "recent", &mut complaints).await;
        browser.goto(&page("/account")).await;
        browser.find("button#rotate").await;
        shoot(&browser, "account", &mut complaints).await;
        browser.submit("button#rotate").await;
        browser.find("#new-token").await;
        shoot(&browser, "account-token", &mut complaints).await;
    }

    assert_no_complaints(&complaints);
}
