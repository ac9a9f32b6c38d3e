//! [`Secrets`] on Redis: a secret's records under one hash tag, so reveal, burn and a guess
//! reservation are each one script ([`TAKE`](super::TAKE), [`SWAP`](super::SWAP),
//! [`RESERVE`](super::RESERVE), [`SPENT`](super::SPENT)) in one slot.

use crate::store::Result;
use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::connection::{Batch, ReplicasAck};
use super::RedisStore;
use crate::crypto::{RecordId, Sealed};
use crate::store::record::{decode, encode};
use crate::store::{
    Guess, GuessAttempt, Guesses, NewSecret, PlainTake, ReceiptRecord, SecretRecord, Secrets,
    StoreError, StoredState,
};

/// What [`RedisStore::take`] may take.
#[derive(Debug, Clone, Copy)]
enum Take {
    /// Only a secret without a passphrase (reveal's first step).
    Plain,
    /// Any (a reveal whose passphrase opened it).
    Any,
    /// Any, while its receipt is unread, and despite a lock if so asked.
    Burn { forced: bool },
}

/// What [`RedisStore::take`] did.
enum Taken {
    /// Taken: the secret and the receipt as they were.
    Yes(SecretRecord, Box<ReceiptRecord>),
    /// Left in place: it needs a passphrase.
    Protected(SecretRecord),
    /// Nothing taken: gone, its time is up, or locked.
    No,
}

#[async_trait]
impl Secrets for RedisStore {
    async fn create(&self, new: &NewSecret) -> Result<()> {
        let mid = &new.receipt_id;
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

    async fn secret(&self, id: &RecordId, now: u64) -> Result<Option<SecretRecord>> {
        let Some(mid) = self.pointer(id).await? else {
            return self.confirmed_absence(None).await;
        };
        let secret: Option<SecretRecord> = self.get(&self.entry_key(&mid, "s")).await?;
        self.confirmed_absence(secret.filter(|s| s.expires_at > now))
            .await
    }

    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool> {
        let taken = self.take_by_pointer(id, Take::Any, now).await?;
        Ok(matches!(taken, PlainTake::Taken(_)))
    }

    async fn take_plain(&self, id: &RecordId, now: u64) -> Result<PlainTake> {
        self.take_by_pointer(id, Take::Plain, now).await
    }

    async fn receipt(&self, id: &RecordId, now: u64) -> Result<Option<ReceiptRecord>> {
        let record = self.receipt_record(id).await?;
        self.confirmed_absence(record.filter(|m| m.expires_at > now))
            .await
    }

    async fn take_generated(&self, id: &RecordId) -> Result<bool> {
        let taken = self
            .rewrite_metadata(id, |m| m.generated.take().is_some())
            .await?;
        Ok(taken.is_some())
    }

    async fn mark_previewed(&self, id: &RecordId, now: u64) -> Result<Option<u64>> {
        // Read with the fate first: a taken receipt is not rewritten. A take landing after
        // this read leaves its fate beside the receipt, which every read applies over the
        // preview, so the receipt still reads revealed or burned.
        let Some(current) = self.receipt_record(id).await? else {
            return Ok(None);
        };
        if current.previewed().is_some() || current.state != StoredState::New {
            return Ok(current.previewed());
        }
        let marked = self.rewrite_metadata(id, |m| m.mark_previewed(now)).await?;
        Ok(match marked {
            Some(m) => m.previewed(),
            None => self.receipt_record(id).await?.and_then(|m| m.previewed()),
        })
    }

    async fn reseal_receipt(&self, id: &RecordId, sealed: &Sealed) -> Result<bool> {
        let changed = self
            .rewrite_metadata(id, |m| {
                m.sealed = sealed.clone();
                true
            })
            .await?;
        Ok(changed.is_some())
    }

    async fn burn(&self, id: &RecordId, now: u64, forced: bool) -> Result<Option<ReceiptRecord>> {
        let burned = match self.take(id, Take::Burn { forced }, now).await? {
            Taken::Yes(_, mut receipt) => {
                receipt.mark_burned(now);
                Some(*receipt)
            }
            Taken::No | Taken::Protected(_) => None,
        };
        self.confirmed_absence(burned).await
    }

    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool> {
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
    ) -> Result<bool> {
        let Some(mid) = self.pointer(secret_id).await? else {
            return Ok(false);
        };
        let locked: i64 = self
            .conn
            .script(&self.guess_step(&self.spent, &mid, attempt), self.ack)
            .await?;
        Ok(locked == 1)
    }

    async fn reserve_guess(&self, secret_id: &RecordId, attempt: GuessAttempt) -> Result<Guess> {
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
        receipt_id: &RecordId,
        metadata: &ReceiptRecord,
        secret: Option<&SecretRecord>,
        guesses: Option<&Guesses>,
    ) -> Result<()> {
        // The records under one hash tag: one step.
        let pipe = batch.step();
        let m = self.entry_key(receipt_id, "m");
        Self::set_until(pipe, m, &encode(metadata)?, metadata.expires_at);
        // A fresh receipt has no fate (an import may write over a receipt taken here).
        pipe.del(self.entry_key(receipt_id, "x")).ignore();
        let Some(s) = secret else {
            return Ok(());
        };
        let key = self.entry_key(receipt_id, "s");
        Self::set_until(pipe, key, &encode(s)?, s.expires_at);
        if let Some(g) = guesses {
            let key = self.entry_key(receipt_id, "lock");
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
        Self::set_until(batch.step(), pointer, receipt_id.as_slice(), s.expires_at);
        Ok(())
    }

    /// Deletes what an unconfirmed create wrote, best effort: the mail first (so no node sends
    /// its link), then the pointer, then the records. Not waited for: if it is lost too, the
    /// records are known to no one and expire by their TTLs.
    pub(super) async fn unwrite(&self, new: &NewSecret) {
        let mid = &new.receipt_id;
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
                    .zrem(self.recent_key(&recent.account_id), member)
                    .ignore();
            }
        }
        if let Err(e) = batch.run(&self.conn, ReplicasAck::default()).await {
            tracing::warn!(error = %e, "redis: could not delete an unconfirmed create");
        }
    }

