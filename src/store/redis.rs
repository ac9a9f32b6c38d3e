//! The Redis backend, for several stateless nodes over one Redis (or Valkey, or a managed
//! Redis).
//!
//! Keys (prefix `storage.redis_prefix`, `{...}` a Redis Cluster hash tag):
//! - `P{<metadata id>}:m` the receipt, `:s` the secret, `:lock` its passphrase-guess counters
//!   (a hash: `w` window start, `t` guesses in all, `u` locked until, `i:<client tag>` guesses
//!   per address; `:g` held them, encoded, before schema 2); one hash tag, so reveal, burn and
//!   a guess reservation are each one Lua script over keys in one slot.
//! - `Pp:<secret id>` -> metadata id, the pointer a secret link follows.
//! - `Pc:<email>` accounts; `Pr:<customer id>` a sorted set of recent entries by time.
//! - `Pw:<session id>` web sessions (the id is the keyed hash of the cookie value).
//! - `P{outbox}:items` (hash) and `P{outbox}:due` (sorted set by next attempt).
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
//! TLS: `rediss://` and `rediss+cluster://`, with a private CA and client certificates from
//! `storage.redis_tls_*` ([`RedisTls`], read and checked at start).

use std::time::Duration;

use async_trait::async_trait;
use redis::{AsyncCommands, Script};
use serde::{de::DeserializeOwned, Serialize};

use super::{
    CustomerRecord, Delivery, Exported, Guess, GuessRules, Guesses, MetadataRecord, NewSecret,
    OutboxRecord, RecentEntry, RecentSeal, SecretRecord, SessionRecord, Store, StoreError,
    StoredState, SweepReport,
};
use crate::crypto::RecordId;
use crate::domain::RECENT_WINDOW;

mod connection;
#[cfg(test)]
pub mod test_cluster;
#[cfg(test)]
pub mod test_tls;
mod tls;
use connection::{Batch, Connection};
pub use tls::{RedisTls, TlsFileError};

