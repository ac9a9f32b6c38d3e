//! The first hour with the real binary: Ctrl-C, links, admin commands, config errors, secret
//! files (issue 17, traps 1 to 6).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use onetime_test_support::setting_vars;

use crate::helpers::{reveal_on, serve, Answer, Process, TestApp};

/// `onetime ARGS` in `cwd` with `env` and nothing else set for it (no storage path: the
/// configuration decides, as for an operator).
fn onetime_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Process::bare_command()
        .args(args)
        .current_dir(cwd)
        .env_remove("ONETIME_CONFIG")
        .envs(setting_vars(env))
        .output()
        .expect("run onetime")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `onetime config check` in an empty directory with `env`, asserts that it refused, and
/// returns its stderr.
fn refused_config_check(env: &[(&str, &str)]) -> String {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = onetime_in(cwd.path(), &["config", "check"], env);
    assert!(!out.status.success());
    text(&out.stderr)
}

/// [`refused_config_check`] with `env`, whose message names each of `words`; the message.
fn refusal_naming(env: &[(&str, &str)], words: &[&str]) -> String {
    let stderr = refused_config_check(env);
    for word in words {
        assert!(stderr.contains(word), "{word} missing: {stderr}");
    }
    stderr
}

/// The names in `dir` (empty when nothing was created).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

async fn share(base: &str, form: &[(&str, &str)]) -> Answer {
    Answer::of(
        reqwest::Client::new()
            .post(format!("{base}/api/v1/share"))
            .form(form),
    )
    .await
}

