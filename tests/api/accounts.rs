//! Accounts: the `onetime account` commands (through the admin socket and offline), HTTP Basic
//! auth on every route, plans, and the recent list.

use crate::helpers::{
    add_account, basic, cli, contains, read_tree, rotate_account, Process, TestApp,
};

#[tokio::test]
async fn account_add_prints_a_token_that_authenticates_through_the_running_server() {
    let app = TestApp::spawn().await;
    let socket = std::fs::metadata(app.data().join("admin.sock")).expect("admin socket");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&socket.permissions()) & 0o777,
        0o600
    );
    let token = add_account(&app.data(), "Alice@Example.com", None).await;
    assert!(token.len() >= 32 && token.bytes().all(|b| b.is_ascii_alphanumeric()));
    let auth = basic("alice@example.com", &token);

    let body = app.get_as(&auth, "/api/v1/authcheck").await.ok();
    assert_eq!(body["status"], "nominal");
    app.get_as(&auth, "/api/v1/status").await.ok();
    // The email is case-insensitive, the token is not.
    app.get_as(&basic("ALICE@example.com", &token), "/api/v1/authcheck")
        .await
        .ok();
    app.get_as(
        &basic("alice@example.com", &token.to_uppercase()),
        "/api/v1/authcheck",
    )
    .await
    .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn account_commands_work_on_the_store_when_no_server_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = add_account(&data, "bob@example.com", None).await;
    add_account(&data, "carol@example.com", None).await;

    let list = cli(&data, &["account", "list"]).await;
    let text = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(list.status.success(), "{text}");
    assert!(text.contains("bob@example.com") && text.contains("carol@example.com"));
    assert!(text.contains("default"));
    assert!(!text.contains(&token), "list never shows tokens");

    let removed = cli(&data, &["account", "remove", "carol@example.com"]).await;
    assert!(removed.status.success());
    let again = cli(&data, &["account", "remove", "carol@example.com"]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no account for carol@example.com"));

    let app = TestApp::spawn_in(dir, &[]).await;
    app.get_as(&basic("bob@example.com", &token), "/api/v1/authcheck")
        .await
        .ok();
}

