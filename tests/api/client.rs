//! The command-line client (`onetime share`, `reveal`, `receipt`, `burn`, `recent`) as the
//! real binary, against real servers: end-to-end by default, `--plain` for server-side
//! secrets, files, and failures that exit non-zero with one line and leave secrets unread.

use std::process::{Command, Output};

use onetime::crypto::envelope::Key;
use serde_json::Value;

use crate::helpers::{add_account, stdout_of_success, TestApp};

/// `onetime ARGS` with `env` (and nothing of the test's own ONETIME_* environment), `input` on
/// stdin, off the test's runtime (the server under test runs there).
async fn onetime(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onetime"));
    command
        .args(args)
        .env_remove("ONETIME_SERVER")
        .env_remove("ONETIME_USER")
        .env_remove("ONETIME_TOKEN")
        .env_remove("ONETIME_CONFIG")
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir());
    let input = input.to_vec();
    tokio::task::spawn_blocking(move || {
        onetime_test_support::process::run_with_input(command, &input)
    })
    .await
    .expect("join")
}

fn stdout(out: &Output) -> String {
    stdout_of_success(out, "onetime")
}

/// Asserts a failure with exactly one line on stderr, containing `words`.
fn fails_with(out: &Output, words: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it succeeded: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(words), "`{words}` not in: {stderr}");
}

fn base(app: &TestApp) -> String {
    app.url("").trim_end_matches('/').to_owned()
}

/// A receipt's `metadata_url` on `app` (its settings name a fixed `base_url`).
fn on(app: &TestApp, receipt: &Value) -> String {
    let url = receipt["metadata_url"].as_str().expect("metadata_url");
    url.replacen("http://127.0.0.1:7143", &base(app), 1)
}

/// `share --json` of `input` with extra `args`; the receipt it printed.
async fn share_json(app: &TestApp, args: &[&str], input: &[u8]) -> Value {
    let mut all = vec!["share", "--json"];
    all.extend_from_slice(args);
    let out = onetime(&all, &[("ONETIME_SERVER", &base(app))], input).await;
    serde_json::from_str(&stdout(&out)).expect("receipt JSON")
}

async fn state_of(app: &TestApp, metadata_key: &str) -> String {
    app.receipt(metadata_key).await.json["state"]
        .as_str()
        .unwrap_or("(none)")
        .to_owned()
}

#[tokio::test]
async fn a_cli_secret_is_end_to_end_and_reveals_once_with_its_key() {
    let app = TestApp::spawn().await;
    let secret = "from the command line — ünïcødé";

    let receipt = share_json(&app, &["--ttl", "1h"], format!("{secret}\n").as_bytes()).await;
    let link = receipt["link"].as_str().expect("link").to_owned();
    let metadata_key = receipt["metadata_key"].as_str().expect("key").to_owned();

    assert!(link.contains("/secret/") && link.contains('#'), "{link}");
    assert_eq!(receipt["e2e"], Value::Bool(true));
    assert_eq!(receipt["ttl"], 3600);
    // The server's receipt, through the CLI too.
    let url = on(&app, &receipt);
    let shown: Value = serde_json::from_str(&stdout(&onetime(&["receipt", &url], &[], b"").await))
        .expect("receipt JSON");
    assert_eq!(shown["state"], "new");

    let out = onetime(&["reveal", &link], &[], b"").await;
    assert_eq!(stdout(&out), format!("{secret}\n"));
    assert_eq!(state_of(&app, &metadata_key).await, "received");
    fails_with(
        &onetime(&["reveal", &link], &[], b"").await,
        "unknown secret",
    );
}

#[tokio::test]
async fn a_missing_damaged_or_wrong_key_fails_in_one_line_and_leaves_the_secret_unread() {
    let app = TestApp::spawn().await;
    let receipt = share_json(&app, &[], b"keep me").await;
    let link = receipt["link"].as_str().expect("link");
    let metadata_key = receipt["metadata_key"].as_str().expect("key");
    let (bare, key) = link.split_once('#').expect("a key");

    fails_with(&onetime(&["reveal", bare], &[], b"").await, "is needed");
    fails_with(
        &onetime(&["reveal", &format!("{bare}#{}", &key[..30])], &[], b"").await,
        "incomplete or damaged",
    );
    let wrong = format!("{bare}#{}", Key::generate().fragment().as_str());
    fails_with(
        &onetime(&["reveal", &wrong], &[], b"").await,
        "does not match",
    );
    assert_eq!(state_of(&app, metadata_key).await, "new", "still unread");

    // A plain v1 client (no verifier) gets the envelope text as `value`, the v1 API unchanged.
    let secret_key = receipt["secret_key"].as_str().expect("secret_key");
    let value = app.reveal(secret_key, None).await.ok()["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(value.starts_with("ote1."), "the envelope: {value}");
}

#[tokio::test]
async fn plain_mode_makes_a_server_side_secret_on_a_second_server() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn().await;

    let receipt = share_json(&second, &["--plain"], b"server side\n").await;
    let link = receipt["link"].as_str().expect("link");

    assert!(!link.contains('#'), "no key in a plain link: {link}");
    assert!(
        link.starts_with(&base(&second)),
        "the second server's link: {link}"
    );
    assert_eq!(receipt["e2e"], Value::Bool(false));
    // A plain v1 client reads it as text.
    let secret_key = receipt["secret_key"].as_str().expect("secret_key");
    assert_eq!(
        second.reveal(secret_key, None).await.ok()["value"],
        "server side"
    );
    // And the CLI reveals plain links too (the first server's).
    let (other_key, _) = first.share_ok("on the first", &[]).await;
    let other_link = format!("{}/secret/{other_key}", base(&first));
    assert_eq!(
        stdout(&onetime(&["reveal", &other_link], &[], b"").await),
        "on the first\n"
    );
    fails_with(
        &onetime(&["share", "--server", &base(&first)], &[], b"").await,
        "nothing to share",
    );
}

