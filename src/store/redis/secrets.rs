//! [`Secrets`] on Redis: a secret's records under one hash tag, so reveal, burn and a guess
//! reservation are each one script ([`TAKE`](super::TAKE), [`SWAP`](super::SWAP),
//! [`RESERVE`](super::RESERVE), [`SPENT`](super::SPENT)) in one slot.

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::connection::{Batch, ReplicasAck};
use super::RedisStore;
use crate::crypto::{RecordId, Sealed};
use crate::store::record::{decode, encode};
use crate::store::{
    Guess, GuessAttempt, Guesses, MetadataRecord, NewSecret, SecretRecord, Secrets, StoreError,
};

#[async_trait]
impl Secrets for RedisStore {
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
            return self.confirmed_absence(None).await;
        };
        let secret: Option<SecretRecord> = self.get(&self.entry_key(&mid, "s")).await?;
        self.confirmed_absence(secret.filter(|s| s.expires_at > now))
            .await
    }

    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool, StoreError> {
        let Some(mid) = self.pointer(id).await? else {
            self.confirmed_absence(None::<()>).await?;
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
        Ok(self.confirmed_absence(taken).await?.is_some())
    }

    async fn metadata(
        &self,
        id: &RecordId,
        now: u64,
    ) -> Result<Option<MetadataRecord>, StoreError> {
        let record: Option<MetadataRecord> = self.get(&self.entry_key(id, "m")).await?;
        self.confirmed_absence(record.filter(|m| m.expires_at > now))
            .await
    }

    async fn take_generated(&self, id: &RecordId) -> Result<bool, StoreError> {
        let taken = self
            .rewrite_metadata(id, None, |m| m.generated.take().is_some())
            .await?;
        Ok(taken.is_some())
    }

    async fn reseal_receipt(&self, id: &RecordId, sealed: &Sealed) -> Result<bool, StoreError> {
        let changed = self
            .rewrite_metadata(id, None, |m| {
                m.sealed = sealed.clone();
                true
            })
            .await?;
        Ok(changed.is_some())
    }

    async fn burn(
        &self,
        id: &RecordId,
        now: u64,
        despite_lock: bool,
    ) -> Result<Option<MetadataRecord>, StoreError> {
        // The script compares the lock with the time it is given: no lock outlasts u64::MAX.
        let lock_time = if despite_lock { u64::MAX } else { now };
        let burned = self
            .rewrite_metadata(id, Some(lock_time), |m| m.mark_burned(now))
            .await?;
        self.confirmed_absence(burned).await
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
        attempt: GuessAttempt,
    ) -> Result<bool, StoreError> {
        let Some(mid) = self.pointer(secret_id).await? else {
            return Ok(false);
        };
        let locked: i64 = self
            .conn
            .script(&self.guess_step(&self.spent, &mid, attempt), self.ack)
            .await?;
        Ok(locked == 1)
    }

    async fn reserve_guess(
        &self,
        secret_id: &RecordId,
        attempt: GuessAttempt,
    ) -> Result<Guess, StoreError> {
        let Some(mid) = self.pointer(secret_id).await? else {
            return Ok(Guess::Gone);
        };
        let Some(secret) = self.get::<SecretRecord>(&self.entry_key(&mid, "s")).await? else {
            return Ok(Guess::Gone);
        };
        if secret.expires_at <= attempt.now {
            return Ok(Guess::Gone);
        }
        let mut reserve = self.guess_step(&self.reserve, &mid, attempt);
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
}

impl RedisStore {
    /// Adds the writes of one secret's records to `batch`, the pointer last (its own step: it
    /// is in another slot): a link never leads to a missing record, and a partial write
    /// (unacknowledged, its keys unknown to anyone) expires by its TTLs.
    pub(super) fn write_entry(
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

    /// Deletes what an unconfirmed create wrote, best effort: the mail first (so no node sends
    /// its link), then the pointer, then the records. Not waited for: if it is lost too, the
    /// records are known to no one and expire by their TTLs.
    pub(super) async fn unwrite(&self, new: &NewSecret) {
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

    /// Rewrites the receipt under `metadata_id` with `change`, in one script that checks the
    /// receipt is unchanged since it was read (else it reads again). With `take_secret` (the
    /// time the guess lock is checked at: now, or `u64::MAX` to take despite a lock), the same script
    /// also removes the secret and its counters, and does nothing if the secret is gone or
    /// locked. `None` if there was no receipt, `change` declined, or
    /// there was nothing to take.
    pub(super) async fn rewrite_metadata(
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
    pub(super) fn guess_step<'a>(
        &self,
        script: &'a Script,
        mid: &[u8],
        attempt: GuessAttempt,
    ) -> redis::ScriptInvocation<'a> {
        let GuessAttempt { ip_tag, now, rules } = attempt;
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
    pub(super) async fn guesses(&self, metadata_id: &[u8]) -> Result<Option<Guesses>, StoreError> {
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
}
