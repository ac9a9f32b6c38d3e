//! Real Redis Clusters from [`RedisServer`] nodes and `redis-cli --cluster create`: three
//! primaries, plain, with a password or TLS only (clients and bus, client certificates
//! required); or three primaries with a replica each for the failover tests.

use std::process::Command;
use std::time::Duration;

use crate::pki::TestPki;
use crate::process::stdout_of_success;
use crate::redis::{online_replicas, redis_cli, wait_until, ClusterNode, Node, RedisServer, Tls};
use crate::{free_ports, loopback_hosts};

/// A running Redis Cluster, its nodes killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    /// Client ports of every node (TLS ports for a TLS cluster); the primaries first.
    pub ports: Vec<u16>,
    nodes: Vec<RedisServer>,
    /// `requirepass` of every node, if any.
    password: Option<String>,
    /// For a TLS cluster: its certificates (nodes and clients are signed by `ca`).
    pub pki: Option<TestPki>,
}

impl RedisCluster {
    /// Three primaries.
    pub fn start() -> Self {
        Self::launch(3, 0, Node::default(), None)
    }

    /// Three primaries that require `password`.
    pub fn start_with_password(password: &str) -> Self {
        let node = Node {
            password: Some(password.to_owned()),
            ..Node::default()
        };
        Self::launch(3, 0, node, None)
    }

    /// Three primaries that speak only TLS, to clients and between each other, and require a
    /// client certificate signed by `pki.ca` (`tls-auth-clients yes`).
    pub fn start_tls(pki: TestPki) -> Self {
        let node = Node {
            tls: Some(Tls::of(&pki, true)),
            ..Node::default()
        };
        Self::launch(3, 0, node, Some(pki))
    }

    /// `primaries` primaries with `replicas` replicas each, every node started as `node`
    /// says on free ports, formed into a cluster that is ok on every node.
    fn launch(primaries: usize, replicas: usize, node: Node, pki: Option<TestPki>) -> Self {
        let count = primaries * (1 + replicas);
        let mut ports = free_ports(2 * count);
        let bus = ports.split_off(count);
        let node_timeout_ms = (replicas > 0).then_some(1000);
        let nodes = ports
            .iter()
            .zip(bus)
            .map(|(port, bus)| {
                let cluster = ClusterNode {
                    bus,
                    node_timeout_ms,
                };
                let node = Node {
                    cluster: Some(cluster),
                    ..node.clone()
                };
                RedisServer::launch(*port, node)
            })
            .collect();
        let cluster = Self {
            ports,
            nodes,
            password: node.password,
            pki,
        };
        let created = cluster
            .cli()
            .args(["--cluster", "create"])
            .args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli (scripts/test installs redis-tools)");
        stdout_of_success(&created, "redis-cli --cluster create");
        cluster.wait_until_ok();
        cluster
    }

    /// `redis+cluster://` (`rediss+cluster://` over TLS) with every node as a seed, and the
    /// password, if any.
    pub fn url(&self) -> String {
        let scheme = if self.pki.is_some() {
            "rediss"
        } else {
            "redis"
        };
        let auth = self
            .password
            .as_ref()
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        format!("{scheme}+cluster://{auth}{}", loopback_hosts(&self.ports))
    }

    /// `redis-cli`, with the password or the client certificate the nodes want.
    fn cli(&self) -> Command {
        let mut command = Command::new("redis-cli");
        if let Some(password) = &self.password {
            command.args(["--no-auth-warning", "-a", password]);
        }
        if let Some(pki) = &self.pki {
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

    /// Waits until every running node says `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            let port = node.port.to_string();
            wait_until(Duration::from_secs(30), "cluster_state:ok", || {
                let info = self
                    .cli()
                    .args(["-p", &port, "cluster", "info"])
                    .output()
                    .expect("redis-cli");
                String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok")
            });
        }
    }

    /// How many keys matching `pattern` the node on `port` holds itself.
    pub fn keys_on(&self, port: u16, pattern: &str) -> usize {
        let out = self
            .cli()
            .args(["-p", &port.to_string(), "--scan", "--pattern", pattern])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// Whether every node (every primary, in a cluster without replicas) holds at least one
    /// key matching `pattern`.
    pub fn on_every_primary(&self, pattern: &str) -> bool {
        self.ports.iter().all(|p| self.keys_on(*p, pattern) > 0)
    }

    /// Kills every node (SIGKILL): a cluster that vanishes.
    pub fn kill(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::kill);
    }

    /// Starts every node again, from its nodes file, and waits until each accepts connections.
    pub fn restart(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::restart);
    }

    /// Its nodes (to reap them when the cluster is kept for a whole test process).
    pub(crate) fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    fn node(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node port")
    }
}

/// A Redis Cluster of three primaries with one replica each; a replica takes over 1 s after
/// its primary stops answering. No persistence: a killed node comes back empty, as a replica.
#[derive(Debug)]
pub struct ReplicatedCluster(RedisCluster);

impl ReplicatedCluster {
    pub fn start() -> Self {
        let cluster = Self(RedisCluster::launch(3, 1, Node::default(), None));
        cluster.await_healthy();
        cluster
    }

    /// `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        self.0.url()
    }

    /// The running nodes that say they are primaries.
    pub fn primaries(&self) -> Vec<u16> {
        self.running()
            .filter(|p| redis_cli(*p, &["role"]).starts_with("master"))
            .collect()
    }

    fn running(&self) -> impl Iterator<Item = u16> + '_ {
        self.0
            .nodes
            .iter()
            .filter(|n| n.is_running())
            .map(|n| n.port)
    }

    /// Waits until the cluster is ok everywhere, with three primaries that each have an online
    /// replica.
    pub fn await_healthy(&self) {
        wait_until(Duration::from_secs(40), "a healthy cluster", || {
            let ok = self
                .running()
                .all(|p| redis_cli(p, &["cluster", "info"]).contains("cluster_state:ok"));
            let primaries = self.primaries();
            ok && primaries.len() == 3 && primaries.iter().all(|p| online_replicas(*p) == 1)
        });
    }

    /// SIGKILLs the node on `port`.
    pub fn kill(&mut self, port: u16) {
        self.0.node(port).kill();
    }

    /// Starts the node on `port` again from its nodes file: empty, it rejoins as the replica
    /// of the node that took over.
    pub fn restart(&mut self, port: u16) {
        self.0.node(port).restart();
    }
}
