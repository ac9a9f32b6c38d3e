//! [`Accounts`] on sled: the `accounts` tree (compare-and-swap keeps racing changes from
//! undoing each other) and the `recent` tree, one prefix per account.

use async_trait::async_trait;

use super::trees::Trees;
use super::SledStore;
use crate::crypto::RecordId;
use crate::store::{AccountRecord, Accounts, RecentSeal, Result};

#[async_trait]
impl Accounts for SledStore {
    async fn add_account(&self, account: &AccountRecord) -> Result<bool> {
        self.run(|db| async move {
            let bytes = account.to_bytes()?;
            let added = db
                .accounts
                .compare_and_swap(account.id, None::<&[u8]>, Some(bytes))?
                .is_ok();
            if added {
                db.durable().await?;
            }
            Ok(added)
        })
        .await
    }

    async fn replace_account(&self, old: &AccountRecord, new: &AccountRecord) -> Result<bool> {
        self.run(|db| async move {
            if old.id != new.id {
                return Ok(false);
            }
            let bytes = new.to_bytes()?;
            let Ok(()) =
                db.accounts
                    .compare_and_swap(new.id, Some(old.to_bytes()?), Some(bytes))?
            else {
                return Ok(false);
            };
            // A rotated token must stay rotated across a crash: the old one is revoked.
            db.durable().await?;
            Ok(true)
        })
        .await
    }

    async fn account(&self, id: &RecordId) -> Result<Option<AccountRecord>> {
        self.run(|db| async move {
            db.accounts
                .get(id)?
                .map(|bytes| AccountRecord::from_bytes(&bytes))
                .transpose()
        })
        .await
    }

    async fn accounts(&self) -> Result<Vec<AccountRecord>> {
        self.run(|db| async move { db.accounts() }).await
    }

    async fn remove_account(&self, id: &RecordId) -> Result<bool> {
        self.run(|db| async move {
            let removed = db.accounts.remove(id)?.is_some();
            Trees::remove_prefix(&db.recent, id)?;
            db.durable().await?;
            Ok(removed)
        })
        .await
    }

    async fn clear_recent(&self, account_id: &RecordId) -> Result<()> {
        self.run(|db| async move {
            Trees::remove_prefix(&db.recent, account_id)?;
            db.durable().await
        })
        .await
    }

    async fn recent(&self, account_id: &RecordId, since: u64) -> Result<Vec<RecentSeal>> {
        self.run(|db| async move {
            let mut start = account_id.to_vec();
            start.extend_from_slice(&since.to_be_bytes());
            let mut end = account_id.to_vec();
            end.extend_from_slice(&u64::MAX.to_be_bytes());
            db.recent
                .range(start..end)
                .values()
                .rev()
                .map(|bytes| RecentSeal::from_bytes(&bytes?))
                .collect()
        })
        .await
    }
}

impl Trees {
    /// Every account, as [`Accounts::accounts`] and the export list them.
    pub(super) fn accounts(&self) -> Result<Vec<AccountRecord>> {
        self.accounts
            .iter()
            .values()
            .map(|bytes| AccountRecord::from_bytes(&bytes?))
            .collect()
    }
}