// Trap 1 ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigint_lets_slow_creates_in_flight_finish() {
    // Arrange: the default scrypt cost, so twelve passphrase creates queue on the CPUs.
    let (_dir, _, mut server) = serve(&[("crypto.scrypt_log_n", "15")]);
    let creates: Vec<_> = (0..12)
        .map(|i| {
            let base = server.base.clone();
            tokio::spawn(async move {
                let secret = format!("in flight {i}");
                let form = [("secret", secret.as_str()), ("passphrase", "correct horse")];
                // A dropped request is an error here, not a panic: it is counted below.
                let resp = reqwest::Client::new()
                    .post(format!("{base}/api/v1/share"))
                    .form(&form)
                    .send()
                    .await
                    .ok()?;
                Some(Answer::from(resp).await)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act: Ctrl-C.
    let status = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let mut answered = 0;
    for create in creates {
        let answered_ok = create.await.expect("join").is_some_and(|answer| {
            answer.status == reqwest::StatusCode::OK && answer.json["secret_key"].is_string()
        });
        answered += usize::from(answered_ok);
    }
    let exit = server.child.wait().expect("wait");
    std::thread::sleep(Duration::from_millis(100));

    // Assert
    let logs = server.logs();
    assert_eq!(
        answered, 12,
        "every create in flight is answered; logs: {logs}"
    );
    assert!(exit.success(), "exit {exit:?}; logs: {logs}");
    assert!(logs.contains("SIGINT received"), "{logs}");
    assert!(logs.contains("store flushed"), "{logs}");
}

// Trap 2 ------------------------------------------------------------------------------------

#[tokio::test]
async fn links_follow_the_bound_address_when_base_url_is_unset() {
    let (_dir, _, server) = serve(&[]);

    let body = share(&server.base, &[("secret", "s")]).await.ok();

    let url = body["metadata_url"].as_str().expect("metadata_url");
    assert!(
        url.starts_with(&format!("{}/receipt/", server.base)),
        "{url} is on {}",
        server.base
    );
    let logs = server.logs();
    assert!(
        logs.contains(&format!("onetime listening on {}", server.base)),
        "the start line has the clickable URL: {logs}"
    );
    assert!(logs.contains("links_from=\"server.bind\""), "{logs}");
}

#[tokio::test]
async fn links_follow_the_bound_address_in_process_too() {
    let app = TestApp::spawn_with(&[("server.base_url", "")]).await;

    let body = app.share(&[("secret", "s")]).await.ok();

    let mkey = body["metadata_key"].as_str().expect("metadata_key");
    assert_eq!(
        body["metadata_url"],
        format!("http://{}/receipt/{mkey}", app.addr)
    );
}

/// The binary serving with `env` over a temp directory (returned first: keep it while the
/// server runs), and the receipt URL of a secret shared on it.
async fn receipt_url_with(env: &[(&str, &str)]) -> (tempfile::TempDir, Process, String) {
    let (dir, _, server) = serve(env);
    let body = share(&server.base, &[("secret", "s")]).await.ok();
    let url = body["metadata_url"].as_str().expect("metadata_url");
    (dir, server, url.to_owned())
}

#[tokio::test]
async fn a_base_url_on_another_port_than_a_loopback_bind_is_warned_about() {
    let env = [("server.base_url", "http://127.0.0.1:9")];

    let (_dir, server, url) = receipt_url_with(&env).await;

    assert!(url.starts_with("http://127.0.0.1:9/receipt/"), "{url}");
    let logs = server.logs();
    assert!(
        logs.contains("WARN") && logs.contains("another port"),
        "{logs}"
    );
    assert!(logs.contains("links_from=\"server.base_url\""), "{logs}");
}

// Trap 3 ------------------------------------------------------------------------------------

#[test]
fn admin_commands_in_an_empty_directory_fail_and_create_nothing() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let commands: [&[&str]; 5] = [
        &["account", "add", "bob@example.com"],
        &["account", "list"],
        &["account", "remove", "bob@example.com"],
        &["sweep"],
        &["migrate", "--from", "sled:./data", "--to", "sled:./copy"],
    ];
    for args in commands {
        let out = onetime_in(cwd.path(), args, &[]);

        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {}", text(&out.stdout));
        assert!(
            stderr.contains("no store at ./data"),
            "{args:?} names the path: {stderr}"
        );
        assert_eq!(
            stderr.matches("no store at").count(),
            1,
            "printed once: {stderr}"
        );
        assert!(entries(cwd.path()).is_empty(), "{args:?} created something");
    }
    let out = onetime_in(cwd.path(), &["account", "list"], &[]);
    assert!(text(&out.stderr).contains("built-in defaults"));
}

#[test]
fn mail_test_creates_nothing_and_says_where_its_settings_came_from() {
    let cwd = tempfile::tempdir().expect("tempdir");

    let out = onetime_in(cwd.path(), &["mail", "test", "ops@example.org"], &[]);

    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("built-in defaults"), "{stderr}");
    assert!(stderr.contains("mail.smtp_url"), "{stderr}");
    assert!(entries(cwd.path()).is_empty());
}

#[tokio::test]
async fn onetime_config_names_the_file_and_commands_say_which_store_they_used() {
    // Arrange: a server's store, and its configuration file elsewhere.
    let server_dir = tempfile::tempdir().expect("tempdir");
    let data = TestApp::spawn_in(server_dir, &[]).await.stop().await;
    let store = data.path().join("data");
    let config = data.path().join("onetime.toml");
    std::fs::write(
        &config,
        format!("[storage]\npath = \"{}\"\n", store.display()),
    )
    .expect("write config");
    let config = config.display().to_string();
    let cwd = tempfile::tempdir().expect("tempdir");
    let env = [("ONETIME_CONFIG", config.as_str())];

    // Act: an admin in another directory, the file named only by ONETIME_CONFIG.
    let add = onetime_in(cwd.path(), &["account", "add", "bob@example.com"], &env);
    let list = onetime_in(cwd.path(), &["account", "list"], &env);
    let sweep = onetime_in(cwd.path(), &["sweep"], &env);

    // Assert
    let canonical = std::fs::canonicalize(&store).expect("canonical");
    for (what, out) in [("add", &add), ("list", &list), ("sweep", &sweep)] {
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("store: sled {}", canonical.display())),
            "{what} says which store: {stderr}"
        );
        assert!(stderr.contains(&config), "{what} names the file: {stderr}");
    }
    assert!(text(&list.stdout).contains("bob@example.com"));
    assert!(entries(cwd.path()).is_empty());
}

#[test]
fn a_serve_that_cannot_bind_leaves_nothing_behind_and_says_so_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let cwd = tempfile::tempdir().expect("tempdir");

    let out = onetime_in(
        cwd.path(),
        &["serve"],
        &[("ONETIME__SERVER__BIND", &format!("127.0.0.1:{port}"))],
    );

    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("binding server.bind"), "{stderr}");
    assert_eq!(
        stderr
            .to_lowercase()
            .matches("address already in use")
            .count(),
        1,
        "the cause once: {stderr}"
    );
    assert!(entries(cwd.path()).is_empty(), "{:?}", entries(cwd.path()));
}

