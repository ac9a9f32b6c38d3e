//! The connection under [`RedisStore`](super::RedisStore): one Redis endpoint, or a Redis
//! Cluster reached through the redis crate's own cluster client (it routes each command to the
//! primary that owns its slot and follows MOVED/ASK redirects; nothing here routes by hand).
//!
//! `storage.redis_url` names a cluster as
//! `redis+cluster://[[user]:password@]host:port,host:port,...` (`rediss+cluster://` for TLS):
//! a few seed nodes, from which the client learns the whole cluster. Every other URL is one
//! endpoint, as before. A cluster has only database 0.
//!
//! A primary found through Sentinel: `redis+sentinel://[:password@]host:port,host:port/master[/db]`
//! (`rediss+sentinel://` for TLS), see [`super::sentinel`].
//!
//! TLS (`rediss://`, `rediss+cluster://`, `rediss+sentinel://`): every endpoint, and every node a cluster names,
//! trusts the CA of `storage.redis_tls_ca` (else the system's store) and presents the client
//! certificate of `storage.redis_tls_cert`, if set ([`RedisTls`]); certificates and host names
//! are always checked.
//!
//! What a cluster changes, and how each is met:
//! - A multi-key command, script or pipeline must stay in one hash slot. The scripts' keys
//!   share a hash tag (see the key list in [`super`]); writes that span slots go through a
//!   [`Batch`] of single-slot steps.
//! - SCAN sees one node: [`Connection::scan`] runs it on every primary.
//! - The cluster client resends a command whose node failed or moved (it must, to follow
//!   redirects), also one whose reply was lost. Every write is idempotent or a
//!   compare-and-swap script: a resent reveal finds the secret gone and answers "unknown",
//!   which loses the secret (the safe side) but never reveals it twice.

use crate::store::Result;
use std::collections::BTreeSet;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, ScriptInvocation, ServerErrorKind, Value};

use super::sentinel::{SentinelConnection, SentinelUrl};
use super::tls::{self, RedisTls};
use crate::store::StoreError;

/// Cluster retries (redirects, a failed-over or restarting node) within one request; all of
/// them together still end at `storage.redis_timeout_ms`.
const CLUSTER_RETRIES: u32 = 6;

/// Where `storage.redis_url` points. Never printed: the URL may hold a password.
#[derive(PartialEq, Eq)]
enum Endpoint {
    /// One Redis, `redis://` or `rediss://`, as the redis crate reads it.
    Single(String),
    /// Seed node URLs of a cluster, each in the redis crate's form.
    Cluster(Vec<String>),
    /// Sentinels and the name of the primary they watch.
    Sentinel(SentinelUrl),
}

/// What follows `scheme://` in a Redis URL that may list several hosts (cluster seeds,
/// sentinels): the userinfo with its `@` (or `""`), the comma-separated hosts, and the tail
/// (`/db`, `/master/db`, `?query`, `#fragment`; or `""`).
pub fn split_hosts(rest: &str) -> (&str, &str, &str) {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    (userinfo, hosts, tail)
}

/// `url` without its `user:password@`, to name the store in output (cluster and Sentinel
/// URLs included, which the `url` crate does not read).
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[unparsable URL]".into();
    };
    match split_hosts(rest) {
        ("", _, _) => url.to_owned(),
        (_, hosts, tail) => format!("{scheme}://{hosts}{tail}"),
    }
}

impl Endpoint {
    /// Reads `url`. Errors name what is wrong, never the URL itself.
    fn parse(url: &str) -> Result<Self, String> {
        if let Some(sentinel) = SentinelUrl::parse(url)? {
            return Ok(Self::Sentinel(sentinel));
        }
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
            ("redis", rest)
        } else if let Some(rest) = url.strip_prefix("rediss+cluster://") {
            ("rediss", rest)
        } else {
            return Ok(Self::Single(url.to_owned()));
        };
        // `[userinfo@]host:port,host:port[/0][?query][#fragment]`: the userinfo and the tail
        // apply to every seed.
        let (userinfo, hosts, tail) = split_hosts(rest);
        let db = tail.strip_prefix('/').map(|t| {
            t.split(['?', '#'])
                .next()
                .unwrap_or_default()
                .trim_end_matches('/')
        });
        if db.is_some_and(|db| !db.is_empty() && db != "0") {
            return Err("a Redis Cluster has only database 0".into());
        }
        let seeds: Vec<String> = hosts
            .split(',')
            .map(|host| format!("{scheme}://{userinfo}{host}{tail}"))
            .collect();
        if hosts.split(',').any(str::is_empty) {
            return Err("want redis+cluster://host:port,host:port (no empty host)".into());
        }
        Ok(Self::Cluster(seeds))
    }
}

