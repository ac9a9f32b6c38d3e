//! [`Outbox`] on Redis: each mail beside its secret (`:o`, expiring with it), and a queue of
//! names by next attempt that nodes claim from with [`CLAIM`](super::CLAIM).

use async_trait::async_trait;
use redis::AsyncCommands;

use super::connection::Batch;
use super::{RedisStore, OUTBOX_LEASE};
use crate::crypto::RecordId;
use crate::store::record::encode;
use crate::store::{Delivery, Outbox, OutboxRecord, Result, StoredState};

#[async_trait]
impl Outbox for RedisStore {
    async fn due_mail(&self, now: u64, limit: usize) -> Result<Vec<OutboxRecord>> {
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
            let receipt = self.receipt_record(&id).await?;
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

    async fn retry_mail(&self, mail: &OutboxRecord, delivery: Delivery) -> Result<()> {
        // XX: only over the mail still queued. A reveal or burn during the attempt removed it
        // with the secret, and it must not come back.
        let kept: Option<String> = redis::cmd("SET")
            .arg(self.entry_key(&mail.receipt_id, "o"))
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
                mail.receipt_id.as_slice(),
                mail.next_attempt,
            )
            .await?;
        self.set_delivery(&mail.receipt_id, &delivery).await
    }

    async fn finish_mail(&self, receipt_id: &RecordId, delivery: Delivery) -> Result<()> {
        self.set_delivery(receipt_id, &delivery).await?;
        let _: i64 = self
            .conn
            .clone()
            .del(self.entry_key(receipt_id, "o"))
            .await?;
        let _: i64 = self
            .conn
            .clone()
            .zrem(self.outbox_queue(), receipt_id.as_slice())
            .await?;
        Ok(())
    }
}

impl RedisStore {
    /// Adds a mail to the outbox in `batch`: the mail beside its secret, expiring with it at
    /// `expires_at` (the link is useless after), then its place in the queue (another slot).
    pub(super) fn queue_mail(
        &self,
        batch: &mut Batch,
        mail: &OutboxRecord,
        expires_at: u64,
    ) -> Result<()> {
        let key = self.entry_key(&mail.receipt_id, "o");
        Self::set_until(batch.step(), key, &encode(mail)?, expires_at);
        batch
            .step()
            .zadd(
                self.outbox_queue(),
                mail.receipt_id.as_slice(),
                mail.next_attempt,
            )
            .ignore();
        Ok(())
    }

    /// Records a delivery outcome on a receipt (if it still exists).
    pub(super) async fn set_delivery(&self, receipt_id: &[u8], delivery: &Delivery) -> Result<()> {
        self.rewrite_metadata(receipt_id, |m| {
            m.delivery = Some(delivery.clone());
            true
        })
        .await?;
        Ok(())
    }
}
