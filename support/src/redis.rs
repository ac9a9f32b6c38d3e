//! One `redis-server` (Debian's, which `scripts/test` installs) on a free loopback port: plain,
//! TLS only, a replica, or a node of a cluster; and the `redis-cli` helpers the tests poll with.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::pki::TestPki;
use crate::{free_port, wait_for_port};

/// How a server is started; kept, so a restart starts the same server again.
#[derive(Clone, Debug, Default)]
pub(crate) struct Node {
    /// TLS only, with these files.
    pub tls: Option<Tls>,
    /// `requirepass`.
    pub password: Option<String>,
    /// `replicaof 127.0.0.1 <port>`.
    pub replica_of: Option<u16>,
    /// A cluster node with this bus port.
    pub cluster: Option<ClusterNode>,
}

/// The certificates a TLS server presents and trusts.
#[derive(Clone, Debug)]
pub(crate) struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    /// `tls-auth-clients yes`: a client certificate signed by `ca` is required.
    pub require_client_cert: bool,
}

impl Tls {
    pub fn of(pki: &TestPki, require_client_cert: bool) -> Self {
        Self {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            ca: pki.ca.clone(),
            require_client_cert,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ClusterNode {
    /// Given explicitly: the default, port + 10000, may be taken or out of range.
    pub bus: u16,
    /// `cluster-node-timeout` in ms, when not Redis's default.
    pub node_timeout_ms: Option<u32>,
}

/// A real redis-server, killed when dropped. Nothing is persisted (`save ''`, no AOF), and
/// whatever it writes (a replica's sync file, a cluster's nodes file) goes to its own temp
/// directory, never into the working directory.
#[derive(Debug)]
pub struct RedisServer {
    /// Its client port (the TLS port of a TLS server).
    pub port: u16,
    node: Node,
    /// Kept across restarts: a cluster node rejoins from its nodes file here.
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// A plain server.
    pub fn start() -> Self {
        Self::launch(free_port(), Node::default())
    }

    /// A server that speaks only TLS on its port, with `pki`'s server certificate, listening on
    /// 127.0.0.1 (in the certificate) and 127.0.0.2 (not in it). With `require_client_cert`, it
    /// wants a client certificate signed by `pki.ca` (`tls-auth-clients yes`).
    pub fn start_tls(pki: &TestPki, require_client_cert: bool) -> Self {
        let node = Node {
            tls: Some(Tls::of(pki, require_client_cert)),
            ..Node::default()
        };
        Self::launch(free_port(), node)
    }

    /// A replica of the server on `primary`, which it syncs from without a disk.
    pub fn start_replica_of(primary: u16) -> Self {
        let node = Node {
            replica_of: Some(primary),
            ..Node::default()
        };
        Self::launch(free_port(), node)
    }

    /// Starts a server as `node` says on `port` and waits until it accepts connections.
    pub(crate) fn launch(port: u16, node: Node) -> Self {
        let mut server = Self {
            port,
            node,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        self.url_on("127.0.0.1")
    }

    /// The URL by another host name or address than 127.0.0.1.
    pub fn url_on(&self, host: &str) -> String {
        let scheme = if self.node.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://{host}:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it accepts connections; a server that
    /// still runs is killed first.
    pub fn restart(&mut self) {
        self.kill();
        let child = self
            .command()
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)");
        self.child = Some(child);
        wait_for_port(self.port, "redis-server");
    }

    /// Starts again (empty, unless it kept a sync file) as a replica of `primary`.
    pub fn restart_as_replica_of(&mut self, primary: u16) {
        self.node.replica_of = Some(primary);
        self.restart();
    }

    /// Kills it (SIGKILL): a Redis that vanishes.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it runs (it has not been killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self) -> Command {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        match &self.node.tls {
            None => command.args(["--port", &port, "--bind", "127.0.0.1"]),
            Some(tls) => command
                .args(["--port", "0", "--tls-port", &port])
                .args(["--bind", "127.0.0.1 127.0.0.2"])
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .arg("--tls-auth-clients")
                .arg(if tls.require_client_cert { "yes" } else { "no" }),
        };
        command
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            // A primary streams its data to a replica straight away, without a file.
            .args([
                "--repl-diskless-sync",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
            ]);
        if let Some(password) = &self.node.password {
            command.args(["--requirepass", password]);
        }
        if let Some(primary) = self.node.replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        if let Some(cluster) = self.node.cluster {
            command
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &cluster.bus.to_string()])
                .arg("--cluster-config-file")
                .arg(self.dir.path().join("nodes.conf"));
            if let Some(ms) = cluster.node_timeout_ms {
                command.args(["--cluster-node-timeout", &ms.to_string()]);
            }
            if self.node.tls.is_some() {
                // The bus speaks TLS too; the nodes present their server certificate to each
                // other as clients.
                command.args(["--tls-cluster", "yes"]);
            }
        }
        command
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `redis-cli -p PORT ARGS...` on a plain server without a password, its output.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli (scripts/test installs redis-tools)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replicas that `port` (a primary) has online.
pub fn online_replicas(port: u16) -> usize {
    redis_cli(port, &["info", "replication"])
        .lines()
        .filter(|l| l.starts_with("slave") && l.contains("state=online"))
        .count()
}

/// Polls `check` every 100 ms until it holds, at most `limit`.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
