//! Attacks on passphrase work, reproduced against the real server: a flood of derivations
//! whose clients reset mid-way must not lift the scrypt memory bound, and a burst of wrong
//! passphrases must not carry the right one past the lockout (one node, and two nodes over a
//! real Redis and a real Redis Cluster).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::AsyncWriteExt;

use crate::helpers::{post, share_on, Answer, Process, RedisCluster, RedisServer, TestApp};
use crate::redis::node_env;

/// The scrypt cost of `onetime.toml` (32 MiB a derivation), which the bound is stated for.
const DEFAULT_COST: [(&str, &str); 3] = [
    ("ONETIME__CRYPTO__SCRYPT_LOG_N", "15"),
    ("ONETIME__CRYPTO__SCRYPT_R", "8"),
    ("ONETIME__CRYPTO__SCRYPT_P", "3"),
];
const DERIVATION_BYTES: u64 = (128 * 8) << 15;

/// A field of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("field");
    kib * 1024
}

/// Sends `request` and resets the connection (RST, not FIN) after `after`: actix drops the
/// handler of a reset connection, which is what used to release the scrypt permits early.
async fn send_and_reset(addr: &str, request: &[u8], after: Duration) {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return;
    };
    if stream.write_all(request).await.is_err() {
        return;
    }
    tokio::time::sleep(after).await;
    let _ = stream.set_zero_linger();
    drop(stream);
}