/// A connection to one Redis or to a cluster; cheap to clone (clones share the connection).
#[derive(Clone)]
pub enum Connection {
    /// One endpoint, reconnecting by itself.
    Single(ConnectionManager),
    /// A cluster: one multiplexed connection per node, kept up by the cluster client.
    Cluster(ClusterConnection),
    /// The primary the sentinels name, found again after a failover.
    Sentinel(SentinelConnection),
}

impl Connection {
    /// Connects to what `url` names. `timeout` bounds connecting and every command (with its
    /// retries), so a dead Redis or cluster answers quickly; both kinds reconnect by themselves.
    /// A `rediss://` endpoint trusts and presents what `tls` holds (see [`RedisTls`]).
    pub async fn open(url: &str, timeout: Duration, tls: &RedisTls) -> Result<Self> {
        let invalid =
            |e: &dyn std::fmt::Display| StoreError::Config(format!("storage.redis_url: {e}"));
        tls::refuse_insecure(url).map_err(|e| invalid(&e))?;
        let is_tls = tls::is_tls_url(url);
        let certs = if is_tls {
            // The redis crate builds its rustls config from the process-wide provider; with
            // both of rustls's providers compiled in (test builds) there is none until one is
            // installed. Installing it again is a harmless no-op.
            let _ = rustls::crypto::ring::default_provider().install_default();
            tls.certificates()
        } else {
            None
        };
        match Endpoint::parse(url).map_err(|e| invalid(&e))? {
            Endpoint::Single(url) => {
                let client = match certs {
                    Some(certs) => redis::Client::build_with_tls(url, certs),
                    None => redis::Client::open(url),
                }
                .map_err(|e| invalid(&e))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(2));
                let conn = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| tls.explain(e, is_tls))?;
                Ok(Self::Single(conn))
            }
            Endpoint::Cluster(seeds) => {
                let wait_ms = u64::try_from(timeout.as_millis() / 4).unwrap_or(u64::MAX);
                let mut builder = ClusterClientBuilder::new(seeds)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(wait_ms.clamp(1, 50))
                    .max_retry_wait(wait_ms.max(2));
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder.build().map_err(|e| invalid(&e))?;
                // Connecting is a round to the seeds, then one to every node they name: bound
                // the whole start.
                let connect = client.get_async_connection();
                let conn = tokio::time::timeout(timeout * 2, connect)
                    .await
                    .map_err(|_| {
                        StoreError::Unavailable("redis: no cluster node answered in time".into())
                    })?
                    .map_err(|e| tls.explain(e, is_tls))?;
                Ok(Self::Cluster(conn))
            }
            Endpoint::Sentinel(url) => {
                let conn = SentinelConnection::open(&url, certs, timeout).await?;
                Ok(Self::Sentinel(conn))
            }
        }
    }

    /// Runs `script` and, with `ack`, `WAIT`s for the replicas right after it on the same
    /// connection (WAIT cannot run inside a script; see [`ReplicasAck`]). A script the node
    /// does not know (a new primary after a failover) is loaded and run once more: it had not
    /// run. The script's reply is returned only once enough replicas hold its writes.
    pub async fn script<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
        ack: ReplicasAck,
    ) -> Result<T> {
        let mut conn = self.clone();
        if ack.replicas == 0 {
            return Ok(invocation.invoke_async(&mut conn).await?);
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors().invoke_script(invocation);
        ack.add_wait(&mut pipe);
        let mut loaded = false;
        loop {
            let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
            let [outcome, confirmed]: [Value; 2] = replies
                .try_into()
                .map_err(|_| StoreError::Unavailable("redis: unexpected reply to WAIT".into()))?;
            if let Value::ServerError(e) = &outcome {
                if e.kind() == Some(ServerErrorKind::NoScript) && !loaded {
                    invocation.load_async(&mut conn).await?;
                    loaded = true;
                    continue;
                }
            }
            let outcome = T::from_redis_value(outcome).map_err(redis::RedisError::from)?;
            self.confirmed(ack, confirmed)?;
            return Ok(outcome);
        }
    }

    /// Sends `pipe` (its replies ignored) and, with `ack`, `WAIT`s on the same connection.
    pub async fn write(&self, mut pipe: Pipeline, ack: ReplicasAck) -> Result<()> {
        let mut conn = self.clone();
        if ack.replicas == 0 {
            let () = pipe.query_async(&mut conn).await?;
            return Ok(());
        }
        ack.add_wait(&mut pipe);
        let (confirmed,): (Value,) = pipe.query_async(&mut conn).await?;
        self.confirmed(ack, confirmed)
    }

    /// `ack.check(reply)`; through Sentinel, a primary whose replicas do not confirm is also
    /// dropped, so the next command asks the sentinels again: a failover may have left it
    /// behind, still taking writes that the new primary will never see.
    fn confirmed(&self, ack: ReplicasAck, reply: Value) -> Result<()> {
        let checked = ack.check(reply);
        if let (Err(_), Self::Sentinel(conn)) = (&checked, self) {
            conn.reconsider();
        }
        checked
    }

    /// Whether writes can be acknowledged: through Sentinel, that the node is still the primary;
    /// with `ack`, that enough replicas are connected and caught up (`WAIT` on the one endpoint,
    /// on every primary of a cluster: the fewest counts).
    pub async fn check_writable(&self, ack: ReplicasAck) -> Result<()> {
        if let Self::Sentinel(conn) = self {
            conn.check_primary().await?;
        }
        if ack.replicas == 0 {
            return Ok(());
        }
        let mut wait = redis::cmd("WAIT");
        wait.arg(ack.replicas).arg(ack.wait_ms);
        let confirmed: Value = wait.query_async(&mut self.clone()).await?;
        self.confirmed(ack, confirmed)
    }

    /// Every key matching `pattern`, by SCAN (a large Redis is not blocked) on the one endpoint
    /// or on each primary of a cluster. A key that moves between primaries while the scan runs
    /// (resharding) can be missed or seen twice; seen twice, it is listed once.
    pub async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let mut keys = BTreeSet::new();
        match self {
            Self::Single(_) | Self::Sentinel(_) => {
                scan_node(&mut Node::Single(self.clone()), pattern, &mut keys).await?;
            }
            Self::Cluster(conn) => {
                for (host, port) in primaries(&mut conn.clone()).await? {
                    let routing =
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                    let mut node = Node::Cluster(conn.clone(), routing);
                    scan_node(&mut node, pattern, &mut keys).await?;
                }
            }
        }
        Ok(keys.into_iter().collect())
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
            Self::Sentinel(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
            Self::Sentinel(conn) => conn.get_db(),
        }
    }
}

