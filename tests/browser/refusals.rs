//! Accessibility beyond what axe-core sees on a normal visit (axe runs on every page state in
//! `screenshots.rs`): refused forms focus and describe the field in error, and the states only
//! reachable by being refused many times (a locked secret, a rate limit) under axe in every look
//! and both languages. Also proof that axe really runs: it finds a planted fault.

use serde_json::{json, Value};

use crate::harness::{Browser, Look, Rig};
use crate::pages::{create, open_link, REVEAL_FORM};

/// `?locale=` tag, and the words a refused page's title starts with.
const TITLE_PREFIXES: [(&str, &str); 2] = [("en", "Error: "), ("nl", "Fout: ")];

/// What the page says about its refusal: title, focus, autofocus, invalid fields, and the
/// `aria-describedby` of `field`.
async fn refusal(browser: &Browser, field: &str) -> Value {
    browser
        .client
        .execute(
            "const ids = css => [...document.querySelectorAll(css)].map(e => e.id);
             const field = document.getElementById(arguments[0]);
             return { title: document.title,
                      focused: document.activeElement ? document.activeElement.id : '',
                      autofocus: ids('[autofocus]'),
                      invalid: ids('[aria-invalid=true]'),
                      describedby: field ? field.getAttribute('aria-describedby') || '' : '',
                      error: !!document.getElementById('error') };",
            vec![json!(field)],
        )
        .await
        .expect("read the refusal")
}

/// Checks the refused form shown: the title starts with `prefix`, `invalid` are marked (the
/// first focused, by `autofocus`, and nothing else is), and the message `#error` describes each.
async fn assert_refused(browser: &Browser, prefix: &str, invalid: &[&str], what: &str) {
    let seen = refusal(browser, invalid[0]).await;
    let title = seen["title"].as_str().unwrap_or_default();
    assert!(title.starts_with(prefix), "{what}: title {title:?}");
    assert_eq!(seen["error"], json!(true), "{what}: an #error message");
    assert_eq!(seen["invalid"], json!(invalid), "{what}: aria-invalid");
    assert_eq!(seen["autofocus"], json!([invalid[0]]), "{what}: autofocus");
    assert_eq!(seen["focused"], json!(invalid[0]), "{what}: the focus");
    for field in invalid {
        let seen = refusal(browser, field).await;
        let ids = seen["describedby"].as_str().unwrap_or_default().to_owned();
        assert!(
            ids.split_whitespace().any(|id| id == "error"),
            "{what}: #{field} aria-describedby={ids:?} names the message"
        );
    }
}

#[tokio::test]
async fn refused_forms_focus_and_describe_the_field_in_error_in_english_and_dutch() {
    // Arrange: without JavaScript, so the focus is the server's `autofocus`, nothing else.
    let rig = Rig::start();
    let email = "ada@example.com";
    rig.server.cli_ok(&["account", "add", email], "");
    rig.server
        .cli_ok(&["account", "passwd", email], "a long web password 42\n");
    let browser = rig.browser(false).await;

    for (lang, prefix) in TITLE_PREFIXES {
        browser
            .goto(&rig.server.url(&format!("/?locale={lang}")))
            .await;
        let fine = refusal(&browser, "secret").await;
        assert!(
            !fine["title"]
                .as_str()
                .unwrap_or_default()
                .starts_with(prefix),
            "{lang}: no error, no prefix"
        );
        assert_eq!(fine["invalid"], json!([]), "{lang}: nothing invalid yet");

        // Create, nothing to share: the secret field.
        browser.submit("button#create-link").await;
        assert_refused(
            &browser,
            prefix,
            &["secret"],
            &format!("{lang} empty secret"),
        )
        .await;
        let ids = refusal(&browser, "secret").await["describedby"].clone();
        assert_eq!(ids, json!("error size-hint"), "{lang}: the hint stays");

        // Create, a passphrase too short (generate skips the browser's own minlength check).
        browser.fill("input#passphrase", "ab").await;
        browser.submit("button#generate").await;
        assert_refused(&browser, prefix, &["passphrase"], &format!("{lang} short")).await;

        // Reveal with a wrong passphrase: the passphrase, still described by the lead too.
        let guarded = create(&browser, &rig.server, "guarded", Some("open sesame")).await;
        open_link(&browser, &guarded.link).await;
        let ids = refusal(&browser, "passphrase").await["describedby"].clone();
        assert_eq!(
            ids,
            json!("secret-lead"),
            "{lang}: the lead describes the field"
        );
        browser
            .fill(&format!("{REVEAL_FORM} input#passphrase"), "open says me")
            .await;
        browser.submit("button#reveal").await;
        assert_refused(&browser, prefix, &["passphrase"], &format!("{lang} reveal")).await;
        let ids = refusal(&browser, "passphrase").await["describedby"].clone();
        assert_eq!(ids, json!("error secret-lead"), "{lang}: message and lead");

        // Burn with a wrong passphrase.
        browser.goto(&format!("{}/burn", guarded.url)).await;
        browser.fill("form#burn input#passphrase", "closed").await;
        browser.submit("button#confirm-burn").await;
        assert_refused(&browser, prefix, &["passphrase"], &format!("{lang} burn")).await;

        // Sign-in with a wrong password: both fields, the email focused.
        browser.goto(&rig.server.url("/signin")).await;
        browser.fill("input#email", email).await;
        browser.fill("input#password", "not it").await;
        browser.submit("button#signin").await;
        let what = format!("{lang} sign-in");
        assert_refused(&browser, prefix, &["email", "password"], &what).await;
    }
}