#[tokio::test]
async fn account_add_refuses_bad_input_with_a_clear_message() {
    let app = TestApp::spawn().await;
    add_account(&app.data(), "dup@example.com", None).await;
    let cases = [
        (vec!["account", "add", "dup@example.com"], "exists already"),
        (vec!["account", "add", "not-an-email"], "not a valid email"),
        (
            vec!["account", "add", "x@example.com", "--plan", "gold"],
            "no plan named `gold`",
        ),
        (
            vec!["account", "rotate", "nobody@example.com"],
            "no account for",
        ),
    ];
    for (args, expected) in cases {
        let out = cli(&app.data(), &args).await;
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn unknown_user_wrong_token_and_malformed_headers_all_answer_not_authorized() {
    let app = TestApp::spawn().await;
    let token = add_account(&app.data(), "dana@example.com", None).await;
    let headers = [
        basic("nobody@example.com", &token),
        basic("dana@example.com", "wrongtoken"),
        basic("dana@example.com", ""),
        basic("", &token),
        "Basic not-base64!".to_owned(),
        format!("Bearer {token}"),
    ];
    let mut bodies = Vec::new();
    for header in &headers {
        for path in [
            "/api/v1/status",
            "/api/v1/authcheck",
            "/api/v1/private/recent",
        ] {
            let answer = app.get_as(header, path).await;
            answer.assert_error(401, "Not authorized");
            bodies.push(answer.text);
        }
        let share = app
            .post_as(header, "/api/v1/share", &[("secret", "s")])
            .await;
        share.assert_error(401, "Not authorized");
        bodies.push(share.text);
    }
    // Unknown user and wrong token cannot be told apart by the body.
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
}

#[tokio::test]
async fn rotate_stops_the_old_token_at_once_and_remove_stops_all_access() {
    let app = TestApp::spawn().await;
    let old = add_account(&app.data(), "erin@example.com", None).await;
    let new = rotate_account(&app.data(), "erin@example.com").await;
    assert_ne!(old, new);
    app.get_as(&basic("erin@example.com", &old), "/api/v1/authcheck")
        .await
        .assert_error(401, "Not authorized");
    app.get_as(&basic("erin@example.com", &new), "/api/v1/authcheck")
        .await
        .ok();

    assert!(cli(&app.data(), &["account", "remove", "erin@example.com"])
        .await
        .status
        .success());
    app.get_as(&basic("erin@example.com", &new), "/api/v1/authcheck")
        .await
        .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn authenticated_creates_carry_the_email_and_the_plan_limits() {
    let app = TestApp::spawn_with(&[
        ("ONETIME__PLANS__TINY__MAX_TTL", "120"),
        ("ONETIME__PLANS__TINY__MAX_SIZE", "10"),
    ])
    .await;
    let token = add_account(&app.data(), "frank@example.com", None).await;
    let auth = basic("frank@example.com", &token);
    let month = "2592000";
    let body = app
        .post_as(&auth, "/api/v1/share", &[("secret", "s"), ("ttl", month)])
        .await
        .ok();
    assert_eq!(body["custid"], "frank@example.com");
    assert_eq!(body["ttl"], 2_592_000, "accounts may keep secrets 30 days");
    let anon = app.share(&[("secret", "s"), ("ttl", month)]).await.ok();
    assert_eq!(anon["ttl"], 604_800, "anonymous callers 7 days");
    let generated = app.post_as(&auth, "/api/v1/generate", &[]).await.ok();
    assert_eq!(generated["custid"], "frank@example.com");

    let tiny = add_account(&app.data(), "gina@example.com", Some("tiny")).await;
    let auth = basic("gina@example.com", &tiny);
    let body = app
        .post_as(
            &auth,
            "/api/v1/share",
            &[("secret", "0123456789"), ("ttl", month)],
        )
        .await
        .ok();
    assert_eq!(body["ttl"], 120);
    app.post_as(&auth, "/api/v1/share", &[("secret", "0123456789a")])
        .await
        .assert_error(400, "Secret value exceeds the maximum size of 10 bytes");
}

#[tokio::test]
async fn recipients_need_an_account_and_a_deliverable_address() {
    let app = TestApp::spawn().await;
    app.share(&[("secret", "s"), ("recipient", "a@example.com")])
        .await
        .assert_error(400, "An account is required to send emails.");
    let token = add_account(&app.data(), "hank@example.com", None).await;
    let auth = basic("hank@example.com", &token);
    app.post_as(
        &auth,
        "/api/v1/share",
        &[("secret", "s"), ("recipient", "not an address")],
    )
    .await
    .assert_error(400, "Undeliverable email address: not an address");
    let off = app
        .post_as(
            &auth,
            "/api/v1/share",
            &[("secret", "s"), ("recipient", "a@example.com")],
        )
        .await;
    assert_eq!(off.intended, Some(400));
    assert!(off.text.contains("mail.smtp_url"), "{}", off.text);
}

#[tokio::test]
async fn recent_lists_the_callers_receipts_newest_first_without_secret_keys() {
    let app = TestApp::spawn().await;
    let ivy = basic(
        "ivy@example.com",
        &add_account(&app.data(), "ivy@example.com", None).await,
    );
    let jon = basic(
        "jon@example.com",
        &add_account(&app.data(), "jon@example.com", None).await,
    );
    let mut mine = Vec::new();
    for i in 0..3 {
        let secret = format!("ivy {i}");
        let body = app
            .post_as(&ivy, "/api/v1/share", &[("secret", secret.as_str())])
            .await
            .ok();
        mine.push((
            body["metadata_key"].as_str().expect("mkey").to_owned(),
            body["secret_key"].as_str().expect("key").to_owned(),
        ));
    }
    app.post_as(&jon, "/api/v1/share", &[("secret", "jon's")])
        .await
        .ok();
    app.share(&[("secret", "anonymous")]).await.ok();
    app.reveal(&mine[0].1, None).await.ok();

    for prefix in ["private", "metadata", "receipt"] {
        let answer = app.get_as(&ivy, &format!("/api/v1/{prefix}/recent")).await;
        let list = answer.json.as_array().expect("array").clone();
        let keys: Vec<_> = list
            .iter()
            .map(|r| r["metadata_key"].as_str().expect("mkey").to_owned())
            .collect();
        let expected: Vec<_> = mine.iter().rev().map(|(m, _)| m.clone()).collect();
        assert_eq!(keys, expected, "{prefix}: newest first, only ivy's");
        assert!(
            list.iter().all(|r| r.get("secret_key").is_none()),
            "{}",
            answer.text
        );
        assert!(list.iter().all(|r| r["custid"] == "ivy@example.com"));
        assert_eq!(list[2]["state"], "received");
        assert_eq!(list[0]["state"], "new");
        assert!(!answer.text.contains(&mine[1].1));
    }
    let jons = app.get_as(&jon, "/api/v1/private/recent").await.json;
    assert_eq!(jons.as_array().expect("array").len(), 1);
}

#[tokio::test]
async fn rotating_a_token_clears_the_recent_list() {
    let app = TestApp::spawn().await;
    let token = add_account(&app.data(), "kim@example.com", None).await;
    app.post_as(
        &basic("kim@example.com", &token),
        "/api/v1/share",
        &[("secret", "s")],
    )
    .await
    .ok();
    let new = rotate_account(&app.data(), "kim@example.com").await;
    let list = app
        .get_as(&basic("kim@example.com", &new), "/api/v1/private/recent")
        .await
        .ok();
    assert_eq!(list, serde_json::json!([]));
}

#[tokio::test]
async fn creation_can_require_an_account_while_reading_never_does() {
    let app = TestApp::spawn_with(&[("ONETIME__SECRETS__ALLOW_ANONYMOUS", "false")]).await;
    app.share(&[("secret", "s")])
        .await
        .assert_error(401, "Not authorized");
    let token = add_account(&app.data(), "lee@example.com", None).await;
    let body = app
        .post_as(
            &basic("lee@example.com", &token),
            "/api/v1/share",
            &[("secret", "for anyone")],
        )
        .await
        .ok();
    let key = body["secret_key"].as_str().expect("key");
    assert_eq!(app.reveal(key, None).await.ok()["value"], "for anyone");
}

#[tokio::test]
async fn tokens_never_reach_the_data_directory_or_the_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Process::start(&data, &[]);
    let token = add_account(&data, "max@example.com", None).await;
    let auth = basic("max@example.com", &token);
    let client = reqwest::Client::new();
    for path in ["/api/v1/authcheck", "/api/v1/private/recent"] {
        let resp = client
            .get(format!("{}{path}", server.base))
            .header("authorization", &auth)
            .send()
            .await
            .expect("send");
        assert!(resp.status().is_success());
    }
    let resp = client
        .post(format!("{}/api/v1/share", server.base))
        .header("authorization", &auth)
        .form(&[("secret", "tokened")])
        .send()
        .await
        .expect("send");
    assert!(resp.status().is_success());
    let logs = server.kill9();
    assert!(logs.contains("admin command"), "{logs}");
    assert!(!logs.contains(&token), "token in the logs");
    assert!(!logs.contains(&auth), "authorization header in the logs");
    for (name, bytes) in read_tree(&data) {
        assert!(!contains(&bytes, token.as_bytes()), "token in {name}");
    }
}
