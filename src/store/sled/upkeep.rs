//! [`Upkeep`] on sled: flush, schema version, and the upgrade from schema 1.

use crate::store::Result;
use async_trait::async_trait;

use super::trees::{read_version, Trees, LEGACY_CUSTOMERS, LEGACY_OUTBOX, SCHEMA_KEY};
use super::SledStore;
use crate::crypto::RecordId;
use crate::store::record::{decode, encode};
use crate::store::upgrade::{rekey_mail, LegacyCustomer, UpgradeKeys};
use crate::store::{Footprint, StoreError, Upkeep, SCHEMA_VERSION};

#[async_trait]
impl Upkeep for SledStore {
    async fn ping(&self) -> Result<()> {
        // Unhealthy while the database is being reopened after an I/O error.
        self.run(|_| async { Ok(()) }).await
    }

    /// Counting walks the trees (sled keeps no counts), so it runs on the blocking pool.
    async fn footprint(&self) -> Result<Footprint> {
        self.run(|db| async move {
            tokio::task::spawn_blocking(move || {
                Ok(Footprint {
                    records: Some(db.entries.len() as u64),
                    outbox: Some(db.mail.len() as u64),
                    bytes: Some(db.db.size_on_disk()?),
                })
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("counting the store: {e}")))?
        })
        .await
    }

    async fn flush(&self) -> Result<()> {
        self.run(|db| async move { db.flush().await }).await
    }

    async fn checkpoint(&self) -> Result<bool> {
        let (current, opening) = (self.current.clone(), self.opening.clone());
        tokio::task::spawn_blocking(move || super::checkpoint(&current, &opening))
            .await
            .map_err(|e| StoreError::Unavailable(format!("checkpoint task: {e}")))??;
        Ok(true)
    }

    async fn schema(&self) -> Result<u32> {
        self.run(|db| async move { read_version(&db.meta) }).await
    }

    async fn upgrade(&self, keys: &dyn UpgradeKeys) -> Result<()> {
        self.run(|db| async move {
            if read_version(&db.meta)? >= SCHEMA_VERSION {
                return Ok(());
            }
            // Each record in its new form first, then the old one goes: a crash anywhere leaves
            // both or the new one, and the next open picks up where this one stopped.
            let accounts = db.db.open_tree(LEGACY_CUSTOMERS)?;
            for item in accounts.iter() {
                let (email, bytes) = item?;
                let record = LegacyCustomer::from_bytes(&bytes)?.upgrade(keys);
                db.accounts.insert(record.id, record.to_bytes()?)?;
                accounts.remove(email)?;
            }
            let outbox = db.db.open_tree(LEGACY_OUTBOX)?;
            for item in outbox.iter() {
                let (id, bytes) = item?;
                let old_id = RecordId::try_from(id.as_ref())
                    .map_err(|_| StoreError::Corrupt("outbox key".into()))?;
                // Kept only while its secret is unread, and only if it opens (else it could never
                // be sent).
                if let Some(mail) = rekey_mail(keys, &old_id, decode(&bytes)?) {
                    let unread = db
                        .entry(&mail.receipt_id)?
                        .is_some_and(|e| e.secret.is_some());
                    if unread {
                        db.mail.insert(mail.receipt_id, encode(&mail)?)?;
                    }
                }
                outbox.remove(id)?;
            }
            db.flush().await?;
            db.db.drop_tree(LEGACY_CUSTOMERS)?;
            db.db.drop_tree(LEGACY_OUTBOX)?;
            db.meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            db.flush().await?;
            Ok(())
        })
        .await
    }
}

impl Trees {
    /// Flushes on the blocking pool (`flush_async` hangs under load in sled 0.34).
    pub(super) async fn flush(&self) -> Result<()> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Unavailable(format!("flush task: {e}")))??;
        Ok(())
    }
}
