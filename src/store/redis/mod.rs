//! The Redis backend, for several stateless nodes over one Redis (or Valkey, or a managed
//! Redis).
//!
//! Keys (prefix `storage.redis_prefix`, `{...}` a Redis Cluster hash tag):
//! - `P{<metadata id>}:m` the receipt, `:s` the secret, `:lock` its passphrase-guess counters
//!   (a hash: `w` window start, `t` guesses in all, `u` locked until, `i:<client tag>` guesses
//!   per address; `:g` held them, encoded, before schema 2), `:o` the mail to its recipient
//!   while queued (until the secret's expiry at most), `:x` the receipt's fate once its secret
//!   was taken (`r<time>` received, `b<time>` burned; it expires with the receipt); one hash
//!   tag, so reveal, burn and a guess reservation are each one Lua script over keys in one
//!   slot, and reveal and burn remove the mail with the secret.
//!   A take leaves `:m` as it was and writes `:x` instead, since a script cannot re-encode a
//!   receipt; every read of a receipt fetches both (one MGET) and applies the fate
//!   ([`RedisStore::receipt`]). Receipts without `:x` (all of them, before) read as stored.
//! - `Pp:<secret id>` -> metadata id, the pointer a secret link follows.
//! - `Pa:<account id>` accounts, by the keyed hash of the email (sealed inside);
//!   `Pr:<account id>` a sorted set of recent entries by time.
//! - `Pw:<session id>` web sessions (the id is the keyed hash of the cookie value).
//! - `P{outbox}:queue` metadata ids of queued mail (sorted set by next attempt): names only.
//! - `Pschema` the schema version. Schema 1 had none, and kept accounts under `Pc:<email>` and
//!   mail in `P{outbox}:items`/`:due`: [`Upkeep::upgrade`](crate::store::Upkeep::upgrade)
//!   rewrites those.
//!
//! Every record carries a Redis TTL (`EXAT` its expiry), so Redis expires records itself; reads
//! still check `expires_at`, so expiry never waits for Redis either.
//!
//! Reveal and burn are a single script ([`TAKE`]) that takes the secret only if it still
//! exists, its time is not up and no lock holds it: of racing callers on any number of nodes,
//! exactly one takes it. It reads nothing first: a reveal is the pointer, then that script
//! (which hands back a secret with a passphrase untaken, to check it against), two round trips;
//! a burn is the script alone. A lost reply is never retried (the secret may be gone: the safe
//! side).
//!
//! Redis Cluster (`redis+cluster://host:port,host:port`, see `connection`): each script's
//! KEYS share one hash tag (TAKE and RESERVE `{<metadata id>}`, CLAIM `{outbox}`; SWAP and HIT
//! touch one key), so each stays one atomic step in one slot. The only writes that span slots
//! (a create or an import: records, pointer, recent list, outbox) go as ordered single-slot
//! steps (`connection::Batch`). `accounts()` and `export()` SCAN every primary rather than
//! keep index keys: an index would be another key in another slot to keep in step with every
//! record, and the scans run only for `account list` and `onetime migrate`. The cluster client
//! may resend a script whose reply was lost; being compare-and-swap, a resent reveal finds
//! the secret gone: still the safe side.
//!
//! Sentinel (`redis+sentinel://host:port,host:port/master`, see `sentinel`): the primary the
//! sentinels name, found again after a failover; never a replica.
//!
//! Replicas (`storage.redis_replicas_ack = N`, see [`ReplicasAck`]): every create, reveal,
//! burn, generated-value take, guess reservation or lockout, and session change is followed by
//! `WAIT N` on the connection (the shard) that took it, and answers only once N replicas hold
//! it; otherwise [`StoreError::NotReplicated`], which the API answers like a dead Redis:
//! - a create that is not confirmed is deleted again (best effort, mail first, so no node
//!   sends its link); its link was never handed out, so if the delete is itself lost in a
//!   failover the records are unreachable and expire by their TTLs;
//! - a reveal or burn that is not confirmed hands out nothing: the secret is gone on the
//!   primary, and comes back only if that primary dies before any replica got the delete and
//!   one without it is promoted; then it can be revealed once more, but its value was never
//!   handed out, so it is still revealed at most once.
//!
//! TLS: `rediss://`, `rediss+cluster://` and `rediss+sentinel://`, with a private CA and client certificates from
//! `storage.redis_tls_*` ([`RedisTls`], read and checked at start).
//!
//! Files: one per concern (`secrets`, `accounts`, `sessions`, `outbox`, `counters`, `sweep`,
//! `transfer`, `upkeep`), each implementing its trait for [`RedisStore`]; the Lua scripts in
//! `scripts/`, one file each.

use crate::store::Result;
use std::time::Duration;

use redis::{AsyncCommands, Script};
use serde::de::DeserializeOwned;

use super::record::decode;
use super::StoreError;

mod accounts;
mod connection;
mod counters;
mod outbox;
mod secrets;
mod sentinel;
mod sessions;
mod sweep;
#[cfg(test)]
mod test_ack;
#[cfg(test)]
pub mod test_cluster;
#[cfg(test)]
pub mod test_tls;
#[cfg(test)]
mod tests;
mod tls;
mod transfer;
mod upkeep;
use connection::Connection;
pub use connection::{redacted_url, ReplicasAck};
pub use tls::{RedisTls, TlsFileError};

/// Seconds a claimed outbox mail is hidden from other nodes while one sends it.
const OUTBOX_LEASE: u64 = 120;

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(format!("redis: {e}"))
    }
}

/// Reveal and burn: takes the secret and records the receipt's fate, reading the secret's
/// expiry and passphrase flag from its record (see `scripts/take.lua` for its keys, arguments
/// and replies).
const TAKE: &str = include_str!("scripts/take.lua");

