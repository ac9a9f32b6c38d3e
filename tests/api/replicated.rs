//! Replicated Redis for the failover tests: a primary with two replicas watched by three
//! sentinels, and a Redis Cluster of three primaries with a replica each. Real `redis-server`
//! processes (sentinels are `redis-server --sentinel`) on free loopback ports, in a temp dir,
//! killed when dropped. No persistence: a killed node comes back empty, as a replica.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The master name the sentinels watch.
pub const MASTER: &str = "mymaster";

/// `n` distinct free loopback ports.
fn free_ports(n: usize) -> Vec<u16> {
    // Held together until all are picked, so they differ.
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

fn wait_for_port(port: u16) {
    let up = (0..200).any(|_| {
        let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if !up {
            std::thread::sleep(Duration::from_millis(25));
        }
        up
    });
    assert!(up, "redis-server did not start on {port}");
}

/// `redis-cli -p PORT ARGS...`, its output.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli (scripts/test installs redis-tools)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replicas that `port` (a primary) has online.
pub fn online_replicas(port: u16) -> usize {
    cli(port, &["info", "replication"])
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

/// A primary, two replicas and three sentinels.
pub struct SentinelGroup {
    /// Client ports of the Redis nodes (the first starts as the primary).
    pub nodes: Vec<u16>,
    /// Client ports of the sentinels.
    pub sentinels: Vec<u16>,
    dir: TempDir,
    /// The node processes, by index in `nodes`; `None` while killed.
    node_children: Vec<Option<Child>>,
    sentinel_children: Vec<Child>,
}

impl SentinelGroup {
    /// Starts the nodes, waits until both replicas are in sync, then starts the sentinels
    /// (a failover after 1 s without answer) and waits until they see both replicas.
    pub fn start() -> Self {
        let ports = free_ports(6);
        let mut group = Self {
            nodes: ports[..3].to_vec(),
            sentinels: ports[3..].to_vec(),
            dir: tempfile::tempdir().expect("tempdir"),
            node_children: vec![None, None, None],
            sentinel_children: Vec::new(),
        };
        let primary = group.nodes[0];
        group.start_node(0, None);
        group.start_node(1, Some(primary));
        group.start_node(2, Some(primary));
        wait_until(Duration::from_secs(20), "two replicas", || {
            online_replicas(primary) == 2
        });
        for port in group.sentinels.clone() {
            let conf = group.dir.path().join(format!("sentinel-{port}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 2000\n\
                 sentinel parallel-syncs {MASTER} 2\n",
                dir = group.dir.path().display()
            );
            std::fs::write(&conf, text).expect("sentinel conf");
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server --sentinel");
            group.sentinel_children.push(child);
            wait_for_port(port);
        }
        for port in group.sentinels.clone() {
            wait_until(
                Duration::from_secs(20),
                "sentinels to see the replicas",
                || {
                    let out = cli(port, &["sentinel", "replicas", MASTER]);
                    out.matches("slave").count() >= 2
                },
            );
        }
        group
    }

    fn start_node(&mut self, index: usize, replica_of: Option<u16>) {
        let port = self.nodes[index];
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--dbfilename", &format!("dump-{port}.rdb")])
            .args(["--repl-diskless-sync", "yes"])
            .args(["--repl-diskless-sync-delay", "0"]);
        if let Some(primary) = replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)");
        self.node_children[index] = Some(child);
        wait_for_port(port);
    }

    /// `redis+sentinel://` over the three sentinels.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// The primary the sentinels name now (they may disagree for a moment: the first that
    /// answers).
    pub fn primary(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let out = cli(*s, &["sentinel", "get-master-addr-by-name", MASTER]);
            out.lines().nth(1).and_then(|p| p.trim().parse().ok())
        })
    }

    /// SIGKILLs the node on `port`.
    pub fn kill(&mut self, port: u16) {
        let index = self.index(port);
        if let Some(mut child) = self.node_children[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node on `port` again (empty) as a replica of `primary`.
    pub fn restart_as_replica(&mut self, port: u16, primary: u16) {
        self.start_node(self.index(port), Some(primary));
    }

    /// Waits until every sentinel names a primary other than `old` that says it is one, and
    /// returns it.
    pub fn await_promotion(&self, old: u16) -> u16 {
        let mut found = None;
        wait_until(Duration::from_secs(30), "a promoted replica", || {
            let named: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .map(|s| {
                    let out = cli(*s, &["sentinel", "get-master-addr-by-name", MASTER]);
                    out.lines().nth(1).and_then(|p| p.trim().parse().ok())
                })
                .collect();
            let agreed = named[0].filter(|p| *p != old && named.iter().all(|n| *n == Some(*p)));
            found = agreed.filter(|p| cli(*p, &["role"]).starts_with("master"));
            found.is_some()
        });
        found.expect("promoted")
    }

    fn index(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|p| *p == port)
            .expect("a node port")
    }
}

impl Drop for SentinelGroup {
    fn drop(&mut self) {
        for child in self
            .node_children
            .iter_mut()
            .flatten()
            .chain(self.sentinel_children.iter_mut())
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A Redis Cluster of three primaries with one replica each; a replica takes over 1 s after
/// its primary stops answering.
pub struct ReplicatedCluster {
    /// Client ports of the six nodes.
    pub nodes: Vec<u16>,
    /// Cluster bus ports, by index in `nodes`.
    bus: Vec<u16>,
    dir: TempDir,
    children: Vec<Option<Child>>,
}

impl ReplicatedCluster {
    pub fn start() -> Self {
        let mut ports = free_ports(12);
        let bus = ports.split_off(6);
        let mut cluster = Self {
            nodes: ports,
            bus,
            dir: tempfile::tempdir().expect("tempdir"),
            children: (0..6).map(|_| None).collect(),
        };
        for index in 0..6 {
            cluster.start_node(index);
        }
        let nodes: Vec<String> = cluster
            .nodes
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli (scripts/test installs redis-tools)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.await_healthy();
        cluster
    }

    fn start_node(&mut self, index: usize) {
        let port = self.nodes[index];
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-port", &self.bus[index].to_string()])
            .args(["--cluster-node-timeout", "1000"])
            .arg("--cluster-config-file")
            .arg(self.dir.path().join(format!("nodes-{port}.conf")))
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--dbfilename", &format!("dump-{port}.rdb")])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--repl-diskless-sync", "yes"])
            .args(["--repl-diskless-sync-delay", "0"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)");
        self.children[index] = Some(child);
        wait_for_port(port);
    }

    /// `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// The running nodes that say they are primaries.
    pub fn primaries(&self) -> Vec<u16> {
        self.running()
            .filter(|p| cli(*p, &["role"]).starts_with("master"))
            .collect()
    }

    fn running(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .zip(&self.children)
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| *p)
    }

    /// Waits until the cluster is ok everywhere, with three primaries that each have an online
    /// replica.
    pub fn await_healthy(&self) {
        wait_until(Duration::from_secs(40), "a healthy cluster", || {
            let ok = self
                .running()
                .all(|p| cli(p, &["cluster", "info"]).contains("cluster_state:ok"));
            let primaries = self.primaries();
            ok && primaries.len() == 3 && primaries.iter().all(|p| online_replicas(*p) == 1)
        });
    }

    /// SIGKILLs the node on `port`.
    pub fn kill(&mut self, port: u16) {
        let index = self.index(port);
        if let Some(mut child) = self.children[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node on `port` again from its nodes file: empty, it rejoins as the replica
    /// of the node that took over.
    pub fn restart(&mut self, port: u16) {
        self.start_node(self.index(port));
    }

    fn index(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|p| *p == port)
            .expect("a node port")
    }
}

impl Drop for ReplicatedCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
