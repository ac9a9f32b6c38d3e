//! Crash and shutdown behaviour of the real binary, and what the data directory and the logs
//! may hold. These spawn `onetime` itself and `kill -9` it.

use std::process::Command;
use std::time::Duration;

use futures_util::future::join_all;

use crate::helpers::{contains, read_tree, serve, Answer, Process};

async fn post(client: &reqwest::Client, url: String, form: Vec<(&str, String)>) -> Answer {
    Answer::from(client.post(url).form(&form).send().await.expect("send")).await
}

/// Creates `n` secrets concurrently; returns (value, secret_key, metadata_key, passphrase).
/// A created secret: value, secret key, metadata key and passphrase.
type Created = (String, String, String, Option<String>);

async fn create_many(base: &str, n: usize) -> Vec<Created> {
    let client = reqwest::Client::new();
    let tasks = (0..n).map(|i| {
        let client = client.clone();
        let url = format!("{base}/api/v1/share");
        async move {
            let value = format!("durable-value-{i}-{}", rand_tag());
            let passphrase = (i % 5 == 0).then(|| format!("pass-{i}-{}", rand_tag()));
            let mut form = vec![("secret", value.clone())];
            if let Some(p) = &passphrase {
                form.push(("passphrase", p.clone()));
            }
            let body = post(&client, url, form).await.ok();
            (
                value,
                body["secret_key"].as_str().expect("key").to_owned(),
                body["metadata_key"].as_str().expect("mkey").to_owned(),
                passphrase,
            )
        }
    });
    join_all(tasks).await
}

fn rand_tag() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    format!("{nanos:09}")
}

/// Reveals each of `created` at once (with its passphrase): the answers, in order.
async fn reveal_all(client: &reqwest::Client, base: &str, created: &[Created]) -> Vec<Answer> {
    join_all(
        created
            .iter()
            .map(|(_, key, _, pass)| reveal(client, base, key, pass.as_ref())),
    )
    .await
}

