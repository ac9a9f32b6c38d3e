//! A real 3-primary Redis Cluster for tests, started once per test process from Debian's
//! `redis-server` and `redis-cli` on free loopback ports, and the store's tests on it: the
//! shared conformance suite, plus what only a cluster can get wrong. A second one speaks only
//! TLS (clients and cluster bus) and requires client certificates: see [`tls_cluster`].

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::test_tls::TestPki;

/// The running test cluster.
pub struct TestCluster {
    /// Client ports of the three primaries (TLS ports for a TLS cluster).
    pub ports: Vec<u16>,
    /// For a TLS cluster: its certificates (nodes and clients are signed by `ca`).
    pub pki: Option<TestPki>,
}

impl TestCluster {
    /// `redis+cluster://` (`rediss+cluster://` over TLS) with every primary as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let scheme = if self.pki.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}+cluster://{}", seeds.join(","))
    }

    /// How many keys matching `pattern` the primary on `port` holds itself.
    pub fn keys_on(&self, port: u16, pattern: &str) -> usize {
        let out = redis_cli(self.pki.as_ref())
            .args(["-p", &port.to_string(), "--scan", "--pattern", pattern])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// Whether every primary holds at least one key matching `pattern`.
    pub fn on_every_primary(&self, pattern: &str) -> bool {
        self.ports.iter().all(|p| self.keys_on(*p, pattern) > 0)
    }
}

/// The cluster, started on first use; it stops when the test process is gone.
pub fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| start(None))
}

/// A cluster that speaks only TLS, to clients and between its nodes, and requires a client
/// certificate signed by its `pki.ca` (`tls-auth-clients yes`); started on first use.
pub fn tls_cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| start(Some(TestPki::generate())))
}

/// `redis-cli`, with the client certificate when the cluster speaks TLS.
fn redis_cli(pki: Option<&TestPki>) -> Command {
    let mut command = Command::new("redis-cli");
    if let Some(pki) = pki {
        command
            .args(["--tls", "--cacert"])
            .arg(&pki.ca)
            .arg("--cert")
            .arg(&pki.client_cert)
            .arg("--key")
            .arg(&pki.client_key);
    }
    command
}

