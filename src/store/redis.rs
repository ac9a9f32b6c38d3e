//! The Redis backend, for several stateless nodes over one Redis (or Valkey, or a managed
//! Redis).
//!
//! Keys (prefix `storage.redis_prefix`, `{...}` a Redis Cluster hash tag):
//! - `P{<metadata id>}:m` the receipt, `:s` the secret, `:lock` its passphrase-guess counters
//!   (a hash: `w` window start, `t` guesses in all, `u` locked until, `i:<client tag>` guesses
//!   per address; `:g` held them, encoded, before schema 2), `:o` the mail to its recipient
//!   while queued (until the secret's expiry at most); one hash tag, so reveal, burn and a
//!   guess reservation are each one Lua script over keys in one slot, and reveal and burn
//!   remove the mail with the secret.
//! - `Pp:<secret id>` -> metadata id, the pointer a secret link follows.
//! - `Pa:<customer id>` accounts, by the keyed hash of the email (sealed inside);
//!   `Pr:<customer id>` a sorted set of recent entries by time.
//! - `Pw:<session id>` web sessions (the id is the keyed hash of the cookie value).
//! - `P{outbox}:queue` metadata ids of queued mail (sorted set by next attempt): names only.
//! - `Pschema` the schema version. Schema 1 had none, and kept accounts under `Pc:<email>` and
//!   mail in `P{outbox}:items`/`:due`: [`Store::upgrade`] rewrites those.
//!
//! Every record carries a Redis TTL (`EXAT` its expiry), so Redis expires records itself; reads
//! still check `expires_at`, so expiry never waits for Redis either.
//!
//! Reveal and burn are a single script that succeeds only if the secret still exists and the
//! receipt is unchanged since it was read: of racing callers on any number of nodes, exactly one
//! takes the secret. A lost reply is never retried (the secret may be gone: the safe side).
//!
//! Redis Cluster (`redis+cluster://host:port,host:port`, see [`connection`]): each script's
//! KEYS share one hash tag (TAKE and RESERVE `{<metadata id>}`, CLAIM `{outbox}`; SWAP and HIT
//! touch one key), so each stays one atomic step in one slot. The only writes that span slots
//! (a create or an import: records, pointer, recent list, outbox) go as ordered single-slot
//! steps ([`connection::Batch`]). `customers()` and `export()` SCAN every primary rather than
//! keep index keys: an index would be another key in another slot to keep in step with every
//! record, and the scans run only for `account list` and `onetime migrate`. The cluster client
//! may resend a script whose reply was lost; being compare-and-swap, a resent reveal finds
//! the secret gone: still the safe side.
//!
//! Sentinel (`redis+sentinel://host:port,host:port/master`, see [`sentinel`]): the primary the
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

use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, Script};
use serde::de::DeserializeOwned;

use super::record::{decode, encode};
use super::upgrade::{rekey_mail, LegacyCustomer, UpgradeKeys};
use super::{
    CustomerRecord, Delivery, Exported, Guess, GuessRules, Guesses, MetadataRecord, NewSecret,
    OutboxRecord, RecentEntry, RecentSeal, SecretRecord, SessionRecord, Store, StoreError,
    StoredState, SweepReport, SCHEMA_VERSION,
};
use crate::crypto::RecordId;
use crate::domain::RECENT_WINDOW;

mod connection;
mod sentinel;
#[cfg(test)]
mod test_ack;
#[cfg(test)]
pub mod test_cluster;
#[cfg(test)]
pub mod test_tls;
mod tls;
pub use connection::{redacted_url, ReplicasAck};
use connection::{Batch, Connection};
pub use tls::{RedisTls, TlsFileError};

/// Seconds a claimed outbox mail is hidden from other nodes while one sends it.
const OUTBOX_LEASE: u64 = 120;

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(format!("redis: {e}"))
    }
}

/// Removes the secret, its counters and its queued mail, and rewrites the receipt, if the
/// secret exists, is not locked by wrong passphrases (KEYS[4]'s `u` after ARGV[3], now) and the
/// receipt is as read. 1: done; 0: no secret, or locked; -1: the receipt changed meanwhile
/// (read again). KEYS[3] is the counters' key of earlier versions, removed with the rest;
/// KEYS[5] the queued mail.
const TAKE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local locked_until = tonumber(redis.call('HGET', KEYS[4], 'u') or '0')
if tonumber(ARGV[3]) < locked_until then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5])
redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL')
return 1
";

/// Compare-and-swap of one value, keeping its TTL. 1: swapped; -1: it changed or is gone
/// (read again).
const SWAP: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
";

