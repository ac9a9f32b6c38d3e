//! Languages: `?locale=` picks one and is remembered; `Accept-Language` picks one too.

use crate::harness::{Profile, Rig};

#[tokio::test]
async fn the_locale_parameter_switches_the_page_language_and_is_remembered() {
    let rig = Rig::start();
    let browser = rig.browser(true).await;

    browser.goto(&rig.server.url("/?locale=en")).await;
    assert_eq!(browser.lang().await, "en");
    let english = browser.text("main#main").await;
    browser.goto(&rig.server.url("/?locale=nl")).await;

    assert_eq!(browser.lang().await, "nl", "<html lang> follows ?locale=nl");
    let dutch = browser.text("main#main").await;
    assert_ne!(dutch, english, "the page's words are Dutch, not English");
    assert_ne!(
        browser.text("button#create-link").await,
        "",
        "the button has a label"
    );
    browser.goto(&rig.server.url("/")).await;
    assert_eq!(browser.lang().await, "nl", "the choice is remembered");
    assert_eq!(browser.text("main#main").await, dutch);
    browser.goto(&rig.server.url("/no-such-page")).await;
    assert_eq!(browser.lang().await, "nl", "also on the 404 page");
    browser.goto(&rig.server.url("/?locale=en")).await;
    assert_eq!(
        browser.text("main#main").await,
        english,
        "and can be undone"
    );
}

#[tokio::test]
async fn a_dutch_browser_gets_dutch_pages_without_asking() {
    let rig = Rig::start();
    let english = rig.browser(true).await;
    let dutch = rig
        .driver
        .open(Profile {
            accept_language: "nl-NL,nl",
            ..Profile::default()
        })
        .await;

    english.goto(&rig.server.url("/")).await;
    dutch.goto(&rig.server.url("/")).await;

    assert_eq!(english.lang().await, "en");
    assert_eq!(dutch.lang().await, "nl", "Accept-Language: nl");
    assert_ne!(
        dutch.text("main#main").await,
        english.text("main#main").await
    );
}
