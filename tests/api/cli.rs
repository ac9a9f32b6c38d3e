//! Command-line ergonomics with the real binary: one-line help, completions, the manual page,
//! `--version` with the commit, JSON logs (issue 14).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::helpers::stdout_of_success;

fn onetime(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onetime"))
        .args(args)
        .env_remove("ONETIME_CONFIG")
        .env_remove("RUST_LOG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run onetime")
}

fn stdout(out: &Output) -> String {
    stdout_of_success(out, "onetime")
}

/// The lines of a help text's `Commands:` section.
fn command_lines(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_command_is_listed_on_one_short_line_with_details_in_its_own_help() {
    // Act
    let top = stdout(&onetime(&["--help"]));
    let groups: Vec<String> = ["account", "mail", "config"]
        .iter()
        .map(|g| stdout(&onetime(&[g, "--help"])))
        .collect();
    let migrate = stdout(&onetime(&["help", "migrate"]));

    // Assert: every command of every list fits a terminal line; the details are one level down.
    let top_lines = command_lines(&top);
    for name in ["serve", "sweep", "account", "migrate", "completions", "man"] {
        assert!(
            top_lines.iter().any(|l| l.trim_start().starts_with(name)),
            "{name} missing:\n{top}"
        );
    }
    for help in std::iter::once(&top).chain(&groups) {
        let lines = command_lines(help);
        assert!(!lines.is_empty(), "{help}");
        for line in lines {
            assert!(line.chars().count() <= 90, "too long: {line}");
        }
    }
    assert!(!top.contains("Web sessions are not copied"), "{top}");
    assert!(migrate.contains("Web sessions are not copied"), "{migrate}");
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    // Act
    let bash = stdout(&onetime(&["completions", "bash"]));
    let zsh = stdout(&onetime(&["completions", "zsh"]));
    let fish = stdout(&onetime(&["completions", "fish"]));
    let other = onetime(&["completions", "tcsh"]);

    // Assert: each names the commands in its shell's own syntax.
    assert!(bash.contains("complete -F _onetime"), "{bash}");
    assert!(zsh.starts_with("#compdef onetime"), "{zsh}");
    assert!(fish.contains("complete -c onetime"), "{fish}");
    for script in [&bash, &zsh, &fish] {
        assert!(script.contains("migrate") && script.contains("account"));
    }
    assert!(!other.status.success());
}

#[test]
fn bash_completion_script_loads_in_bash() {
    // Arrange
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("onetime.bash");
    std::fs::write(&script, stdout(&onetime(&["completions", "bash"]))).expect("write");

    // Act: source it and ask for the words after `onetime ac`.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(onetime ac); COMP_CWORD=1; COMP_LINE='onetime ac'; \
             COMP_POINT=10; _onetime onetime ac onetime; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .expect("bash");

    // Assert
    assert_eq!(stdout(&out).trim(), "account");
}

#[test]
fn man_page_is_roff_and_one_page_per_command_can_be_written() {
    // Arrange
    let dir = tempfile::tempdir().expect("tempdir");
    let pages = dir.path().join("man1");

    // Act
    let page = stdout(&onetime(&["man"]));
    let written = onetime(&["man", "--dir", pages.to_str().expect("utf-8")]);

    // Assert
    assert!(
        page.starts_with(".ie") || page.contains(".TH onetime 1"),
        "{page}"
    );
    assert!(page.contains(".TH onetime 1"), "{page}");
    assert!(page.contains("migrate"), "{page}");
    assert!(written.status.success());
    for name in ["onetime.1", "onetime-migrate.1", "onetime-account-add.1"] {
        assert!(pages.join(name).is_file(), "{name} not written");
    }
}

/// Whether `commit` names a commit of the source tree's repository (`None`: no git here).
fn is_a_commit_here(commit: &str) -> Option<bool> {
    let out = Command::new("git")
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    Some(out.status.success())
}

#[test]
fn version_names_the_git_commit_it_was_built_from() {
    // Arrange: what build.rs saw when this build ran (it sets the same variable for the tests).
    let built_from = env!("ONETIME_GIT_COMMIT");

    // Act
    let version = stdout(&onetime(&["--version"]));

    // Assert: the binary says it, and it is a real commit of this repository (a later commit
    // since the build does not make it wrong).
    assert_eq!(
        version.trim(),
        format!("onetime {} ({built_from})", env!("CARGO_PKG_VERSION"))
    );
    if built_from != "unknown commit" {
        assert_eq!(built_from.len(), 12, "{built_from}");
        assert_eq!(is_a_commit_here(built_from), Some(true), "{built_from}");
    }
}

#[test]
fn build_script_falls_back_without_git_history() {
    // Arrange: build.rs on its own, run in a directory that is no git checkout (a tarball).
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("build-script");
    let compiled = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition=2021", "-o"])
        .arg(&exe)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs"))
        .output()
        .expect("rustc");
    stdout_of_success(&compiled, "rustc");

    // Act: GIT_CEILING_DIRECTORIES keeps git from finding a repository above the temp dir.
    let out = Command::new(&exe)
        .current_dir(dir.path())
        .env(
            "GIT_CEILING_DIRECTORIES",
            dir.path().parent().expect("parent"),
        )
        .output()
        .expect("run build script");

    // Assert
    let said = stdout(&out);
    assert!(
        said.contains("cargo:rustc-env=ONETIME_GIT_COMMIT=unknown commit"),
        "{said}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_and_never_hold_keys_or_values() {
    // Arrange
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_onetime"))
        .env("ONETIME__SERVER__BIND", "127.0.0.1:0")
        .env("ONETIME__STORAGE__PATH", dir.path().join("data"))
        .env("ONETIME__CRYPTO__SCRYPT_LOG_N", "10")
        .env("ONETIME__LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .env_remove("ONETIME_CONFIG")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    let start: Value = loop {
        let line = lines.next().expect("a listening line").expect("line");
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
        seen.push(line);
        if event["address"].is_string() {
            break event;
        }
    };
    let addr = start["address"].as_str().expect("address field").to_owned();
    let base = format!("http://{addr}");

    // Act: a create and a reveal, then SIGTERM.
    let value = "json-log-value-7d1f";
    let shared = curl_post(&format!("{base}/api/v1/share"), &format!("secret={value}"));
    let secret_key = shared["secret_key"]
        .as_str()
        .expect("secret_key")
        .to_owned();
    let revealed = curl_post(&format!("{base}/api/v1/secret/{secret_key}"), "");
    assert_eq!(revealed["value"], value);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let _ = child.wait();

    // Assert: every line is one object with a level and a message; requests name the route
    // pattern; no line holds the key or the value.
    assert_eq!(start["level"], "INFO");
    let mut routes = Vec::new();
    for line in seen.iter().chain(&rest) {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{line}"));
        assert!(
            event["timestamp"].is_string() && event["message"].is_string(),
            "{line}"
        );
        assert!(
            !line.contains(&secret_key) && !line.contains(value),
            "{line}"
        );
        if event["message"] == "request" {
            routes.push(event["route"].as_str().expect("route").to_owned());
        }
    }
    assert!(
        routes.iter().any(|r| r == "/api/v1/secret/{key}"),
        "{routes:?}"
    );
}

/// A form POST with curl; the JSON answer.
fn curl_post(url: &str, form: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--data", form, url])
        .output()
        .expect("curl");
    serde_json::from_str(&stdout(&out)).expect("JSON answer")
}
