//! `onetime backup` under write load and `onetime restore` into an empty store, with the real
//! binary (issue 14).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{cli, contains, read_tree, serve, Answer, Process};

/// A secret a writer created: its link key and value, once the server acknowledged it.
type Acked = Arc<Mutex<Vec<(String, String)>>>;

/// Creates secrets against `base` until `stop`, recording each acknowledged one.
fn writer(
    base: String,
    id: usize,
    acked: Acked,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let value = format!("backup-load-{id}-{n}-value");
            n += 1;
            let Ok(resp) = client
                .post(format!("{base}/api/v1/share"))
                .form(&[("secret", value.as_str())])
                .send()
                .await
            else {
                continue;
            };
            let answer = Answer::from(resp).await;
            if let Some(key) = answer.json["secret_key"].as_str() {
                acked.lock().expect("acked").push((key.to_owned(), value));
            }
        }
    })
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_every_acknowledged_secret_once() {
    // Arrange: the real server, two writers creating secrets without pause.
    let (dir, data, server) = serve(&[]);
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|id| {
            writer(
                server.base.clone(),
                id,
                Arc::clone(&acked),
                Arc::clone(&stop),
            )
        })
        .collect();
    while acked.lock().expect("acked").len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Act: everything acknowledged so far must be in the backup; the writers go on meanwhile.
    let before: Vec<(String, String)> = acked.lock().expect("acked").clone();
    let dest = dir.path().join("onetime.backup");
    let backed_up = cli(&data, &["backup", dest.to_str().expect("utf-8")]).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    let all: Vec<(String, String)> = acked.lock().expect("acked").clone();
    let key = std::fs::read(data.join("server.key")).expect("server key");
    drop(server);

    // Restore into an empty store, then start a server on it with the original key.
    let restored_dir = tempfile::tempdir().expect("tempdir");
    let restored = restored_dir.path().join("data");
    let restore = cli(&restored, &["restore", dest.to_str().expect("utf-8")]).await;
    std::fs::write(restored.join("server.key"), &key).expect("copy key");
    let again = cli(&restored, &["restore", dest.to_str().expect("utf-8")]).await;
    let node = Process::start(&restored, &[]);
    let client = reqwest::Client::new();
    let reveal = |key: &str| {
        let request = client.post(format!("{}/api/v1/secret/{key}", node.base));
        async move { Answer::from(request.send().await.expect("reveal")).await }
    };

    // Assert: the backup went through the running server, holds no key, and restored.
    assert!(backed_up.status.success(), "{}", said(&backed_up));
    assert!(said(&backed_up).contains("through the running server"));
    assert!(restore.status.success(), "{}", said(&restore));
    assert!(
        said(&restore).contains("holds no server key"),
        "{}",
        said(&restore)
    );
    // A second restore into the now full store is refused.
    assert!(!again.status.success());
    assert!(said(&again).contains("not empty"), "{}", said(&again));
    assert!(
        all.len() > before.len(),
        "the load went on during the backup"
    );
    for (key, value) in &before {
        let first = reveal(key).await;
        assert_eq!(first.json["value"], value.as_str(), "{}", first.text);
        let second = reveal(key).await;
        second.assert_unknown_secret();
    }
    // At rest: neither the backup nor the restored directory holds a value, a link key or
    // the server key.
    let backup = std::fs::read(&dest).expect("backup");
    let hex_key = hex::encode(&key);
    assert!(!contains(&backup, hex_key.as_bytes()));
    assert!(!contains(&backup, &key));
    let mut files = read_tree(&restored);
    files.push((dest.display().to_string(), backup));
    for (name, bytes) in &files {
        for (key, value) in &all {
            assert!(!contains(bytes, value.as_bytes()), "{name} holds a value");
            assert!(!contains(bytes, key.as_bytes()), "{name} holds a link key");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_with_key_restores_into_a_directory_that_has_none() {
    // Arrange
    let (dir, data, server) = serve(&[]);
    let created = Answer::from(
        reqwest::Client::new()
            .post(format!("{}/api/v1/share", server.base))
            .form(&[("secret", "kept with its key")])
            .send()
            .await
            .expect("share"),
    )
    .await
    .ok();
    let secret_key = created["secret_key"].as_str().expect("key").to_owned();
    let dest = dir.path().join("with-key.backup");

    // Act
    let backed_up = cli(
        &data,
        &["backup", "--with-key", dest.to_str().expect("utf-8")],
    )
    .await;
    let overwrite = cli(&data, &["backup", dest.to_str().expect("utf-8")]).await;
    drop(server);
    let restored_dir = tempfile::tempdir().expect("tempdir");
    let restored = restored_dir.path().join("data");
    let restore = cli(&restored, &["restore", dest.to_str().expect("utf-8")]).await;
    let node = Process::start(&restored, &[]);
    let revealed = Answer::from(
        reqwest::Client::new()
            .post(format!("{}/api/v1/secret/{secret_key}", node.base))
            .send()
            .await
            .expect("reveal"),
    )
    .await;

    // Assert: a warning, an owner-only file never overwritten, the key restored with it.
    assert!(backed_up.status.success(), "{}", said(&backed_up));
    assert!(said(&backed_up).contains("WARNING"), "{}", said(&backed_up));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dest).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!overwrite.status.success());
    assert!(restore.status.success(), "{}", said(&restore));
    assert_eq!(
        std::fs::read(restored.join("server.key")).expect("restored key"),
        std::fs::read(data.join("server.key")).expect("original key")
    );
    assert_eq!(
        revealed.json["value"], "kept with its key",
        "{}",
        revealed.text
    );
}
