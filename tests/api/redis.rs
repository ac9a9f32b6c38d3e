//! Several nodes over one real Redis: exactly-once across nodes, shared limits, a Redis that
//! dies and returns, and `onetime migrate` between sled and Redis. The same over a real
//! 3-primary Redis Cluster.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::helpers::{
    add_account, basic, cli, output_of, post, serve, share_on, stdout_of_success, Answer, Process,
    RedisCluster, RedisServer,
};

pub const SECRET: &str = "5e3f0c8b7a6d4e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f";

pub fn node_env<'a>(
    url: &'a str,
    prefix: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("ONETIME__STORAGE__BACKEND", "redis"),
        ("ONETIME__STORAGE__REDIS_URL", url),
        ("ONETIME__STORAGE__REDIS_PREFIX", prefix),
        ("ONETIME__STORAGE__REDIS_TIMEOUT_MS", "500"),
        ("ONETIME__SERVER__SECRET", SECRET),
        ("ONETIME__SERVER__TRUST_PROXY", "true"),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_reveal_exactly_once_across_racing_nodes_and_limits_are_shared() {
    let redis = RedisServer::start();
    let url = redis.url();
    let limits = [
        ("ONETIME__LIMITS__CREATE_PER_IP", "4"),
        ("ONETIME__LIMITS__PASSPHRASE_FAILURES_PER_IP", "2"),
    ];
    let env = node_env(&url, "race:", &limits);
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let a = Process::start(&dir_a.path().join("data"), &env);
    let b = Process::start(&dir_b.path().join("data"), &env);

    for round in 0..3 {
        let value = format!("cross-node {round}");
        let body = post(&a.base, "/api/v1/share", &[("secret", &value)], "10.9.0.1")
            .await
            .ok();
        let key = body["secret_key"].as_str().expect("key").to_owned();
        let racers = (0..30).map(|i| {
            let base = if i % 2 == 0 {
                a.base.clone()
            } else {
                b.base.clone()
            };
            let path = format!("/api/v1/secret/{key}");
            async move { post(&base, &path, &[], &format!("10.9.1.{i}")).await }
        });
        let answers = join_all(racers).await;
        let winners: Vec<_> = answers
            .iter()
            .filter(|a| a.status.is_success())
            .map(|a| a.json["value"].clone())
            .collect();
        assert_eq!(winners, vec![serde_json::json!(value)], "round {round}");
        for loser in answers.iter().filter(|a| !a.status.is_success()) {
            loser.assert_unknown_secret();
        }
    }

    // The per-address create limit (4) holds across nodes: 3 used above from 10.9.0.1.
    share_on(&b.base, &[("secret", "s")], "10.9.0.1").await;
    post(&a.base, "/api/v1/share", &[("secret", "s")], "10.9.0.1")
        .await
        .assert_rate_limited();

    // A passphrase lockout reached through two nodes holds on both.
    let (_, path) = share_on(
        &a.base,
        &[("secret", "locked"), ("passphrase", "right one")],
        "10.9.0.2",
    )
    .await;
    post(&a.base, &path, &[("passphrase", "wrong")], "10.9.0.3").await;
    post(&b.base, &path, &[("passphrase", "wrong")], "10.9.0.3").await;
    post(&a.base, &path, &[("passphrase", "right one")], "10.9.0.4")
        .await
        .assert_unknown_secret();

    // An account made with the CLI (straight to Redis) works on both nodes; a node that is
    // killed loses nothing the other cannot serve.
    let token = add_account(&dir_a.path().join("data"), "ops@example.com", None).await;
    let auth = basic("ops@example.com", &token);
    let client = reqwest::Client::new();
    let key = Answer::of(
        client
            .post(format!("{}/api/v1/share", a.base))
            .header("authorization", &auth)
            .form(&[("secret", "survives node a")]),
    )
    .await
    .ok()["secret_key"]
        .as_str()
        .expect("key")
        .to_owned();
    a.kill9();
    Answer::of(
        client
            .get(format!("{}/api/v1/authcheck", b.base))
            .header("authorization", &auth),
    )
    .await
    .ok();
    let revealed = post(&b.base, &format!("/api/v1/secret/{key}"), &[], "10.9.0.5").await;
    assert_eq!(revealed.ok()["value"], "survives node a");
    b.kill9();
}

