//! POST /api/v1/secret/{key}: exactly once, passphrases, and the receipt afterwards.

use std::sync::Arc;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_secret_reveals_once_then_is_unknown() {
    let app = TestApp::spawn().await;
    let (key, mkey) = app.share_ok("s3cret value", &[]).await;
    let (body, text) = app.reveal(&key, None).await.ok_with_text();
    assert_eq!(body["value"], "s3cret value");
    assert_eq!(body["secret_key"], key.as_str());
    assert_eq!(body["share_domain"], "http://127.0.0.1:7143");
    let value_at = text.find("\"value\"").expect("value");
    assert!(value_at < text.find("\"secret_key\"").expect("secret_key"));

    let again = app.reveal(&key, None).await;
    again.assert_unknown_secret();
    assert_eq!(again.json["secret_key"], key.as_str());

    let receipt = app.receipt(&mkey).await.ok();
    assert_eq!(receipt["state"], "received");
    assert!(receipt["received"].as_u64().is_some());
    assert!(receipt.get("secret_key").is_none(), "{receipt}");
    assert!(receipt.get("secret_ttl").is_none(), "{receipt}");
    assert_eq!(receipt["passphrase_required"], false);
}

#[tokio::test]
async fn secret_is_revealed_exactly_once_under_races() {
    let app = Arc::new(TestApp::spawn().await);
    for round in 0..3 {
        let (key, _) = app.share_ok(&format!("race {round}"), &[]).await;
        let racers: Vec<_> = (0..40)
            .map(|_| {
                let app = Arc::clone(&app);
                let key = key.clone();
                tokio::spawn(async move { app.reveal(&key, None).await })
            })
            .collect();
        let mut values = Vec::new();
        for racer in racers {
            let answer = racer.await.expect("join");
            if answer.status.is_success() {
                values.push(answer.json["value"].clone());
            } else {
                answer.assert_unknown_secret();
            }
        }
        assert_eq!(values, vec![serde_json::json!(format!("race {round}"))]);
    }
}

#[tokio::test]
async fn passphrase_guards_the_secret_and_wrong_guesses_do_not_consume_it() {
    let app = TestApp::spawn().await;
    let (key, mkey) = app
        .share_guarded("behind a passphrase", "correct horse")
        .await;
    let receipt = app.receipt(&mkey).await.ok();
    assert_eq!(receipt["passphrase_required"], true);

    app.reveal(&key, None).await.assert_unknown_secret();
    app.reveal(&key, Some("")).await.assert_unknown_secret();
    app.reveal(&key, Some("wrong horse"))
        .await
        .assert_unknown_secret();
    assert_eq!(app.receipt(&mkey).await.ok()["state"], "new");

    let body = app.reveal(&key, Some("correct horse")).await.ok();
    assert_eq!(body["value"], "behind a passphrase");
    app.reveal(&key, Some("correct horse"))
        .await
        .assert_unknown_secret();
    let receipt = app.receipt(&mkey).await.ok();
    assert_eq!(receipt["state"], "received");
    assert_eq!(receipt["passphrase_required"], false);
}

#[tokio::test]
async fn keys_that_cannot_be_ours_are_unknown() {
    let app = TestApp::spawn().await;
    for key in ["short", "UPPERCASEUPPERCASEUPPERCASE", &"z".repeat(129)] {
        let answer = app.reveal(key, None).await;
        answer.assert_unknown_secret();
        assert_eq!(answer.json["secret_key"], key);
    }
    // A well-formed key that was never issued.
    app.reveal(&"a".repeat(62), None)
        .await
        .assert_unknown_secret();
    app.receipt(&"b".repeat(62)).await.assert_unknown_secret();
}

#[tokio::test]
async fn the_secret_key_does_not_open_the_receipt_nor_the_reverse() {
    let app = TestApp::spawn().await;
    let (key, mkey) = app.share_ok("crossed keys", &[]).await;
    app.receipt(&key).await.assert_unknown_secret();
    app.reveal(&mkey, None).await.assert_unknown_secret();
    assert_eq!(app.reveal(&key, None).await.ok()["value"], "crossed keys");
}

#[tokio::test]
async fn receipt_reads_work_by_get_and_post_on_every_alias_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (key, mkey) = app.share_ok("aliases", &[]).await;
    for prefix in ["private", "metadata", "receipt"] {
        let path = format!("/api/v1/{prefix}/{mkey}");
        let got = app.get(&path).await.ok();
        assert_eq!(got["secret_key"], key.as_str());
        let posted = app.post_form(&path, &[]).await.ok();
        assert_eq!(posted["state"], "new");
    }
    assert_eq!(app.reveal(&key, None).await.ok()["value"], "aliases");
}
