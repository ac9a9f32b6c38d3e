//! The rig itself: chromedriver starts, a session opens, the real server answers a page.

use crate::harness::{Look, Rig};

#[tokio::test]
async fn a_browser_loads_the_real_servers_health_page_and_screenshots_it() {
    let rig = Rig::start();
    for look in Look::ALL {
        let browser = rig.browser_in(look).await;

        browser.goto(&rig.server.url("/health")).await;

        assert_eq!(browser.status().await, 200);
        assert!(
            !browser.summary().await.is_empty(),
            "/health shows something"
        );
        let png = browser.screenshot("health").await;
        assert!(std::fs::metadata(&png).expect("screenshot").len() > 100);
    }
}

#[tokio::test]
async fn javascript_can_be_switched_off_while_the_test_still_reads_the_page() {
    let rig = Rig::start();
    let page = "data:text/html,<title>static</title><script>document.title='ran'</script>";
    for js in [true, false] {
        let browser = rig.browser(js).await;

        browser.goto(page).await;

        let title = browser.client.title().await.expect("title");
        assert_eq!(title == "ran", js, "page scripts ran: {title}");
        browser.goto(&rig.server.url("/health")).await;
        assert_eq!(browser.status().await, 200, "tests can still read pages");
    }
}