/// Reserves one passphrase guess (the same rules as [`Guesses::reserve`]), in one step on
/// the server so that nodes racing for the same secret never overcount the budget.
/// KEYS: the secret, its counters (a hash). ARGV: now, client tag (hex), per-address budget,
/// total budget, window, lockout, the secret's expiry.
/// 0: no secret; 1: granted; 2: locked already; 3: this reservation locked it.
const RESERVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now = tonumber(ARGV[1])
local locked_until = tonumber(redis.call('HGET', KEYS[2], 'u') or '0')
if now < locked_until then return 2 end
-- A new window when the last one has passed or a lock has ended.
local start = tonumber(redis.call('HGET', KEYS[2], 'w') or '0')
if locked_until > 0 or now >= start + tonumber(ARGV[5]) then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'w', now, 't', 0, 'u', 0)
end
local ip = 'i:' .. ARGV[2]
local mine = tonumber(redis.call('HGET', KEYS[2], ip) or '0')
local total = tonumber(redis.call('HGET', KEYS[2], 't') or '0')
local outcome = 1
if mine >= tonumber(ARGV[3]) or total >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[2], 'u', now + tonumber(ARGV[6]))
  outcome = 3
else
  redis.call('HINCRBY', KEYS[2], ip, 1)
  redis.call('HINCRBY', KEYS[2], 't', 1)
end
redis.call('EXPIREAT', KEYS[2], ARGV[7])
return outcome
";

/// Locks the secret when a wrong guess used up a budget (the same rules as
/// [`Guesses::spent`]). KEYS: the secret, its counters. ARGV: now, client tag (hex),
/// per-address budget, total budget, window, lockout. 1: this call locked it; 0: not.
const SPENT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[2], 'u') or '0') > 0 then return 0 end
local start = redis.call('HGET', KEYS[2], 'w')
if start == false or now >= tonumber(start) + tonumber(ARGV[5]) then return 0 end
local mine = tonumber(redis.call('HGET', KEYS[2], 'i:' .. ARGV[2]) or '0')
local total = tonumber(redis.call('HGET', KEYS[2], 't') or '0')
if mine >= tonumber(ARGV[3]) or total >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[2], 'u', now + tonumber(ARGV[6]))
  return 1
end
return 0
";

/// Claims due outbox mail for this node (pushes its next attempt out by a lease) and returns
/// the claimed metadata ids. The mails themselves sit beside their secrets, in other slots.
const CLAIM: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
end
return ids
";

