//! Accounts: the `onetime account` commands (through the admin socket and offline), HTTP Basic
//! auth on every route, plans, and the recent list.

use std::time::Duration;

use crate::helpers::{
    add_account, basic, cli, cli_with_input, contains, read_tree, rotate_account, serve,
    stdout_of_success, test_settings, Answer, TestApp,
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
    .assert_not_authorized();
}

#[tokio::test]
async fn account_commands_work_on_the_store_when_no_server_runs() {
    // The server made the store and is stopped; the commands never make one themselves.
    let dir = TestApp::spawn().await.stop().await;
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
            answer.assert_not_authorized();
            bodies.push(answer.text);
        }
        let share = app
            .post_as(header, "/api/v1/share", &[("secret", "s")])
            .await;
        share.assert_not_authorized();
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
        .assert_not_authorized();
    app.get_as(&basic("erin@example.com", &new), "/api/v1/authcheck")
        .await
        .ok();

    assert!(cli(&app.data(), &["account", "remove", "erin@example.com"])
        .await
        .status
        .success());
    app.get_as(&basic("erin@example.com", &new), "/api/v1/authcheck")
        .await
        .assert_not_authorized();
}

#[tokio::test]
async fn authenticated_creates_carry_the_email_and_the_plan_limits() {
    let app =
        TestApp::spawn_with(&[("plans.tiny.max_ttl", "120"), ("plans.tiny.max_size", "10")]).await;
    let auth = app.account("frank@example.com", None).await;
    let month = "2592000";
    let body = app
        .share_as(&auth, &[("secret", "s"), ("ttl", month)])
        .await
        .ok();
    assert_eq!(body["custid"], "frank@example.com");
    assert_eq!(body["ttl"], 2_592_000, "accounts may keep secrets 30 days");
    let anon = app.share(&[("secret", "s"), ("ttl", month)]).await.ok();
    assert_eq!(anon["ttl"], 604_800, "anonymous callers 7 days");
    let generated = app.post_as(&auth, "/api/v1/generate", &[]).await.ok();
    assert_eq!(generated["custid"], "frank@example.com");

    let auth = app.account("gina@example.com", Some("tiny")).await;
    let body = app
        .share_as(&auth, &[("secret", "0123456789"), ("ttl", month)])
        .await
        .ok();
    assert_eq!(body["ttl"], 120);
    app.share_as(&auth, &[("secret", "0123456789a")])
        .await
        .assert_error(400, "Secret value exceeds the maximum size of 10 bytes");
}

#[tokio::test]
async fn recipients_need_an_account_and_a_deliverable_address() {
    let app = TestApp::spawn().await;
    app.share_refused(
        &[("secret", "s"), ("recipient", "a@example.com")],
        "An account is required to send emails.",
    )
    .await;
    let auth = app.account("hank@example.com", None).await;
    app.share_as(&auth, &[("secret", "s"), ("recipient", "not an address")])
        .await
        .assert_error(400, "Undeliverable email address: not an address");
    let off = app
        .share_as(&auth, &[("secret", "s"), ("recipient", "a@example.com")])
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
            .share_as(&ivy, &[("secret", secret.as_str())])
            .await
            .ok();
        mine.push((
            body["metadata_key"].as_str().expect("mkey").to_owned(),
            body["secret_key"].as_str().expect("key").to_owned(),
        ));
    }
    app.share_as(&jon, &[("secret", "jon's")]).await.ok();
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
    let app = TestApp::spawn_with(&[("secrets.allow_anonymous", "false")]).await;
    app.share(&[("secret", "s")]).await.assert_not_authorized();
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
    let (_dir, data, server) = serve(&[]);
    let token = add_account(&data, "max@example.com", None).await;
    let auth = basic("max@example.com", &token);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    for path in ["/api/v1/authcheck", "/api/v1/private/recent"] {
        Answer::of(client.get(url(path)).header("authorization", &auth))
            .await
            .ok();
    }
    let share = client
        .post(url("/api/v1/share"))
        .header("authorization", &auth);
    Answer::of(share.form(&[("secret", "tokened")])).await.ok();
    let logs = server.kill9();
    assert!(logs.contains("admin command"), "{logs}");
    assert!(!logs.contains(&token), "token in the logs");
    assert!(!logs.contains(&auth), "authorization header in the logs");
    for (name, bytes) in read_tree(&data) {
        assert!(!contains(&bytes, token.as_bytes()), "token in {name}");
    }
}

/// Accounts and the service over the store in `dir/data`, opened by this process (the server
/// must be stopped: sled admits one process).
async fn offline(
    dir: &std::path::Path,
) -> (
    onetime::accounts::Accounts,
    onetime::service::Service,
    std::sync::Arc<dyn onetime::store::Store>,
) {
    let settings = test_settings(dir, &[]);
    let (store, sealer) = onetime::app::open_offline(&settings)
        .await
        .expect("open the store");
    let kdf = onetime::app::kdf_pool(&settings);
    let accounts = onetime::app::accounts(
        &settings,
        std::sync::Arc::clone(&store),
        std::sync::Arc::clone(&sealer),
        kdf.clone(),
    );
    let service = onetime::service::Service::new(
        std::sync::Arc::clone(&store),
        sealer,
        std::sync::Arc::new(tokio::sync::Notify::new()),
        kdf,
        &settings,
    );
    (accounts, service, store)
}

