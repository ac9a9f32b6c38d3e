//! The secret's side: whether it waits, and the one reveal, with the passphrase lockout.

use std::net::IpAddr;

use super::error::{Result, ServiceError};
use subtle::ConstantTimeEq;

use super::{nonempty, Service};
use crate::crypto::{Binding, PassKey, RecordId, RecordKind};
use crate::domain::{Revealed, SecretKey, Sensitive};
use crate::store::{Guess, GuessAttempt, PlainTake, SecretRecord};

/// What a reveal proves about an end-to-end secret's key (`docs/envelope.md`).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyProof<'a> {
    /// The hex verifier of the key the client holds.
    pub verifier: Option<&'a str>,
    /// Refuse an end-to-end secret without a verifier (the web pages: a browser that cannot
    /// decrypt must never consume it). The v1 API does not require one.
    pub required: bool,
}

impl KeyProof<'_> {
    /// Whether [`Self::check`] can refuse some secret: a proof without a verifier that is not
    /// required lets every secret through.
    fn may_refuse(self) -> bool {
        self.required || self.verifier.is_some()
    }

    /// Whether this proof lets a secret with `stored` verifier (empty: none kept) be read.
    fn check(self, stored: &str) -> Result<()> {
        match self.verifier {
            None if self.required => Err(ServiceError::KeyRequired),
            None => Ok(()),
            // Nothing to compare with: the creator's client sent no verifier.
            Some(_) if stored.is_empty() => Ok(()),
            Some(given) if bool::from(given.as_bytes().ct_eq(stored.as_bytes())) => Ok(()),
            Some(_) => Err(ServiceError::WrongKey),
        }
    }
}

/// What `secret_status` tells about a secret that can still be revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretStatus {
    /// The reveal needs a passphrase.
    pub passphrase_required: bool,
    /// Wrong passphrases have locked it for now.
    pub locked: bool,
    /// Unix seconds it was created.
    pub created: u64,
    /// Unix seconds it expires at.
    pub expires_at: u64,
    /// Whether it is end-to-end, when that can be told without its passphrase (`None`: it has
    /// one, and only the reveal finds out).
    pub e2e: Option<bool>,
    /// When its link was first previewed, as [`Service::preview`] tells (`secret_status`
    /// does not look).
    pub previewed: Option<u64>,
}

impl Service {
    /// Whether the secret under `secret_key` can still be revealed, and what it needs.
    /// Changes nothing: link previews and mail scanners may call this as often as they like.
    pub async fn secret_status(
        &self,
        secret_key: &SecretKey,
        now: u64,
    ) -> Result<Option<SecretStatus>> {
        self.status_marking(secret_key, now, false).await
    }

    /// [`Self::secret_status`] for someone shown the secret's page or preview (upstream's
    /// `previewed`, v1's `viewed`): marks its receipt previewed, once. Never consumes it, so a
    /// link-preview bot's GET may call this too.
    pub async fn preview(&self, secret_key: &SecretKey, now: u64) -> Result<Option<SecretStatus>> {
        self.status_marking(secret_key, now, true).await
    }

    async fn status_marking(
        &self,
        secret_key: &SecretKey,
        now: u64,
        preview: bool,
    ) -> Result<Option<SecretStatus>> {
        let id = self
            .sealer
            .record_id(RecordKind::Secret, secret_key.as_str());
        let Some(record) = self.store.secret(&id, now).await? else {
            return Ok(None);
        };
        let previewed = if preview {
            self.store.mark_previewed(&record.receipt_id, now).await?
        } else {
            None
        };
        let locked = record.kdf.is_some() && self.store.passphrase_locked(&id, now).await?;
        let at = Binding::new(RecordKind::Secret, &id, secret_key.as_str());
        let e2e = match record.kdf {
            Some(_) => None,
            None => Some(self.open_secret(at, &record.sealed)?.e2e),
        };
        Ok(Some(SecretStatus {
            passphrase_required: record.kdf.is_some(),
            locked,
            created: record.created,
            expires_at: record.expires_at,
            e2e,
            previewed,
        }))
    }

