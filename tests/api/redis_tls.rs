//! A node over a real TLS Redis (`rediss://`, Debian's redis-server with a throwaway CA): with
//! the CA that signs the server's certificate it serves, and `onetime migrate` reads the same
//! way; without that CA, with another one, by a name the certificate does not list, or with an
//! unusable CA file, it does not start and says why; a Redis with `tls-auth-clients yes` needs
//! the node's client certificate.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helpers::{
    output_of, post, serve, share_on, stdout_of_success, Process, RedisServer, TestPki,
};
use crate::redis::node_env;

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// Starts `onetime` (serve) with `env` and expects it to exit with an error: what it printed,
/// and how long it took. A node that starts anyway is killed and fails the test.
fn refused_start(env: &[(&str, &str)]) -> (String, Duration) {
    let dir = tempfile::tempdir().expect("dir");
    let started = Instant::now();
    let mut child = Process::command(&dir.path().join("data"))
        .env("ONETIME__SERVER__BIND", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn onetime");
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("it started: {}", String::from_utf8_lossy(&out.stdout));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (printed, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_its_ca_a_node_reveals_a_secret_once_and_migrate_reads_it_too() {
    let pki = TestPki::generate();
    let redis = RedisServer::start_tls(&pki, false);
    let url = redis.url();
    let ca = [("ONETIME__STORAGE__REDIS_TLS_CA", path(&pki.ca))];
    let env = node_env(&url, "tls:", &ca);
    let (dir, _, node) = serve(&env);

    let (_, reveal) = share_on(&node.base, &[("secret", "sent over tls")], "10.5.0.1").await;
    let first = post(&node.base, &reveal, &[], "10.5.0.2").await;
    let second = post(&node.base, &reveal, &[], "10.5.0.2").await;
    share_on(&node.base, &[("secret", "left unread")], "10.5.0.1").await;
    let logs = node.kill9();

    assert_eq!(first.ok()["value"], "sent over tls");
    second.assert_unknown_secret();
    assert!(!logs.contains("sent over tls") && !logs.contains("CERTIFICATE"));

    // `onetime migrate` reads a rediss:// endpoint with the same settings, and without the CA
    // it refuses the same way a node does.
    let migrate = |with_ca: bool| {
        let back = dir.path().join(if with_ca { "back" } else { "never" });
        let mut command = Process::bare_command();
        command
            .args(["migrate", "--from", &url, "--to"])
            .arg(format!("sled:{}", back.display()))
            .env("ONETIME__STORAGE__REDIS_PREFIX", "tls:")
            .env("ONETIME__STORAGE__REDIS_TIMEOUT_MS", "500");
        if with_ca {
            command.envs(ca);
        }
        output_of(command)
    };
    let copied = migrate(true).await;
    let refused = migrate(false).await;

    let stdout = stdout_of_success(&copied, "onetime");
    assert!(
        stdout.contains("copied 2 receipts (1 with unread secrets)"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("certificate is not trusted"), "{stderr}");
}

#[tokio::test]
async fn a_node_that_cannot_trust_the_redis_certificate_does_not_start_and_says_why() {
    let pki = TestPki::generate();
    let redis = RedisServer::start_tls(&pki, false);
    let (url, other_host) = (redis.url(), redis.url_on("127.0.0.2"));
    let missing = pki.ca.with_file_name("missing.pem");
    let untrusted = "certificate is not trusted";
    let cases: [(&str, Option<&Path>, &str); 5] = [
        // No CA: the system's trust store, which has never heard of the test CA.
        (&url, None, untrusted),
        (&url, Some(&pki.other_ca), untrusted),
        (
            &other_host,
            Some(&pki.ca),
            "not valid for the host in storage.redis_url",
        ),
        (
            &url,
            Some(&missing),
            "invalid `storage.redis_tls_ca`: cannot read",
        ),
        (&url, Some(&pki.server_key), "holds no PEM certificate"),
    ];

    for (url, ca, expected) in cases {
        let mut env = node_env(url, "refused:", &[]);
        if let Some(ca) = ca {
            env.push(("ONETIME__STORAGE__REDIS_TLS_CA", path(ca)));
        }

        let (printed, took) = refused_start(&env);

        assert!(printed.contains(expected), "{ca:?}: {printed}");
        if expected == untrusted {
            assert!(printed.contains("storage.redis_tls_ca"), "{printed}");
        }
        assert!(took < Duration::from_secs(10), "{ca:?}: {took:?}");
        assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_auth_clients_a_node_needs_a_client_certificate_the_redis_trusts() {
    let pki = TestPki::generate();
    let redis = RedisServer::start_tls(&pki, true);
    let url = redis.url();
    // The CA, and a client certificate with its key, if any.
    fn env_of<'a>(
        url: &'a str,
        pki: &'a TestPki,
        client: Option<(&'a Path, &'a Path)>,
    ) -> Vec<(&'a str, &'a str)> {
        let mut extra = vec![("ONETIME__STORAGE__REDIS_TLS_CA", path(&pki.ca))];
        if let Some((cert, key)) = client {
            extra.push(("ONETIME__STORAGE__REDIS_TLS_CERT", path(cert)));
            extra.push(("ONETIME__STORAGE__REDIS_TLS_KEY", path(key)));
        }
        node_env(url, "mtls:", &extra)
    }
    let ours = (pki.client_cert.as_path(), pki.client_key.as_path());
    let stranger = (pki.stranger_cert.as_path(), pki.stranger_key.as_path());

    let (_dir, _, node) = serve(&env_of(&url, &pki, Some(ours)));
    let (_, reveal) = share_on(&node.base, &[("secret", "mutual")], "10.5.1.1").await;
    let revealed = post(&node.base, &reveal, &[], "10.5.1.2").await;
    node.kill9();
    let (without, _) = refused_start(&env_of(&url, &pki, None));
    let (strange, _) = refused_start(&env_of(&url, &pki, Some(stranger)));

    assert_eq!(revealed.ok()["value"], "mutual");
    assert!(
        without.contains("requires a TLS client certificate"),
        "{without}"
    );
    assert!(
        strange.contains("refused the client certificate in storage.redis_tls_cert"),
        "{strange}"
    );
}
