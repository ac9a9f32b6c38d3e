//! The server's edges under attack: slow bodies and idle connections are cut, a few hundred slow
//! clients under a small open-file limit do not stop a normal request, client addresses come
//! from the right `X-Forwarded-For` entry and are keyed by IPv6 prefix, a burn spends from the
//! reveal budget, pages link nowhere off the site, and Redis holds no client address.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Answer, Process, RedisServer, TestApp};
use crate::web::Browser;

/// Reads what the server sends until it closes the connection or `limit` passes; returns the
/// bytes and whether the connection was closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Opens a connection and sends the head of a urlencoded POST to `path` that announces
/// `length` bytes of body; the body is then up to the caller.
async fn post_head(addr: &str, path: &str, length: usize) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    Ok(stream)
}

/// Sends one byte a second on the write half until the server stops taking them.
fn dribble(mut write: tokio::net::tcp::OwnedWriteHalf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while write.write_all(b"s").await.is_ok() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

#[tokio::test]
async fn a_body_dribbled_a_byte_a_second_is_cut_at_the_deadline() {
    let app = TestApp::spawn_with(&[("server.body_timeout", "2")]).await;
    let addr = app.addr.to_string();

    for path in ["/api/v1/share", "/"] {
        let stream = post_head(&addr, path, 100).await.expect("connect");
        let started = Instant::now();
        let (mut read, write) = stream.into_split();
        let writer = dribble(write);
        let mut got = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(8), read.read_to_end(&mut got))
            .await
            .is_ok();
        writer.abort();
        let answer = String::from_utf8_lossy(&got).to_ascii_lowercase();

        assert!(closed, "{path}: the connection is still open after 8 s");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
            "{path}: cut after {took:?}, want about 2 s"
        );
        assert!(answer.contains("connection: close"), "{path}: {answer}");
        if path == "/" {
            assert!(answer.starts_with("http/1.1 408"), "{answer}");
            assert!(answer.contains("id=\"timed-out\""), "{answer}");
        } else {
            assert!(answer.starts_with("http/1.1 404"), "{answer}");
            assert!(answer.contains("x-ots-intended-status: 408"), "{answer}");
            assert!(
                answer.contains("request body was not received in time"),
                "{answer}"
            );
        }
    }
    // A body that arrives in time is still read.
    app.share_ok("in time", &[]).await;
}

