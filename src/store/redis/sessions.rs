//! [`Sessions`] on Redis: `Pw:<session id>`, each with its own TTL.

use async_trait::async_trait;

use super::RedisStore;
use crate::crypto::RecordId;
use crate::store::record::{decode, encode};
use crate::store::{Result, SessionRecord, Sessions};

#[async_trait]
impl Sessions for RedisStore {
    async fn put_session(&self, id: &RecordId, session: &SessionRecord) -> Result<()> {
        let mut pipe = redis::pipe();
        Self::set_until(
            &mut pipe,
            self.session_key(id),
            &encode(session)?,
            session.expires_at,
        );
        self.conn.write(pipe, self.ack).await
    }

    async fn session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>> {
        let session: Option<SessionRecord> = self.get(&self.session_key(id)).await?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn remove_session(&self, id: &RecordId) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.del(self.session_key(id)).ignore();
        // A sign-out answers once the replicas have it: a failover must not sign it back in.
        self.conn.write(pipe, self.ack).await
    }

    async fn take_session(&self, id: &RecordId, now: u64) -> Result<Option<SessionRecord>> {
        // GETDEL (Redis 6.2+) is one step: one caller gets the value. Not waited for on
        // replicas: what it guards is single-use anyway at the identity provider (the code).
        let bytes: Option<Vec<u8>> = redis::cmd("GETDEL")
            .arg(self.session_key(id))
            .query_async(&mut self.conn.clone())
            .await?;
        let session: Option<SessionRecord> = bytes.map(|b| decode(&b)).transpose()?;
        Ok(session.filter(|s| s.expires_at > now))
    }
}
