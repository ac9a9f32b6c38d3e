//! [`Upkeep`] on Redis: health (a primary that can acknowledge writes), the schema version,
//! and the upgrade from schema 1.

use crate::store::Result;
use async_trait::async_trait;
use redis::AsyncCommands;

use super::connection::Batch;
use super::RedisStore;
use crate::crypto::RecordId;
use crate::store::record::decode;
use crate::store::upgrade::{rekey_mail, LegacyCustomer, UpgradeKeys};
use crate::store::{Footprint, StoreError, StoredState, Upkeep, SCHEMA_VERSION};

#[async_trait]
impl Upkeep for RedisStore {
    async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        // Healthy only while writes can be acknowledged.
        self.conn.check_writable(self.ack).await
    }

    /// The outbox's length only: counting records would walk the key space.
    async fn footprint(&self) -> Result<Footprint> {
        let queued: u64 = self.conn.clone().zcard(self.outbox_queue()).await?;
        Ok(Footprint {
            outbox: Some(queued),
            ..Footprint::default()
        })
    }

    async fn flush(&self) -> Result<()> {
        // Durability is Redis's own (appendonly/appendfsync): nothing is buffered here.
        Ok(())
    }

    async fn schema(&self) -> Result<u32> {
        let recorded: Option<u32> = self.conn.clone().get(self.schema_key()).await?;
        if let Some(version) = recorded {
            return Ok(version);
        }
        // Schema 1 recorded no version: tell it by its keys. A Redis without either is new.
        let (_, items) = self.legacy_outbox_keys();
        let outbox: bool = self.conn.clone().exists(&items).await?;
        let accounts = self.scan(&self.legacy_account_pattern()).await?;
        Ok(if outbox || !accounts.is_empty() {
            1
        } else {
            SCHEMA_VERSION
        })
    }

    async fn upgrade(&self, keys: &dyn UpgradeKeys) -> Result<()> {
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
        for old in self.scan(&self.legacy_account_pattern()).await? {
            let Some(bytes) = self.account_bytes(&old).await? else {
                continue;
            };
            let record = LegacyCustomer::from_bytes(&bytes)?.upgrade(keys);
            let _: bool = conn
                .set_nx(self.account_key(&record.id), record.to_bytes()?)
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
                let receipt = self.receipt_record(&mail.receipt_id).await?;
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
