//! Test support for onetime, written once for the unit tests in `src/` and the integration
//! tests in `tests/` (which is why it is a crate: a unit test cannot reach a module under
//! `tests/`). Everything it starts listens on loopback on free ports, writes only into temp
//! directories and is killed when its value is dropped (or, for the per-process servers in
//! [`shared`], when the test process is gone).
//!
//! # Layout
//! - [`pki`]: throwaway certificates (a CA, server, client and stranger certificates).
//! - [`redis`]: one `redis-server`, plain, TLS or a replica, and the `redis-cli` helpers.
//! - [`cluster`]: Redis Clusters from those servers (plain, with a password, TLS, replicated).
//! - [`sentinel`]: a primary with two replicas watched by three sentinels.
//! - [`shared`]: one server or cluster of each kind per test process, for the store's tests.
//! - [`process`]: the `onetime` binary, serving or running one command.

pub mod cluster;
pub mod pki;
pub mod process;
pub mod redis;
pub mod sentinel;
pub mod shared;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use cluster::{RedisCluster, ReplicatedCluster};
pub use pki::TestPki;
pub use process::{Binary, Process};
pub use redis::{online_replicas, redis_cli, wait_until, RedisServer};
pub use sentinel::SentinelGroup;

/// The environment variable that sets a setting: `storage.sweep_interval` is
/// `ONETIME__STORAGE__SWEEP_INTERVAL`, as `onetime.toml` names it; a name already in that
/// form is kept.
pub fn setting_var(key: &str) -> String {
    if key.starts_with("ONETIME") {
        key.to_owned()
    } else {
        format!("ONETIME__{}", key.replace('.', "__").to_uppercase())
    }
}

/// `(setting, value)` pairs (see [`setting_var`]) as environment variables, for `Command::envs`.
pub fn setting_vars<'a>(
    pairs: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = (String, &'a str)> + 'a {
    pairs.iter().map(|(k, v)| (setting_var(k), *v))
}

/// `len` bytes of `pattern` over and over: a canary file to look for in stores, logs and
/// traffic.
pub fn canary_bytes(pattern: &[u8], len: usize) -> Vec<u8> {
    pattern.iter().copied().cycle().take(len).collect()
}

/// A free loopback port (free when asked; a caller that binds later may lose it to another).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct free loopback ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    // Held together until all are picked, so they differ.
    let listeners: Vec<_> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("a bound address").port())
        .collect()
}

/// `127.0.0.1:PORT,127.0.0.1:PORT,...`: the host list of a cluster or sentinel URL.
pub(crate) fn loopback_hosts(ports: &[u16]) -> String {
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    hosts.join(",")
}

/// Waits until something accepts connections on loopback `port`; fails the test after 30 s
/// (generous: two cores run every test at once).
pub fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Kills `pids` and removes `dirs` once this test process has exited: for what is kept in a
/// static, which is never dropped.
fn reap_after_exit(pids: &[u32], dirs: &[&Path]) {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    let dirs: Vec<String> = dirs.iter().map(|d| format!("'{}'", d.display())).collect();
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill {pids}; sleep 1; rm -rf {dirs}",
        parent = std::process::id(),
        pids = pids.join(" "),
        dirs = dirs.join(" ")
    );
    let mut watcher = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("sh");
    std::thread::spawn(move || watcher.wait());
}
