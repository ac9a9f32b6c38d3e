//! [`Secrets`] on sled: each change is one compare-and-swap of the secret's [`Entry`], which
//! holds the receipt, the sealed value and the guess counters together.

use async_trait::async_trait;

use super::trees::{Change, Entry};
use super::SledStore;
use crate::crypto::{RecordId, Sealed};
use crate::store::record::encode;
use crate::store::{
    Guess, GuessAttempt, Guesses, NewSecret, PlainTake, ReceiptRecord, Result, SecretRecord,
    Secrets,
};

#[async_trait]
impl Secrets for SledStore {
    async fn create(&self, new: &NewSecret) -> Result<()> {
        self.run(|db| async move {
            // Without a transaction, in an order whose every prefix is harmless: until the create
            // is acknowledged nobody holds its keys, and the sweeper reclaims what a crash leaves.
            // The mail comes after the entry, so a recipient is never sent a link to nothing.
            let entry = Entry {
                metadata: new.metadata.clone(),
                secret: Some(new.secret.clone()),
                guesses: None,
            };
            db.write_entry(&new.receipt_id, &entry)?;
            if let Some(recent) = &new.recent {
                db.add_recent(recent)?;
            }
            if let Some(mail) = &new.mail {
                db.mail.insert(mail.receipt_id, encode(mail)?)?;
            }
            db.durable().await
        })
        .await
    }

    async fn secret(&self, id: &RecordId, now: u64) -> Result<Option<SecretRecord>> {
        self.run(|db| async move {
            let Some(receipt_id) = db.pointer(id)? else {
                return Ok(None);
            };
            Ok(db
                .entry(&receipt_id)?
                .and_then(|e| e.secret)
                .filter(|s| s.expires_at > now))
        })
        .await
    }

    async fn take_secret(&self, id: &RecordId, now: u64) -> Result<bool> {
        let taken = self.take(id, now, |_| true).await?;
        Ok(matches!(taken, PlainTake::Taken(_)))
    }

    async fn take_plain(&self, id: &RecordId, now: u64) -> Result<PlainTake> {
        self.take(id, now, |s| s.kdf.is_none()).await
    }

    async fn receipt(&self, id: &RecordId, now: u64) -> Result<Option<ReceiptRecord>> {
        self.run(|db| async move {
            Ok(db
                .entry(id)?
                .map(|e| e.metadata)
                .filter(|m| m.expires_at > now))
        })
        .await
    }

    async fn take_generated(&self, id: &RecordId) -> Result<bool> {
        self.run(|db| async move {
            let taken = db.update_entry(id, |e| match e.metadata.generated.take() {
                Some(_) => Change::Write(()),
                None => Change::Keep,
            })?;
            if taken.is_some() {
                db.durable().await?;
            }
            Ok(taken.is_some())
        })
        .await
    }

    async fn reseal_receipt(&self, id: &RecordId, sealed: &Sealed) -> Result<bool> {
        self.run(|db| async move {
            let changed = db.update_entry(id, |e| {
                e.metadata.sealed = sealed.clone();
                Change::Write(())
            })?;
            if changed.is_some() {
                db.durable().await?;
            }
            Ok(changed.is_some())
        })
        .await
    }

    async fn mark_previewed(&self, id: &RecordId, now: u64) -> Result<Option<u64>> {
        self.run(|db| async move {
            // One compare-and-swap on the entry, as every change of it. Not flushed: a preview
            // lost to a crash only reads as unpreviewed, and a bot's GET costs no fsync.
            let marked = db.update_entry(id, |e| {
                if e.metadata.mark_previewed(now) {
                    Change::Write(e.metadata.previewed())
                } else {
                    Change::Keep
                }
            })?;
            Ok(match marked {
                Some(at) => at,
                None => db.entry(id)?.and_then(|e| e.metadata.previewed()),
            })
        })
        .await
    }

    async fn burn(&self, id: &RecordId, now: u64, forced: bool) -> Result<Option<ReceiptRecord>> {
        self.run(|db| async move {
            let burned = db.update_entry(id, |e| {
                let locked = !forced && e.guesses.as_ref().is_some_and(|g| g.locked(now));
                if locked || e.secret.is_none() || !e.metadata.mark_burned(now) {
                    return Change::Keep;
                }
                e.secret = None;
                e.guesses = None;
                Change::Write(e.metadata.clone())
            })?;
            if burned.is_some() {
                // As in `take_secret`: the mail goes in the same flush, and `due_mail` drops it
                // should a crash come between.
                db.mail.remove(id)?;
                db.durable().await?;
            }
            Ok(burned)
        })
        .await
    }

