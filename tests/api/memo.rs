//! The creator's private note (`memo`) and an account burning its own secret without the
//! passphrase.

use crate::helpers::{contains, read_tree, serve, TestApp};

#[tokio::test]
async fn a_memo_shows_on_the_receipt_and_the_recent_list_but_never_to_the_recipient() {
    // Arrange
    let app = TestApp::spawn().await;
    let auth = app.account("memo@example.com", None).await;

    // Act
    let created = app
        .share_as(
            &auth,
            &[("secret", "s3cret"), ("memo", "db password for Anna")],
        )
        .await
        .ok();
    let mkey = created["metadata_key"].as_str().expect("mkey");
    let key = created["secret_key"].as_str().expect("key");
    let receipt = app.receipt(mkey).await.ok();
    let recent = app.get_as(&auth, "/api/v1/private/recent").await.ok();
    let revealed = app.reveal(key, None).await;

    // Assert
    assert_eq!(created["memo"], "db password for Anna");
    assert_eq!(receipt["memo"], "db password for Anna");
    assert_eq!(recent[0]["memo"], "db password for Anna");
    assert!(!revealed.text.contains("Anna"), "{}", revealed.text);
    assert_eq!(revealed.json["value"], "s3cret");
    let plain = app.share_ok("no note", &[]).await;
    assert!(app.receipt(&plain.1).await.ok().get("memo").is_none());
}

#[tokio::test]
async fn a_memo_longer_than_200_characters_is_refused() {
    let app = TestApp::spawn().await;
    let long = "n".repeat(201);
    app.share_refused(
        &[("secret", "s"), ("memo", &long)],
        "Memo must be no more than 200 characters long",
    )
    .await;
    let fits = "n".repeat(200);
    app.share(&[("secret", "s"), ("memo", &fits)]).await.ok();
}

#[tokio::test]
async fn a_memo_is_sealed_at_rest_and_never_logged() {
    let (_dir, data, server) = serve(&[("log.level", "trace")]);
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/share", server.base))
        .form(&[("secret", "v"), ("memo", "unmistakable-memo-text")])
        .send()
        .await
        .expect("send");
    assert!(resp.status().is_success());
    let logs = server.kill9();
    assert!(!logs.contains("unmistakable-memo-text"), "memo in the logs");
    for (name, bytes) in read_tree(&data) {
        assert!(
            !contains(&bytes, b"unmistakable-memo-text"),
            "memo in {name}"
        );
    }
}

#[tokio::test]
async fn the_creating_account_burns_without_the_passphrase_and_nobody_else_does() {
    // Arrange: an account's secret with a passphrase.
    let app = TestApp::spawn().await;
    let owner = app.account("owner@example.com", None).await;
    let other = app.account("other@example.com", None).await;
    let form = [("secret", "owned"), ("passphrase", "only the recipient")];
    let (_, mkey) = app.share_as(&owner, &form).await.keys();
    let burn = format!("/api/v1/private/{mkey}/burn");

    // Act and assert: anonymous and another account still need the passphrase...
    app.burn(&mkey, None).await.assert_wrong_passphrase();
    app.post_as(&other, &burn, &[])
        .await
        .assert_wrong_passphrase();
    assert_eq!(app.receipt(&mkey).await.ok()["state"], "new");
    // ...the creating account does not.
    let burned = app.post_as(&owner, &burn, &[]).await.ok();
    assert_eq!(burned["state"]["state"], "burned");
}

#[tokio::test]
async fn the_creating_account_burns_a_secret_that_wrong_guesses_have_locked() {
    let app = TestApp::spawn_with(&[("limits.passphrase_failures_per_ip", "2")]).await;
    let owner = app.account("locked@example.com", None).await;
    let form = [("secret", "guessed at"), ("passphrase", "the right one")];
    let (key, mkey) = app.share_as(&owner, &form).await.keys();
    for _ in 0..2 {
        app.reveal(&key, Some("wrong")).await;
    }
    // Locked now: even the right passphrase is refused...
    app.reveal(&key, Some("the right one"))
        .await
        .assert_unknown_secret();
    // ...but the account that made it can still destroy it.
    let burned = app
        .post_as(&owner, &format!("/api/v1/private/{mkey}/burn"), &[])
        .await
        .ok();
    assert_eq!(burned["state"]["state"], "burned");
}
