//! `/metrics` on `metrics.bind`, scraped by a real Prometheus (Debian's package) started on a
//! free port (issue 14).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{serve, Answer, Process};
use crate::mail::free_port;

/// A Prometheus scraping one target every second, stopped when dropped.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: onetime\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .expect("config");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (scripts/test installs it)");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The value of an instant query's single result, if it has one.
    async fn value(&self, client: &reqwest::Client, query: &str) -> Option<f64> {
        let resp = client
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", query)])
            .send()
            .await
            .ok()?;
        let body: Value = resp.json().await.ok()?;
        let result = body["data"]["result"].as_array()?;
        let [one] = result.as_slice() else {
            return None;
        };
        one["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(client: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Answer {
    Answer::from(client.post(url).form(form).send().await.expect("post")).await
}

/// The binary over a fresh directory with `env` and metrics on a port of their own: the
/// directory, the metrics address and the server.
fn serve_with_metrics(env: &[(&str, &str)]) -> (tempfile::TempDir, String, Process) {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut env = env.to_vec();
    env.push(("metrics.bind", &metrics_addr));
    let (dir, _, server) = serve(&env);
    (dir, metrics_addr, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_counts_of_what_happened() {
    // Arrange: the real binary with metrics on a port of their own, and Prometheus on it.
    let (_dir, metrics_addr, server) = serve_with_metrics(&[("limits.create_per_ip", "5")]);
    let prometheus = Prometheus::start(&metrics_addr);
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1/{path}", server.base);

    // Act: four text secrets (one with a passphrase), a generated one, a sixth create over the
    // rate limit; two reveals, a wrong passphrase, a burn.
    let mut keys = Vec::new();
    for (i, extra) in [None, None, None, Some("pass phrase")].iter().enumerate() {
        let value = format!("metrics value {i}");
        let mut form = vec![("secret", value.as_str())];
        form.extend(extra.map(|p| ("passphrase", p)));
        let body = post(&client, &api("share"), &form).await.ok();
        keys.push((
            body["secret_key"].as_str().expect("key").to_owned(),
            body["metadata_key"].as_str().expect("key").to_owned(),
        ));
    }
    post(&client, &api("generate"), &[]).await.ok();
    let limited = post(&client, &api("share"), &[("secret", "one too many")]).await;
    assert_eq!(limited.intended, Some(429), "{}", limited.text);
    for (secret, _) in &keys[..2] {
        post(&client, &api(&format!("secret/{secret}")), &[])
            .await
            .ok();
    }
    let wrong = post(
        &client,
        &api(&format!("secret/{}", keys[3].0)),
        &[("passphrase", "not it")],
    )
    .await;
    assert_eq!(wrong.intended, Some(404), "{}", wrong.text);
    post(&client, &api(&format!("private/{}/burn", keys[2].1)), &[])
        .await
        .ok();

    // Assert: Prometheus's query API reports each count once a scrape has seen them all (it
    // scrapes every second; the loop only waits for that, bounded, and asserts after).
    let expected = [
        (r#"onetime_secrets_created_total{kind="text"}"#, 4.0),
        (r#"onetime_secrets_created_total{kind="generated"}"#, 1.0),
        (r#"onetime_secrets_created_total{kind="file"}"#, 0.0),
        ("onetime_secrets_revealed_total", 2.0),
        ("onetime_secrets_burned_total", 1.0),
        ("onetime_passphrase_failures_total", 1.0),
        ("onetime_lockouts_total", 0.0),
        (r#"onetime_rate_limited_total{action="create"}"#, 1.0),
        ("onetime_mails_queued_total", 0.0),
        ("onetime_store_records", 5.0),
        (r#"onetime_store_up{backend="sled"}"#, 1.0),
        ("onetime_outbox_depth", 0.0),
        ("onetime_kdf_jobs_running", 0.0),
        (
            r#"onetime_http_request_duration_seconds_count{route="/api/v1/secret/{key}",method="POST",status="200"}"#,
            2.0,
        ),
        (
            r#"onetime_http_request_duration_seconds_count{route="/api/v1/share",method="POST",status="200"}"#,
            4.0,
        ),
        (r#"up{job="onetime"}"#, 1.0),
    ];
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        seen.clear();
        for (query, _) in &expected {
            seen.push(prometheus.value(&client, query).await);
        }
        let all = expected
            .iter()
            .zip(&seen)
            .all(|((_, want), got)| *got == Some(*want));
        if all || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for ((query, want), got) in expected.iter().zip(&seen) {
        assert_eq!(*got, Some(*want), "{query}");
    }
    let size = prometheus
        .value(&client, "onetime_store_size_bytes")
        .await
        .expect("store size");
    assert!(size > 0.0, "{size}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_no_key_or_value_and_stay_off_the_public_port() {
    // Arrange
    let (_dir, metrics_addr, server) = serve_with_metrics(&[]);
    let client = reqwest::Client::new();
    let value = "metrics-never-show-this";
    let created = post(
        &client,
        &format!("{}/api/v1/share", server.base),
        &[("secret", value)],
    )
    .await
    .ok();
    let secret_key = created["secret_key"].as_str().expect("key").to_owned();
    let metadata_key = created["metadata_key"].as_str().expect("key").to_owned();
    post(
        &client,
        &format!("{}/api/v1/secret/{secret_key}", server.base),
        &[],
    )
    .await
    .ok();
    client
        .get(format!("{}/no/such/{secret_key}", server.base))
        .send()
        .await
        .expect("unmatched");

    // Act
    let scraped = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("scrape");
    let content_type = scraped.headers()["content-type"]
        .to_str()
        .expect("type")
        .to_owned();
    let text = scraped.text().await.expect("text");
    let public = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("public");

    // Assert
    assert!(content_type.starts_with("application/openmetrics-text"));
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains(r#"route="(unmatched)""#), "{text}");
    for needle in [
        secret_key.as_str(),
        metadata_key.as_str(),
        value,
        "127.0.0.1",
    ] {
        assert!(!text.contains(needle), "{needle} in:\n{text}");
    }
    assert_eq!(public.status(), 404);
}

/// One sample's value from the exposition text, by its full name with labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_the_store_gauge_follows_whether_redis_answers() {
    // Arrange: a node over a real redis-server, metrics on.
    let mut redis = crate::helpers::RedisServer::start();
    let url = redis.url();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut env = crate::redis::node_env(&url, "metrics:", &[]);
    env.push(("ONETIME__METRICS__BIND", metrics_addr.as_str()));
    let (_dir, _, _node) = serve(&env);
    let client = reqwest::Client::new();
    let scrape = || {
        let request = client.get(format!("http://{metrics_addr}/metrics"));
        async move {
            request
                .send()
                .await
                .expect("scrape")
                .text()
                .await
                .expect("text")
        }
    };

    // Act
    let up = scrape().await;
    redis.kill();
    let down = scrape().await;

    // Assert: reachable, then not; the outbox is read from Redis; sled-only gauges stay 0.
    let series = r#"onetime_store_up{backend="redis"}"#;
    assert_eq!(sample(&up, series), Some(1.0), "{up}");
    assert_eq!(sample(&up, "onetime_outbox_depth"), Some(0.0), "{up}");
    assert_eq!(sample(&down, series), Some(0.0), "{down}");
}
