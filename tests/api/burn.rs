//! POST /api/v1/private/{key}/burn.

use crate::helpers::TestApp;

#[tokio::test]
async fn burn_destroys_the_secret_and_reports_burned() {
    let app = TestApp::spawn().await;
    let (key, mkey) = app.share_ok("burn me", &[]).await;
    let (body, text) = app.burn(&mkey, None).await.ok_with_text();
    assert_eq!(body["state"]["state"], "burned");
    assert_eq!(body["state"]["metadata_key"], mkey.as_str());
    assert_eq!(body["secret_shortkey"], &key[..8]);
    assert!(body["state"]["secret_ttl"].is_null());
    assert!(!text.contains("burn me"));

    app.reveal(&key, None).await.assert_unknown_secret();
    let again = app.burn(&mkey, None).await;
    again.assert_unknown_secret();
    assert_eq!(again.json["secret_key"], mkey.as_str());
    assert_eq!(app.receipt(&mkey).await.ok()["state"], "burned");
}

#[tokio::test]
async fn burn_works_on_every_alias() {
    let app = TestApp::spawn().await;
    for prefix in ["private", "metadata", "receipt"] {
        let (_, mkey) = app.share_ok("alias burn", &[]).await;
        let body = app
            .post_form(&format!("/api/v1/{prefix}/{mkey}/burn"), &[])
            .await
            .ok();
        assert_eq!(body["state"]["state"], "burned", "{prefix}");
    }
}

#[tokio::test]
async fn burn_needs_the_passphrase_when_there_is_one() {
    let app = TestApp::spawn().await;
    let (key, mkey) = app.share_guarded("guarded", "letmein").await;
    app.burn(&mkey, None).await.assert_wrong_passphrase();
    app.burn(&mkey, Some("wrong one"))
        .await
        .assert_wrong_passphrase();
    assert_eq!(app.receipt(&mkey).await.ok()["state"], "new");
    let body = app.burn(&mkey, Some("letmein")).await.ok();
    assert_eq!(body["state"]["state"], "burned");
    app.reveal(&key, Some("letmein"))
        .await
        .assert_unknown_secret();
}

#[tokio::test]
async fn a_received_secret_cannot_be_burned() {
    let app = TestApp::spawn().await;
    let (key, mkey) = app.share_ok("already read", &[]).await;
    app.reveal(&key, None).await.ok();
    app.burn(&mkey, None).await.assert_unknown_secret();
    assert_eq!(app.receipt(&mkey).await.ok()["state"], "received");
}