#[tokio::test]
async fn a_chunked_body_a_handler_never_reads_does_not_hold_the_connection() {
    let app = TestApp::spawn_with(&[("server.body_timeout", "2")]).await;
    for path in ["/api/v1/status", "/api/v1/nope", "/nope"] {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
            app.addr
        );
        stream.write_all(head.as_bytes()).await.expect("send");
        let (mut read, mut write) = stream.into_split();
        let writer = tokio::spawn(async move {
            while write.write_all(b"1\r\na\r\n").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let mut got = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(6), read.read_to_end(&mut got))
            .await
            .is_ok();
        writer.abort();

        assert!(
            closed,
            "{path}: a chunk every 500 ms holds the connection past 6 s"
        );
        let answer = String::from_utf8_lossy(&got).to_ascii_lowercase();
        assert!(answer.contains("connection: close"), "{path}: {answer}");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout() {
    let app = TestApp::spawn_with(&[("server.keepalive_timeout", "1")]).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    let request = format!("GET /api/v1/status HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr);
    stream.write_all(request.as_bytes()).await.expect("send");

    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(4)).await;

    assert!(answer.contains("\"nominal\""), "{answer}");
    assert!(closed, "an idle connection is still open after 4 s");
    assert!(started.elapsed() >= Duration::from_millis(800));
}

/// A connection that keeps coming back: connect, announce a body, dribble it, and when the
/// server cuts it, start over; until `stop`.
fn slow_client(
    addr: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !*stop.borrow() {
            let Ok(stream) = post_head(&addr, "/api/v1/share", 1000).await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let (mut read, mut write) = stream.into_split();
            let mut sink = Vec::new();
            let dribbling = async {
                while write.write_all(b"s").await.is_ok() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            let mut stop = stop.clone();
            tokio::select! {
                _ = dribbling => {}
                _ = read.read_to_end(&mut sink) => {}
                _ = stop.changed() => {}
            }
        }
    })
}

#[tokio::test]
async fn three_hundred_slow_clients_under_256_open_files_do_not_stop_a_status_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Process::start_under(
        &["prlimit", "--nofile=256:256", "--"],
        &dir.path().join("data"),
        &[
            ("server.body_timeout", "2"),
            ("server.max_connections", "150"),
            ("server.workers", "2"),
        ],
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let clients: Vec<_> = (0..300)
        .map(|_| slow_client(addr.clone(), stop.clone()))
        .collect();
    // Let them connect and fill every slot the server has.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let started = Instant::now();
    let status = reqwest::Client::new()
        .get(format!("{}/api/v1/status", server.base))
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    let took = started.elapsed();
    let _ = stop_tx.send(true);
    for client in clients {
        client.abort();
    }

    let status = status.unwrap_or_else(|e| panic!("status not answered: {e}; {}", server.logs()));
    assert_eq!(status.status(), StatusCode::OK);
    assert!(
        status.text().await.expect("body").contains("nominal"),
        "status answered"
    );
    // At worst it waits for the slow connections ahead of it to reach their deadline.
    assert!(took < Duration::from_secs(10), "status took {took:?}");
    let logs = server.logs().to_ascii_lowercase();
    assert!(!logs.contains("too many open files"), "{logs}");
}

/// Creates a secret as a client behind a proxy that sent these `X-Forwarded-For` lines.
async fn create_via(app: &TestApp, forwarded: &[&str]) -> Answer {
    let mut request = app.client.post(app.url("/api/v1/share"));
    for line in forwarded {
        request = request.header("x-forwarded-for", *line);
    }
    Answer::of(request.form(&[("secret", "s")])).await
}

/// How many of the answers are the rate-limit refusal.
fn limited(answers: &[Answer]) -> usize {
    answers
        .iter()
        .filter(|a| a.intended == Some(429))
        .inspect(|a| a.assert_rate_limited())
        .count()
}

/// Behind a trusted proxy, with room for five creates per client.
const PROXIED_FIVE_CREATES: [(&str, &str); 2] = [
    ("server.trust_proxy", "true"),
    ("limits.create_per_ip", "5"),
];

#[tokio::test]
async fn a_spoofed_first_forwarded_line_does_not_escape_the_limit() {
    let app = TestApp::spawn_with(&PROXIED_FIVE_CREATES).await;
    let mut answers = Vec::new();
    for i in 0..12 {
        let spoofed = format!("198.51.100.{i}");
        answers.push(create_via(&app, &[&spoofed, "203.0.113.7"]).await);
    }
    let other = create_via(&app, &["198.51.100.1", "203.0.113.8"]).await;

    assert_eq!(limited(&answers), 7, "5 of 12 pass, the rest are limited");
    assert!(answers[..5].iter().all(|a| a.status == StatusCode::OK));
    assert_eq!(
        other.status,
        StatusCode::OK,
        "another client has its own budget"
    );
}

#[tokio::test]
async fn a_trusted_proxy_chain_resolves_to_the_client() {
    let app = TestApp::spawn_with(&[
        ("server.trust_proxy", "true"),
        ("server.trusted_proxies", "10.0.0.0/8, 192.0.2.1"),
        ("limits.create_per_ip", "5"),
    ])
    .await;
    let mut answers = Vec::new();
    for i in 0..8 {
        // A forged entry, the client, then two of our proxies (which one varies).
        let first = format!("198.51.100.{i}, 203.0.113.9");
        let proxies = format!("10.0.{i}.2, 192.0.2.1");
        answers.push(create_via(&app, &[&first, &proxies]).await);
    }
    let neighbour = create_via(&app, &["203.0.113.10", "10.0.0.2, 192.0.2.1"]).await;
    let garbage = create_via(&app, &["203.0.113.11, unknown, 10.0.0.3"]).await;

    assert_eq!(
        limited(&answers),
        3,
        "one client behind varying proxies: one budget"
    );
    assert_eq!(
        neighbour.status,
        StatusCode::OK,
        "the proxies' budget is not shared"
    );
    assert_eq!(garbage.status, StatusCode::OK);
}

#[tokio::test]
async fn one_ipv6_prefix_is_one_client_and_mapped_ipv4_is_ipv4() {
    let app = TestApp::spawn_with(&PROXIED_FIVE_CREATES).await;
    let mut one_prefix = Vec::new();
    for i in 1..=12u32 {
        let addr = format!("2001:db8:1:2:{i:x}:{:x}:9:{i:x}", (i * 7919) & 0xffff);
        one_prefix.push(create_via(&app, &[&addr]).await);
    }
    let next_prefix = create_via(&app, &["2001:db8:1:3::1"]).await;
    let mut mapped = Vec::new();
    for addr in ["::ffff:203.0.113.20", "203.0.113.20"].repeat(3) {
        mapped.push(create_via(&app, &[addr]).await);
    }

    assert_eq!(limited(&one_prefix), 7, "12 addresses of one /64 share 5");
    assert_eq!(next_prefix.status, StatusCode::OK);
    assert_eq!(limited(&mapped), 1, "::ffff:a.b.c.d and a.b.c.d share 5");
}

#[tokio::test]
async fn burning_spends_from_the_reveal_budget() {
    let app = TestApp::spawn_with(&[("limits.reveal_per_ip", "3")]).await;
    let mut receipts = Vec::new();
    for i in 0..4 {
        receipts.push(app.share_ok(&format!("s{i}"), &[]).await);
    }
    let browser = Browser::new(&app);
    let web_receipt = browser.create(&[("secret", "web")]).await;
    let confirm = browser.get(&format!("{web_receipt}/burn")).await;

    let first = app.burn(&receipts[0].1, None).await;
    let second = app.burn(&receipts[1].1, None).await;
    let reveal = app.reveal(&receipts[2].0, None).await;
    let third = app.burn(&receipts[3].1, None).await;
    let web_burn = browser
        .post(&format!("{web_receipt}/burn"), &[("csrf", &confirm.csrf())])
        .await;

    for ok in [first, second, reveal] {
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    }
    third.assert_rate_limited();
    assert_eq!(app.receipt(&receipts[3].1).await.ok()["state"], "new");
    assert_eq!(web_burn.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(web_burn.has_id("rate-limited"), "{}", web_burn.html);
}

/// Sends `request_line` as is (reqwest would normalise the path) and returns the answer.
async fn raw_get(app: &TestApp, target: &str) -> String {
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nAccept-Language: en\r\nConnection: close\r\n\r\n",
        app.addr
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "{target}: no complete answer");
    answer
}

/// Every `href="..."` value in `html`.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn pages_for_hostile_paths_link_nowhere_off_the_site() {
    let app = TestApp::spawn().await;
    for target in [
        "//evil.example/",
        "/\\evil.example/",
        "//evil.example/x?locale=nl",
    ] {
        let answer = raw_get(&app, target).await;
        let links = hrefs(&answer);

        for link in &links {
            let off_site = link.starts_with("//")
                || link.starts_with("/\\")
                || link.starts_with('\\')
                || link.contains("://")
                || link.contains("evil.example");
            assert!(!off_site, "{target}: link {link:?} leaves the site");
        }
        if answer.starts_with("HTTP/1.1 404") {
            // The 404 page does render its language links, relative to itself.
            assert!(
                links.iter().any(|l| l.starts_with("?locale=")),
                "{target}: {links:?}"
            );
        }
    }
    // The language links are relative on ordinary pages too.
    let home = raw_get(&app, "/").await;
    assert!(hrefs(&home).iter().any(|l| l == "?locale=nl"), "{home}");
}

#[tokio::test]
async fn redis_rate_limit_keys_hold_no_client_address() {
    let redis = RedisServer::start();
    let app = TestApp::spawn_with(&[
        ("storage.backend", "redis"),
        ("storage.redis_url", &redis.url()),
        ("server.trust_proxy", "true"),
        ("limits.create_per_ip", "2"),
    ])
    .await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(create_via(&app, &["203.0.113.7"]).await);
    }
    let keys = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--scan"])
        .output()
        .expect("redis-cli");
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();

    assert_eq!(limited(&answers), 2, "the limit is counted in Redis");
    assert!(
        keys.contains("l:create:"),
        "a create counter exists: {keys}"
    );
    assert!(!keys.contains("203.0.113.7"), "{keys}");
    assert!(!keys.contains("203.0.113"), "{keys}");
}
