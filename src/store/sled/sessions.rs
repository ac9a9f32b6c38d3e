//! [`Sessions`] on sled: the `sessions` tree, each session in the expiry index.

use async_trait::async_trait;

use super::trees::{expiry_key, KIND_SESSION};
use super::SledStore;
use crate::crypto::RecordId;
use crate::store::record::{decode, encode};
use crate::store::{Result, SessionRecord, Sessions};

#[async_trait]
impl Sessions for SledStore {
    async fn put_session(&self, id: &RecordId, session: &SessionRecord) -> Result<()> {
        self.run(|db| async move {
            // The expiry entry first: whatever a crash leaves, the sweeper finds.
            db.expiry
                .insert(expiry_key(session.expires_at, KIND_SESSION, id), &[])?;
            db.sessions.insert(id, encode(session)?)?;
            db.durable().await
        })
        .await
    }

    async fn session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>> {
        self.run(|db| async move {
            Ok(db
                .sessions
                .get(id)?
                .map(|bytes| decode::<SessionRecord>(&bytes))
                .transpose()?
                .filter(|s| s.expires_at > now))
        })
        .await
    }

    async fn remove_session(&self, id: &RecordId) -> Result<()> {
        self.run(|db| async move {
            // Durable: a signed-out session must not come back after a crash. Its expiry entry
            // stays for the sweeper, which finds nothing left to remove.
            if db.sessions.remove(id)?.is_some() {
                db.durable().await?;
            }
            Ok(())
        })
        .await
    }

    async fn take_session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>> {
        self.run(|db| async move {
            // sled's remove is atomic: one caller gets the old value.
            let Some(bytes) = db.sessions.remove(id)? else {
                return Ok(None);
            };
            db.durable().await?;
            Ok(Some(decode::<SessionRecord>(&bytes)?).filter(|s| s.expires_at > now))
        })
        .await
    }
}