fn free_ports(n: usize) -> Vec<u16> {
    // Held together until all are picked, so they differ.
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

fn start(pki: Option<TestPki>) -> TestCluster {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let ports = free_ports(6);
    let (ports, bus) = ports.split_at(3);
    // A TLS node listens only on its TLS port and uses TLS on the bus too; the nodes present
    // their server certificate to each other as clients.
    let listen = |port: &u16| match &pki {
        None => format!("--port {port}"),
        Some(pki) => format!(
            "--port 0 --tls-port {port} --tls-cluster yes --tls-cert-file {} \
             --tls-key-file {} --tls-ca-cert-file {} --tls-auth-clients yes",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        ),
    };
    // Explicit bus ports (the default, port + 10000, may be taken or out of range). The
    // watcher loop stops the nodes and removes their files once this test process has exited.
    let mut script = String::new();
    for (port, bus) in ports.iter().zip(bus) {
        script.push_str(&format!(
            "redis-server {listen} --bind 127.0.0.1 --cluster-enabled yes \
             --cluster-port {bus} --cluster-config-file {dir}/nodes-{port}.conf \
             --dir {dir} --save '' --appendonly no >/dev/null 2>&1 & pids=\"$pids $!\"; ",
            listen = listen(port),
            dir = dir.display()
        ));
    }
    // The certificates too: a `TestPki` in a static is never dropped.
    let pki_dir = pki
        .as_ref()
        .and_then(|pki| pki.ca.parent())
        .unwrap_or(std::path::Path::new(""));
    script.push_str(&format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $pids; sleep 1; \
         rm -rf {dir} {pki_dir}",
        parent = std::process::id(),
        dir = dir.display(),
        pki_dir = pki_dir.display()
    ));
    let mut watcher = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server, or run scripts/test)");
    std::thread::spawn(move || watcher.wait());
    for port in ports {
        let up = (0..1200).any(|_| {
            let ok = std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok();
            if !ok {
                std::thread::sleep(Duration::from_millis(25));
            }
            ok
        });
        assert!(up, "redis-server did not start on {port}");
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = redis_cli(pki.as_ref())
        .arg("--cluster")
        .arg("create")
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli (apt-get install redis-tools, or run scripts/test)");
    assert!(
        created.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&created.stdout)
    );
    for port in ports {
        let ok = (0..200).any(|_| {
            let info = redis_cli(pki.as_ref())
                .args(["-p", &port.to_string(), "cluster", "info"])
                .output()
                .expect("redis-cli");
            let ok = String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok");
            if !ok {
                std::thread::sleep(Duration::from_millis(50));
            }
            ok
        });
        assert!(ok, "the cluster did not come up on {port}");
    }
    TestCluster {
        ports: ports.to_vec(),
        pki,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::conformance::{sample, NOW};
    use crate::store::redis::{test_server, RedisStore};
    use crate::store::upgrade::{PlainKeys, UpgradeKeys};
    use crate::store::{CustomerRecord, Customers, Secrets, Store, Transfer};

    async fn open_with(prefix: &str) -> RedisStore {
        RedisStore::open(
            &cluster().url(),
            prefix,
            Duration::from_secs(2),
            &Default::default(),
        )
        .await
        .expect("redis cluster store")
    }

    async fn open() -> RedisStore {
        open_with(&test_server::prefix()).await
    }

    crate::conformance_suite!(|_dir: std::path::PathBuf| open());

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enumeration_sees_records_on_every_primary() {
        let prefix = test_server::prefix();
        let store = open_with(&prefix).await;
        let cluster = cluster();
        // Random names: keys that differ in a digit or two hash to a handful of nearby slots.
        let mut emails = Vec::new();
        while emails.len() < 6 || !cluster.on_every_primary(&format!("{prefix}a:*")) {
            assert!(
                emails.len() < 200,
                "the accounts never spread over every primary"
            );
            let email = format!("{}@example.com", &crate::crypto::generate_key()[..12]);
            let id = PlainKeys.customer_id(&email);
            let customer = CustomerRecord {
                id,
                email: PlainKeys.seal_email(&id, &email),
                plan: "anonymous".into(),
                created: NOW,
                token_hash: [7; 32],
                token_created: NOW,
                api_key: None,
                password: None,
            };
            assert!(store.add_customer(&customer).await.expect("add"));
            emails.push(id);
        }
        let mut secrets = 0;
        while secrets < 6 || !cluster.on_every_primary(&format!("{prefix}{{*}}:m")) {
            assert!(
                secrets < 200,
                "the receipts never spread over every primary"
            );
            store.create(&sample(600, false)).await.expect("create");
            secrets += 1;
        }

        let mut listed: Vec<_> = store
            .customers()
            .await
            .expect("customers")
            .into_iter()
            .map(|c| c.id)
            .collect();
        let exported = store.export(NOW).await.expect("export");

        emails.sort();
        listed.sort();
        assert_eq!(listed, emails);
        let receipts = exported
            .iter()
            .filter(|r| matches!(r, crate::store::Exported::Secret { .. }))
            .count();
        assert_eq!(receipts, secrets);
    }

    #[tokio::test]
    async fn the_store_answers_on_every_primary_and_a_dead_cluster_answers_quickly() {
        let store: Arc<dyn Store> = Arc::new(open().await);
        store.ping().await.expect("ping");
        let ports = free_ports(2);
        let url = format!(
            "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
            ports[0], ports[1]
        );

        let started = std::time::Instant::now();
        let result =
            RedisStore::open(&url, "x:", Duration::from_millis(500), &Default::default()).await;

        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
