//! Progress on long commands: a bar on a terminal, plain lines otherwise, a summary at the end
//! (issue 14).

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::{assert_says, TestApp};

/// A stopped server's data directory holding `n` unread secrets.
async fn store_with(n: usize) -> tempfile::TempDir {
    let app = TestApp::spawn().await;
    for i in 0..n {
        app.share_ok(&format!("progress value {i}"), &[]).await;
    }
    app.stop().await
}

fn run(command: &mut Command) -> Output {
    let out = command.env_remove("RUST_LOG").output().expect("run");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn migrate_args(dir: &Path) -> Vec<String> {
    vec![
        "migrate".into(),
        "--from".into(),
        format!("sled:{}", dir.join("data").display()),
        "--to".into(),
        format!("sled:{}", dir.join("moved").display()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_without_a_terminal_prints_no_escape_codes_and_a_summary() {
    // Arrange
    let dir = store_with(30).await;

    // Act: standard error is a pipe, as under cron or in a log.
    let out = run(Command::new(env!("CARGO_BIN_EXE_onetime")).args(migrate_args(dir.path())));

    // Assert: no escape codes, a summary with the count and a rate; stdout keeps its result.
    let err = String::from_utf8_lossy(&out.stderr);
    let summary = ["migrate: done: copied into sled:", "(30 records in ", "/s)"];
    assert_says(&err, &summary, &["\u{1b}"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_says(&said, &["copied 30 receipts (30 with unread secrets)"], &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_on_a_terminal_draws_a_bar() {
    // Arrange: `script` gives the command a pseudo-terminal and records what it drew.
    let dir = store_with(30).await;
    let command = std::iter::once(env!("CARGO_BIN_EXE_onetime").to_owned())
        .chain(migrate_args(dir.path()))
        .collect::<Vec<_>>()
        .join(" ");

    // Act
    let out = run(Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm"));

    // Assert: the bar (its name, its bracket, the total), then the summary.
    let screen = String::from_utf8_lossy(&out.stdout);
    let bar = [
        "migrate [",
        "/30 records",
        "migrate: done: copied into sled:",
    ];
    assert_says(&screen, &bar, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_ends_with_a_summary() {
    // Arrange
    let dir = store_with(2).await;

    // Act
    let out = run(Command::new(env!("CARGO_BIN_EXE_onetime"))
        .arg("sweep")
        .env("ONETIME__STORAGE__PATH", dir.path().join("data")));

    // Assert: nothing was due, and it says so with the count and rate.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "sweep: done: removed 0 expired secrets and 0 expired receipts (0 records in "
        ),
        "{err}"
    );
}
