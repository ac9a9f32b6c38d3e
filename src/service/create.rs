//! share and generate: a new secret, its receipt, its recent-list entry and its mail, stored in
//! one atomic step.

use zeroize::Zeroizing;

use super::error::Result;
use super::payload::{ReceiptPayload, SecretPayload};
use super::{nonempty, Service};
use crate::config::Plan;
use crate::crypto::envelope::Envelope;
use crate::crypto::{
    generate_key, generate_password_from, seal_to, Binding, CharSets, KdfParams, PassKey, RecordId,
    RecordKind, Sealed,
};
use crate::domain::{
    obscure_email, resolve_length, Caller, DeliveryState, EmailAddress, Receipt, ReceiptKey,
    RequestedTtl, SecretKey, Sensitive,
};
use crate::mail;
use crate::store::{
    Delivery, NewSecret, OutboxRecord, ReceiptRecord, RecentEntry, RecentSeal, SecretRecord,
    StoredState,
};

/// What a create asks for, read from any of the API's parameter sources or the create form.
#[derive(Debug, Default)]
pub struct CreateRequest {
    /// The value to share (share only).
    pub secret: Option<Sensitive>,
    /// Generated password length (generate only), unparsed: unreadable means the default.
    pub length: Option<String>,
    /// Requested lifetime; `None` for the default.
    pub ttl: Option<RequestedTtl>,
    /// Optional passphrase (empty counts as absent).
    pub passphrase: Option<Sensitive>,
    /// Recipient addresses as given (only the first is mailed).
    pub recipients: Vec<String>,
    /// Optional share domain.
    pub share_domain: Option<String>,
    /// The creator's private note, kept with the receipt (empty counts as absent).
    pub memo: Option<Sensitive>,
    /// Which characters a generated password draws from (generate only); `None` for all.
    pub charsets: Option<CharSets>,
    /// Set when `secret` is an end-to-end envelope (share only; `docs/envelope.md`).
    pub e2e: Option<E2eShare>,
}

/// What an end-to-end create says besides its envelope.
#[derive(Debug, Default, Clone)]
pub struct E2eShare {
    /// Hex SHA-256 verifier of the envelope's key: a reveal that proves a different key is
    /// refused before the secret is consumed.
    pub verifier: Option<String>,
    /// The envelope holds a file: the plan's file size applies, and the receipt says "file".
    pub file: bool,
}

/// A create that passed the policy: what to store.
pub(super) struct Accepted<'a> {
    pub(super) caller: &'a Caller,
    pub(super) req: &'a CreateRequest,
    pub(super) plan: Plan,
    pub(super) value: Sensitive,
    /// A generated value, which the first receipt read shows.
    pub(super) generated: bool,
    /// Who gets the link by mail.
    pub(super) recipient: Option<EmailAddress>,
    /// Sent through the incoming page: the mail says so, and carries the visitor's memo.
    pub(super) incoming: bool,
}

/// The keys of a secret being created and the ids its records are stored under.
struct NewKeys {
    secret_key: SecretKey,
    receipt_key: ReceiptKey,
    secret_id: RecordId,
    receipt_id: RecordId,
}

impl Service {
    /// Stores `req.secret` and returns its receipt (state `new`, no value).
    pub async fn share(&self, caller: &Caller, req: CreateRequest, now: u64) -> Result<Receipt> {
        let plan = self.policy.plan(caller);
        let (value, recipient) = self.policy.check_share(caller, &req, plan)?;
        let accepted = Accepted {
            caller,
            req: &req,
            plan,
            value,
            generated: false,
            recipient,
            incoming: false,
        };
        self.create(accepted, now).await
    }

    /// Stores a fresh random password and returns its receipt with the value.
    pub async fn generate(&self, caller: &Caller, req: CreateRequest, now: u64) -> Result<Receipt> {
        let plan = self.policy.plan(caller);
        let recipient = self.policy.check_create(caller, &req)?;
        let length = resolve_length(req.length.as_deref(), self.policy.generate_length);
        let accepted = Accepted {
            caller,
            req: &req,
            plan,
            value: Sensitive::new(
                generate_password_from(length, req.charsets.unwrap_or_default()).to_string(),
            ),
            generated: true,
            recipient,
            incoming: false,
        };
        self.create(accepted, now).await
    }