    /// Rewrites the receipt under `receipt_id` with `change`, in one script that checks the
    /// receipt is unchanged since it was read (else it reads again). `None` if there was no
    /// receipt or `change` declined. The receipt's fate (see [`Self::receipt`]) is beside it,
    /// untouched: this changes only what a take leaves as it is.
    pub(super) async fn rewrite_metadata(
        &self,
        receipt_id: &[u8],
        change: impl Fn(&mut ReceiptRecord) -> bool,
    ) -> Result<Option<ReceiptRecord>> {
        let m = self.entry_key(receipt_id, "m");
        loop {
            let old: Option<Vec<u8>> = self.conn.clone().get(&m).await?;
            let Some(old) = old else {
                return Ok(None);
            };
            let mut record: ReceiptRecord = decode(&old)?;
            if !change(&mut record) {
                return Ok(None);
            }
            let mut swap = self.swap.key(&m);
            swap.arg(&old).arg(encode(&record)?);
            let outcome: i64 = self.conn.script(&swap, self.ack).await?;
            if outcome == 1 {
                return Ok(Some(record));
            }
        }
    }

    /// Reveal's and burn's one step ([`TAKE`](super::TAKE)) on the records of the receipt
    /// `receipt_id`. With replicas to wait for, it answers only once they hold the removal.
    async fn take(&self, receipt_id: &[u8], what: Take, now: u64) -> Result<Taken> {
        let (mode, lock_time, fate) = match what {
            Take::Plain => ("plain", now, b'r'),
            Take::Any => ("take", now, b'r'),
            // The script compares the lock with the time it is given: no lock outlasts u64::MAX.
            Take::Burn { forced: true } => ("burn", u64::MAX, b'b'),
            Take::Burn { forced: false } => ("burn", now, b'b'),
        };
        let mut take = self.take.key(self.entry_key(receipt_id, "s"));
        take.key(self.entry_key(receipt_id, "m"))
            .key(self.entry_key(receipt_id, "g"))
            .key(self.entry_key(receipt_id, "lock"))
            .key(self.entry_key(receipt_id, "o"))
            .key(self.entry_key(receipt_id, "x"));
        take.arg(mode)
            .arg(now)
            .arg(lock_time)
            .arg(format!("{}{now}", char::from(fate)));
        let (code, secret, receipt): (i64, Vec<u8>, Vec<u8>) =
            self.conn.script(&take, self.ack).await?;
        Ok(match code {
            1 => Taken::Yes(decode(&secret)?, Box::new(decode(&receipt)?)),
            2 => Taken::Protected(decode(&secret)?),
            _ => Taken::No,
        })
    }

    /// [`Self::take`] of the secret `secret_id`: the pointer, then the one script; "gone" only
    /// once an absence can be trusted.
    async fn take_by_pointer(
        &self,
        secret_id: &RecordId,
        what: Take,
        now: u64,
    ) -> Result<PlainTake> {
        let found = match self.pointer(secret_id).await? {
            Some(mid) => match self.take(&mid, what, now).await? {
                Taken::Yes(secret, _) => Some(PlainTake::Taken(secret)),
                Taken::Protected(secret) => Some(PlainTake::Protected(secret)),
                Taken::No => None,
            },
            None => None,
        };
        Ok(self
            .confirmed_absence(found)
            .await?
            .unwrap_or(PlainTake::Gone))
    }

    /// The receipt under `receipt_id` as it stands: the stored record with its fate applied.
    /// A take does not rewrite the receipt (a script cannot re-encode it); it leaves its fate
    /// beside it (`:x`, `r<time>` received or `b<time>` burned, expiring with it), and every
    /// read applies that. Both come in one MGET.
    pub(super) async fn receipt_record(&self, receipt_id: &[u8]) -> Result<Option<ReceiptRecord>> {
        let (record, fate): (Option<Vec<u8>>, Option<Vec<u8>>) = self
            .conn
            .clone()
            .mget(&[
                self.entry_key(receipt_id, "m"),
                self.entry_key(receipt_id, "x"),
            ])
            .await?;
        let Some(record) = record else {
            return Ok(None);
        };
        let mut record: ReceiptRecord = decode(&record)?;
        if let Some(fate) = fate {
            let at = std::str::from_utf8(fate.get(1..).unwrap_or_default())
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| StoreError::Corrupt("receipt fate".into()))?;
            match fate.first() {
                Some(b'r') => record.mark_received(at),
                Some(b'b') => {
                    record.mark_burned(at);
                }
                _ => return Err(StoreError::Corrupt("receipt fate".into())),
            }
        }
        Ok(Some(record))
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

    /// The guess counters of the receipt `receipt_id`'s secret, as `export` carries them.
    pub(super) async fn guesses(&self, receipt_id: &[u8]) -> Result<Option<Guesses>> {
        let fields: Vec<(String, u64)> = self
            .conn
            .clone()
            .hgetall(self.entry_key(receipt_id, "lock"))
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