/// Where one SCAN runs.
enum Node {
    Single(Connection),
    Cluster(ClusterConnection, RoutingInfo),
}

/// SCANs one node to the end, adding what matches `pattern` to `keys`.
async fn scan_node(node: &mut Node, pattern: &str, keys: &mut BTreeSet<String>) -> Result<()> {
    let mut cursor = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(500);
        let (next, batch): (u64, Vec<String>) = match node {
            Node::Single(conn) => scan.query_async(conn).await?,
            Node::Cluster(conn, routing) => {
                let reply = conn.route_command(scan, routing.clone()).await?;
                redis::from_redis_value(reply).map_err(redis::RedisError::from)?
            }
        };
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            return Ok(());
        }
    }
}

/// The cluster's primaries as the client knows them: a PING to each, answered per address.
async fn primaries(conn: &mut ClusterConnection) -> Result<Vec<(String, u16)>> {
    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let reply = conn.route_command(redis::cmd("PING"), routing).await?;
    let Value::Map(answers) = reply else {
        return Err(StoreError::Unavailable(
            "redis: unexpected reply to PING".into(),
        ));
    };
    answers
        .into_iter()
        .map(|(address, answer)| {
            if let Value::ServerError(e) = answer {
                return Err(StoreError::from(redis::RedisError::from(e)));
            }
            let address: String =
                redis::from_redis_value(address).map_err(redis::RedisError::from)?;
            address
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)))
                .ok_or_else(|| StoreError::Unavailable("redis: unexpected node address".into()))
        })
        .collect()
}