fn form_post(host: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scrypt_memory_stays_bounded_when_clients_reset_mid_derivation() {
    // Arrange: the real binary at the default cost, with guessing limits out of the way so
    // every request reaches the derivation.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = DEFAULT_COST.to_vec();
    env.extend([
        ("ONETIME__LIMITS__REVEAL_PER_IP", "100000000"),
        ("ONETIME__LIMITS__CREATE_PER_IP", "100000000"),
        ("ONETIME__LIMITS__PASSPHRASE_FAILURES_PER_IP", "100000000"),
        ("ONETIME__LIMITS__PASSPHRASE_FAILURES_TOTAL", "100000000"),
    ]);
    let server = Process::start(&dir.path().join("data"), &env);
    let host = server.base.trim_start_matches("http://").to_owned();
    let mut targets = Vec::new();
    for i in 0..4 {
        let body = post(
            &server.base,
            "/api/v1/share",
            &[
                ("secret", &format!("flood {i}")),
                ("passphrase", "the right one"),
            ],
            "127.0.0.1",
        )
        .await
        .ok();
        targets.push((
            format!(
                "/api/v1/secret/{}",
                body["secret_key"].as_str().expect("key")
            ),
            format!(
                "/api/v1/private/{}/burn",
                body["metadata_key"].as_str().expect("key")
            ),
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.child.id();
    let base = proc_status(pid, "VmRSS");

    // Act: several clients send wrong-passphrase reveals and burns for 15 s, each resetting
    // its connection ~30 ms in, mid-derivation.
    let until = Instant::now() + Duration::from_secs(15);
    let clients = (0..8).map(|c| {
        let (host, targets) = (host.clone(), targets.clone());
        async move {
            let mut sent = 0u32;
            while Instant::now() < until {
                let (reveal, burn) = &targets[(sent as usize + c) % targets.len()];
                let path = if (sent + c as u32).is_multiple_of(2) {
                    reveal
                } else {
                    burn
                };
                let request = form_post(&host, path, "passphrase=not+it");
                send_and_reset(&host, &request, Duration::from_millis(30)).await;
                sent += 1;
            }
            sent
        }
    });
    let sent: u32 = join_all(clients).await.into_iter().sum();

    // Assert: the peak stayed within one derivation per core (plus one) over the base, and
    // the server still answers and still holds every secret.
    let peak = proc_status(pid, "VmHWM");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let bound = base + (cores + 1) * DERIVATION_BYTES;
    eprintln!(
        "flood: {sent} requests, base {} MiB, peak {} MiB, bound {} MiB",
        base >> 20,
        peak >> 20,
        bound >> 20
    );
    assert!(sent > 100, "the flood sent only {sent} requests");
    assert!(
        peak <= bound,
        "peak RSS {} MiB over a base of {} MiB exceeds the bound {} MiB ({sent} requests)",
        peak >> 20,
        base >> 20,
        bound >> 20
    );
    let answer = post(
        &server.base,
        &targets[0].0,
        &[("passphrase", "the right one")],
        "127.0.0.1",
    )
    .await;
    assert_eq!(answer.ok()["value"], "flood 0");
}

/// POSTs `path` 40 times with a wrong passphrase at once and, 200 ms into that burst (while
/// the derivations queue behind the scrypt pool), once with the right one. Returns the answer
/// to the right one.
async fn burst_then_right(app: &TestApp, path: &str) -> Answer {
    let wrong = (0..40).map(|_| {
        let client = app.client.clone();
        let url = app.url(path);
        async move { Answer::of(client.post(url).form(&[("passphrase", "a wrong guess")])).await }
    });
    let right = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Answer::of(
            app.client
                .post(app.url(path))
                .form(&[("passphrase", "the right one")]),
        )
        .await
    };
    let (_, right) = tokio::join!(join_all(wrong), right);
    right
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_passphrases_cannot_carry_the_right_one_past_the_lock() {
    // Arrange: default cost, so derivations queue up behind the pool as in production.
    let app = TestApp::spawn_with(&DEFAULT_COST).await;
    let (key, mkey) = app.share_guarded("burst target", "the right one").await;
    let (_, burn_mkey) = app.share_guarded("burn target", "the right one").await;

    // Act: a burst on the reveal, then one on the burn.
    let revealed = burst_then_right(&app, &format!("/api/v1/secret/{key}")).await;
    let burned = burst_then_right(&app, &format!("/api/v1/private/{burn_mkey}/burn")).await;

    // Assert: both right passphrases were refused, and both secrets are still unread.
    revealed.assert_unknown_secret();
    burned.assert_wrong_passphrase();
    assert_eq!(app.receipt(&mkey).await.ok()["state"], "new");
    assert_eq!(app.receipt(&burn_mkey).await.ok()["state"], "new");
}

/// 80 wrong passphrases split over two nodes at once, the right one 200 ms in: refused.
async fn burst_over_two_nodes(url: &str, prefix: &str) {
    let env = node_env(url, prefix, &DEFAULT_COST);
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let a = Process::start(&dir_a.path().join("data"), &env);
    let b = Process::start(&dir_b.path().join("data"), &env);
    let (body, path) = share_on(
        &a.base,
        &[
            ("secret", "two-node target"),
            ("passphrase", "the right one"),
        ],
        "127.0.0.1",
    )
    .await;
    let mkey = body["metadata_key"].as_str().expect("key").to_owned();

    let wrong = (0..80).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let path = path.clone();
        async move { post(base, &path, &[("passphrase", "a wrong guess")], "127.0.0.1").await }
    });
    let right = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        post(
            &b.base,
            &path,
            &[("passphrase", "the right one")],
            "127.0.0.1",
        )
        .await
    };
    let (_, right) = tokio::join!(join_all(wrong), right);

    right.assert_unknown_secret();
    let receipt = post(
        &a.base,
        &format!("/api/v1/private/{mkey}"),
        &[],
        "127.0.0.1",
    )
    .await
    .ok();
    assert_eq!(receipt["state"], "new", "{prefix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_over_two_redis_nodes_cannot_carry_the_right_passphrase_past_the_lock() {
    let redis = RedisServer::start();
    burst_over_two_nodes(&redis.url(), "burst:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_over_two_cluster_nodes_cannot_carry_the_right_passphrase_past_the_lock() {
    let cluster = RedisCluster::start();
    burst_over_two_nodes(&cluster.url(), "burst:").await;
}