/// With its Redis gone, `node` refuses to share `secret` (from `ip`) within 5 s, and its health
/// check fails.
async fn assert_quick_outage(node: &Process, secret: &str, ip: &str) {
    let started = Instant::now();
    let answer = post(&node.base, "/api/v1/share", &[("secret", secret)], ip).await;
    answer.assert_error(503, "An unexpected error occurred :[");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let health = reqwest::get(format!("{}/health", node.base))
        .await
        .expect("send");
    assert_eq!(health.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_gets_quick_errors_and_the_node_recovers_when_it_returns() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let env = node_env(&url, "fault:", &[]);
    let (_dir, _, node) = serve(&env);
    let client = reqwest::Client::new();
    share_on(&node.base, &[("secret", "before")], "10.8.0.1").await;
    let health = client
        .get(format!("{}/health", node.base))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), 200);

    redis.kill();
    assert_quick_outage(&node, "during", "10.8.0.1").await;
    assert_eq!(
        Answer::of(client.get(format!("{}/api/v1/status", node.base)))
            .await
            .ok()["status"],
        "offline"
    );

    redis.restart();
    await_recovery(&node, "after", "10.8.0.1", 60).await;
    let logs = node.kill9();
    assert!(!logs.contains("before") && !logs.contains("during"));
}

/// `(value, secret key, metadata key)` of each secret a migrate test moves.
type Moved = Vec<(String, String, String)>;

/// A sled store in `sled_dir` with `count` secrets (the first already read) and `emails` as
/// accounts; returns the secrets and the accounts' tokens.
async fn sled_store_to_move(
    sled_dir: &std::path::Path,
    count: usize,
    emails: &[&str],
    ip: &str,
) -> (Moved, Vec<String>) {
    let sled_node = Process::start(sled_dir, &[("server.secret", SECRET)]);
    let mut keys = Vec::new();
    for i in 0..count {
        let value = format!("migrating {i}");
        let body = post(
            &sled_node.base,
            "/api/v1/share",
            &[("secret", &value), ("ttl", "3600")],
            ip,
        )
        .await
        .ok();
        keys.push((
            value,
            body["secret_key"].as_str().expect("key").to_owned(),
            body["metadata_key"].as_str().expect("mkey").to_owned(),
        ));
    }
    // One is read before the move: it must stay read.
    let path = format!("/api/v1/secret/{}", keys[0].1);
    post(&sled_node.base, &path, &[], ip).await.ok();
    let mut tokens = Vec::new();
    for email in emails {
        tokens.push(add_account(sled_dir, email, None).await);
    }
    sled_node.kill9();
    (keys, tokens)
}

/// `sled:DIR`, a sled store as `migrate` names one.
fn sled_at(dir: &Path) -> String {
    format!("sled:{}", dir.display())
}

/// `onetime migrate --from FROM --to TO` under `prefix`; asserts success and that it says
/// `summary`.
async fn migrate(from: String, to: String, prefix: &str, summary: &str) {
    let args = ["migrate", "--from", &from, "--to", &to].map(String::from);
    let env = vec![("ONETIME__STORAGE__REDIS_PREFIX".into(), prefix.into())];
    let out = run_onetime(args.to_vec(), env).await;
    let stdout = stdout_of_success(&out, "onetime");
    assert!(stdout.contains(summary), "{stdout}");
}