#[tokio::test]
async fn account_passwd_through_the_running_server_gives_a_session_that_shares_the_recent_list() {
    let (dir, data, server) = serve(&[]);
    let token = add_account(&data, "nia@example.com", None).await;
    let password = "nia's long web password";
    let out = cli_with_input(
        &data,
        &["account", "passwd", "nia@example.com"],
        format!("{password}\r\nsecond line ignored\n").as_bytes(),
    )
    .await;
    let stdout = stdout_of_success(&out, "onetime");
    assert!(
        stdout.contains("web password set for nia@example.com"),
        "{stdout}"
    );
    let list = cli(&data, &["account", "list"]).await;
    let listed = String::from_utf8_lossy(&list.stdout);
    let line = listed
        .lines()
        .find(|l| l.contains("nia@example.com"))
        .expect("listed");
    assert!(line.contains(" password "), "{listed}");
    assert!(listed.starts_with("email"), "a header line: {listed}");
    assert!(
        listed
            .lines()
            .next()
            .is_some_and(|h| h.contains("signs in with")),
        "{listed}"
    );

    let auth = basic("nia@example.com", &token);
    let share = reqwest::Client::new()
        .post(format!("{}/api/v1/share", server.base))
        .header("authorization", &auth);
    let shared = Answer::of(share.form(&[("secret", "made over the API")]))
        .await
        .ok();
    let by_api = shared["metadata_key"].as_str().expect("key").to_owned();
    // The server logs the admin command after it answered it: wait for the line.
    onetime_test_support::wait_until(Duration::from_secs(20), "the passwd log line", || {
        server.logs().contains("command=\"passwd\"")
    });
    let logs = server.kill9();
    assert!(!logs.contains(password), "password in the logs");
    assert!(!logs.contains(&token), "token in the logs");

    // The password the CLI sent signs in (CRLF and the second line gone), and the session
    // lists what the token created; what the session creates lists for the token.
    let now = onetime::domain::unix_now();
    let cookie;
    let by_web;
    {
        let (accounts, service, store) = offline(dir.path()).await;
        let wrong = onetime::domain::Sensitive::new(format!("{password}\r"));
        assert!(accounts
            .sign_in("nia@example.com", &wrong, now)
            .await
            .expect("sign in")
            .is_none());
        let session = accounts
            .sign_in(
                "nia@example.com",
                &onetime::domain::Sensitive::new(password.to_owned()),
                now,
            )
            .await
            .expect("sign in")
            .expect("the password from stdin");
        let caller = accounts
            .session(session.cookie.expose(), now)
            .await
            .expect("session")
            .expect("signed in");
        let listed: Vec<_> = service
            .recent(&caller, now)
            .await
            .expect("recent")
            .into_iter()
            .map(|r| r.metadata_key)
            .collect();
        assert_eq!(listed, vec![by_api.clone()]);
        let request = onetime::service::CreateRequest {
            secret: Some(onetime::domain::Sensitive::new("made on the web".into())),
            ..Default::default()
        };
        by_web = service
            .share(&caller, request, now)
            .await
            .expect("share")
            .metadata_key;
        cookie = session.cookie.expose().to_owned();
        store.flush().await.expect("flush");
    }

    let app = TestApp::spawn_in(dir, &[]).await;
    let recent = app.get_as(&auth, "/api/v1/private/recent").await.ok();
    let keys: Vec<_> = recent
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["metadata_key"].as_str().expect("key").to_owned())
        .collect();
    assert_eq!(keys, vec![by_web, by_api]);
    let dir = app.stop().await;
    for (name, bytes) in read_tree(&dir.path().join("data")) {
        assert!(!contains(&bytes, password.as_bytes()), "password in {name}");
        assert!(!contains(&bytes, token.as_bytes()), "token in {name}");
        assert!(!contains(&bytes, cookie.as_bytes()), "cookie in {name}");
    }
}

#[tokio::test]
async fn account_passwd_refuses_bad_input_and_works_without_a_server() {
    let dir = TestApp::spawn().await.stop().await;
    let data = dir.path().join("data");
    add_account(&data, "oto@example.com", None).await;
    let long = format!("{}\n", "x".repeat(1025));
    let cases: [(&str, &[u8], &str); 5] = [
        ("oto@example.com", b"", "no password given"),
        ("oto@example.com", b"\n", "no password given"),
        ("oto@example.com", b"too short\n", "at least 10 characters"),
        ("oto@example.com", long.as_bytes(), "at most 1024 bytes"),
        (
            "nobody@example.com",
            b"long enough here\n",
            "no account for",
        ),
    ];
    for (email, input, expected) in cases {
        let out = cli_with_input(&data, &["account", "passwd", email], input).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{expected}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    let out = cli_with_input(
        &data,
        &["account", "passwd", "oto@example.com"],
        b"exactly ten",
    )
    .await;
    assert!(
        out.status.success(),
        "no line ending is fine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (accounts, _service, _store) = offline(dir.path()).await;
    let session = accounts
        .sign_in(
            "oto@example.com",
            &onetime::domain::Sensitive::new("exactly ten".into()),
            onetime::domain::unix_now(),
        )
        .await
        .expect("sign in");
    assert!(session.is_some());
}
