//! The secret's side: whether it waits, and the one reveal, with the passphrase lockout.

use std::net::IpAddr;

use super::error::ServiceError;
use super::payload::SecretPayload;
use super::{nonempty, Service};
use crate::crypto::{Binding, PassKey, RecordId, RecordKind};
use crate::domain::{Revealed, SecretKey, Sensitive};
use crate::store::{Guess, GuessAttempt, SecretRecord};

/// What `secret_status` tells about a secret that can still be revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretStatus {
    /// The reveal needs a passphrase.
    pub passphrase_required: bool,
    /// Wrong passphrases have locked it for now.
    pub locked: bool,
}

impl Service {
    /// Whether the secret under `secret_key` can still be revealed, and what it needs.
    /// Changes nothing: link previews and mail scanners may call this as often as they like.
    pub async fn secret_status(
        &self,
        secret_key: &SecretKey,
        now: u64,
    ) -> Result<Option<SecretStatus>, ServiceError> {
        let id = self
            .sealer
            .record_id(RecordKind::Secret, secret_key.as_str());
        let Some(record) = self.store.secret(&id, now).await? else {
            return Ok(None);
        };
        let locked = record.kdf.is_some() && self.store.passphrase_locked(&id, now).await?;
        Ok(Some(SecretStatus {
            passphrase_required: record.kdf.is_some(),
            locked,
        }))
    }

    /// Reveals the secret under `secret_key` once and destroys it. A missing passphrase is
    /// `PassphraseRequired` (nothing counted), a wrong one `WrongPassphrase` (counted toward
    /// the lockout), a locked secret `Locked`; everything gone is `UnknownSecret`.
    pub async fn reveal(
        &self,
        secret_key: &SecretKey,
        passphrase: Option<&Sensitive>,
        client: IpAddr,
        now: u64,
    ) -> Result<Revealed, ServiceError> {
        let id = self
            .sealer
            .record_id(RecordKind::Secret, secret_key.as_str());
        let record = self
            .store
            .secret(&id, now)
            .await?
            .ok_or(ServiceError::UnknownSecret)?;
        let pass_key = self
            .passphrase_key(&id, &record, passphrase, client, now)
            .await?;
        let payload: SecretPayload = match self.open(
            Binding::new(RecordKind::Secret, &id, secret_key.as_str()).with_pass(pass_key.as_ref()),
            &record.sealed,
        ) {
            Ok(payload) => payload,
            // Already counted (the guess was reserved before the derivation); this may lock.
            Err(ServiceError::UnknownSecret) if pass_key.is_some() => {
                self.wrong_passphrase(&id, client, now).await?;
                return Err(ServiceError::WrongPassphrase);
            }
            Err(e) => return Err(e),
        };
        // Only the caller whose take removes the record gets the value; racing callers that
        // also opened it see `false` here, and so does a right passphrase whose guess was
        // reserved before wrong ones locked the secret.
        if !self.store.take_secret(&id, now).await? {
            return Err(self.refusal(&id, record.kdf.is_some(), now).await?);
        }
        crate::metrics::secret_revealed();
        Ok(Revealed {
            value: Sensitive::new(payload.value.clone()),
            secret_key: secret_key.as_str().to_owned(),
            share_domain: self.policy.link_base(&payload.share_domain),
        })
    }

    /// Derives the passphrase key a secret needs: `PassphraseRequired` without one, `Locked`
    /// for a secret locked by wrong guesses.
    ///
    /// The guess is reserved in the store before any scrypt work, in one atomic step (after a
    /// place in the scrypt queue, so a busy server does not use up a guess): no burst, no
    /// cancelled request and no number of nodes gets more guesses evaluated than the rules
    /// allow, and guessing costs the server nothing once a secret is locked.
    pub(super) async fn passphrase_key(
        &self,
        id: &RecordId,
        record: &SecretRecord,
        passphrase: Option<&Sensitive>,
        client: IpAddr,
        now: u64,
    ) -> Result<Option<PassKey>, ServiceError> {
        let Some(params) = record.kdf else {
            return Ok(None);
        };
        let Some(pass) = nonempty(passphrase) else {
            return Err(ServiceError::PassphraseRequired);
        };
        let ticket = self.kdf.admit()?;
        let reserved = self
            .store
            .reserve_guess(id, self.attempt(client, now))
            .await?;
        match reserved {
            Guess::Granted => {}
            Guess::Locked { newly } => {
                if newly {
                    crate::metrics::secret_locked();
                    tracing::warn!("a secret was locked after repeated wrong passphrases");
                }
                return Err(ServiceError::Locked);
            }
            Guess::Gone => return Err(ServiceError::UnknownSecret),
        }
        Ok(Some(ticket.derive(pass.to_zeroizing(), params).await?))
    }

    /// A reserved guess was wrong: the secret locks now if that guess used up a budget.
    pub(super) async fn wrong_passphrase(
        &self,
        secret_id: &RecordId,
        client: IpAddr,
        now: u64,
    ) -> Result<(), ServiceError> {
        crate::metrics::passphrase_failed();
        if self
            .store
            .record_passphrase_failure(secret_id, self.attempt(client, now))
            .await?
        {
            crate::metrics::secret_locked();
            tracing::warn!("a secret was locked after repeated wrong passphrases");
        }
        Ok(())
    }

    /// The tag a client's guesses are counted under: a keyed hash of its address, so the
    /// store holds no address.
    fn client_tag(&self, client: IpAddr) -> [u8; 8] {
        let full = self
            .sealer
            .record_id(RecordKind::Client, &client.to_string());
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&full[..8]);
        tag
    }

    /// A passphrase guess from `client` at `now`, counted under the configured budget.
    fn attempt(&self, client: IpAddr, now: u64) -> GuessAttempt {
        GuessAttempt {
            ip_tag: self.client_tag(client),
            now,
            rules: self.policy.guesses,
        }
    }

    /// Why a take or burn of a secret that was there a moment ago did nothing: locked by
    /// wrong passphrases, or gone (a racing caller got it, or its time is up).
    pub(super) async fn refusal(
        &self,
        secret_id: &RecordId,
        passphrase_required: bool,
        now: u64,
    ) -> Result<ServiceError, ServiceError> {
        if passphrase_required && self.store.passphrase_locked(secret_id, now).await? {
            return Ok(ServiceError::Locked);
        }
        Ok(ServiceError::UnknownSecret)
    }
}
