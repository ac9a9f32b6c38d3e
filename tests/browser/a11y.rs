//! Accessibility beyond what axe-core sees (axe runs on every page state in `screenshots.rs`):
//! refused forms focus and describe the field in error, the keyboard alone gets through the
//! whole story, focus rings and field edges stand out 3:1, and live changes are spoken through
//! the one status region. Also the states only reachable by being refused many times (a locked
//! secret, a rate limit) under axe in every look and both languages.

use fantoccini::key::Key;
use serde_json::{json, Value};

use crate::harness::{Browser, Look, Profile, Rig};
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
        ("ONETIME__LIMITS__PASSPHRASE_FAILURES_PER_IP", "1"),
        ("ONETIME__LIMITS__SIGNIN_PER_IP", "1"),
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
        let browser = rig
            .driver
            .open(Profile {
                look,
                ..Profile::default()
            })
            .await;
        for (lang, prefix) in TITLE_PREFIXES {
            let name = format!("{}-{lang}", look.name());
            browser
                .goto(&format!("{}?locale={lang}", guarded.link))
                .await;
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

/// Presses `key` and checks where the focus went.
async fn step(browser: &Browser, key: Key, expected: &str) {
    browser.press(key).await;
    let focused = browser.focused().await;
    assert_eq!(
        focused,
        expected,
        "after {key:?} on {}",
        browser.path().await
    );
}

/// Presses `key` on what has the focus and waits until the next page has loaded.
async fn step_to_next_page(browser: &Browser, key: Key) {
    let old = browser.find("html").await;
    browser.press(key).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while old.tag_name().await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "{key:?} led nowhere");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    browser.find("body").await;
}

/// The top of every page for a signed-out visitor, as Tab reaches it.
const HEADER: [&str; 3] = ["a.skip[href='#main']", "a.brand[href='/']", "#signin-link"];

/// From a fresh page, Tabs through the header and then `stops`, checking each focus.
async fn tab_through(browser: &Browser, stops: &[&str]) {
    assert_eq!(browser.focused().await, "body", "a fresh page");
    for expected in HEADER.iter().chain(stops) {
        step(browser, Key::Tab, expected).await;
    }
}

/// Creates `secret` behind `passphrase` on `/` with the keyboard only: the skip link, then
/// the fields in order; lands on the receipt.
async fn create_by_keyboard(browser: &Browser, secret: &str, passphrase: &str) {
    step(browser, Key::Tab, HEADER[0]).await;
    step(browser, Key::Enter, "#main").await;
    step(browser, Key::Tab, "#secret").await;
    browser.type_keys(secret).await;
    step(browser, Key::Tab, "#passphrase").await;
    browser.type_keys(passphrase).await;
    step(browser, Key::Tab, "#ttl").await;
    step(browser, Key::Tab, "#create-link").await;
    step_to_next_page(browser, Key::Enter).await;
    assert!(
        browser.path().await.starts_with("/receipt/"),
        "on a receipt"
    );
}

#[tokio::test]
async fn the_keyboard_alone_creates_reveals_and_burns() {
    let rig = Rig::start();
    let browser = rig.browser(true).await;

    // Create.
    browser.goto(&rig.server.url("/")).await;
    create_by_keyboard(&browser, "typed, not pasted", "open sesame").await;
    tab_through(&browser, &["#secret-link", "#copy-link", "#burn"]).await;
    let link = browser.value("#secret-link").await;

    // Reveal: the passphrase field has the focus on arrival.
    browser.goto(&link).await;
    assert_eq!(browser.focused().await, "#passphrase", "autofocus");
    browser.type_keys("open sesame").await;
    step(&browser, Key::Tab, "#reveal").await;
    step_to_next_page(&browser, Key::Enter).await;
    assert_eq!(browser.value("#secret-value").await, "typed, not pasted");
    tab_through(&browser, &["#secret-value", "#copy-secret"]).await;

    // Burn another one from its receipt.
    browser.goto(&rig.server.url("/")).await;
    create_by_keyboard(&browser, "to be burned", "pass word").await;
    let key = browser.path().await["/receipt/".len()..].to_owned();
    tab_through(&browser, &["#secret-link", "#copy-link", "#burn"]).await;
    step_to_next_page(&browser, Key::Enter).await;
    tab_through(&browser, &["#passphrase"]).await;
    browser.type_keys("pass word").await;
    step(&browser, Key::Tab, "#confirm-burn").await;
    step_to_next_page(&browser, Key::Enter).await;

    assert_eq!(
        browser.attr("#state", "data-state").await.as_deref(),
        Some("burned")
    );
    assert_eq!(rig.server.state_of(&key).await, "burned");
}

/// `rgb(r, g, b)` as read from `getComputedStyle`; opaque colours only.
fn rgb(css: &Value) -> [f64; 3] {
    let text = css.as_str().unwrap_or_default();
    let inner = text
        .strip_prefix("rgb(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or_else(|| panic!("an opaque rgb() colour, not {text:?}"));
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| p.trim().parse().expect("a colour channel"))
        .collect();
    [parts[0], parts[1], parts[2]]
}