/// Counts a hit in a fixed window: the counter expires with its window.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// Redis-backed [`Store`].
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
    /// cluster's `redis+cluster://host:port,host:port`, see [`connection`]).
    /// `timeout` bounds connecting and every command, so a dead Redis answers quickly. A TLS
    /// endpoint trusts and presents what `tls` holds.
    pub async fn open(
        url: &str,
        prefix: &str,
        timeout: Duration,
        tls: &RedisTls,
    ) -> Result<Self, StoreError> {
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

    fn entry_key(&self, metadata_id: &[u8], part: &str) -> String {
        format!("{}{{{}}}:{part}", self.prefix, hex::encode(metadata_id))
    }

    fn pointer_key(&self, secret_id: &[u8]) -> String {
        format!("{}p:{}", self.prefix, hex::encode(secret_id))
    }

    fn customer_key(&self, id: &[u8]) -> String {
        format!("{}a:{}", self.prefix, hex::encode(id))
    }

    /// Where schema 1 kept an account: under its plain email.
    fn legacy_customer_pattern(&self) -> String {
        format!("{}c:*", self.prefix)
    }

    fn schema_key(&self) -> String {
        format!("{}schema", self.prefix)
    }

    fn recent_key(&self, customer_id: &[u8]) -> String {
        format!("{}r:{}", self.prefix, hex::encode(customer_id))
    }

    fn session_key(&self, id: &[u8]) -> String {
        format!("{}w:{}", self.prefix, hex::encode(id))
    }

    fn outbox_queue(&self) -> String {
        format!("{}{{outbox}}:queue", self.prefix)
    }

    /// Schema 1's outbox: `(due, items)`.
    fn legacy_outbox_keys(&self) -> (String, String) {
        (
            format!("{}{{outbox}}:due", self.prefix),
            format!("{}{{outbox}}:items", self.prefix),
        )
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let bytes: Option<Vec<u8>> = self.conn.clone().get(key).await?;
        bytes.map(|b| decode(&b)).transpose()
    }

    /// Adds `SET key value EXAT expires_at` to `pipe`.
    fn set_until(pipe: &mut redis::Pipeline, key: String, value: &[u8], expires_at: u64) {
        pipe.cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EXAT")
            .arg(expires_at)
            .ignore();
    }

    /// Adds the writes of one secret's records to `batch`, the pointer last (its own step: it
    /// is in another slot): a link never leads to a missing record, and a partial write
    /// (unacknowledged, its keys unknown to anyone) expires by its TTLs.
    fn write_entry(
        &self,
        batch: &mut Batch,
        metadata_id: &RecordId,
        metadata: &MetadataRecord,
        secret: Option<&SecretRecord>,
        guesses: Option<&Guesses>,
    ) -> Result<(), StoreError> {
        // The records under one hash tag: one step.
        let pipe = batch.step();
        let m = self.entry_key(metadata_id, "m");
        Self::set_until(pipe, m, &encode(metadata)?, metadata.expires_at);
        let Some(s) = secret else {
            return Ok(());
        };
        let key = self.entry_key(metadata_id, "s");
        Self::set_until(pipe, key, &encode(s)?, s.expires_at);
        if let Some(g) = guesses {
            let key = self.entry_key(metadata_id, "lock");
            let mut fields: Vec<(String, String)> = vec![
                ("w".into(), g.window_start.to_string()),
                ("t".into(), g.total.to_string()),
                ("u".into(), g.locked_until.to_string()),
            ];
            for (tag, n) in &g.per_ip {
                fields.push((format!("i:{}", hex::encode(tag)), n.to_string()));
            }
            pipe.del(&key).ignore();
            pipe.hset_multiple(&key, &fields).ignore();
            pipe.expire_at(&key, s.expires_at as i64).ignore();
        }
        let pointer = self.pointer_key(&metadata.secret_id);
        Self::set_until(batch.step(), pointer, metadata_id.as_slice(), s.expires_at);
        Ok(())
    }

    /// Adds a recent-list entry to `pipe`: member `unique ++ sealed` (32 bytes that keep
    /// members distinct) scored by creation time; older entries are trimmed, and the list
    /// expires a window after its newest entry.
    fn add_recent(
        &self,
        pipe: &mut redis::Pipeline,
        entry: &RecentEntry,
        unique: &[u8; 32],
    ) -> Result<(), StoreError> {
        let key = self.recent_key(&entry.customer_id);
        let mut member = unique.to_vec();
        member.extend_from_slice(&entry.sealed.to_bytes()?);
        pipe.zadd(&key, member, entry.created).ignore();
        pipe.zrembyscore(
            &key,
            "-inf",
            entry.created.saturating_sub(RECENT_WINDOW) as f64,
        )
        .ignore();
        pipe.expire_at(&key, (entry.created + RECENT_WINDOW) as i64)
            .ignore();
        Ok(())
    }

    /// Adds a mail to the outbox in `batch`: the mail beside its secret, expiring with it at
    /// `expires_at` (the link is useless after), then its place in the queue (another slot).
    fn queue_mail(
        &self,
        batch: &mut Batch,
        mail: &OutboxRecord,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let key = self.entry_key(&mail.metadata_id, "o");
        Self::set_until(batch.step(), key, &encode(mail)?, expires_at);
        batch
            .step()
            .zadd(
                self.outbox_queue(),
                mail.metadata_id.as_slice(),
                mail.next_attempt,
            )
            .ignore();
        Ok(())
    }

    /// Deletes what an unconfirmed create wrote, best effort: the mail first (so no node sends
    /// its link), then the pointer, then the records. Not waited for: if it is lost too, the
    /// records are known to no one and expire by their TTLs.
    async fn unwrite(&self, new: &NewSecret) {
        let mid = &new.metadata_id;
        let mut batch = Batch::default();
        if new.mail.is_some() {
            batch
                .step()
                .zrem(self.outbox_queue(), mid.as_slice())
                .ignore();
            batch.step().del(self.entry_key(mid, "o")).ignore();
        }
        batch
            .step()
            .del(self.pointer_key(&new.metadata.secret_id))
            .ignore();
        batch
            .step()
            .del(&[self.entry_key(mid, "s"), self.entry_key(mid, "m")])
            .ignore();
        if let Some(recent) = &new.recent {
            if let Ok(sealed) = recent.sealed.to_bytes() {
                let mut member = mid.to_vec();
                member.extend_from_slice(&sealed);
                batch
                    .step()
                    .zrem(self.recent_key(&recent.customer_id), member)
                    .ignore();
            }
        }
        if let Err(e) = batch.run(&self.conn, ReplicasAck::default()).await {
            tracing::warn!(error = %e, "redis: could not delete an unconfirmed create");
        }
    }

    /// Every key matching `pattern` (SCAN, so a large Redis is not blocked; on a cluster, on
    /// every primary).
    async fn scan(&self, pattern: &str) -> Result<Vec<String>, StoreError> {
        self.conn.scan(pattern).await
    }

    async fn customer_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.conn.clone().get(key).await?)
    }

    async fn pointer(&self, secret_id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.conn.clone().get(self.pointer_key(secret_id)).await?)
    }

    /// Rewrites the receipt under `metadata_id` with `change`, in one script that checks the
    /// receipt is unchanged since it was read (else it reads again). With `take_secret` (the
    /// time the guess lock is checked at: now, or `u64::MAX` to take despite a lock), the same script
    /// also removes the secret and its counters, and does nothing if the secret is gone or
    /// locked. `None` if there was no receipt, `change` declined, or
    /// there was nothing to take.
    async fn rewrite_metadata(
        &self,
        metadata_id: &[u8],
        take_secret: Option<u64>,
        change: impl Fn(&mut MetadataRecord) -> bool,
    ) -> Result<Option<MetadataRecord>, StoreError> {
        let m = self.entry_key(metadata_id, "m");
        loop {
            let old: Option<Vec<u8>> = self.conn.clone().get(&m).await?;
            let Some(old) = old else {
                return Ok(None);
            };
            let mut record: MetadataRecord = decode(&old)?;
            if !change(&mut record) {
                return Ok(None);
            }
            let new = encode(&record)?;
            let invocation = match take_secret {
                Some(now) => {
                    let mut take = self.take.key(self.entry_key(metadata_id, "s"));
                    take.key(&m)
                        .key(self.entry_key(metadata_id, "g"))
                        .key(self.entry_key(metadata_id, "lock"))
                        .key(self.entry_key(metadata_id, "o"));
                    take.arg(&old).arg(&new).arg(now);
                    take
                }
                None => {
                    let mut swap = self.swap.key(&m);
                    swap.arg(&old).arg(&new);
                    swap
                }
            };
            // With replicas to wait for, a reveal answers only once they hold the removal.
            let outcome: i64 = self.conn.script(&invocation, self.ack).await?;
            match outcome {
                1 => return Ok(Some(record)),
                0 => return Ok(None),
                _ => continue,
            }
        }
    }

    /// `script` (RESERVE or SPENT) over the secret of the receipt `mid` and its counters, with
    /// the arguments both take.
    fn guess_step<'a>(
        &self,
        script: &'a Script,
        mid: &[u8],
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> redis::ScriptInvocation<'a> {
        let mut step = script.key(self.entry_key(mid, "s"));
        step.key(self.entry_key(mid, "lock"))
            .arg(now)
            .arg(hex::encode(ip_tag))
            .arg(rules.per_ip)
            .arg(rules.total)
            .arg(rules.window)
            .arg(rules.lockout);
        step
    }

    /// The guess counters of the receipt `metadata_id`'s secret, as `export` carries them.
    async fn guesses(&self, metadata_id: &[u8]) -> Result<Option<Guesses>, StoreError> {
        let fields: Vec<(String, u64)> = self
            .conn
            .clone()
            .hgetall(self.entry_key(metadata_id, "lock"))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let mut guesses = Guesses::default();
        for (field, value) in fields {
            match field.as_str() {
                "w" => guesses.window_start = value,
                "t" => guesses.total = u32::try_from(value).unwrap_or(u32::MAX),
                "u" => guesses.locked_until = value,
                other => {
                    let tag = other
                        .strip_prefix("i:")
                        .and_then(|h| hex::decode(h).ok())
                        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                        .ok_or_else(|| StoreError::Corrupt("guess counters".into()))?;
                    guesses
                        .per_ip
                        .push((tag, u32::try_from(value).unwrap_or(u32::MAX)));
                }
            }
        }
        Ok(Some(guesses))
    }

    /// Records a delivery outcome on a receipt (if it still exists).
    async fn set_delivery(
        &self,
        metadata_id: &[u8],
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        self.rewrite_metadata(metadata_id, None, |m| {
            m.delivery = Some(delivery.clone());
            true
        })
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn create(&self, new: &NewSecret) -> Result<(), StoreError> {
        let mid = &new.metadata_id;
        let mut batch = Batch::default();
        // The receipt exists before the outbox names it, so a node that sends the mail at once
        // can record the outcome on it.
        self.write_entry(&mut batch, mid, &new.metadata, Some(&new.secret), None)?;
        if let Some(recent) = &new.recent {
            // Members must be unique: the metadata id in front of the sealed entry.
            self.add_recent(batch.step(), recent, mid)?;
        }
        if let Some(mail) = &new.mail {
            self.queue_mail(&mut batch, mail, new.secret.expires_at)?;
        }
        let written = batch.run(&self.conn, self.ack).await;
        if let Err(StoreError::NotReplicated { .. }) = &written {
            self.unwrite(new).await;
        }
        written
    }

    async fn secret(&self, id: &RecordId, now: u64) -> Result<Option<SecretRecord>, StoreError> {
        let Some(mid) = self.pointer(id).await? else {
            return Ok(None);
        };
        let secret: Option<SecretRecord> = self.get(&self.entry_key(&mid, "s")).await?;
        Ok(secret.filter(|s| s.expires_at > now))
    }

    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool, StoreError> {
        let Some(mid) = self.pointer(id).await? else {
            return Ok(false);
        };
        // The script checks that the secret still exists; its expiry is on the receipt.
        let taken = self
            .rewrite_metadata(&mid, Some(now), |m| {
                if m.secret_expires_at <= now {
                    return false;
                }
                m.mark_received(now);
                true
            })
            .await?;
        Ok(taken.is_some())
    }

    async fn metadata(
        &self,
        id: &RecordId,
        now: u64,
    ) -> Result<Option<MetadataRecord>, StoreError> {
        let record: Option<MetadataRecord> = self.get(&self.entry_key(id, "m")).await?;
        Ok(record.filter(|m| m.expires_at > now))
    }

    async fn take_generated(&self, id: &RecordId) -> Result<bool, StoreError> {
        let taken = self
            .rewrite_metadata(id, None, |m| m.generated.take().is_some())
            .await?;
        Ok(taken.is_some())
    }

    async fn burn(
        &self,
        id: &RecordId,
        now: u64,
        despite_lock: bool,
    ) -> Result<Option<MetadataRecord>, StoreError> {
        // The script compares the lock with the time it is given: no lock outlasts u64::MAX.
        let lock_time = if despite_lock { u64::MAX } else { now };
        self.rewrite_metadata(id, Some(lock_time), |m| m.mark_burned(now))
            .await
    }

    async fn sweep_expired(&self, _now: u64) -> Result<SweepReport, StoreError> {
        // Every key carries its own TTL: Redis expires records itself.
        Ok(SweepReport::default())
    }

    async fn add_customer(&self, customer: &CustomerRecord) -> Result<bool, StoreError> {
        let added: bool = self
            .conn
            .clone()
            .set_nx(self.customer_key(&customer.id), customer.to_bytes()?)
            .await?;
        Ok(added)
    }

    async fn replace_customer(
        &self,
        old: &CustomerRecord,
        new: &CustomerRecord,
    ) -> Result<bool, StoreError> {
        if old.id != new.id {
            return Ok(false);
        }
        // postcard encodes a record one way: comparing bytes compares records.
        let outcome: i64 = self
            .swap
            .key(self.customer_key(&new.id))
            .arg(old.to_bytes()?)
            .arg(new.to_bytes()?)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(outcome == 1)
    }

    async fn customer(&self, id: &RecordId) -> Result<Option<CustomerRecord>, StoreError> {
        self.customer_bytes(&self.customer_key(id))
            .await?
            .map(|b| CustomerRecord::from_bytes(&b))
            .transpose()
    }

    async fn customers(&self) -> Result<Vec<CustomerRecord>, StoreError> {
        let mut customers = Vec::new();
        for key in self.scan(&format!("{}a:*", self.prefix)).await? {
            if let Some(bytes) = self.customer_bytes(&key).await? {
                customers.push(CustomerRecord::from_bytes(&bytes)?);
            }
        }
        Ok(customers)
    }

    async fn remove_customer(&self, id: &RecordId) -> Result<bool, StoreError> {
        let removed: i64 = self.conn.clone().del(self.customer_key(id)).await?;
        self.clear_recent(id).await?;
        Ok(removed > 0)
    }

    async fn clear_recent(&self, customer_id: &RecordId) -> Result<(), StoreError> {
        let _: i64 = self.conn.clone().del(self.recent_key(customer_id)).await?;
        Ok(())
    }

    async fn recent(
        &self,
        customer_id: &RecordId,
        since: u64,
    ) -> Result<Vec<RecentSeal>, StoreError> {
        let members: Vec<Vec<u8>> = self
            .conn
            .clone()
            .zrevrangebyscore(self.recent_key(customer_id), "+inf", since as f64)
            .await?;
        members
            .iter()
            .map(|m| RecentSeal::from_bytes(m.get(32..).unwrap_or_default()))
            .collect()
    }

    async fn put_session(&self, id: &RecordId, session: &SessionRecord) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        Self::set_until(
            &mut pipe,
            self.session_key(id),
            &encode(session)?,
            session.expires_at,
        );
        self.conn.write(pipe, self.ack).await
    }

    async fn session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        let session: Option<SessionRecord> = self.get(&self.session_key(id)).await?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn remove_session(&self, id: &RecordId) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.del(self.session_key(id)).ignore();
        // A sign-out answers once the replicas have it: a failover must not sign it back in.
        self.conn.write(pipe, self.ack).await
    }

    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool, StoreError> {
        let Some(mid) = self.pointer(secret_id).await? else {
            return Ok(false);
        };
        let until: Option<u64> = self
            .conn
            .clone()
            .hget(self.entry_key(&mid, "lock"), "u")
            .await?;
        Ok(until.is_some_and(|u| now < u))
    }

    async fn record_passphrase_failure(
        &self,
        secret_id: &RecordId,
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> Result<bool, StoreError> {
        let Some(mid) = self.pointer(secret_id).await? else {
            return Ok(false);
        };
        let locked: i64 = self
            .conn
            .script(
                &self.guess_step(&self.spent, &mid, ip_tag, now, rules),
                self.ack,
            )
            .await?;
        Ok(locked == 1)
    }

    async fn reserve_guess(
        &self,
        secret_id: &RecordId,
        ip_tag: [u8; 8],
        now: u64,
        rules: GuessRules,
    ) -> Result<Guess, StoreError> {
        let Some(mid) = self.pointer(secret_id).await? else {
            return Ok(Guess::Gone);
        };
        let Some(secret) = self.get::<SecretRecord>(&self.entry_key(&mid, "s")).await? else {
            return Ok(Guess::Gone);
        };
        if secret.expires_at <= now {
            return Ok(Guess::Gone);
        }
        let mut reserve = self.guess_step(&self.reserve, &mid, ip_tag, now, rules);
        reserve.arg(secret.expires_at);
        // A guess is tried only once the replicas count it: a failover must not refund it.
        let outcome: i64 = self.conn.script(&reserve, self.ack).await?;
        Ok(match outcome {
            1 => Guess::Granted,
            2 => Guess::Locked { newly: false },
            3 => Guess::Locked { newly: true },
            _ => Guess::Gone,
        })
    }

    async fn due_mail(&self, now: u64, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        let queue = self.outbox_queue();
        let claimed: Vec<Vec<u8>> = self
            .claim
            .key(&queue)
            .arg(now)
            .arg(limit)
            .arg(now + OUTBOX_LEASE)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let mut due = Vec::with_capacity(claimed.len());
        for id in claimed {
            let mail: Option<OutboxRecord> = self.get(&self.entry_key(&id, "o")).await?;
            // Expiry is checked at read time, as everywhere: Redis may not have dropped the
            // mail of an expired secret yet.
            let receipt: Option<MetadataRecord> = self.get(&self.entry_key(&id, "m")).await?;
            let live =
                receipt.is_some_and(|m| m.state == StoredState::New && m.secret_expires_at > now);
            match mail {
                Some(mail) if live => due.push(mail),
                // Sent, given up, or gone with its secret (revealed, burned, expired): only
                // its name was left in the queue.
                _ => {
                    let _: i64 = self.conn.clone().del(self.entry_key(&id, "o")).await?;
                    let _: i64 = self.conn.clone().zrem(&queue, id).await?;
                }
            }
        }
        Ok(due)
    }

    async fn retry_mail(&self, mail: &OutboxRecord, delivery: Delivery) -> Result<(), StoreError> {
        // XX: only over the mail still queued. A reveal or burn during the attempt removed it
        // with the secret, and it must not come back.
        let kept: Option<String> = redis::cmd("SET")
            .arg(self.entry_key(&mail.metadata_id, "o"))
            .arg(encode(mail)?)
            .arg("XX")
            .arg("KEEPTTL")
            .query_async(&mut self.conn.clone())
            .await?;
        if kept.is_none() {
            return Ok(());
        }
        let _: i64 = self
            .conn
            .clone()
            .zadd(
                self.outbox_queue(),
                mail.metadata_id.as_slice(),
                mail.next_attempt,
            )
            .await?;
        self.set_delivery(&mail.metadata_id, &delivery).await
    }

    async fn finish_mail(
        &self,
        metadata_id: &RecordId,
        delivery: Delivery,
    ) -> Result<(), StoreError> {
        self.set_delivery(metadata_id, &delivery).await?;
        let _: i64 = self
            .conn
            .clone()
            .del(self.entry_key(metadata_id, "o"))
            .await?;
        let _: i64 = self
            .conn
            .clone()
            .zrem(self.outbox_queue(), metadata_id.as_slice())
            .await?;
        Ok(())
    }

    async fn hit(&self, bucket: &str, window: u64, now: u64) -> Result<u64, StoreError> {
        let start = now - now % window.max(1);
        let key = format!("{}l:{bucket}:{start}", self.prefix);
        Ok(self
            .hit
            .key(key)
            .arg(window.max(1))
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        // Healthy only while writes can be acknowledged.
        self.conn.check_writable(self.ack).await
    }

    async fn export(&self, now: u64) -> Result<Vec<Exported>, StoreError> {
        let mut out = Vec::new();
        for key in self.scan(&format!("{}{{*}}:m", self.prefix)).await? {
            let Some(metadata) = self.get::<MetadataRecord>(&key).await? else {
                continue;
            };
            if metadata.expires_at <= now {
                continue;
            }
            let tag = key
                .strip_prefix(&format!("{}{{", self.prefix))
                .and_then(|k| k.strip_suffix("}:m"))
                .unwrap_or_default();
            let metadata_id = hex::decode(tag)
                .ok()
                .and_then(|b| RecordId::try_from(b.as_slice()).ok())
                .ok_or_else(|| StoreError::Corrupt("receipt key".into()))?;
            let secret: Option<SecretRecord> = self.get(&self.entry_key(&metadata_id, "s")).await?;
            let mail: Option<OutboxRecord> = self.get(&self.entry_key(&metadata_id, "o")).await?;
            out.push(Exported::Secret {
                metadata_id,
                secret: secret.filter(|s| s.expires_at > now),
                guesses: self.guesses(&metadata_id).await?,
                metadata,
            });
            // After its receipt: an import gives the mail its secret's expiry.
            out.extend(mail.map(Exported::Mail));
        }
        for customer in self.customers().await? {
            out.push(Exported::Customer(customer));
        }
        for key in self.scan(&format!("{}r:*", self.prefix)).await? {
            let customer_id = key
                .strip_prefix(&format!("{}r:", self.prefix))
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| RecordId::try_from(b.as_slice()).ok())
                .ok_or_else(|| StoreError::Corrupt("recent key".into()))?;
            let since = now.saturating_sub(RECENT_WINDOW);
            let members: Vec<(Vec<u8>, f64)> = self
                .conn
                .clone()
                .zrangebyscore_withscores(&key, since as f64, "+inf")
                .await?;
            for (member, score) in members {
                out.push(Exported::Recent(RecentEntry {
                    customer_id,
                    created: score as u64,
                    sealed: RecentSeal::from_bytes(member.get(32..).unwrap_or_default())?,
                }));
            }
        }
        Ok(out)
    }

    async fn import(&self, record: &Exported) -> Result<(), StoreError> {
        match record {
            Exported::Secret {
                metadata_id,
                metadata,
                secret,
                guesses,
            } => {
                let mut batch = Batch::default();
                self.write_entry(
                    &mut batch,
                    metadata_id,
                    metadata,
                    secret.as_ref(),
                    guesses.as_ref(),
                )?;
                batch.run(&self.conn, self.ack).await?;
            }
            Exported::Customer(customer) => {
                let () = self
                    .conn
                    .clone()
                    .set(self.customer_key(&customer.id), customer.to_bytes()?)
                    .await?;
            }
            Exported::Recent(entry) => {
                let mut unique = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut unique);
                let mut pipe = redis::pipe();
                self.add_recent(&mut pipe, entry, &unique)?;
                let () = pipe.query_async(&mut self.conn.clone()).await?;
            }
            Exported::Mail(mail) => {
                // Only while its secret is unread: the mail expires with it.
                let receipt: Option<MetadataRecord> =
                    self.get(&self.entry_key(&mail.metadata_id, "m")).await?;
                if let Some(m) = receipt.filter(|m| m.state == StoredState::New) {
                    let mut batch = Batch::default();
                    self.queue_mail(&mut batch, mail, m.secret_expires_at)?;
                    batch.run(&self.conn, self.ack).await?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // Durability is Redis's own (appendonly/appendfsync): nothing is buffered here.
        Ok(())
    }

    async fn schema(&self) -> Result<u32, StoreError> {
        let recorded: Option<u32> = self.conn.clone().get(self.schema_key()).await?;
        if let Some(version) = recorded {
            return Ok(version);
        }
        // Schema 1 recorded no version: tell it by its keys. A Redis without either is new.
        let (_, items) = self.legacy_outbox_keys();
        let outbox: bool = self.conn.clone().exists(&items).await?;
        let accounts = self.scan(&self.legacy_customer_pattern()).await?;
        Ok(if outbox || !accounts.is_empty() {
            1
        } else {
            SCHEMA_VERSION
        })
    }

    async fn upgrade(&self, keys: &dyn UpgradeKeys) -> Result<(), StoreError> {
        let recorded: Option<u32> = self.conn.clone().get(self.schema_key()).await?;
        match recorded {
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::NewerSchema {
                    path: format!("Redis prefix {:?}", self.prefix),
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            Some(SCHEMA_VERSION) => return Ok(()),
            _ => {}
        }
        // Several nodes may upgrade at once: each new record is written only if absent (a
        // node already serving may have changed it since), and the old one goes after it.
        let mut conn = self.conn.clone();
        for old in self.scan(&self.legacy_customer_pattern()).await? {
            let Some(bytes) = self.customer_bytes(&old).await? else {
                continue;
            };
            let record = LegacyCustomer::from_bytes(&bytes)?.upgrade(keys);
            let _: bool = conn
                .set_nx(self.customer_key(&record.id), record.to_bytes()?)
                .await?;
            let _: i64 = conn.del(&old).await?;
        }
        let (due, items) = self.legacy_outbox_keys();
        let mails: Vec<(Vec<u8>, Vec<u8>)> = conn.hgetall(&items).await?;
        for (id, bytes) in mails {
            let old_id = RecordId::try_from(id.as_slice())
                .map_err(|_| StoreError::Corrupt("outbox id".into()))?;
            // Kept only while its secret is unread, and only if it opens (else it could never
            // be sent): beside the secret, expiring with it.
            let mail = rekey_mail(keys, &old_id, decode(&bytes)?);
            if let Some(mail) = mail {
                let receipt: Option<MetadataRecord> =
                    self.get(&self.entry_key(&mail.metadata_id, "m")).await?;
                if let Some(m) = receipt.filter(|m| m.state == StoredState::New) {
                    let mut batch = Batch::default();
                    self.queue_mail(&mut batch, &mail, m.secret_expires_at)?;
                    batch.run(&conn, self.ack).await?;
                }
            }
            let () = redis::pipe()
                .hdel(&items, &id)
                .ignore()
                .zrem(&due, &id)
                .ignore()
                .query_async(&mut conn)
                .await?;
        }
        let () = conn.set(self.schema_key(), SCHEMA_VERSION).await?;
        Ok(())
    }
}

/// A redis-server for tests: `ONETIME_TEST_REDIS_URL` when `scripts/test` started one, else one
/// started here on a free loopback port, which stops when the test process is gone.
#[cfg(test)]
pub mod test_server {
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;
    use std::time::Duration;

    /// The URL of a running test Redis.
    pub fn url() -> String {
        static URL: OnceLock<String> = OnceLock::new();
        URL.get_or_init(|| {
            if let Ok(url) = std::env::var("ONETIME_TEST_REDIS_URL") {
                return url;
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            // The watcher loop stops redis-server once this test process has exited.
            let script = format!(
                "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
                 >/dev/null 2>&1 & r=$!; while kill -0 {parent} 2>/dev/null; do sleep 1; done; \
                 kill $r",
                parent = std::process::id()
            );
            let mut watcher = Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .spawn()
                .expect("redis-server (apt-get install redis-server, or run scripts/test)");
            std::thread::spawn(move || watcher.wait());
            for _ in 0..200 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            format!("redis://127.0.0.1:{port}")
        })
        .clone()
    }

    /// A key prefix no other test uses.
    pub fn prefix() -> String {
        format!("onetime-test-{}:", crate::crypto::generate_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> RedisStore {
        RedisStore::open(
            &test_server::url(),
            &test_server::prefix(),
            Duration::from_secs(2),
            &RedisTls::default(),
        )
        .await
        .expect("redis store")
    }

    crate::conformance_suite!(|_dir: std::path::PathBuf| open());

    #[tokio::test]
    async fn a_schema_1_redis_is_upgraded_and_keeps_its_accounts_and_mail() {
        // Keys and bytes exactly as schema 1 wrote them: `Pc:<email>` accounts in both shapes,
        // the outbox hash and due set under random ids, no schema version.
        use super::super::upgrade::{self, PlainKeys};
        let store = open().await;
        let fresh = open().await;
        assert_eq!(fresh.schema().await.expect("schema"), SCHEMA_VERSION);
        let sealed = crate::crypto::Sealed {
            nonce: [4; 24],
            ciphertext: vec![5; 40],
        };
        let now = crate::domain::unix_now();
        let mut unread = super::super::conformance::sample(600, false);
        unread.secret.expires_at = now + 600;
        unread.metadata.secret_expires_at = now + 600;
        unread.metadata.expires_at = now + 1200;
        let mail = OutboxRecord {
            metadata_id: unread.metadata_id,
            created: now,
            attempts: 2,
            next_attempt: now,
            sealed: sealed.clone(),
        };
        store.create(&unread).await.expect("create");
        let orphan = OutboxRecord {
            metadata_id: [8; 32],
            ..mail.clone()
        };
        let mut conn = store.conn.clone();
        let (due, items) = store.legacy_outbox_keys();
        for (email, bytes) in upgrade::schema_1_accounts() {
            let () = conn
                .set(format!("{}c:{email}", store.prefix), bytes)
                .await
                .expect("set");
        }
        for (old_id, m) in [([1u8; 32], &mail), ([2; 32], &orphan)] {
            let () = redis::pipe()
                .hset(&items, old_id.as_slice(), encode(m).expect("encode"))
                .zadd(&due, old_id.as_slice(), now)
                .query_async(&mut conn)
                .await
                .expect("queue");
        }
        assert_eq!(store.schema().await.expect("schema"), 1);

        upgrade::upgrade_twice_and_check_accounts(&store).await;
        let left = store
            .scan(&format!("{}c:*", store.prefix))
            .await
            .expect("scan");
        assert!(left.is_empty(), "no key names an email: {left:?}");
        let legacy: (bool, bool) = redis::pipe()
            .exists(&items)
            .exists(&due)
            .query_async(&mut conn)
            .await
            .expect("exists");
        assert_eq!(legacy, (false, false));
        let mut rekeyed = mail.clone();
        rekeyed.sealed = PlainKeys
            .reseal_mail(&[1; 32], &unread.metadata_id, &sealed)
            .expect("reseal");
        let due_now = store.due_mail(now, 10).await.expect("due");
        assert_eq!(
            due_now,
            vec![rekeyed],
            "the orphan's receipt is gone: it went"
        );
        let ttl: i64 = conn
            .ttl(store.entry_key(&unread.metadata_id, "o"))
            .await
            .expect("ttl");
        assert!(
            (1..=600).contains(&ttl),
            "the mail expires with its secret: {ttl}"
        );
    }

    #[tokio::test]
    async fn sessions_carry_a_redis_ttl() {
        let store = open().await;
        let id = [3u8; 32];
        let expires_at = crate::domain::unix_now() + 1000;
        let session = SessionRecord {
            created: expires_at - 1000,
            expires_at,
            sealed: crate::crypto::Sealed {
                nonce: [1; 24],
                ciphertext: vec![2; 20],
            },
        };
        store.put_session(&id, &session).await.expect("put");
        let left: i64 = store
            .conn
            .clone()
            .ttl(store.session_key(&id))
            .await
            .expect("ttl");
        assert!(
            (900..=1000).contains(&left),
            "Redis drops it on its own: {left}"
        );
    }

    #[tokio::test]
    async fn a_dead_redis_answers_quickly_with_an_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let started = std::time::Instant::now();
        let result = RedisStore::open(
            &format!("redis://127.0.0.1:{port}"),
            "x:",
            Duration::from_millis(500),
            &RedisTls::default(),
        )
        .await;
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