/// `storage.redis_replicas_ack`: how many replicas must hold a write before it is acknowledged,
/// and how long a `WAIT` for them may block. Off at 0 replicas.
///
/// `WAIT` counts the writes this client connection sent before it, so it goes out on the
/// connection that carried the write, right behind it in one pipeline. On a multiplexed
/// connection that also covers the writes of other requests sent before it: it may wait for
/// more than its own write, never for less. It holds the connection while it blocks, so it
/// blocks for at most half of `storage.redis_timeout_ms`: the reply (enough replicas or not)
/// comes back before the request's own timeout.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplicasAck {
    /// Replicas that must confirm; 0 = do not wait.
    replicas: u32,
    /// Milliseconds one `WAIT` may block (never 0: that would block forever).
    wait_ms: u64,
}

impl ReplicasAck {
    /// Waits for `replicas` within half of `timeout`.
    pub fn new(replicas: u32, timeout: Duration) -> Self {
        let half = u64::try_from(timeout.as_millis() / 2).unwrap_or(u64::MAX);
        Self {
            replicas,
            wait_ms: half.max(1),
        }
    }

    fn add_wait(&self, pipe: &mut Pipeline) {
        pipe.cmd("WAIT").arg(self.replicas).arg(self.wait_ms);
    }

    /// The reply to `WAIT`: enough replicas, or [`StoreError::NotReplicated`].
    fn check(&self, reply: Value) -> Result<()> {
        let confirmed = i64::from_redis_value(reply).map_err(redis::RedisError::from)?;
        if confirmed < i64::from(self.replicas) {
            return Err(StoreError::NotReplicated {
                wanted: self.replicas,
                confirmed,
            });
        }
        Ok(())
    }
}

/// Writes that belong together but may span hash slots, as ordered steps that each stay in
/// one slot. Replies are not read (every command is `ignore`d).
///
/// On one endpoint the steps go out as one pipeline, executed in order (as before clusters).
/// On a cluster each step is one pipeline to the slot's primary, sent after the previous one
/// succeeded: the order holds across primaries too (a receipt before the outbox names it, a
/// record before the pointer to it), and a step that fails stops the rest. As on one
/// endpoint, the steps together are not atomic: a partial write was never acknowledged, its
/// keys are known to no one, and it expires by its TTLs.
#[derive(Default)]
pub struct Batch {
    steps: Vec<Pipeline>,
}

impl Batch {
    /// Starts the next step; every command added to it must hash to one slot.
    pub fn step(&mut self) -> &mut Pipeline {
        self.steps.push(redis::pipe());
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    /// Sends the steps in order; with `ack`, each pipeline ends with a `WAIT` on the
    /// connection that sent it (on a cluster, the shard that took the step), and a step whose
    /// writes too few replicas confirm stops the rest with [`StoreError::NotReplicated`].
    pub async fn run(self, conn: &Connection, ack: ReplicasAck) -> Result<()> {
        match conn {
            Connection::Single(_) | Connection::Sentinel(_) => {
                let mut all = redis::pipe();
                for cmd in self.steps.iter().flat_map(Pipeline::cmd_iter) {
                    all.add_command(cmd.clone()).ignore();
                }
                conn.write(all, ack).await?;
            }
            Connection::Cluster(_) => {
                for step in self
                    .steps
                    .into_iter()
                    .filter(|s| s.cmd_iter().next().is_some())
                {
                    conn.write(step, ack).await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