    pub(super) async fn create(&self, new: Accepted<'_>, now: u64) -> Result<Receipt> {
        let Accepted {
            caller,
            req,
            plan,
            value,
            generated,
            recipient,
            incoming,
        } = new;
        let ttl = self.policy.ttl(req.ttl, plan);
        let share_domain = self.policy.share_domain(req.share_domain.as_deref());
        let keys = self.new_keys();
        let (kdf, pass_key) = self.new_passphrase(req).await?;
        let link = format!(
            "{}/secret/{}",
            self.policy.link_base(&share_domain),
            keys.secret_key.as_str()
        );
        // A generated password is made here, never an envelope.
        let e2e = req.e2e.as_ref().filter(|_| !generated);
        let mail = match &recipient {
            Some(to) => {
                let to = to.as_str();
                let composed = if incoming {
                    let memo = req.memo.as_ref().map(Sensitive::expose).unwrap_or("");
                    mail::compose_incoming(to, &link, memo)
                } else if e2e.is_some() {
                    mail::compose_key_apart(caller.custid(), to, &link, kdf.is_some())
                } else {
                    mail::compose(caller.custid(), to, &link, kdf.is_some())
                };
                Some(self.queue_mail(to, &composed, keys.receipt_id, now)?)
            }
            None => None,
        };
        let secret_payload = SecretPayload {
            value: value.expose().to_owned(),
            share_domain: share_domain.clone(),
            e2e: e2e.is_some(),
            verifier: e2e.and_then(|e| e.verifier.clone()).unwrap_or_default(),
        };
        let secret = SecretRecord {
            receipt_id: keys.receipt_id,
            created: now,
            expires_at: now + ttl,
            kdf,
            sealed: self.seal(
                Binding::new(
                    RecordKind::Secret,
                    &keys.secret_id,
                    keys.secret_key.as_str(),
                )
                .with_pass(pass_key.as_ref()),
                &secret_payload,
            )?,
        };
        let receipt_payload = ReceiptPayload {
            secret_key: keys.secret_key.as_str().to_owned(),
            custid: caller.custid().to_owned(),
            recipients: mail.iter().map(|(to, _)| obscure_email(to)).collect(),
            share_domain,
            memo: nonempty(req.memo.as_ref())
                .map(|m| m.expose().to_owned())
                .unwrap_or_default(),
            e2e: e2e.is_some(),
            file_size: match e2e {
                Some(e) if e.file => {
                    Envelope::parse(value.expose()).map_or(0, |e| e.plain_len() as u64)
                }
                _ => 0,
            },
        };
        let (sealed, sealed_generated) =
            self.seal_receipt(&keys, &receipt_payload, generated.then_some(&value))?;
        let metadata = ReceiptRecord {
            secret_id: keys.secret_id,
            state: StoredState::New,
            created: now,
            updated: now,
            received: None,
            ttl,
            secret_expires_at: now + ttl,
            expires_at: now + 2 * ttl,
            passphrase_required: kdf.is_some(),
            sealed,
            generated: sealed_generated,
            delivery: mail.as_ref().map(|_| Delivery {
                state: DeliveryState::Queued,
                reason: None,
                updated: now,
            }),
        };
        let new = NewSecret {
            recent: self.recent_entry(caller, &keys.receipt_key, now),
            mail: mail.map(|(_, record)| record),
            secret_id: keys.secret_id,
            secret,
            receipt_id: keys.receipt_id,
            metadata,
        };
        self.store.create(&new).await?;
        crate::metrics::secret_created(if generated {
            crate::metrics::Kind::Generated
        } else {
            crate::metrics::Kind::Text
        });
        if new.mail.is_some() {
            crate::metrics::mail_queued();
            self.outbox.notify_one();
        }
        let mut receipt =
            self.receipt_view(&keys.receipt_key, &new.metadata, &receipt_payload, now);
        receipt.value = generated.then_some(value);
        Ok(receipt)
    }

