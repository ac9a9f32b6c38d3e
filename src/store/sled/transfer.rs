//! [`Transfer`] on sled: every tree's live records out, and back in with their expiry.

use crate::store::Result;
use async_trait::async_trait;

use super::trees::Entry;
use super::SledStore;
use crate::crypto::RecordId;
use crate::domain::RECENT_WINDOW;
use crate::store::record::{decode, encode};
use crate::store::{
    Exported, ExportedSecret, OutboxRecord, RecentEntry, RecentSeal, StoreError, Transfer,
};

#[async_trait]
impl Transfer for SledStore {
    async fn export(&self, now: u64) -> Result<Vec<Exported>> {
        self.run(|db| async move {
            let mut out = Vec::new();
            for item in db.entries.iter() {
                let (id, bytes) = item?;
                let entry: Entry = decode(&bytes)?;
                if entry.metadata.expires_at <= now {
                    continue;
                }
                out.push(Exported::Secret(ExportedSecret {
                    receipt_id: RecordId::try_from(id.as_ref())
                        .map_err(|_| StoreError::Corrupt("entry id".into()))?,
                    secret: entry.secret.filter(|s| s.expires_at > now),
                    guesses: entry.guesses,
                    metadata: entry.metadata,
                }));
            }
            for account in db.accounts()? {
                out.push(Exported::Account(account));
            }
            for item in db.recent.iter() {
                let (key, bytes) = item?;
                let (account_id, created) = (key.get(..32), key.get(32..40));
                let (Some(account_id), Some(created)) = (account_id, created) else {
                    continue;
                };
                let created = u64::from_be_bytes(
                    created
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("recent key".into()))?,
                );
                if created + RECENT_WINDOW > now {
                    out.push(Exported::Recent(RecentEntry {
                        account_id: RecordId::try_from(account_id)
                            .map_err(|_| StoreError::Corrupt("recent key".into()))?,
                        created,
                        sealed: RecentSeal::from_bytes(&bytes)?,
                    }));
                }
            }
            for item in db.mail.iter().values() {
                let mail: OutboxRecord = decode(&item?)?;
                out.push(Exported::Mail(mail));
            }
            Ok(out)
        })
        .await
    }

    async fn import(&self, record: &Exported) -> Result<()> {
        self.run(|db| async move {
            match record {
                Exported::Secret(e) => {
                    let entry = Entry {
                        metadata: e.metadata.clone(),
                        secret: e.secret.clone(),
                        guesses: e.guesses.clone(),
                    };
                    db.write_entry(&e.receipt_id, &entry)?;
                }
                Exported::Account(account) => {
                    db.accounts.insert(account.id, account.to_bytes()?)?;
                }
                Exported::Recent(entry) => db.add_recent(entry)?,
                Exported::Mail(mail) => {
                    db.mail.insert(mail.receipt_id, encode(mail)?)?;
                }
            }
            Ok(())
        })
        .await
    }
}