/// What `migrate` says it copied: `count` receipts, `unread` of them with their secret, and
/// `accounts`.
fn copied(count: usize, unread: usize, accounts: usize) -> String {
    format!("copied {count} receipts ({unread} with unread secrets), {accounts} accounts")
}

/// A sled store with `count` secrets and `emails` as accounts (see [`sled_store_to_move`]),
/// migrated into `url` under `prefix`: the directory it is in, its secrets and the tokens.
async fn moved_into(
    url: &str,
    prefix: &str,
    count: usize,
    emails: &[&str],
    ip: &str,
) -> (tempfile::TempDir, Moved, Vec<String>) {
    let dir = tempfile::tempdir().expect("dir");
    let sled_dir = dir.path().join("data");
    let (keys, tokens) = sled_store_to_move(&sled_dir, count, emails, ip).await;
    let summary = copied(count, count - 1, emails.len());
    migrate(sled_at(&sled_dir), url.to_owned(), prefix, &summary).await;
    (dir, keys, tokens)
}

/// After [`check_moved`]: `prefix` in `url` migrated back into a fresh sled store in `dir`
/// (`accounts` of them, two secrets read by now), checked there by [`check_back`].
async fn moved_back(url: &str, prefix: &str, dir: &Path, keys: &Moved, accounts: usize, ip: &str) {
    let back = dir.join("back");
    let summary = copied(keys.len(), keys.len() - 2, accounts);
    migrate(url.to_owned(), sled_at(&back), prefix, &summary).await;
    check_back(&back, keys, ip).await;
}

/// On a node over the moved store: the read secret stays read with its expiry, every account
/// authenticates; then the second secret is read there.
async fn check_moved(url: &str, prefix: &str, keys: &Moved, accounts: &[(&str, String)], ip: &str) {
    let node_dir = tempfile::tempdir().expect("dir");
    let node = Process::start(&node_dir.path().join("data"), &node_env(url, prefix, &[]));
    let client = reqwest::Client::new();
    let receipt = Answer::of(client.get(format!("{}/api/v1/receipt/{}", node.base, keys[0].2)))
        .await
        .ok();
    assert_eq!(receipt["state"], "received");
    let ttl = receipt["metadata_ttl"].as_u64().expect("ttl");
    assert!(ttl > 7000 && ttl <= 7200, "expiry preserved: {ttl}");
    for (email, token) in accounts {
        Answer::of(
            client
                .get(format!("{}/api/v1/authcheck", node.base))
                .header("authorization", basic(email, token)),
        )
        .await
        .ok();
    }
    let path = format!("/api/v1/secret/{}", keys[1].1);
    post(&node.base, &path, &[], ip).await.ok();
    node.kill9();
}