/// Compare-and-swap of one value, keeping its TTL (`scripts/swap.lua`).
const SWAP: &str = include_str!("scripts/swap.lua");

/// Reserves one passphrase guess, by the rules of
/// [`Guesses::reserve`](crate::store::Guesses::reserve) in one step on the server
/// (`scripts/reserve.lua`).
const RESERVE: &str = include_str!("scripts/reserve.lua");

/// Locks a secret when a wrong guess used up a budget, by the rules of
/// [`Guesses::spent`](crate::store::Guesses::spent) (`scripts/spent.lua`).
const SPENT: &str = include_str!("scripts/spent.lua");

/// Claims due outbox mail for this node for a lease (`scripts/claim.lua`).
const CLAIM: &str = include_str!("scripts/claim.lua");

/// Counts a hit in a fixed window that expires with it (`scripts/hit.lua`).
const HIT: &str = include_str!("scripts/hit.lua");

/// Redis-backed [`Store`](crate::store::Store).
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    /// `storage.redis_replicas_ack`: the replicas every acknowledged state change waits for.
    ack: ReplicasAck,
    prefix: String,
    take: Script,
    swap: Script,
    reserve: Script,
    spent: Script,
    claim: Script,
    hit: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://`, `rediss://`, with password and database number; or a
    /// cluster's `redis+cluster://host:port,host:port`, see `connection`).
    /// `timeout` bounds connecting and every command, so a dead Redis answers quickly. A TLS
    /// endpoint trusts and presents what `tls` holds.
    pub async fn open(url: &str, prefix: &str, timeout: Duration, tls: &RedisTls) -> Result<Self> {
        let conn = Connection::open(url, timeout, tls).await?;
        Ok(Self {
            conn,
            ack: ReplicasAck::default(),
            prefix: prefix.to_owned(),
            take: Script::new(TAKE),
            swap: Script::new(SWAP),
            reserve: Script::new(RESERVE),
            spent: Script::new(SPENT),
            claim: Script::new(CLAIM),
            hit: Script::new(HIT),
        })
    }

    /// Acknowledges state changes only once `ack`'s replicas hold them
    /// (`storage.redis_replicas_ack`).
    #[must_use]
    pub fn with_replicas_ack(mut self, ack: ReplicasAck) -> Self {
        self.ack = ack;
        self
    }

    pub(super) fn entry_key(&self, receipt_id: &[u8], part: &str) -> String {
        format!("{}{{{}}}:{part}", self.prefix, hex::encode(receipt_id))
    }

    /// `<prefix><tag>:<hex id>`: a record kept outside any secret's entry.
    fn id_key(&self, tag: char, id: &[u8]) -> String {
        format!("{}{tag}:{}", self.prefix, hex::encode(id))
    }

    pub(super) fn pointer_key(&self, secret_id: &[u8]) -> String {
        self.id_key('p', secret_id)
    }

    pub(super) fn account_key(&self, id: &[u8]) -> String {
        self.id_key('a', id)
    }

    pub(super) fn schema_key(&self) -> String {
        format!("{}schema", self.prefix)
    }

    pub(super) fn recent_key(&self, account_id: &[u8]) -> String {
        self.id_key('r', account_id)
    }

    pub(super) fn session_key(&self, id: &[u8]) -> String {
        self.id_key('w', id)
    }

    pub(super) fn outbox_queue(&self) -> String {
        format!("{}{{outbox}}:queue", self.prefix)
    }

    /// Where schema 1 kept an account: under its plain email.
    pub(super) fn legacy_account_pattern(&self) -> String {
        format!("{}c:*", self.prefix)
    }

    /// Schema 1's outbox: `(due, items)`.
    pub(super) fn legacy_outbox_keys(&self) -> (String, String) {
        (
            format!("{}{{outbox}}:due", self.prefix),
            format!("{}{{outbox}}:items", self.prefix),
        )
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let bytes: Option<Vec<u8>> = self.conn.clone().get(key).await?;
        bytes.map(|b| decode(&b)).transpose()
    }

    /// Adds `SET key value EXAT expires_at` to `pipe`.
    pub(super) fn set_until(
        pipe: &mut redis::Pipeline,
        key: String,
        value: &[u8],
        expires_at: u64,
    ) {
        pipe.cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EXAT")
            .arg(expires_at)
            .ignore();
    }

    /// Every key matching `pattern` (SCAN, so a large Redis is not blocked; on a cluster, on
    /// every primary).
    pub(super) async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        self.conn.scan(pattern).await
    }

    pub(super) async fn account_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.conn.clone().get(key).await?)
    }

    /// `found`, once an absence in it can be trusted. With replicas to wait for (and through
    /// Sentinel), "not there" is only said while this node is a primary whose replicas still
    /// answer: a primary a failover left behind would call a secret unknown that the new
    /// primary still holds (say, one an unconfirmed reveal removed only here).
    pub(super) async fn confirmed_absence<T>(&self, found: Option<T>) -> Result<Option<T>> {
        if found.is_none() {
            self.conn.check_writable(self.ack).await?;
        }
        Ok(found)
    }

    pub(super) async fn pointer(&self, secret_id: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.conn.clone().get(self.pointer_key(secret_id)).await?)
    }
}

/// The test Redis (`onetime_test_support::shared`), and key prefixes that keep tests apart on it.
#[cfg(test)]
pub mod test_server {
    /// The URL of a running test Redis.
    pub fn url() -> String {
        onetime_test_support::shared::redis_url()
    }

    /// A key prefix no other test uses.
    pub fn prefix() -> String {
        format!("onetime-test-{}:", crate::crypto::generate_key())
    }
}