// Trap 4 ------------------------------------------------------------------------------------

#[test]
fn a_misspelt_log_level_is_refused_naming_the_key() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let env = [
        ("ONETIME__LOG__LEVEL", "loud"),
        ("ONETIME__SERVER__BIND", "127.0.0.1:0"),
    ];

    // Bounded: a server that accepted the level would run (silently) until killed.
    let mut serve = Process::bare_command()
        .arg("serve")
        .current_dir(cwd.path())
        .env_remove("ONETIME_CONFIG")
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run onetime");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while serve.try_wait().expect("try_wait").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = serve.kill();
    let serve = serve.wait_with_output().expect("output");
    let check = onetime_in(cwd.path(), &["config", "check"], &env);

    for out in [serve, check] {
        assert!(!out.status.success(), "{}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("log.level") && stderr.contains("loud"),
            "{stderr}"
        );
    }
    assert!(entries(cwd.path()).is_empty());
}

// Trap 5 ------------------------------------------------------------------------------------

#[test]
fn a_config_error_is_printed_once() {
    let stderr = refused_config_check(&[("storage.sweep_interval", "often")]);

    assert_eq!(stderr.matches("often").count(), 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn a_host_name_in_bind_is_resolved_and_names_the_links() {
    let env = [("server.bind", "localhost:0")];

    let (_dir, server, url) = receipt_url_with(&env).await;

    assert!(url.starts_with("http://localhost:"), "{url}");
    let port = server.base.rsplit(':').next().expect("port");
    assert!(url.contains(&format!(":{port}/receipt/")), "{url}");
}

#[test]
fn a_base_url_without_scheme_says_a_scheme_is_needed() {
    let env = [("server.base_url", "example.com")];
    let stderr = refusal_naming(&env, &["server.base_url", "no scheme", "https://"]);
    assert!(!stderr.contains("relative URL"), "{stderr}");
}

#[test]
fn config_check_prints_the_effective_settings_as_toml_with_secrets_redacted() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let key = "ab".repeat(32);

    let out = onetime_in(
        cwd.path(),
        &["config", "check"],
        &[
            ("ONETIME__SERVER__SECRET", &key),
            ("ONETIME__SERVER__BIND", "127.0.0.1:7196"),
            (
                "ONETIME__MAIL__SMTP_URL",
                "smtps://ops:hunter2@mail.example:465",
            ),
        ],
    );

    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let parsed: toml::Table = toml::from_str(&stdout).expect("TOML");
    assert_eq!(parsed["server"]["bind"].as_str(), Some("127.0.0.1:7196"));
    assert_eq!(parsed["server"]["secret"].as_str(), Some("[redacted]"));
    assert_eq!(parsed["mail"]["smtp_url"].as_str(), Some("[redacted]"));
    assert_eq!(parsed["log"]["level"].as_str(), Some("info"));
    assert!(parsed["plans"]["default"]["max_ttl"].is_integer());
    assert!(
        !stdout.contains(&key) && !stdout.contains("hunter2"),
        "{stdout}"
    );
}

// Trap 6 ------------------------------------------------------------------------------------

#[tokio::test]
async fn server_secret_file_is_read_at_start() {
    // Arrange: the key in a file, as systemd's LoadCredential= hands it over.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let key = "cd".repeat(32);
    let file = dir.path().join("server-secret");
    std::fs::write(&file, format!("{key}\n")).expect("write key");
    let file = file.display().to_string();
    let server = Process::start(&data, &[("server.secret_file", &file)]);
    let created = share(&server.base, &[("secret", "sealed under the file's key")])
        .await
        .ok();
    server.kill9();

    // Act: the same key given directly opens what was sealed under the file's.
    let server = Process::start(&data, &[("server.secret", &key)]);
    let key_path = created["secret_key"].as_str().expect("secret_key");
    let revealed = reveal_on(&server.base, key_path).await;

    // Assert
    assert_eq!(revealed.ok()["value"], "sealed under the file's key");
    assert!(!data.join("server.key").exists(), "no key file was made");
}

#[test]
fn a_missing_secret_file_is_refused_naming_the_key() {
    let env = [("mail.smtp_url_file", "/nonexistent/smtp-url")];
    refusal_naming(&env, &["mail.smtp_url_file", "/nonexistent/smtp-url"]);
}