    /// Reveals the secret under `secret_key` once and destroys it, as the v1 API does: an
    /// end-to-end secret is handed out as its envelope. See [`Self::reveal_proven`].
    pub async fn reveal(
        &self,
        secret_key: &SecretKey,
        passphrase: Option<&Sensitive>,
        client: IpAddr,
        now: u64,
    ) -> Result<Revealed> {
        self.reveal_proven(secret_key, passphrase, KeyProof::default(), client, now)
            .await
    }

    /// Reveals the secret under `secret_key` once and destroys it. A missing passphrase is
    /// `PassphraseRequired` (nothing counted), a wrong one `WrongPassphrase` (counted toward
    /// the lockout), a locked secret `Locked`; everything gone is `UnknownSecret`.
    ///
    /// An end-to-end secret is checked against `proof` before it is consumed: a verifier that
    /// does not match its key's is `WrongKey`, none where one is `required` is `KeyRequired`;
    /// either way the secret stays unread.
    pub async fn reveal_proven(
        &self,
        secret_key: &SecretKey,
        passphrase: Option<&Sensitive>,
        proof: KeyProof<'_>,
        client: IpAddr,
        now: u64,
    ) -> Result<Revealed> {
        let id = self
            .sealer
            .record_id(RecordKind::Secret, secret_key.as_str());
        // A secret without a passphrase is taken in the same step that reads it; one with a
        // passphrase comes back untaken, and is taken below once its passphrase opened it. A
        // reveal whose key proof may refuse an end-to-end secret reads first and takes only after
        // the proof held: a browser that cannot decrypt must leave the secret unread.
        let (record, taken) = if proof.may_refuse() {
            let record = self.store.secret(&id, now).await?;
            (record.ok_or(ServiceError::UnknownSecret)?, false)
        } else {
            match self.store.take_plain(&id, now).await? {
                PlainTake::Taken(record) => (record, true),
                PlainTake::Protected(record) => (record, false),
                PlainTake::Gone => return Err(ServiceError::UnknownSecret),
            }
        };
        let pass_key = self
            .passphrase_key(&id, &record, passphrase, client, now)
            .await?;
        // Taken already, a plain secret that does not open (a damaged record: its id is a keyed
        // hash of the very key that opens it) is gone all the same; nobody gets its value.
        let at = Binding::new(RecordKind::Secret, &id, secret_key.as_str());
        let payload = match self.open_secret(at.with_pass(pass_key.as_ref()), &record.sealed) {
            Ok(payload) => payload,
            // Already counted (the guess was reserved before the derivation); this may lock.
            Err(ServiceError::UnknownSecret) if pass_key.is_some() => {
                self.wrong_passphrase(&id, client, now).await?;
                return Err(ServiceError::WrongPassphrase);
            }
            Err(e) => return Err(e),
        };
        if payload.e2e {
            proof.check(&payload.verifier)?;
        }
        // Only the caller whose take removes the record gets the value; racing callers that
        // also opened it see `false` here, and so does a right passphrase whose guess was
        // reserved before wrong ones locked the secret.
        if !taken && !self.store.take_secret(&id, now).await? {
            return Err(self.refusal(&id, record.kdf.is_some(), now).await?);
        }
        crate::metrics::secret_revealed();
        Ok(Revealed {
            value: Sensitive::new(payload.value.clone()),
            secret_key: secret_key.as_str().to_owned(),
            share_domain: self.policy.link_base(&payload.share_domain),
            e2e: payload.e2e,
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
    ) -> Result<Option<PassKey>> {
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
    ) -> Result<()> {
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
    ) -> Result<ServiceError> {
        if passphrase_required && self.store.passphrase_locked(secret_id, now).await? {
            return Ok(ServiceError::Locked);
        }
        Ok(ServiceError::UnknownSecret)
    }
}
