//! [`Accounts`] on Redis: `Pa:<account id>` accounts (compare-and-swap by [`SWAP`](super::SWAP))
//! and `Pr:<account id>` recent lists, sorted sets by time.

use async_trait::async_trait;
use redis::AsyncCommands;

use super::RedisStore;
use crate::crypto::RecordId;
use crate::domain::RECENT_WINDOW;
use crate::store::{AccountRecord, Accounts, RecentEntry, RecentSeal, Result};

#[async_trait]
impl Accounts for RedisStore {
    async fn add_account(&self, account: &AccountRecord) -> Result<bool> {
        let added: bool = self
            .conn
            .clone()
            .set_nx(self.account_key(&account.id), account.to_bytes()?)
            .await?;
        Ok(added)
    }

    async fn replace_account(&self, old: &AccountRecord, new: &AccountRecord) -> Result<bool> {
        if old.id != new.id {
            return Ok(false);
        }
        // postcard encodes a record one way: comparing bytes compares records.
        let outcome: i64 = self
            .swap
            .key(self.account_key(&new.id))
            .arg(old.to_bytes()?)
            .arg(new.to_bytes()?)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(outcome == 1)
    }

    async fn account(&self, id: &RecordId) -> Result<Option<AccountRecord>> {
        self.account_bytes(&self.account_key(id))
            .await?
            .map(|b| AccountRecord::from_bytes(&b))
            .transpose()
    }

    async fn accounts(&self) -> Result<Vec<AccountRecord>> {
        let mut accounts = Vec::new();
        for key in self.scan(&format!("{}a:*", self.prefix)).await? {
            if let Some(bytes) = self.account_bytes(&key).await? {
                accounts.push(AccountRecord::from_bytes(&bytes)?);
            }
        }
        Ok(accounts)
    }

    async fn remove_account(&self, id: &RecordId) -> Result<bool> {
        let removed: i64 = self.conn.clone().del(self.account_key(id)).await?;
        self.clear_recent(id).await?;
        Ok(removed > 0)
    }

    async fn clear_recent(&self, account_id: &RecordId) -> Result<()> {
        let _: i64 = self.conn.clone().del(self.recent_key(account_id)).await?;
        Ok(())
    }

    async fn recent(&self, account_id: &RecordId, since: u64) -> Result<Vec<RecentSeal>> {
        let members: Vec<Vec<u8>> = self
            .conn
            .clone()
            .zrevrangebyscore(self.recent_key(account_id), "+inf", since as f64)
            .await?;
        members
            .iter()
            .map(|m| RecentSeal::from_bytes(m.get(32..).unwrap_or_default()))
            .collect()
    }
}

impl RedisStore {
    /// Adds a recent-list entry to `pipe`: member `unique ++ sealed` (32 bytes that keep
    /// members distinct) scored by creation time; older entries are trimmed, and the list
    /// expires a window after its newest entry.
    pub(super) fn add_recent(
        &self,
        pipe: &mut redis::Pipeline,
        entry: &RecentEntry,
        unique: &[u8; 32],
    ) -> Result<()> {
        let key = self.recent_key(&entry.account_id);
        let mut member = unique.to_vec();
        member.extend_from_slice(&entry.sealed.to_bytes()?);
        pipe.zadd(&key, member, entry.created).ignore();
        pipe.zrembyscore(
            &key,
            "-inf",
            entry.created.saturating_sub(RECENT_WINDOW) as f64,
        )
        .ignore();
        pipe.expire_at(&key, (entry.created + RECENT_WINDOW) as i64)
            .ignore();
        Ok(())
    }
}
