//! [`Transfer`] on Redis: a SCAN of every primary for live records, and writes that keep
//! each record's expiry.

use crate::store::Result;
use async_trait::async_trait;
use redis::AsyncCommands;

use super::connection::Batch;
use super::RedisStore;
use crate::crypto::RecordId;
use crate::domain::RECENT_WINDOW;
use crate::store::{
    Accounts, Exported, ExportedSecret, OutboxRecord, RecentEntry, RecentSeal, SecretRecord,
    StoreError, StoredState, Transfer,
};

#[async_trait]
impl Transfer for RedisStore {
    async fn export(&self, now: u64) -> Result<Vec<Exported>> {
        let mut out = Vec::new();
        for key in self.scan(&format!("{}{{*}}:m", self.prefix)).await? {
            let tag = key
                .strip_prefix(&format!("{}{{", self.prefix))
                .and_then(|k| k.strip_suffix("}:m"))
                .unwrap_or_default();
            let receipt_id = hex::decode(tag)
                .ok()
                .and_then(|b| RecordId::try_from(b.as_slice()).ok())
                .ok_or_else(|| StoreError::Corrupt("receipt key".into()))?;
            // With its fate applied: an import writes the receipt as it stands.
            let Some(metadata) = self.receipt_record(&receipt_id).await? else {
                continue;
            };
            if metadata.expires_at <= now {
                continue;
            }
            let secret: Option<SecretRecord> = self.get(&self.entry_key(&receipt_id, "s")).await?;
            let mail: Option<OutboxRecord> = self.get(&self.entry_key(&receipt_id, "o")).await?;
            out.push(Exported::Secret(ExportedSecret {
                receipt_id,
                secret: secret.filter(|s| s.expires_at > now),
                guesses: self.guesses(&receipt_id).await?,
                metadata,
            }));
            // After its receipt: an import gives the mail its secret's expiry.
            out.extend(mail.map(Exported::Mail));
        }
        for account in self.accounts().await? {
            out.push(Exported::Account(account));
        }
        for key in self.scan(&format!("{}r:*", self.prefix)).await? {
            let account_id = key
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
                    account_id,
                    created: score as u64,
                    sealed: RecentSeal::from_bytes(member.get(32..).unwrap_or_default())?,
                }));
            }
        }
        Ok(out)
    }

    async fn import(&self, record: &Exported) -> Result<()> {
        match record {
            Exported::Secret(e) => {
                let mut batch = Batch::default();
                let (secret, guesses) = (e.secret.as_ref(), e.guesses.as_ref());
                self.write_entry(&mut batch, &e.receipt_id, &e.metadata, secret, guesses)?;
                batch.run(&self.conn, self.ack).await?;
            }
            Exported::Account(account) => {
                let () = self
                    .conn
                    .clone()
                    .set(self.account_key(&account.id), account.to_bytes()?)
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
                let receipt = self.receipt_record(&mail.receipt_id).await?;
                if let Some(m) = receipt.filter(|m| m.state == StoredState::New) {
                    let mut batch = Batch::default();
                    self.queue_mail(&mut batch, mail, m.secret_expires_at)?;
                    batch.run(&self.conn, self.ack).await?;
                }
            }
        }
        Ok(())
    }
}