/// WCAG 2.x contrast ratio of two colours (relative luminance, sRGB).
fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let luminance = |c: [f64; 3]| {
        let linear = |v: f64| {
            let v = v / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(c[0]) + 0.7152 * linear(c[1]) + 0.0722 * linear(c[2])
    };
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn the_contrast_formula_matches_known_pairs() {
    assert!((contrast([0.0; 3], [255.0; 3]) - 21.0).abs() < 0.01);
    // The faint focus ring of issue 19: #f0a400 on white, 2.10:1.
    assert!((contrast([240.0, 164.0, 0.0], [255.0; 3]) - 2.10).abs() < 0.01);
}

#[tokio::test]
async fn focus_rings_field_edges_and_placeholders_stand_out_light_and_dark() {
    let rig = Rig::start();
    let mut weak = Vec::new();

    for look in [Look::Light, Look::Dark] {
        let browser = rig
            .driver
            .open(Profile {
                look,
                ..Profile::default()
            })
            .await;
        browser.goto(&rig.server.url("/")).await;
        let seen = browser
            .client
            .execute(
                "const bg = e => getComputedStyle(e).backgroundColor;
                 const out = { card: bg(document.querySelector('.card')), page: bg(document.body),
                               controls: {} };
                 for (const css of arguments[0]) {
                   const e = document.querySelector(css);
                   const edge = getComputedStyle(e).borderTopColor;
                   e.focus();
                   const s = getComputedStyle(e);
                   out.controls[css] = { edge, focusVisible: e.matches(':focus-visible'),
                     ring: s.outlineColor, ringStyle: s.outlineStyle, fill: bg(e),
                     placeholder: getComputedStyle(e, '::placeholder').color };
                 }
                 return out;",
                vec![json!([
                    "textarea#secret",
                    "input#passphrase",
                    "select#ttl",
                    "button#create-link",
                    "button#generate",
                    "a.brand",
                    "a#signin-link"
                ])],
            )
            .await
            .expect("read the colours");
        let backgrounds = [("card", rgb(&seen["card"])), ("page", rgb(&seen["page"]))];
        let controls = seen["controls"].as_object().expect("controls");
        for (css, c) in controls {
            let name = format!("{}: {css}", look.name());
            assert_eq!(c["focusVisible"], json!(true), "{name} shows its focus");
            assert_ne!(c["ringStyle"], json!("none"), "{name} has a focus outline");
            let field = !css.starts_with("button") && !css.starts_with('a');
            for (bg_name, bg) in backgrounds {
                let ring = contrast(rgb(&c["ring"]), bg);
                if ring < 3.0 {
                    weak.push(format!("{name}: focus ring {ring:.2}:1 on the {bg_name}"));
                }
                if field {
                    let edge = contrast(rgb(&c["edge"]), bg);
                    if edge < 3.0 {
                        weak.push(format!("{name}: edge {edge:.2}:1 on the {bg_name}"));
                    }
                }
            }
            if css.starts_with("textarea") {
                let text = contrast(rgb(&c["placeholder"]), rgb(&c["fill"]));
                if text < 4.5 {
                    weak.push(format!("{name}: placeholder {text:.2}:1 on its field"));
                }
            }
        }
    }

    assert!(
        weak.is_empty(),
        "too faint (3:1, text 4.5:1):\n{}",
        weak.join("\n")
    );
}

/// Waits until the status region says something, and returns it.
async fn announced(browser: &Browser) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let said = browser
            .eval("return document.getElementById('status').textContent")
            .await;
        let said = said.as_str().unwrap_or_default().to_owned();
        if !said.is_empty() || std::time::Instant::now() > deadline {
            return said;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Empties the status region, so the next announcement can be told apart.
async fn hush(browser: &Browser) {
    browser
        .eval("document.getElementById('status').textContent = ''")
        .await;
}

#[tokio::test]
async fn copies_and_the_byte_count_are_announced_in_words_in_the_pages_language() {
    let rig = Rig::start();
    let browser = rig.browser(true).await;
    // `{0}`: the bytes typed, the limit, the bytes over it.
    let cases = [
        (
            "en",
            "8 of {max} bytes",
            "Over the limit by 2 bytes",
            "Copied",
        ),
        (
            "nl",
            "8 van {max} bytes",
            "2 bytes boven de limiet",
            "Gekopieerd",
        ),
    ];

    for (lang, count, over, copied) in cases {
        browser
            .goto(&rig.server.url(&format!("/?locale={lang}")))
            .await;
        let regions = browser
            .eval("return [...document.querySelectorAll('[role=status], [aria-live]')].map(e => e.id)")
            .await;
        assert_eq!(regions, json!(["status"]), "{lang}: one status region");
        assert_eq!(
            browser.attr("#status", "aria-live").await.as_deref(),
            Some("polite")
        );
        let max: u64 = browser
            .attr("textarea#secret", "data-max")
            .await
            .and_then(|m| m.parse().ok())
            .expect("data-max");
        let limit = browser
            .client
            .execute(
                "return new Intl.NumberFormat(arguments[0]).format(arguments[1])",
                vec![json!(lang), json!(max)],
            )
            .await
            .expect("the limit in the page's language");
        let count = count.replace("{max}", limit.as_str().unwrap_or_default());

        // The count, once typing pauses.
        hush(&browser).await;
        browser.fill("textarea#secret", "12345678").await;
        assert_eq!(announced(&browser).await, count, "{lang}: the count");

        // Over the limit: said at once, in words (not only in red), also on the page.
        hush(&browser).await;
        browser
            .client
            .execute(
                "const s = document.getElementById('secret');
                 s.value = 'x'.repeat(arguments[0]);
                 s.dispatchEvent(new Event('input'));",
                vec![json!(max + 2)],
            )
            .await
            .expect("type past the limit");
        assert_eq!(announced(&browser).await, over, "{lang}: over the limit");
        assert_eq!(browser.text("#size-hint").await, over, "{lang}: shown too");

        // A copy.
        create(&browser, &rig.server, "to copy", None).await;
        hush(&browser).await;
        browser.click("button#copy-link").await;
        assert_eq!(announced(&browser).await, copied, "{lang}: the copy");
    }
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
