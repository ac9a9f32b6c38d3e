//! A Redis primary found through Sentinel, followed across failovers.
//!
//! `storage.redis_url = "redis+sentinel://[[user]:password@]host:port,host:port/master[/db]"`
//! (`rediss+sentinel://` for TLS to the sentinels and the Redis nodes alike, with
//! `storage.redis_tls_*`). The user and password are the Redis nodes'; the sentinels are asked
//! without them.
//!
//! The redis crate's [`SentinelClient`] asks the sentinels for the primary of `master` and
//! checks, on the node itself, that it says `ROLE master` before handing it out. This module
//! keeps one multiplexed connection to that primary and drops it when it fails (dropped, timed
//! out) or answers `READONLY` (it was demoted to a replica): the next command asks the
//! sentinels again. So a node follows a failover within one failed command, and never writes to
//! a replica (a replica refuses writes, and its refusal sends the node back to the sentinels).
//! A command that failed is never resent: a lost reply to a reveal means the secret is gone,
//! the safe side.

use crate::store::Result;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, RedisError,
    RedisFuture, ServerErrorKind, TlsCertificates, TlsMode, Value,
};

use crate::store::StoreError;

/// What a `redis+sentinel://` URL names. Never printed: it may hold a password.
#[derive(Debug, PartialEq, Eq)]
pub struct SentinelUrl {
    /// The sentinels, `(host, port)`.
    pub sentinels: Vec<(String, u16)>,
    /// The name the sentinels monitor the primary under.
    pub master: String,
    /// The Redis nodes' user, if any.
    pub username: Option<String>,
    /// The Redis nodes' password, if any.
    pub password: Option<String>,
    /// Database number on the primary.
    pub db: i64,
    /// `rediss+sentinel://`: TLS to the sentinels and to the Redis nodes.
    pub tls: bool,
}

impl SentinelUrl {
    /// Reads `url`: `None` if it is not a Sentinel URL. Errors say what is wrong, never echo
    /// the URL.
    pub fn parse(url: &str) -> Result<Option<Self>, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("rediss+sentinel://") {
            (true, rest)
        } else {
            return Ok(None);
        };
        let form = "want redis+sentinel://[:password@]host:port,host:port/master[/db]";
        let (userinfo, hosts, tail) = super::connection::split_hosts(rest);
        let path = tail.strip_prefix('/').ok_or(form)?;
        let mut sentinels = Vec::new();
        let mut credentials = None;
        for host in hosts.split(',') {
            if host.is_empty() {
                return Err(format!("{form} (no empty host)"));
            }
            if !host.contains(':') || host.ends_with(':') {
                return Err("each sentinel needs its port (host:26379)".into());
            }
            // The redis crate reads each `userinfo@host:port` as it reads a redis:// URL, so
            // escapes in the password mean what they mean there.
            let info = format!("redis://{userinfo}{host}")
                .into_connection_info()
                .map_err(|_| "a sentinel address or the password does not parse".to_owned())?;
            let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
                return Err("a sentinel address does not parse".into());
            };
            sentinels.push((host, port));
            let redis = info.redis_settings();
            credentials = Some((
                redis.username().map(str::to_owned),
                redis.password().map(str::to_owned),
            ));
        }
        let (username, password) = credentials.unwrap_or_default();
        let mut parts = path.trim_end_matches('/').split('/');
        let master = parts.next().unwrap_or_default();
        let valid_name = !master.is_empty()
            && master
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_name {
            return Err(format!(
                "{form}: the master name is missing or has odd characters"
            ));
        }
        let db = match parts.next() {
            None => 0,
            Some(db) => db
                .parse::<i64>()
                .ok()
                .filter(|db| *db >= 0)
                .ok_or("the database after the master name must be a number")?,
        };
        if parts.next().is_some() || path.contains(['?', '#']) {
            return Err(format!("{form}: nothing may follow the database"));
        }
        Ok(Some(Self {
            sentinels,
            master: master.to_owned(),
            username,
            password,
            db,
            tls,
        }))
    }

    /// The redis crate's client for the primary of this URL; with TLS, trusting and
    /// presenting `certs`.
    fn client(&self, certs: Option<TlsCertificates>) -> Result<SentinelClient, RedisError> {
        let addrs = self.sentinels.iter().map(|(host, port)| {
            if self.tls {
                ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(host.clone(), *port)
            }
        });
        let mut builder =
            SentinelClientBuilder::new(addrs, &self.master, SentinelServerType::Master)?
                .set_client_to_redis_db(self.db);
        if let Some(user) = &self.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &self.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if self.tls {
            builder = builder
                .set_client_to_redis_tls_mode(TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(TlsMode::Secure);
            if let Some(certs) = certs {
                builder = builder
                    .set_client_to_sentinel_certificates(certs.clone())
                    .set_client_to_redis_certificates(certs);
            }
        }
        builder.build()
    }
}