async fn reveal(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    passphrase: Option<&String>,
) -> Answer {
    let form = passphrase
        .map(|p| vec![("passphrase", p.clone())])
        .unwrap_or_default();
    post(client, format!("{base}/api/v1/secret/{key}"), form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_secrets_survive_kill_9_and_revealed_ones_never_return() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let client = reqwest::Client::new();

    let server = Process::start(&data, &[]);
    let created = create_many(&server.base, 120).await;
    let (to_reveal, to_keep) = created.split_at(60);
    let revealed = reveal_all(&client, &server.base, to_reveal).await;
    for ((value, ..), answer) in to_reveal.iter().zip(revealed) {
        assert_eq!(answer.ok()["value"], value.as_str());
    }
    // No graceful anything: the process dies right after the last acknowledgement.
    let mut logs = server.kill9();

    // The data directory as an attacker would copy it: no value, passphrase or key in any byte.
    let files = read_tree(&data);
    assert!(files.iter().any(|(name, _)| name.ends_with("server.key")));
    for (value, key, mkey, pass) in &created {
        for needle in [Some(value), Some(key), Some(mkey), pass.as_ref()]
            .into_iter()
            .flatten()
        {
            for (name, bytes) in &files {
                assert!(!contains(bytes, needle.as_bytes()), "{name} holds a secret");
            }
        }
    }

    let server = Process::start(&data, &[]);
    let kept = reveal_all(&client, &server.base, to_keep).await;
    for ((value, ..), answer) in to_keep.iter().zip(kept) {
        assert_eq!(
            answer.ok()["value"],
            value.as_str(),
            "acknowledged create lost"
        );
    }
    let again = reveal_all(&client, &server.base, to_reveal).await;
    for answer in again {
        answer.assert_unknown_secret();
    }
    for (_, _, mkey, _) in to_reveal {
        assert_eq!(
            Answer::of(client.get(format!("{}/api/v1/receipt/{mkey}", server.base)))
                .await
                .ok()["state"],
            "received"
        );
    }
    logs.push_str(&server.kill9());

    // The logs name routes, never keys, values or passphrases.
    assert!(logs.contains("/api/v1/secret/{key}"), "{logs}");
    assert!(logs.contains("/api/v1/share"), "{logs}");
    for (value, key, mkey, pass) in &created {
        for needle in [Some(value), Some(key), Some(mkey), pass.as_ref()]
            .into_iter()
            .flatten()
        {
            assert!(
                !logs.contains(needle.as_str()),
                "log line holds a secret: {needle}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_requests_and_flushes() {
    let (_dir, data, mut server) = serve(&[]);
    let created = create_many(&server.base, 20).await;

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = server.child.wait().expect("wait");
    assert!(
        exit.success(),
        "exit status {exit:?}; logs: {}",
        server.logs()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(server.logs().contains("store flushed"), "{}", server.logs());
    // sled recorded where its log stands, so the next start need not replay this run.
    assert!(
        server.logs().contains("store checkpointed"),
        "{}",
        server.logs()
    );

    let server = Process::start(&data, &[]);
    let client = reqwest::Client::new();
    for (value, key, _, pass) in &created {
        let answer = reveal(&client, &server.base, key, pass.as_ref()).await;
        assert_eq!(answer.ok()["value"], value.as_str());
    }
    server.kill9();
}

#[tokio::test]
async fn a_second_server_on_the_same_store_is_refused_with_a_clear_message() {
    let (_dir, data, server) = serve(&[]);
    let output = Process::command(&data)
        .env("ONETIME__SERVER__BIND", "127.0.0.1:0")
        .output()
        .expect("second onetime");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&data.display().to_string()), "{stderr}");
    server.kill9();
}

#[tokio::test]
async fn an_invalid_setting_stops_the_start_naming_the_key() {
    let output = Process::bare_command()
        .env("ONETIME__STORAGE__SWEEP_INTERVAL", "often")
        .output()
        .expect("onetime");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sweep_interval"), "{stderr}");
}

/// Unmounts a test tmpfs when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_cleanly_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small");
    std::fs::create_dir(&small).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&small)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        // Mounting needs root, as scripts/test and CI run; elsewhere there is no full disk
        // to make.
        eprintln!("skipped: cannot mount a small tmpfs (not root)");
        return;
    }
    let _mount = Mount(small.clone());
    let data = small.join("data");
    let server = Process::start(&data, &[("limits.create_per_ip", "100000")]);
    let client = reqwest::Client::new();
    let share = |value: String| {
        let client = client.clone();
        let url = format!("{}/api/v1/share", server.base);
        async move { post(&client, url, vec![("secret", value)]).await }
    };
    let kept = share("written before the disk filled".into()).await.ok();
    let touched = share("revealed while the disk is full".into()).await.ok();

    // Fill the disk.
    let filler = small.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![7u8; 64 * 1024];
        while file
            .write_all(&chunk)
            .and_then(|()| file.sync_all())
            .is_ok()
        {}
    }
    let mut refused = None;
    for i in 0..400 {
        let answer = share(format!("{i}-{}", "x".repeat(4000))).await;
        if !answer.status.is_success() {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("a create must fail once the disk is full");
    refused.assert_error(503, "An unexpected error occurred :[");
    let key = touched["secret_key"].as_str().expect("key");
    let during = reveal(&client, &server.base, key, None).await;
    during.assert_error(503, "An unexpected error occurred :[");

    // Space returns: the store reopens itself and writes work again.
    std::fs::remove_file(&filler).expect("remove filler");
    let mut recovered = false;
    for _ in 0..100 {
        if share("after the disk had room again".into())
            .await
            .status
            .is_success()
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "no recovery: {}", server.logs());
    assert!(
        server.logs().contains("store reopened"),
        "{}",
        server.logs()
    );
    let key = kept["secret_key"].as_str().expect("key");
    let answer = reveal(&client, &server.base, key, None).await;
    assert_eq!(answer.ok()["value"], "written before the disk filled");
    // The secret whose reveal failed was never handed out: now it reveals at most once.
    let key = touched["secret_key"].as_str().expect("key");
    let first = reveal(&client, &server.base, key, None).await;
    if first.status.is_success() {
        assert_eq!(first.json["value"], "revealed while the disk is full");
    }
    reveal(&client, &server.base, key, None)
        .await
        .assert_unknown_secret();
    server.kill9();
}
