//! The keyboard alone, as WebDriver key actions: create, reveal and burn, each focus asserted.

use fantoccini::key::Key;

use crate::harness::{Browser, Rig};

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

/// The top of a recipient's page under a secret link: no sign-in there.
const RECIPIENT_HEADER: [&str; 2] = ["a.skip[href='#main']", "a.brand[href='/']"];

/// From a fresh page, Tabs through the header and then `stops`, checking each focus.
async fn tab_through(browser: &Browser, stops: &[&str]) {
    tab_through_after(browser, &HEADER, stops).await;
}

/// From a fresh page, Tabs through `header` and then `stops`, checking each focus.
async fn tab_through_after(browser: &Browser, header: &[&str], stops: &[&str]) {
    assert_eq!(browser.focused().await, "body", "a fresh page");
    for expected in header.iter().chain(stops) {
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
    // With JavaScript the file picker follows the text (static/e2e.js).
    step(browser, Key::Tab, "#file").await;
    step(browser, Key::Tab, "#passphrase").await;
    browser.type_keys(passphrase).await;
    step(browser, Key::Tab, "#ttl").await;
    step(browser, Key::Tab, "#memo").await;
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
    tab_through_after(
        &browser,
        &RECIPIENT_HEADER,
        &["#secret-value", "#copy-secret"],
    )
    .await;

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