/// The primary a set of sentinels names, reconnecting through them after a failure; cheap to
/// clone (clones share the connection).
#[derive(Clone)]
pub struct SentinelConnection(Arc<Shared>);

struct Shared {
    /// Asks the sentinels; one lookup at a time, since a failover makes every request want one.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// The primary's connection while it works, with the generation it was found in (so a
    /// failure on an old one does not drop a newer one).
    primary: Mutex<Option<(u64, MultiplexedConnection)>>,
    /// Counts lookups.
    generation: AtomicU64,
    /// Connection and response timeouts (`storage.redis_timeout_ms`).
    config: AsyncConnectionConfig,
    /// Bounds one lookup through the sentinels.
    timeout: Duration,
    db: i64,
}

impl SentinelConnection {
    /// Connects to the primary `url` names; fails if none answers within `timeout`.
    pub async fn open(
        url: &SentinelUrl,
        certs: Option<TlsCertificates>,
        timeout: Duration,
    ) -> Result<Self> {
        let client = url
            .client(certs)
            .map_err(|e| StoreError::Config(format!("storage.redis_url: {e}")))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let connection = Self(Arc::new(Shared {
            sentinels: tokio::sync::Mutex::new(client),
            primary: Mutex::new(None),
            generation: AtomicU64::new(0),
            config,
            timeout,
            db: url.db,
        }));
        connection.primary().await?;
        Ok(connection)
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        self.0.primary.lock().ok().and_then(|p| p.clone())
    }

    /// The primary's connection: the one that works, or a new one the sentinels point to.
    async fn primary(&self) -> Result<(u64, MultiplexedConnection), RedisError> {
        if let Some(found) = self.current() {
            return Ok(found);
        }
        let mut sentinels = self.0.sentinels.lock().await;
        // Another request may have looked it up while this one waited.
        if let Some(found) = self.current() {
            return Ok(found);
        }
        let lookup = async {
            let client = sentinels.async_get_client().await?;
            client
                .get_multiplexed_async_connection_with_config(&self.0.config)
                .await
        };
        let conn = tokio::time::timeout(self.0.timeout, lookup)
            .await
            .map_err(|_| {
                RedisError::from((
                    redis::ErrorKind::Io,
                    "no primary reachable through the sentinels in time",
                ))
            })??;
        let generation = self.0.generation.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut primary) = self.0.primary.lock() {
            *primary = Some((generation, conn.clone()));
        }
        Ok((generation, conn))
    }

    /// Drops the connection of `generation` if it is still the current one: the next command
    /// asks the sentinels.
    fn forget(&self, generation: u64) {
        if let Ok(mut primary) = self.0.primary.lock() {
            if primary.as_ref().is_some_and(|(g, _)| *g == generation) {
                tracing::warn!("redis: lost the primary; asking the sentinels again");
                *primary = None;
            }
        }
    }

    /// Drops the current connection, whichever it is: its primary could not get its replicas
    /// to confirm a write. The next command asks the sentinels.
    pub fn reconsider(&self) {
        if let Some((generation, _)) = self.current() {
            self.forget(generation);
        }
    }

    /// Whether the node this connection reaches still says `ROLE master`; if not (it was
    /// demoted while the connection stayed up), forgets it so the next command asks the
    /// sentinels. For health checks: a load balancer's probe then also heals the connection.
    pub async fn check_primary(&self) -> Result<(), RedisError> {
        let (generation, mut conn) = self.primary().await?;
        let role: Vec<Value> = redis::cmd("ROLE")
            .query_async(&mut conn)
            .await
            .inspect_err(|e| {
                if lost_primary(e) {
                    self.forget(generation);
                }
            })?;
        let master = matches!(role.first(), Some(Value::BulkString(r)) if r == b"master");
        if !master {
            self.forget(generation);
            return Err(RedisError::from((
                redis::ErrorKind::Io,
                "the node the sentinels named is no longer the primary",
            )));
        }
        Ok(())
    }

    /// Runs `send` on the primary's connection, and forgets it if the reply says it is no
    /// longer the primary's.
    async fn on_primary<T>(
        &self,
        send: impl AsyncFnOnce(&mut MultiplexedConnection) -> Result<T, RedisError>,
        refused: impl Fn(&T) -> bool,
    ) -> Result<T, RedisError> {
        let (generation, mut conn) = self.primary().await?;
        let reply = send(&mut conn).await;
        let lost = match &reply {
            Ok(reply) => refused(reply),
            Err(e) => lost_primary(e),
        };
        if lost {
            self.forget(generation);
        }
        reply
    }
}

