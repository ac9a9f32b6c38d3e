//! [`Outbox`] on sled: the `mail` tree, keyed by the receipt's metadata id.

use async_trait::async_trait;

use super::SledStore;
use crate::crypto::RecordId;
use crate::store::record::{decode, encode};
use crate::store::{Delivery, Outbox, OutboxRecord, Result};

#[async_trait]
impl Outbox for SledStore {
    async fn due_mail(&self, now: u64, limit: usize) -> Result<Vec<OutboxRecord>> {
        self.run(|db| async move {
            let mut due = Vec::new();
            for item in db.mail.iter() {
                let (key, bytes) = item?;
                let mail: OutboxRecord = decode(&bytes)?;
                if mail.next_attempt > now {
                    continue;
                }
                // Left behind by a crash between a take and the mail's removal, or expired before
                // the sweeper came: its link leads nowhere, so it goes unsent.
                let live = db
                    .entry(&key)?
                    .and_then(|e| e.secret)
                    .is_some_and(|s| s.expires_at > now);
                if !live {
                    db.mail.remove(&key)?;
                    continue;
                }
                due.push(mail);
                if due.len() == limit {
                    break;
                }
            }
            Ok(due)
        })
        .await
    }

    async fn retry_mail(&self, mail: &OutboxRecord, delivery: Delivery) -> Result<()> {
        self.run(|db| async move {
            // Only over the mail still queued: a reveal or burn during the attempt removed it, and
            // it must not come back.
            let key = mail.receipt_id;
            let bytes = encode(mail)?;
            loop {
                let Some(current) = db.mail.get(key)? else {
                    break;
                };
                if db
                    .mail
                    .compare_and_swap(key, Some(current), Some(bytes.as_slice()))?
                    .is_ok()
                {
                    db.set_delivery(&key, &delivery)?;
                    break;
                }
            }
            db.durable().await
        })
        .await
    }

    async fn finish_mail(&self, receipt_id: &RecordId, delivery: Delivery) -> Result<()> {
        self.run(|db| async move {
            // Outcome first, then removal: a crash in between resends rather than forgets.
            db.set_delivery(receipt_id, &delivery)?;
            db.mail.remove(receipt_id)?;
            db.durable().await
        })
        .await
    }
}