/// Back on sled: the two secrets read before are gone, every other reveals its value once.
async fn check_back(back: &std::path::Path, keys: &Moved, ip: &str) {
    let node = Process::start(back, &[("server.secret", SECRET)]);
    for (i, (value, key, _)) in keys.iter().enumerate() {
        let path = format!("/api/v1/secret/{key}");
        let answer = post(&node.base, &path, &[], ip).await;
        if i < 2 {
            answer.assert_unknown_secret();
        } else {
            assert_eq!(answer.ok()["value"], value.as_str());
        }
    }
    node.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_moves_everything_live_from_sled_to_redis_and_back() {
    let redis = RedisServer::start();
    let url = redis.url();
    let email = "mover@example.com";
    let (dir, keys, tokens) = moved_into(&url, "moved:", 5, &[email], "10.7.0.1").await;
    let accounts = [(email, tokens[0].clone())];
    check_moved(&url, "moved:", &keys, &accounts, "10.7.0.2").await;

    // And back to a fresh sled store: what is still unread there is readable once.
    moved_back(&url, "moved:", dir.path(), &keys, 1, "10.7.0.3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_queued_mail_is_sent_once_by_one_of_the_nodes() {
    let redis = RedisServer::start();
    let url = redis.url();
    let smtp_port = crate::mail::free_port();
    let inbox = crate::mail::start_smtp(smtp_port);
    let smtp_url = format!("smtp://127.0.0.1:{smtp_port}");
    let env = node_env(
        &url,
        "mailnodes:",
        &[
            ("ONETIME__MAIL__SMTP_URL", &smtp_url),
            ("ONETIME__MAIL__RETRY_INITIAL", "1"),
        ],
    );
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let a = Process::start(&dir_a.path().join("data"), &env);
    let b = Process::start(&dir_b.path().join("data"), &env);
    let token = add_account(&dir_a.path().join("data"), "sender@example.com", None).await;
    let auth = basic("sender@example.com", &token);
    let client = reqwest::Client::new();
    let mut receipts = Vec::new();
    for i in 0..6 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let to = format!("r{i}@example.org");
        let resp = client
            .post(format!("{base}/api/v1/share"))
            .header("authorization", &auth)
            .form(&[("secret", "mailed"), ("recipient", to.as_str())])
            .send()
            .await
            .expect("send");
        receipts.push(
            Answer::from(resp).await.ok()["metadata_key"]
                .as_str()
                .expect("mkey")
                .to_owned(),
        );
    }
    for _ in 0..100 {
        if inbox.lock().expect("inbox").len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a second sender time to show up, were there one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let messages = inbox.lock().expect("inbox").clone();
    let mut recipients: Vec<_> = messages.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    let expected: Vec<_> = (0..6).map(|i| format!("r{i}@example.org")).collect();
    assert_eq!(recipients, expected, "each mail exactly once");
    for mkey in receipts {
        assert_eq!(
            Answer::of(client.get(format!("{}/api/v1/receipt/{mkey}", b.base)))
                .await
                .ok()["delivery"]["state"],
            "sent"
        );
    }
    a.kill9();
    b.kill9();
}

/// Creates `secret` on `node` every 250 ms until it works (at most `tries` times), then checks
/// that `/health` says ok again: the node recovered by itself.
async fn await_recovery(node: &Process, secret: &str, ip: &str, tries: usize) {
    let mut recovered = false;
    for _ in 0..tries {
        let answer = post(&node.base, "/api/v1/share", &[("secret", secret)], ip).await;
        if answer.status.is_success() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the node did not recover: {}", node.logs());
    let health = reqwest::get(format!("{}/health", node.base))
        .await
        .expect("send");
    assert_eq!(health.status(), 200);
}

/// Runs the real binary with `args` and `env`, off the runtime thread.
async fn run_onetime(args: Vec<String>, env: Vec<(String, String)>) -> std::process::Output {
    let mut command = Process::bare_command();
    command.args(&args).envs(env);
    output_of(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_cluster_racing_nodes_reveal_once_on_every_primary_and_list_every_account() {
    let cluster = RedisCluster::start();
    let url = cluster.url();
    let env = node_env(&url, "clrace:", &[]);
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let a = Process::start(&dir_a.path().join("data"), &env);
    let b = Process::start(&dir_b.path().join("data"), &env);

    // Secrets, made on both nodes, until every primary holds some of them.
    let mut secrets: Vec<(String, String)> = Vec::new();
    while secrets.len() < 6 || !cluster.on_every_primary("clrace:{*}:s") {
        assert!(
            secrets.len() < 60,
            "the secrets never spread over every primary"
        );
        let value = format!("clustered {}", secrets.len());
        let base = if secrets.len().is_multiple_of(2) {
            &a.base
        } else {
            &b.base
        };
        let body = post(base, "/api/v1/share", &[("secret", &value)], "10.6.0.1")
            .await
            .ok();
        let key = body["secret_key"].as_str().expect("key").to_owned();
        secrets.push((value, key));
    }
    let (base_a, base_b) = (a.base.as_str(), b.base.as_str());
    let racers = secrets.iter().flat_map(|(_, key)| {
        (0..10).map(move |i| {
            let base = if i % 2 == 0 { base_a } else { base_b };
            let path = format!("/api/v1/secret/{key}");
            async move {
                let answer = post(base, &path, &[], &format!("10.6.1.{i}")).await;
                (key.clone(), answer)
            }
        })
    });
    let answers = join_all(racers).await;
    for (value, key) in &secrets {
        let winners: Vec<_> = answers
            .iter()
            .filter(|(k, a)| k == key && a.status.is_success())
            .map(|(_, a)| a.json["value"].clone())
            .collect();
        assert_eq!(winners, vec![serde_json::json!(value)], "{value}");
    }
    for (_, loser) in answers.iter().filter(|(_, a)| !a.status.is_success()) {
        loser.assert_unknown_secret();
    }

    // Accounts, made through node a, until every primary holds one; node b lists them all.
    let mut emails = Vec::new();
    while emails.len() < 3 || !cluster.on_every_primary("clrace:a:*") {
        assert!(
            emails.len() < 60,
            "the accounts never spread over every primary"
        );
        let email = format!("member{}@example.com", emails.len());
        add_account(&dir_a.path().join("data"), &email, None).await;
        emails.push(email);
    }
    let listed = cli(&dir_b.path().join("data"), &["account", "list"]).await;
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{stdout}");
    for email in &emails {
        assert!(stdout.contains(email.as_str()), "{email} missing: {stdout}");
    }
    a.kill9();
    b.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_moves_everything_live_from_sled_to_a_cluster_and_back() {
    let cluster = RedisCluster::start();
    let url = cluster.url();
    // 30 receipts: the chance that one of three primaries gets none is about 1 in 60,000.
    // Accounts are keyed by the HMAC of their email, so where they land depends on the key.
    let emails = ["ann@example.com", "cy@example.com", "hal@example.com"];
    let (dir, keys, tokens) = moved_into(&url, "clmoved:", 30, &emails, "10.5.0.1").await;
    assert!(cluster.on_every_primary("clmoved:{*}:m"));
    let accounts: usize = cluster
        .ports
        .iter()
        .map(|p| cluster.keys_on(*p, "clmoved:a:*"))
        .sum();
    assert_eq!(accounts, 3);

    // The accounts, listed straight from the cluster (no server running).
    let offline = tempfile::tempdir().expect("dir");
    let mut env: Vec<(String, String)> = node_env(&url, "clmoved:", &[])
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    env.push((
        "ONETIME__STORAGE__PATH".into(),
        offline.path().join("data").display().to_string(),
    ));
    let listed = run_onetime(vec!["account".into(), "list".into()], env).await;
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{stdout}");
    for email in emails {
        assert!(stdout.contains(email), "{email} missing: {stdout}");
    }

    let accounts: Vec<(&str, String)> = emails.into_iter().zip(tokens).collect();
    check_moved(&url, "clmoved:", &keys, &accounts, "10.5.0.2").await;

    // And back to a fresh sled store: what is still unread there is readable once.
    moved_back(&url, "clmoved:", dir.path(), &keys, 3, "10.5.0.3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_cluster_gets_quick_errors_and_the_node_recovers_when_it_returns() {
    let password = "cluster-pass-3f9d1c";
    let mut cluster = RedisCluster::start_with_password(password);
    let url = cluster.url();
    let env = node_env(&url, "clfault:", &[]);
    let (_dir, _, node) = serve(&env);
    share_on(&node.base, &[("secret", "before the fall")], "10.4.0.1").await;

    cluster.kill();
    assert_quick_outage(&node, "while it is down", "10.4.0.1").await;

    cluster.restart();
    await_recovery(&node, "after the return", "10.4.0.1", 120).await;
    let logs = node.kill9();
    for value in [
        "before the fall",
        "while it is down",
        "after the return",
        password,
    ] {
        assert!(!logs.contains(value), "{value} in the logs");
    }
}