/// Whether `e` means the connection no longer reaches a primary.
fn lost_primary(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || e.is_timeout()
        || e.kind() == ServerErrorKind::ReadOnly.into()
}

/// Whether a reply holds a `READONLY` refusal: the node was demoted.
fn read_only(value: &Value) -> bool {
    match value {
        Value::ServerError(e) => e.kind() == Some(ServerErrorKind::ReadOnly),
        Value::Array(values) => values.iter().any(read_only),
        _ => false,
    }
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            self.on_primary(async |c| c.req_packed_command(cmd).await, read_only)
                .await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.on_primary(
                async |c| c.req_packed_commands(pipeline, offset, count).await,
                |values| values.iter().any(read_only),
            )
            .await
        })
    }

    fn get_db(&self) -> i64 {
        self.0.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> SentinelUrl {
        match SentinelUrl::parse(url) {
            Ok(Some(url)) => url,
            Ok(None) => panic!("not read as a sentinel URL"),
            Err(e) => panic!("refused: {e}"),
        }
    }

    #[test]
    fn a_sentinel_url_names_its_sentinels_master_password_and_database() {
        let url = parse("redis+sentinel://:p%40ss@10.0.0.1:26379,s2.example:26380/mymaster/2");
        assert_eq!(
            url,
            SentinelUrl {
                sentinels: vec![("10.0.0.1".into(), 26379), ("s2.example".into(), 26380)],
                master: "mymaster".into(),
                username: None,
                password: Some("p@ss".into()),
                db: 2,
                tls: false,
            }
        );
        let tls = parse("rediss+sentinel://app:pw@h:26379/primary-1/");
        assert!(tls.tls);
        assert_eq!(tls.db, 0);
        assert_eq!(tls.master, "primary-1");
        assert_eq!(tls.username.as_deref(), Some("app"));
        assert_eq!(tls.password.as_deref(), Some("pw"));
        let bare = parse("redis+sentinel://h:1/m");
        assert_eq!(bare.sentinels, [("h".to_owned(), 1)]);
        assert_eq!((bare.password, bare.db), (None, 0));
    }

    #[test]
    fn other_urls_are_not_sentinel_urls_and_bad_ones_are_refused_without_echo() {
        assert_eq!(SentinelUrl::parse("redis://:hunter2@h:6379/1"), Ok(None));
        assert_eq!(SentinelUrl::parse("redis+cluster://h:1,h:2"), Ok(None));
        for (bad, says) in [
            ("redis+sentinel://:hunter2@h:26379", "master"),
            ("redis+sentinel://:hunter2@h:26379/", "master name"),
            ("redis+sentinel://:hunter2@h:26379,,h:2/m", "no empty host"),
            ("redis+sentinel://:hunter2@h/m", "port"),
            ("redis+sentinel://:hunter2@h:26379/m/x", "number"),
            ("redis+sentinel://:hunter2@h:26379/m/-1", "number"),
            (
                "redis+sentinel://:hunter2@h:26379/m/1/2",
                "nothing may follow",
            ),
            ("redis+sentinel://:hunter2@h:26379/m?x=1", "master name"),
            ("rediss+sentinel://:hunter2@h:99999/m", "parse"),
        ] {
            let e = SentinelUrl::parse(bad).expect_err(bad);
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
