//! Expiry really expires: enforced at read time, and the sweeper reclaims each record once its
//! own time is up. These tests sleep through real seconds (TTLs of 1 to 2 s).

use std::time::Duration;

use crate::helpers::TestApp;

#[tokio::test]
async fn an_expired_secret_is_unknown_at_once_and_its_receipt_says_expired() {
    // A sweep interval of an hour: nothing here may depend on the sweeper.
    let app =
        TestApp::spawn_with(&[("secrets.min_ttl", "1"), ("storage.sweep_interval", "3600")]).await;
    let (key, mkey) = app.share_ok("short lived", &[("ttl", "2")]).await;
    let (pkey, pmkey) = app
        .share_ok("short with pass", &[("ttl", "2"), ("passphrase", "abcd")])
        .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;

    app.reveal(&key, None).await.assert_unknown_secret();
    app.reveal(&pkey, Some("abcd"))
        .await
        .assert_unknown_secret();
    app.burn(&mkey, None).await.assert_unknown_secret();
    let receipt = app.receipt(&mkey).await.ok();
    assert_eq!(receipt["state"], "expired");
    assert!(receipt["secret_ttl"].is_null());
    assert_eq!(receipt["passphrase_required"], false);
    assert!(receipt["metadata_ttl"].as_u64().expect("ttl") <= 2);
    assert_eq!(app.receipt(&pmkey).await.ok()["state"], "expired");

    // The receipt lives 2 x ttl, then it is unknown too.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.receipt(&mkey).await.assert_unknown_secret();
}

#[tokio::test]
async fn the_sweeper_removes_each_record_when_its_own_time_is_up() {
    let app =
        TestApp::spawn_with(&[("secrets.min_ttl", "1"), ("storage.sweep_interval", "1")]).await;
    // Short: secret gone after 1 s, receipt after 2 s. Long: 30 s and 60 s.
    app.share_ok("short", &[("ttl", "1")]).await;
    let (long_key, _) = app.share_ok("long", &[("ttl", "30")]).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let dir = app.stop().await;

    let db = sled::open(dir.path().join("data")).expect("open the stopped store");
    let pointers = db.open_tree("secrets").expect("tree");
    let entries = db.open_tree("entries").expect("tree");
    let expiry = db.open_tree("expiry").expect("tree");
    assert_eq!(pointers.len(), 1, "only the long secret's link is left");
    assert_eq!(entries.len(), 1, "only the long receipt is left");
    // A create indexes its secret only; the receipt is indexed when the secret's time is up.
    assert_eq!(
        expiry.len(),
        1,
        "only the long secret's expiry entry is left"
    );
    drop((pointers, entries, expiry, db));

    // What is left is really the long one: it still reveals after a restart.
    let app = TestApp::spawn_in(dir, &[]).await;
    assert_eq!(app.reveal(&long_key, None).await.ok()["value"], "long");
}