/// Seconds a claimed outbox mail is hidden from other nodes while one sends it.
const OUTBOX_LEASE: u64 = 120;

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Backend(format!("redis: {e}"))
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Removes the secret and rewrites the receipt, if the secret exists, is not locked by wrong
/// passphrases (KEYS[4]'s `u` after ARGV[3], now) and the receipt is as read. 1: done; 0: no
/// secret, or locked; -1: the receipt changed meanwhile (read again). KEYS[3] is the counters'
/// key of earlier versions, removed with the rest.
const TAKE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local locked_until = tonumber(redis.call('HGET', KEYS[4], 'u') or '0')
if tonumber(ARGV[3]) < locked_until then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
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
/// `id, record, id, record, ...`.
const CLAIM: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[2], id)
  if record then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    table.insert(out, id)
    table.insert(out, record)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
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
            prefix: prefix.to_owned(),
            take: Script::new(TAKE),
            swap: Script::new(SWAP),
            reserve: Script::new(RESERVE),
            spent: Script::new(SPENT),
            claim: Script::new(CLAIM),
            hit: Script::new(HIT),
        })
    }

    fn entry_key(&self, metadata_id: &[u8], part: &str) -> String {
        format!("{}{{{}}}:{part}", self.prefix, hex::encode(metadata_id))
    }

    fn pointer_key(&self, secret_id: &[u8]) -> String {
        format!("{}p:{}", self.prefix, hex::encode(secret_id))
    }

    fn customer_key(&self, email: &str) -> String {
        format!("{}c:{email}", self.prefix)
    }

    fn recent_key(&self, customer_id: &[u8]) -> String {
        format!("{}r:{}", self.prefix, hex::encode(customer_id))
    }

    fn session_key(&self, id: &[u8]) -> String {
        format!("{}w:{}", self.prefix, hex::encode(id))
    }

    fn outbox_keys(&self) -> (String, String) {
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

    /// Adds a mail (or its new schedule) to the outbox in `pipe`.
    fn queue_mail(
        &self,
        pipe: &mut redis::Pipeline,
        id: &RecordId,
        mail: &OutboxRecord,
    ) -> Result<(), StoreError> {
        let (due, items) = self.outbox_keys();
        pipe.hset(&items, id.as_slice(), encode(mail)?).ignore();
        pipe.zadd(&due, id.as_slice(), mail.next_attempt).ignore();
        Ok(())
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
    /// time now), the same script also removes the secret and its counters, and does nothing
    /// if the secret is gone or locked. `None` if there was no receipt, `change` declined, or
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
                        .key(self.entry_key(metadata_id, "lock"));
                    take.arg(&old).arg(&new).arg(now);
                    take
                }
                None => {
                    let mut swap = self.swap.key(&m);
                    swap.arg(&old).arg(&new);
                    swap
                }
            };
            let outcome: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
            match outcome {
                1 => return Ok(Some(record)),
                0 => return Ok(None),
                _ => continue,
            }
        }
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
        if let Some((id, mail)) = &new.mail {
            self.queue_mail(batch.step(), id, mail)?;
        }
        batch.run(&mut self.conn.clone()).await
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
                m.state = StoredState::Received;
                m.received = Some(now);
                m.updated = now;
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

    async fn burn(&self, id: &RecordId, now: u64) -> Result<Option<MetadataRecord>, StoreError> {
        self.rewrite_metadata(id, Some(now), |m| {
            if m.state != StoredState::New || m.secret_expires_at <= now {
                return false;
            }
            m.state = StoredState::Burned;
            m.updated = now;
            true
        })
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
            .set_nx(self.customer_key(&customer.email), customer.to_bytes()?)
            .await?;
        Ok(added)
    }

    async fn replace_customer(
        &self,
        old: &CustomerRecord,
        new: &CustomerRecord,
    ) -> Result<bool, StoreError> {
        if old.email != new.email {
            return Ok(false);
        }
        let key = self.customer_key(&new.email);
        let bytes = new.to_bytes()?;
        loop {
            let Some(current) = self.customer_bytes(&key).await? else {
                return Ok(false);
            };
            // Compared as records, not bytes: a schema-1 record reads equal to what it decodes
            // to, though the bytes of its new shape differ. The swap itself compares bytes.
            if CustomerRecord::from_bytes(&current)? != *old {
                return Ok(false);
            }
            let outcome: i64 = self
                .swap
                .key(&key)
                .arg(&current)
                .arg(&bytes)
                .invoke_async(&mut self.conn.clone())
                .await?;
            if outcome == 1 {
                return Ok(true);
            }
        }
    }

    async fn customer(&self, email: &str) -> Result<Option<CustomerRecord>, StoreError> {
        self.customer_bytes(&self.customer_key(email))
            .await?
            .map(|b| CustomerRecord::from_bytes(&b))
            .transpose()
    }

    async fn customers(&self) -> Result<Vec<CustomerRecord>, StoreError> {
        let mut customers = Vec::new();
        for key in self.scan(&format!("{}c:*", self.prefix)).await? {
            if let Some(bytes) = self.customer_bytes(&key).await? {
                customers.push(CustomerRecord::from_bytes(&bytes)?);
            }
        }
        customers.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(customers)
    }

    async fn remove_customer(
        &self,
        email: &str,
        customer_id: &RecordId,
    ) -> Result<bool, StoreError> {
        let removed: i64 = self.conn.clone().del(self.customer_key(email)).await?;
        self.clear_recent(customer_id).await?;
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
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    async fn session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        let session: Option<SessionRecord> = self.get(&self.session_key(id)).await?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn remove_session(&self, id: &RecordId) -> Result<(), StoreError> {
        let _: i64 = self.conn.clone().del(self.session_key(id)).await?;
        Ok(())
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
            .spent
            .key(self.entry_key(&mid, "s"))
            .key(self.entry_key(&mid, "lock"))
            .arg(now)
            .arg(hex::encode(ip_tag))
            .arg(rules.per_ip)
            .arg(rules.total)
            .arg(rules.window)
            .arg(rules.lockout)
            .invoke_async(&mut self.conn.clone())
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
        let s = self.entry_key(&mid, "s");
        let Some(secret) = self.get::<SecretRecord>(&s).await? else {
            return Ok(Guess::Gone);
        };
        if secret.expires_at <= now {
            return Ok(Guess::Gone);
        }
        let outcome: i64 = self
            .reserve
            .key(&s)
            .key(self.entry_key(&mid, "lock"))
            .arg(now)
            .arg(hex::encode(ip_tag))
            .arg(rules.per_ip)
            .arg(rules.total)
            .arg(rules.window)
            .arg(rules.lockout)
            .arg(secret.expires_at)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match outcome {
            1 => Guess::Granted,
            2 => Guess::Locked { newly: false },
            3 => Guess::Locked { newly: true },
            _ => Guess::Gone,
        })
    }

    async fn due_mail(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<(RecordId, OutboxRecord)>, StoreError> {
        let (due, items) = self.outbox_keys();
        let claimed: Vec<Vec<u8>> = self
            .claim
            .key(&due)
            .key(&items)
            .arg(now)
            .arg(limit)
            .arg(now + OUTBOX_LEASE)
            .invoke_async(&mut self.conn.clone())
            .await?;
        claimed
            .chunks(2)
            .map(|pair| {
                let id = RecordId::try_from(pair[0].as_slice())
                    .map_err(|_| StoreError::Corrupt("outbox id".into()))?;
                Ok((id, decode(pair.get(1).map_or(&[][..], Vec::as_slice))?))
            })
            .collect()
    }

    async fn retry_mail(
        &self,
        id: &RecordId,
        mail: &OutboxRecord,
        delivery: Delivery,
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        self.queue_mail(&mut pipe, id, mail)?;
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        self.set_delivery(&mail.metadata_id, &delivery).await
    }

    async fn finish_mail(
        &self,
        id: &RecordId,
        metadata_id: &RecordId,
        delivery: Delivery,
    ) -> Result<(), StoreError> {
        self.set_delivery(metadata_id, &delivery).await?;
        let (due, items) = self.outbox_keys();
        let () = redis::pipe()
            .hdel(&items, id.as_slice())
            .ignore()
            .zrem(&due, id.as_slice())
            .ignore()
            .query_async(&mut self.conn.clone())
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
        Ok(())
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
            out.push(Exported::Secret {
                metadata_id,
                secret: secret.filter(|s| s.expires_at > now),
                guesses: self.guesses(&metadata_id).await?,
                metadata,
            });
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
        let (_, items) = self.outbox_keys();
        let mails: Vec<(Vec<u8>, Vec<u8>)> = self.conn.clone().hgetall(&items).await?;
        for (id, bytes) in mails {
            let id = RecordId::try_from(id.as_slice())
                .map_err(|_| StoreError::Corrupt("outbox id".into()))?;
            out.push(Exported::Mail(id, decode(&bytes)?));
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
                batch.run(&mut self.conn.clone()).await?;
            }
            Exported::Customer(customer) => {
                let () = self
                    .conn
                    .clone()
                    .set(self.customer_key(&customer.email), customer.to_bytes()?)
                    .await?;
            }
            Exported::Recent(entry) => {
                let mut unique = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut unique);
                let mut pipe = redis::pipe();
                self.add_recent(&mut pipe, entry, &unique)?;
                let () = pipe.query_async(&mut self.conn.clone()).await?;
            }
            Exported::Mail(id, mail) => {
                let mut pipe = redis::pipe();
                self.queue_mail(&mut pipe, id, mail)?;
                let () = pipe.query_async(&mut self.conn.clone()).await?;
            }
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // Durability is Redis's own (appendonly/appendfsync): nothing is buffered here.
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
    async fn schema_1_accounts_and_recent_entries_still_read() {
        // Bytes exactly as schema 1 wrote them: the record's five fields, and a bare `Sealed`
        // behind the member's 32 unique bytes.
        let store = open().await;
        let v1 = ("old@example.com", "default", 7u64, [9u8; 32], 8u64);
        let sealed = crate::crypto::Sealed {
            nonce: [4; 24],
            ciphertext: vec![5; 40],
        };
        let mut member = vec![1u8; 32];
        member.extend_from_slice(&postcard::to_allocvec(&sealed).expect("encode"));
        let mut conn = store.conn.clone();
        let () = conn
            .set(
                store.customer_key(v1.0),
                postcard::to_allocvec(&v1).expect("encode"),
            )
            .await
            .expect("set");
        let () = conn
            .zadd(store.recent_key(&[6; 32]), member, 100)
            .await
            .expect("zadd");

        let old = store
            .customer("old@example.com")
            .await
            .expect("decodes")
            .expect("present");
        assert_eq!((old.created, old.token_hash), (7, [9; 32]));
        assert_eq!((&old.api_key, &old.password), (&None, &None));
        let list = store.recent(&[6; 32], 0).await.expect("decodes");
        assert_eq!(
            list,
            vec![RecentSeal {
                sealed,
                key_boxes: Vec::new()
            }]
        );
        let mut new = old.clone();
        new.token_created = 9;
        assert!(store.replace_customer(&old, &new).await.expect("replace"));
        assert_eq!(
            store.customer("old@example.com").await.expect("get"),
            Some(new)
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
