//! One server or cluster of each kind per test process, started on first use, for the store's
//! unit tests (every test takes its own key prefix). Kept in statics, which are never dropped:
//! a watcher kills them and removes their files once the test process is gone.

use std::sync::OnceLock;

use crate::cluster::RedisCluster;
use crate::pki::TestPki;
use crate::reap_after_exit;
use crate::redis::RedisServer;

/// The URL of a running plain Redis: `ONETIME_TEST_REDIS_URL` when set, else this process's.
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("ONETIME_TEST_REDIS_URL").unwrap_or_else(|_| {
            static SERVER: OnceLock<RedisServer> = OnceLock::new();
            SERVER.get_or_init(|| reaped(RedisServer::start())).url()
        })
    })
    .clone()
}

/// Two TLS-only servers with one set of certificates.
#[derive(Debug)]
pub struct TlsRedis {
    /// Asks no client certificate; listens on 127.0.0.1 and 127.0.0.2 (its certificate names
    /// only the first: the host-name check).
    pub server: RedisServer,
    /// Requires a client certificate signed by `pki.ca` (mutual TLS).
    pub mtls: RedisServer,
    /// The servers present `server_cert`; the mTLS one trusts clients of `ca`.
    pub pki: TestPki,
}

impl TlsRedis {
    /// `rediss://` to the server without client certificates, on `host` (`127.0.0.1` is in
    /// its certificate, `127.0.0.2` is not).
    pub fn url(&self, host: &str) -> String {
        self.server.url_on(host)
    }

    /// `rediss://` to the server that requires a client certificate.
    pub fn mtls_url(&self) -> String {
        self.mtls.url()
    }
}

/// This process's TLS servers.
pub fn tls_redis() -> &'static TlsRedis {
    static SERVERS: OnceLock<TlsRedis> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let pki = TestPki::generate();
        let server = RedisServer::start_tls(&pki, false);
        let mtls = RedisServer::start_tls(&pki, true);
        reap_after_exit(
            &[server.pid(), mtls.pid()].map(|p| p.expect("running")),
            &[server.dir(), mtls.dir(), pki.dir()],
        );
        TlsRedis { server, mtls, pki }
    })
}

/// This process's plain cluster of three primaries.
pub fn cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| reaped_cluster(RedisCluster::start()))
}

/// This process's cluster that speaks only TLS, to clients and between its nodes, and requires
/// a client certificate signed by its `pki.ca`.
pub fn tls_cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| reaped_cluster(RedisCluster::start_tls(TestPki::generate())))
}

fn reaped(server: RedisServer) -> RedisServer {
    reap_after_exit(&[server.pid().expect("running")], &[server.dir()]);
    server
}

fn reaped_cluster(cluster: RedisCluster) -> RedisCluster {
    let nodes = cluster.nodes();
    let pids: Vec<u32> = nodes.iter().filter_map(RedisServer::pid).collect();
    let mut dirs: Vec<&std::path::Path> = nodes.iter().map(RedisServer::dir).collect();
    dirs.extend(cluster.pki.as_ref().map(TestPki::dir));
    reap_after_exit(&pids, &dirs);
    cluster
}
