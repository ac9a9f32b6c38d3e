//! The one polite status region: copy results and the byte count are spoken in words, in the
//! page's language.

use serde_json::json;

use crate::harness::{Browser, Rig};
use crate::pages::create;

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