#[tokio::test]
async fn locked_and_rate_limited_pages_pass_axe_in_every_look_and_language() {
    // Arrange: one wrong passphrase locks a secret, one sign-in attempt is the budget.
    let rig = Rig::start_with(&[
        ("limits.passphrase_failures_per_ip", "1"),
        ("limits.signin_per_ip", "1"),
    ]);
    let setup = rig.browser(true).await;
    let guarded = create(&setup, &rig.server, "locked away", Some("open sesame")).await;
    open_link(&setup, &guarded.link).await;
    setup
        .fill(&format!("{REVEAL_FORM} input#passphrase"), "wrong")
        .await;
    setup.submit("button#reveal").await;
    setup.goto(&rig.server.url("/signin")).await;
    setup.fill("input#email", "nobody@example.com").await;
    setup.fill("input#password", "whatever").await;
    setup.submit("button#signin").await;
    let mut complaints = Vec::new();

    for look in Look::ALL {
        let browser = rig.browser_in(look).await;
        for (lang, prefix) in TITLE_PREFIXES {
            let name = format!("{}-{lang}", look.name());
            // The query goes before the link's #key (with JavaScript the secret is end-to-end).
            let (bare, key) = guarded.link.split_once('#').unwrap_or((&guarded.link, ""));
            browser.goto(&format!("{bare}?locale={lang}#{key}")).await;
            let seen = refusal(&browser, "passphrase").await;
            assert_eq!(
                seen["focused"],
                json!("error"),
                "{name}: locked: the message"
            );
            assert_eq!(
                seen["autofocus"],
                json!(["error"]),
                "{name}: only the message"
            );
            assert_eq!(seen["invalid"], json!([]), "{name}: no field is wrong");
            assert!(seen["title"]
                .as_str()
                .unwrap_or_default()
                .starts_with(prefix));
            for violation in browser.axe().await {
                complaints.push(format!("locked-{name}: {violation}"));
            }

            browser.goto(&rig.server.url("/signin")).await;
            browser.fill("input#email", "nobody@example.com").await;
            browser.fill("input#password", "whatever").await;
            browser.submit("button#signin").await;
            browser.find("#rate-limited").await;
            assert_eq!(browser.status().await, 429, "{name}: rate limited");
            let title = browser.eval("return document.title").await;
            assert!(title.as_str().unwrap_or_default().starts_with(prefix));
            for violation in browser.axe().await {
                complaints.push(format!("rate-limited-{name}: {violation}"));
            }
        }
    }

    assert!(
        complaints.is_empty(),
        "accessibility violations:\n{}",
        complaints.join("\n")
    );
}

#[tokio::test]
async fn axe_reports_a_violation_with_its_rule_and_element() {
    // The checks elsewhere pass only if axe really runs: here it must find a planted fault.
    let rig = Rig::start();
    let browser = rig.browser(true).await;
    browser.goto(&rig.server.url("/")).await;
    assert_eq!(browser.axe().await, Vec::<String>::new(), "/ is clean");

    browser
        .eval(
            "const img = document.createElement('img');
             img.id = 'planted'; img.src = '/static/favicon.svg';
             document.querySelector('main').append(img);",
        )
        .await;
    let found = browser.axe().await;

    assert!(
        found
            .iter()
            .any(|v| v.starts_with("image-alt ") && v.contains("#planted")),
        "axe names the rule and the element: {found:?}"
    );
}