    async fn passphrase_locked(&self, secret_id: &RecordId, now: u64) -> Result<bool> {
        self.run(|db| async move {
            let Some(receipt_id) = db.pointer(secret_id)? else {
                return Ok(false);
            };
            Ok(db
                .entry(&receipt_id)?
                .and_then(|e| e.guesses)
                .is_some_and(|g| g.locked(now)))
        })
        .await
    }

    async fn record_passphrase_failure(
        &self,
        secret_id: &RecordId,
        attempt: GuessAttempt,
    ) -> Result<bool> {
        let GuessAttempt { ip_tag, now, rules } = attempt;
        self.run(|db| async move {
            let Some(receipt_id) = db.pointer(secret_id)? else {
                return Ok(false);
            };
            let locked = db.update_entry(&receipt_id, |e| {
                let Some(guesses) = e.guesses.as_mut().filter(|_| e.secret.is_some()) else {
                    return Change::Keep;
                };
                if guesses.spent(ip_tag, now, rules) {
                    Change::Write(())
                } else {
                    Change::Keep
                }
            })?;
            if locked.is_some() {
                // Durable like any write that guards a secret: a crash must not lift a lockout.
                db.durable().await?;
            }
            Ok(locked.is_some())
        })
        .await
    }

    async fn reserve_guess(&self, secret_id: &RecordId, attempt: GuessAttempt) -> Result<Guess> {
        let GuessAttempt { ip_tag, now, rules } = attempt;
        self.run(|db| async move {
            let Some(receipt_id) = db.pointer(secret_id)? else {
                return Ok(Guess::Gone);
            };
            // Counters sit in the secret's own entry: one compare-and-swap reserves the guess, and
            // no counters are kept for a secret that is gone.
            let mut guess = Guess::Gone;
            let written = db.update_entry(&receipt_id, |e| {
                if e.secret.as_ref().is_none_or(|s| s.expires_at <= now) {
                    guess = Guess::Gone;
                    return Change::Keep;
                }
                let counters = e.guesses.get_or_insert_with(Guesses::default);
                guess = counters.reserve(ip_tag, now, rules);
                match guess {
                    Guess::Locked { newly: false } => Change::Keep,
                    _ => Change::Write(()),
                }
            })?;
            if written.is_none() {
                return Ok(guess);
            }
            // Durable before the guess is evaluated: a crash must not hand out a fresh budget.
            db.durable().await?;
            Ok(guess)
        })
        .await
    }
}

impl SledStore {
    /// Takes the secret under `id` if it is there, unexpired, not locked by wrong passphrases
    /// and `wanted`; one that is not `wanted` comes back untaken (`Protected`).
    async fn take(
        &self,
        id: &RecordId,
        now: u64,
        wanted: impl Fn(&SecretRecord) -> bool + Send,
    ) -> Result<PlainTake> {
        self.run(|db| async move {
            let Some(receipt_id) = db.pointer(id)? else {
                return Ok(PlainTake::Gone);
            };
            // One compare-and-swap removes the value and marks the receipt: of N racing reveals,
            // exactly one swaps against an entry that still holds the secret. A lock in the same
            // entry is checked in the same swap.
            let mut found = PlainTake::Gone;
            let taken = db.update_entry(&receipt_id, |e| match &e.secret {
                Some(s) if s.expires_at > now && !wanted(s) => {
                    found = PlainTake::Protected(s.clone());
                    Change::Keep
                }
                Some(s)
                    if s.expires_at > now && !e.guesses.as_ref().is_some_and(|g| g.locked(now)) =>
                {
                    let secret = e.secret.take();
                    e.guesses = None;
                    e.metadata.mark_received(now);
                    Change::Write(secret)
                }
                _ => Change::Keep,
            })?;
            let Some(Some(secret)) = taken else {
                return Ok(found);
            };
            // The mail with the link goes in the same flush. It is a second write, not part of the
            // swap (sled 0.34 transactions cost two synchronous log writes each): if the process
            // dies between the two, `due_mail` finds the secret gone and drops the mail unsent.
            db.mail.remove(receipt_id)?;
            // The pointer and expiry entry stay until the secret's time is up: the sweeper drops
            // them then, and a reveal costs one write instead of three.
            // The value goes out only after its removal is on disk: a crash right after the
            // response can never bring it back for a second read.
            db.durable().await?;
            Ok(PlainTake::Taken(secret))
        })
        .await
    }
}
