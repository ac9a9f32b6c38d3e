//! A primary with two replicas watched by three sentinels (`redis-server --sentinel`), for the
//! failover tests. No persistence: a killed node comes back empty, as a replica.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::redis::{online_replicas, redis_cli, wait_until, RedisServer};
use crate::{free_ports, loopback_hosts, wait_for_port};

/// The master name the sentinels watch.
pub const MASTER: &str = "mymaster";

/// A primary, two replicas and three sentinels, all killed when dropped.
#[derive(Debug)]
pub struct SentinelGroup {
    /// Client ports of the Redis nodes (the first starts as the primary).
    pub nodes: Vec<u16>,
    /// Client ports of the sentinels.
    pub sentinels: Vec<u16>,
    servers: Vec<RedisServer>,
    sentinel_children: Vec<Child>,
    /// The sentinels' configuration files, which they rewrite.
    dir: TempDir,
}

impl SentinelGroup {
    /// Starts the nodes, waits until both replicas are in sync, then starts the sentinels
    /// (a failover after 1 s without answer) and waits until they see both replicas.
    pub fn start() -> Self {
        let primary = RedisServer::start();
        let port = primary.port;
        let servers = vec![
            primary,
            RedisServer::start_replica_of(port),
            RedisServer::start_replica_of(port),
        ];
        wait_until(Duration::from_secs(20), "two replicas", || {
            online_replicas(port) == 2
        });
        let mut group = Self {
            nodes: servers.iter().map(|s| s.port).collect(),
            sentinels: free_ports(3),
            servers,
            sentinel_children: Vec::new(),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for sentinel in group.sentinels.clone() {
            group.start_sentinel(sentinel, port);
        }
        for sentinel in &group.sentinels {
            wait_until(
                Duration::from_secs(20),
                "sentinels to see the replicas",
                || {
                    let out = redis_cli(*sentinel, &["sentinel", "replicas", MASTER]);
                    out.matches("slave").count() >= 2
                },
            );
        }
        group
    }

    fn start_sentinel(&mut self, port: u16, primary: u16) {
        let conf = self.dir.path().join(format!("sentinel-{port}.conf"));
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\n\
             sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
             sentinel down-after-milliseconds {MASTER} 1000\n\
             sentinel failover-timeout {MASTER} 2000\n\
             sentinel parallel-syncs {MASTER} 2\n",
            dir = self.dir.path().display()
        );
        std::fs::write(&conf, text).expect("sentinel conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel");
        self.sentinel_children.push(child);
        wait_for_port(port, "redis-server --sentinel");
    }

    /// `redis+sentinel://` over the three sentinels.
    pub fn url(&self) -> String {
        format!(
            "redis+sentinel://{}/{MASTER}",
            loopback_hosts(&self.sentinels)
        )
    }

    /// The primary the sentinel on `sentinel` names now.
    fn named_by(sentinel: u16) -> Option<u16> {
        let out = redis_cli(sentinel, &["sentinel", "get-master-addr-by-name", MASTER]);
        out.lines().nth(1).and_then(|p| p.trim().parse().ok())
    }

    /// The primary the sentinels name now (they may disagree for a moment: the first that
    /// answers).
    pub fn primary(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| Self::named_by(*s))
    }

    /// SIGKILLs the node on `port`.
    pub fn kill(&mut self, port: u16) {
        self.server(port).kill();
    }

    /// Starts the node on `port` again (empty) as a replica of `primary`.
    pub fn restart_as_replica(&mut self, port: u16, primary: u16) {
        self.server(port).restart_as_replica_of(primary);
    }

    /// Waits until every sentinel names a primary other than `old` that says it is one, and
    /// returns it.
    pub fn await_promotion(&self, old: u16) -> u16 {
        let mut found = None;
        wait_until(Duration::from_secs(30), "a promoted replica", || {
            let named: Vec<Option<u16>> =
                self.sentinels.iter().map(|s| Self::named_by(*s)).collect();
            let agreed = named[0].filter(|p| *p != old && named.iter().all(|n| *n == Some(*p)));
            found = agreed.filter(|p| redis_cli(*p, &["role"]).starts_with("master"));
            found.is_some()
        });
        found.expect("promoted")
    }

    fn server(&mut self, port: u16) -> &mut RedisServer {
        self.servers
            .iter_mut()
            .find(|s| s.port == port)
            .expect("a node port")
    }
}

impl Drop for SentinelGroup {
    fn drop(&mut self) {
        for child in &mut self.sentinel_children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