#[tokio::test]
async fn a_file_is_shared_and_revealed_with_its_name_and_bytes_never_overwriting() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("keys.bin");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&source, &bytes).expect("write");
    let out_dir = tempfile::tempdir().expect("out");

    let receipt = share_json(&app, &["--file", source.to_str().expect("path")], b"").await;
    let link = receipt["link"].as_str().expect("link");
    assert!(receipt["file_size"].as_u64().is_some_and(|s| s >= 100_000));

    let out_path = out_dir.path().to_str().expect("path");
    let out = onetime(&["reveal", link, "--output", out_path], &[], b"").await;
    stdout(&out);
    let written = out_dir.path().join("keys.bin");
    assert_eq!(std::fs::read(&written).expect("revealed file"), bytes);

    // A second file of that name is never written over without --force.
    let again = share_json(&app, &["--file", source.to_str().expect("path")], b"").await;
    let again_link = again["link"].as_str().expect("link");
    fails_with(
        &onetime(&["reveal", again_link, "--output", out_path], &[], b"").await,
        "--force",
    );
    // Too late for that one: revealed and gone; the existing file is untouched.
    assert_eq!(std::fs::read(&written).expect("kept"), bytes);
}

#[tokio::test]
async fn an_account_lists_burns_and_mails_through_the_cli() {
    let app = TestApp::spawn().await;
    let token = add_account(&app.data(), "cli@example.com", None).await;
    let env = [
        ("ONETIME_SERVER", base(&app)),
        ("ONETIME_USER", "cli@example.com".to_owned()),
        ("ONETIME_TOKEN", token),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let out = onetime(&["share", "--json"], &env, b"for the list").await;
    let receipt: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(receipt["custid"], "cli@example.com");
    let listed: Value =
        serde_json::from_str(&stdout(&onetime(&["recent"], &env, b"").await)).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["e2e"], Value::Bool(true));

    let url = on(&app, &receipt);
    let burned = stdout(&onetime(&["burn", &url], &env, b"").await);
    assert!(burned.contains("burned"), "{burned}");
    assert_eq!(
        state_of(&app, receipt["metadata_key"].as_str().expect("key")).await,
        "burned"
    );
    fails_with(
        &onetime(&["recent"], &env[..1], b"").await,
        "needs an account",
    );
}

#[tokio::test]
async fn neither_the_store_nor_the_log_holds_an_end_to_end_text_file_or_key() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let server = crate::helpers::Process::start_with_base_url(&data, &[]);
    let env = [("ONETIME_SERVER", server.base.as_str())];
    let text = "plaintext-canary-4f1d2c at rest";
    let file_path = dir.path().join("canary.bin");
    let file_bytes = onetime_test_support::canary_bytes(b"file-canary-9a7b3e ", 50_000);
    std::fs::write(&file_path, &file_bytes).expect("write");

    let text_link = stdout(&onetime(&["share"], &env, text.as_bytes()).await);
    let file_link = stdout(
        &onetime(
            &["share", "--file", file_path.to_str().expect("path")],
            &env,
            b"",
        )
        .await,
    );
    let keys: Vec<String> = [&text_link, &file_link]
        .iter()
        .map(|l| l.trim().split_once('#').expect("key").1.to_owned())
        .collect();

    // While both wait in the store: neither text, file nor key is in any file of it.
    for (name, bytes) in crate::helpers::read_tree(&data) {
        for needle in [
            text.as_bytes(),
            b"file-canary-9a7b3e",
            keys[0].as_bytes(),
            keys[1].as_bytes(),
        ] {
            assert!(
                !crate::helpers::contains(&bytes, needle),
                "{name} holds {}",
                String::from_utf8_lossy(needle)
            );
        }
    }
    let out = onetime(&["reveal", text_link.trim()], &[], b"").await;
    assert_eq!(stdout(&out).trim_end(), text);
    let logs = server.logs();
    for needle in [text, "file-canary", keys[0].as_str(), keys[1].as_str()] {
        assert!(!logs.contains(needle), "the log holds {needle}");
    }
}