    /// Fresh keys for a new secret and its receipt, and the ids their records are stored
    /// under.
    fn new_keys(&self) -> NewKeys {
        let secret_key = SecretKey::generate();
        let receipt_key = ReceiptKey::generate();
        NewKeys {
            secret_id: self
                .sealer
                .record_id(RecordKind::Secret, secret_key.as_str()),
            receipt_id: self
                .sealer
                .record_id(RecordKind::Receipt, receipt_key.as_str()),
            secret_key,
            receipt_key,
        }
    }

    /// The scrypt parameters and derived key of a new secret's passphrase, when it has one:
    /// fresh parameters at the configured cost, a fresh salt.
    async fn new_passphrase(
        &self,
        req: &CreateRequest,
    ) -> Result<(Option<KdfParams>, Option<PassKey>)> {
        let Some(pass) = nonempty(req.passphrase.as_ref()) else {
            return Ok((None, None));
        };
        let (log_n, r, p) = self.policy.scrypt;
        let params = KdfParams::fresh(log_n, r, p);
        let key = self.kdf.derive(pass.to_zeroizing(), params).await?;
        Ok((Some(params), Some(key)))
    }

    /// The receipt sealed under its key, and a generated value sealed beside it (shown on the
    /// first receipt read only).
    fn seal_receipt(
        &self,
        keys: &NewKeys,
        payload: &ReceiptPayload,
        generated: Option<&Sensitive>,
    ) -> Result<(Sealed, Option<Sealed>)> {
        let receipt_key = keys.receipt_key.as_str();
        let sealed = self.seal(
            Binding::new(RecordKind::Receipt, &keys.receipt_id, receipt_key),
            payload,
        )?;
        let generated = generated.map(|value| {
            self.sealer.seal(
                Binding::new(RecordKind::Generated, &keys.receipt_id, receipt_key),
                value.expose().as_bytes(),
            )
        });
        Ok((sealed, generated))
    }

    /// The creator's recent-list entry: the metadata key sealed under a fresh entry key, and
    /// that entry key in a sealed box for each of the account's list keys, so the entry lists
    /// through the API token and a web session alike (see [`crate::accounts`]).
    fn recent_entry(
        &self,
        caller: &Caller,
        receipt_key: &ReceiptKey,
        now: u64,
    ) -> Option<RecentEntry> {
        let Caller::Account { email, recent, .. } = caller else {
            return None;
        };
        let account_id = self.sealer.record_id(RecordKind::Account, email);
        let sealed = if !recent.recipients.is_empty() {
            let entry_key = Zeroizing::new(generate_key());
            RecentSeal {
                sealed: self.sealer.seal(
                    Binding::new(RecordKind::Recent, &account_id, &entry_key),
                    receipt_key.as_str().as_bytes(),
                ),
                key_boxes: recent
                    .recipients
                    .iter()
                    .map(|public| seal_to(public, entry_key.as_bytes()))
                    .collect(),
            }
        } else {
            // An account from schema 1 whose API list key could not be added yet: sealed under
            // the token, as schema 1 did.
            let token = recent.token.as_ref()?;
            RecentSeal {
                sealed: self.sealer.seal(
                    Binding::new(RecordKind::Recent, &account_id, token.expose()),
                    receipt_key.as_str().as_bytes(),
                ),
                key_boxes: Vec::new(),
            }
        };
        Some(RecentEntry {
            account_id,
            created: now,
            sealed,
        })
    }

    /// The outbox entry mailing `link` to `to`: `(recipient, record)`. Kept under its
    /// receipt's id, so the step that reveals, burns or sweeps the secret removes it too.
    fn queue_mail(
        &self,
        to: &str,
        mail: &mail::OutgoingMail,
        receipt_id: RecordId,
        now: u64,
    ) -> Result<(String, OutboxRecord)> {
        let to = to.to_owned();
        let sealed = self.seal(Binding::new(RecordKind::Mail, &receipt_id, ""), mail)?;
        let record = OutboxRecord {
            receipt_id,
            created: now,
            attempts: 0,
            next_attempt: now,
            sealed,
        };
        Ok((to, record))
    }
}
