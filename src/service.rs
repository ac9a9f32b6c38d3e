//! The use cases: share, generate, reveal, receipt, burn. Knows nothing of HTTP or of which
//! store backend holds the records.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::config::{Plan, Settings};
use crate::crypto::{
    generate_key, generate_password, seal_to, CryptoError, KdfParams, KdfPool, PassKey, RecordId,
    RecordKind, Sealed, Sealer,
};
use crate::domain::{
    is_plausible_key, normalize_email, resolve_length, resolve_ttl, Burned, Caller, Receipt,
    RecentAccess, Revealed, Sensitive, State, GENERATED_VALUE_WINDOW, MEMO_MAX_CHARS,
    PASSPHRASE_MAX_CHARS, RECENT_WINDOW, SHORTKEY_CHARS,
};
use crate::domain::{obscure_email, DeliveryState, DeliveryStatus};
use crate::mail;
use crate::store::{
    Delivery, Guess, GuessRules, MetadataRecord, NewSecret, OutboxRecord, RecentEntry, RecentSeal,
    SecretRecord, Store, StoreError, StoredState,
};

/// Why a use case refused or failed. Messages of `Invalid` are the API's exact strings.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input; the message is shown to the client as is.
    #[error("{0}")]
    Invalid(String),
    /// Missing, consumed, expired, or the wrong passphrase on reveal.
    #[error("Unknown secret")]
    UnknownSecret,
    /// Wrong passphrase (reveal, burn) or missing passphrase (burn). The v1 API reports a
    /// wrong passphrase on reveal as `UnknownSecret`; the web pages say what happened.
    #[error("Double check that passphrase")]
    WrongPassphrase,
    /// Too many wrong passphrases: the secret is locked for a while.
    #[error("Double check that passphrase")]
    Locked,
    /// The caller may not do this.
    #[error("Not authorized")]
    NotAuthorized,
    /// Too many passphrase derivations queued; try again shortly.
    #[error("server busy")]
    Busy,
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl From<CryptoError> for ServiceError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Busy => Self::Busy,
            // A record that does not open is, to the caller, a secret that does not exist.
            _ => Self::UnknownSecret,
        }
    }
}

/// What a create asks for, as flat strings from any of the API's parameter sources.
#[derive(Debug, Default)]
pub struct CreateRequest {
    /// The value to share (share only).
    pub secret: Option<Sensitive>,
    /// Generated password length (generate only).
    pub length: Option<String>,
    /// Requested TTL in seconds, unparsed.
    pub ttl: Option<String>,
    /// Optional passphrase (empty counts as absent).
    pub passphrase: Option<Sensitive>,
    /// Recipient addresses (only the first is mailed).
    pub recipients: Vec<String>,
    /// Optional share domain.
    pub share_domain: Option<String>,
    /// The creator's private note, kept with the receipt (empty counts as absent).
    pub memo: Option<Sensitive>,
}

/// What the secret record seals.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SecretPayload {
    value: String,
    share_domain: String,
}

/// What the receipt seals under the metadata key.
///
/// postcard is not self-describing: fields are only ever appended, and a receipt sealed before
/// `memo` existed opens as [`ReceiptPayloadV1`].
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ReceiptPayload {
    secret_key: String,
    custid: String,
    recipients: Vec<String>,
    share_domain: String,
    memo: String,
}

/// A receipt's sealed payload as written before the private note.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct ReceiptPayloadV1 {
    secret_key: String,
    custid: String,
    recipients: Vec<String>,
    share_domain: String,
}

impl ReceiptPayload {
    /// Decodes a receipt's opened bytes, of either shape.
    fn decode(plain: &[u8]) -> Result<Self, ServiceError> {
        if let Ok((payload, [])) = postcard::take_from_bytes::<Self>(plain) {
            return Ok(payload);
        }
        let Ok((old, [])) = postcard::take_from_bytes::<ReceiptPayloadV1>(plain) else {
            return Err(StoreError::Corrupt("receipt payload".into()).into());
        };
        Ok(Self {
            secret_key: old.secret_key.clone(),
            custid: old.custid.clone(),
            recipients: old.recipients.clone(),
            share_domain: old.share_domain.clone(),
            memo: String::new(),
        })
    }
}

/// What `secret_status` tells about a secret that can still be revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretStatus {
    /// The reveal needs a passphrase.
    pub passphrase_required: bool,
    /// Wrong passphrases have locked it for now.
    pub locked: bool,
}

/// The limits a create form offers a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateRules {
    /// Shortest lifetime, seconds.
    pub min_ttl: u64,
    /// Lifetime when none is chosen, seconds (capped by the plan).
    pub default_ttl: u64,
    /// Longest lifetime the caller's plan allows, seconds.
    pub max_ttl: u64,
    /// Largest secret, bytes.
    pub max_size: usize,
    /// Shortest passphrase.
    pub passphrase_min: usize,
    /// Whether links can be emailed.
    pub mail_enabled: bool,
}

/// The rules a create is checked against, taken from settings once at start.
#[derive(Debug, Clone)]
struct Policy {
    base_url: String,
    share_domains: Vec<String>,
    allow_anonymous: bool,
    default_ttl: u64,
    min_ttl: u64,
    passphrase_min: usize,
    generate_length: usize,
    plans: BTreeMap<String, Plan>,
    scrypt: (u8, u32, u32),
    guesses: GuessRules,
    mail_enabled: bool,
}

impl Policy {
    fn plan(&self, caller: &Caller) -> Plan {
        self.plans
            .get(caller.plan_name())
            .or_else(|| self.plans.get("default"))
            .copied()
            .unwrap_or(Plan {
                max_ttl: self.default_ttl,
                max_size: 0,
            })
    }

    /// The share domain a create names, as kept: one of `server.share_domains`, or `""` for
    /// anything else (the host of `base_url`, or a domain this server does not serve), whose
    /// links then use `base_url`, as Onetime Secret does. A link never points at a host the
    /// operator did not name.
    fn share_domain(&self, asked: Option<&str>) -> String {
        let wanted = asked.unwrap_or_default().trim().to_ascii_lowercase();
        if self.share_domains.contains(&wanted) {
            wanted
        } else {
            String::new()
        }
    }

    /// Where links for `share_domain` point: the operator's base URL, or the named domain.
    fn link_base(&self, share_domain: &str) -> String {
        if share_domain.is_empty() {
            self.base_url.clone()
        } else {
            format!("https://{share_domain}")
        }
    }
}

/// The use cases over one store.
pub struct Service {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    /// Wakes the outbox worker when a create queues mail.
    outbox: Arc<tokio::sync::Notify>,
    /// The process's one scrypt pool (shared with the account use cases).
    kdf: KdfPool,
    policy: Policy,
}

fn nonempty(s: Option<&Sensitive>) -> Option<&Sensitive> {
    s.filter(|s| !s.expose().is_empty())
}

impl Service {
    /// The use cases over `store`, sealing with `sealer`, with rules from `settings`.
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
        outbox: Arc<tokio::sync::Notify>,
        kdf: KdfPool,
        settings: &Settings,
    ) -> Self {
        let c = &settings.crypto;
        let l = &settings.limits;
        Self {
            store,
            sealer,
            outbox,
            kdf,
            policy: Policy {
                // `Application::build` fills it in from the bound address when it is unset.
                base_url: settings.link_base("").to_owned(),
                share_domains: settings.server.share_domains.clone(),
                allow_anonymous: settings.secrets.allow_anonymous,
                default_ttl: settings.secrets.default_ttl,
                min_ttl: settings.secrets.min_ttl,
                passphrase_min: settings.secrets.passphrase_min_length,
                generate_length: settings.secrets.generate_length,
                plans: settings.plans.clone(),
                scrypt: (c.scrypt_log_n, c.scrypt_r, c.scrypt_p),
                guesses: GuessRules {
                    per_ip: l.passphrase_failures_per_ip,
                    total: l.passphrase_failures_total,
                    window: l.passphrase_window,
                    lockout: l.passphrase_lockout,
                },
                mail_enabled: settings.mail.smtp_url.is_some(),
            },
        }
    }

    /// Stores `req.secret` and returns its receipt (state `new`, no value).
    pub async fn share(
        &self,
        caller: &Caller,
        req: CreateRequest,
        now: u64,
    ) -> Result<Receipt, ServiceError> {
        let plan = self.policy.plan(caller);
        if let Some(secret) = &req.secret {
            if secret.expose().len() > plan.max_size {
                return Err(ServiceError::Invalid(format!(
                    "Secret value exceeds the maximum size of {} bytes",
                    plan.max_size
                )));
            }
        }
        self.check_create(caller, &req)?;
        let value = match nonempty(req.secret.as_ref()) {
            Some(secret) => secret.clone(),
            None => {
                return Err(ServiceError::Invalid(
                    "You did not provide anything to share".into(),
                ))
            }
        };
        self.create(caller, &req, plan, value, false, now).await
    }

    /// Stores a fresh random password and returns its receipt with the value.
    pub async fn generate(
        &self,
        caller: &Caller,
        req: CreateRequest,
        now: u64,
    ) -> Result<Receipt, ServiceError> {
        let plan = self.policy.plan(caller);
        self.check_create(caller, &req)?;
        let length = resolve_length(req.length.as_deref(), self.policy.generate_length);
        let value = Sensitive::new(generate_password(length).to_string());
        self.create(caller, &req, plan, value, true, now).await
    }

    /// Checks shared by share and generate, in the API's order: recipient, passphrase, domain.
    fn check_create(&self, caller: &Caller, req: &CreateRequest) -> Result<(), ServiceError> {
        if !self.policy.allow_anonymous && *caller == Caller::Anonymous {
            return Err(ServiceError::NotAuthorized);
        }
        if let Some(first) = req.recipients.iter().find(|r| !r.trim().is_empty()) {
            if *caller == Caller::Anonymous {
                return Err(ServiceError::Invalid(
                    "An account is required to send emails.".into(),
                ));
            }
            if normalize_email(first).is_none() {
                let shown: String = first.chars().take(254).collect();
                return Err(ServiceError::Invalid(format!(
                    "Undeliverable email address: {shown}"
                )));
            }
            if !self.policy.mail_enabled {
                return Err(ServiceError::Invalid(
                    "Emailing links is off on this server: mail.smtp_url is not set".into(),
                ));
            }
        }
        if let Some(pass) = nonempty(req.passphrase.as_ref()) {
            let chars = pass.expose().chars().count();
            if chars < self.policy.passphrase_min {
                return Err(ServiceError::Invalid(format!(
                    "Passphrase must be at least {} characters long",
                    self.policy.passphrase_min
                )));
            }
            if chars > PASSPHRASE_MAX_CHARS {
                return Err(ServiceError::Invalid(format!(
                    "Passphrase must be no more than {PASSPHRASE_MAX_CHARS} characters long"
                )));
            }
        }
        if let Some(memo) = nonempty(req.memo.as_ref()) {
            if memo.expose().chars().count() > MEMO_MAX_CHARS {
                return Err(ServiceError::Invalid(format!(
                    "Memo must be no more than {MEMO_MAX_CHARS} characters long"
                )));
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        plan: Plan,
        value: Sensitive,
        generated: bool,
        now: u64,
    ) -> Result<Receipt, ServiceError> {
        let p = &self.policy;
        let ttl = resolve_ttl(req.ttl.as_deref(), p.default_ttl, p.min_ttl, plan.max_ttl);
        let share_domain = self.policy.share_domain(req.share_domain.as_deref());
        let secret_key = generate_key();
        let metadata_key = generate_key();
        let secret_id = self.sealer.record_id(RecordKind::Secret, &secret_key);
        let metadata_id = self.sealer.record_id(RecordKind::Metadata, &metadata_key);

        let (kdf, pass_key) = match nonempty(req.passphrase.as_ref()) {
            Some(pass) => {
                let (log_n, r, par) = p.scrypt;
                let params = KdfParams::fresh(log_n, r, par);
                let key = self.kdf.derive(pass.to_zeroizing(), params).await?;
                (Some(params), Some(key))
            }
            None => (None, None),
        };
        let secret_payload = SecretPayload {
            value: value.expose().to_owned(),
            share_domain: share_domain.clone(),
        };
        let link = format!(
            "{}/secret/{secret_key}",
            self.policy.link_base(&share_domain)
        );
        let mail = self.queue_mail(caller, req, &link, kdf.is_some(), metadata_id, now)?;
        let receipt_payload = ReceiptPayload {
            secret_key: secret_key.clone(),
            custid: caller.custid().to_owned(),
            recipients: mail.iter().map(|(to, _)| obscure_email(to)).collect(),
            share_domain,
            memo: nonempty(req.memo.as_ref())
                .map(|m| m.expose().to_owned())
                .unwrap_or_default(),
        };
        let sealed_secret = self.seal(
            RecordKind::Secret,
            &secret_id,
            &secret_key,
            pass_key.as_ref(),
            &secret_payload,
        )?;
        let sealed_receipt = self.seal(
            RecordKind::Metadata,
            &metadata_id,
            &metadata_key,
            None,
            &receipt_payload,
        )?;
        let sealed_generated = generated.then(|| {
            self.sealer.seal(
                RecordKind::Generated,
                &metadata_id,
                &metadata_key,
                None,
                value.expose().as_bytes(),
            )
        });
        let metadata = MetadataRecord {
            secret_id,
            state: StoredState::New,
            created: now,
            updated: now,
            received: None,
            ttl,
            secret_expires_at: now + ttl,
            expires_at: now + 2 * ttl,
            passphrase_required: kdf.is_some(),
            sealed: sealed_receipt,
            generated: sealed_generated,
            delivery: mail.as_ref().map(|_| Delivery {
                state: DeliveryState::Queued,
                reason: None,
                updated: now,
            }),
        };
        let new = NewSecret {
            recent: self.recent_entry(caller, &metadata_key, now),
            mail: mail.map(|(_, record)| record),
            secret_id,
            secret: SecretRecord {
                metadata_id,
                created: now,
                expires_at: now + ttl,
                kdf,
                sealed: sealed_secret,
            },
            metadata_id,
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
        let mut receipt = self.receipt_view(&metadata_key, &new.metadata, &receipt_payload, now);
        receipt.value = generated.then_some(value);
        Ok(receipt)
    }

    /// The creator's recent-list entry: the metadata key sealed under a fresh entry key, and
    /// that entry key in a sealed box for each of the account's list keys, so the entry lists
    /// through the API token and a web session alike (see [`crate::accounts`]).
    fn recent_entry(&self, caller: &Caller, metadata_key: &str, now: u64) -> Option<RecentEntry> {
        let Caller::Customer { email, recent, .. } = caller else {
            return None;
        };
        let customer_id = self.sealer.record_id(RecordKind::Customer, email);
        let sealed = if !recent.recipients.is_empty() {
            let entry_key = Zeroizing::new(generate_key());
            RecentSeal {
                sealed: self.sealer.seal(
                    RecordKind::Recent,
                    &customer_id,
                    &entry_key,
                    None,
                    metadata_key.as_bytes(),
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
                    RecordKind::Recent,
                    &customer_id,
                    token.expose(),
                    None,
                    metadata_key.as_bytes(),
                ),
                key_boxes: Vec::new(),
            }
        };
        Some(RecentEntry {
            customer_id,
            created: now,
            sealed,
        })
    }

    /// The metadata key in a recent entry, if the caller's credential opens it: a schema-1
    /// entry with the API token it was sealed under, a newer one with the caller's list key.
    fn open_recent(
        &self,
        customer_id: &RecordId,
        access: &RecentAccess,
        seal: &RecentSeal,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let entry_key = if seal.key_boxes.is_empty() {
            Zeroizing::new(access.token.as_ref()?.expose().as_bytes().to_vec())
        } else {
            let key = access.key.as_ref()?;
            seal.key_boxes.iter().find_map(|b| key.open(b))?
        };
        let entry_key = std::str::from_utf8(&entry_key).ok()?;
        self.sealer
            .open(
                RecordKind::Recent,
                customer_id,
                entry_key,
                None,
                &seal.sealed,
            )
            .ok()
    }

    /// The outbox entry mailing `link` to the first recipient (checked in `check_create`):
    /// `(recipient, record)`. Kept under its receipt's id, so the step that reveals, burns or
    /// sweeps the secret removes it too.
    fn queue_mail(
        &self,
        caller: &Caller,
        req: &CreateRequest,
        link: &str,
        passphrase_required: bool,
        metadata_id: RecordId,
        now: u64,
    ) -> Result<Option<(String, OutboxRecord)>, ServiceError> {
        let Some(to) = req.recipients.iter().find_map(|r| normalize_email(r)) else {
            return Ok(None);
        };
        let mail = mail::compose(caller.custid(), &to, link, passphrase_required);
        let sealed = self.seal(RecordKind::Mail, &metadata_id, "", None, &mail)?;
        let record = OutboxRecord {
            metadata_id,
            created: now,
            attempts: 0,
            next_attempt: now,
            sealed,
        };
        Ok(Some((to, record)))
    }

    fn seal<T: Serialize>(
        &self,
        kind: RecordKind,
        id: &RecordId,
        url_key: &str,
        pass: Option<&PassKey>,
        payload: &T,
    ) -> Result<Sealed, ServiceError> {
        self.sealer
            .seal_value(kind, id, url_key, pass, payload)
            .map_err(|e| StoreError::Corrupt(e.to_string()).into())
    }

    fn open<T: for<'de> Deserialize<'de>>(
        &self,
        kind: RecordKind,
        id: &RecordId,
        url_key: &str,
        pass: Option<&PassKey>,
        sealed: &Sealed,
    ) -> Result<T, ServiceError> {
        self.sealer
            .open_value(kind, id, url_key, pass, sealed)
            .map_err(|e| match e {
                CryptoError::Encoding(e) => StoreError::Corrupt(e).into(),
                other => other.into(),
            })
    }

    /// Whether the secret under `secret_key` can still be revealed, and what it needs.
    /// Changes nothing: link previews and mail scanners may call this as often as they like.
    pub async fn secret_status(
        &self,
        secret_key: &str,
        now: u64,
    ) -> Result<Option<SecretStatus>, ServiceError> {
        if !is_plausible_key(secret_key) {
            return Ok(None);
        }
        let id = self.sealer.record_id(RecordKind::Secret, secret_key);
        let Some(record) = self.store.secret(&id, now).await? else {
            return Ok(None);
        };
        let locked = record.kdf.is_some() && self.store.passphrase_locked(&id, now).await?;
        Ok(Some(SecretStatus {
            passphrase_required: record.kdf.is_some(),
            locked,
        }))
    }

    /// Reveals the secret under `secret_key` once and destroys it. A wrong passphrase is
    /// `WrongPassphrase` (and counts toward the lockout), a locked secret `Locked`; a missing
    /// passphrase, like everything gone, is `UnknownSecret`.
    pub async fn reveal(
        &self,
        secret_key: &str,
        passphrase: Option<&Sensitive>,
        client: IpAddr,
        now: u64,
    ) -> Result<Revealed, ServiceError> {
        if !is_plausible_key(secret_key) {
            return Err(ServiceError::UnknownSecret);
        }
        let id = self.sealer.record_id(RecordKind::Secret, secret_key);
        let record = self
            .store
            .secret(&id, now)
            .await?
            .ok_or(ServiceError::UnknownSecret)?;
        let pass_key = self
            .passphrase_key(
                &id,
                &record,
                passphrase,
                ServiceError::UnknownSecret,
                client,
                now,
            )
            .await?;
        let payload: SecretPayload = match self.open(
            RecordKind::Secret,
            &id,
            secret_key,
            pass_key.as_ref(),
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
            secret_key: secret_key.to_owned(),
            share_domain: self.policy.link_base(&payload.share_domain),
        })
    }

    /// Derives the passphrase key a secret needs. `refused` is the error for a missing
    /// passphrase; a secret locked by wrong guesses gives `Locked`.
    ///
    /// The guess is reserved in the store before any scrypt work, in one atomic step (after a
    /// place in the scrypt queue, so a busy server does not use up a guess): no burst, no
    /// cancelled request and no number of nodes gets more guesses evaluated than the rules
    /// allow, and guessing costs the server nothing once a secret is locked.
    async fn passphrase_key(
        &self,
        id: &RecordId,
        record: &SecretRecord,
        passphrase: Option<&Sensitive>,
        refused: ServiceError,
        client: IpAddr,
        now: u64,
    ) -> Result<Option<PassKey>, ServiceError> {
        let Some(params) = record.kdf else {
            return Ok(None);
        };
        let Some(pass) = nonempty(passphrase) else {
            return Err(refused);
        };
        let ticket = self.kdf.admit()?;
        let reserved = self
            .store
            .reserve_guess(id, self.client_tag(client), now, self.policy.guesses)
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
    async fn wrong_passphrase(
        &self,
        secret_id: &RecordId,
        client: IpAddr,
        now: u64,
    ) -> Result<(), ServiceError> {
        crate::metrics::passphrase_failed();
        let tag = self.client_tag(client);
        if self
            .store
            .record_passphrase_failure(secret_id, tag, now, self.policy.guesses)
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

    /// Why a take or burn of a secret that was there a moment ago did nothing: locked by
    /// wrong passphrases, or gone (a racing caller got it, or its time is up).
    async fn refusal(
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

    /// The receipt under `metadata_key` without its generated value, changing nothing.
    pub async fn receipt_status(
        &self,
        metadata_key: &str,
        now: u64,
    ) -> Result<Receipt, ServiceError> {
        let (_, record, payload) = self.load_receipt(metadata_key, now).await?;
        Ok(self.receipt_view(metadata_key, &record, &payload, now))
    }

    /// The link a receipt's secret is read at, while it can still be read.
    pub fn secret_link(&self, receipt: &Receipt) -> Option<String> {
        let key = receipt
            .secret_key
            .as_deref()
            .filter(|_| receipt.state == State::New)?;
        Some(format!(
            "{}/secret/{key}",
            self.policy.link_base(&receipt.share_domain)
        ))
    }

    /// What a create by `caller` may ask for.
    pub fn create_rules(&self, caller: &Caller) -> CreateRules {
        let plan = self.policy.plan(caller);
        CreateRules {
            min_ttl: self.policy.min_ttl,
            default_ttl: self.policy.default_ttl.min(plan.max_ttl),
            max_ttl: plan.max_ttl,
            max_size: plan.max_size,
            passphrase_min: self.policy.passphrase_min,
            mail_enabled: self.policy.mail_enabled,
        }
    }

    /// The receipt under `metadata_key`; the generated value on the first read within 60 s.
    pub async fn receipt(&self, metadata_key: &str, now: u64) -> Result<Receipt, ServiceError> {
        let (id, record, payload) = self.load_receipt(metadata_key, now).await?;
        let mut receipt = self.receipt_view(metadata_key, &record, &payload, now);
        if let Some(sealed) = &record.generated {
            let fresh = now.saturating_sub(record.created) <= GENERATED_VALUE_WINDOW;
            // Taken even when stale, so a generated value never outlives its window on disk.
            if self.store.take_generated(&id).await? && fresh {
                let value =
                    self.sealer
                        .open(RecordKind::Generated, &id, metadata_key, None, sealed)?;
                let text = String::from_utf8(value.to_vec())
                    .map_err(|_| StoreError::Corrupt("generated value".into()))?;
                receipt.value = Some(Sensitive::new(text));
            }
        }
        Ok(receipt)
    }

    async fn load_receipt(
        &self,
        metadata_key: &str,
        now: u64,
    ) -> Result<(RecordId, MetadataRecord, ReceiptPayload), ServiceError> {
        if !is_plausible_key(metadata_key) {
            return Err(ServiceError::UnknownSecret);
        }
        let id = self.sealer.record_id(RecordKind::Metadata, metadata_key);
        let record = self
            .store
            .metadata(&id, now)
            .await?
            .ok_or(ServiceError::UnknownSecret)?;
        let plain = self.sealer.open(
            RecordKind::Metadata,
            &id,
            metadata_key,
            None,
            &record.sealed,
        )?;
        Ok((id, record, ReceiptPayload::decode(&plain)?))
    }

    /// Destroys the unread secret of the receipt under `metadata_key`.
    ///
    /// A secret with a passphrase needs it, unless `caller` is the account that created it:
    /// the account owns it, and may burn it even while wrong guesses keep it locked.
    pub async fn burn(
        &self,
        caller: &Caller,
        metadata_key: &str,
        passphrase: Option<&Sensitive>,
        client: IpAddr,
        now: u64,
    ) -> Result<Burned, ServiceError> {
        let (id, record, payload) = self.load_receipt(metadata_key, now).await?;
        if record.state != StoredState::New || record.secret_expires_at <= now {
            return Err(ServiceError::UnknownSecret);
        }
        let owner = caller.created(&payload.custid);
        if record.passphrase_required && !owner {
            let secret = self
                .store
                .secret(&record.secret_id, now)
                .await?
                .ok_or(ServiceError::UnknownSecret)?;
            let pass_key = self
                .passphrase_key(
                    &record.secret_id,
                    &secret,
                    passphrase,
                    ServiceError::WrongPassphrase,
                    client,
                    now,
                )
                .await?;
            let opened: Result<SecretPayload, _> = self.open(
                RecordKind::Secret,
                &record.secret_id,
                &payload.secret_key,
                pass_key.as_ref(),
                &secret.sealed,
            );
            if opened.is_err() {
                self.wrong_passphrase(&record.secret_id, client, now)
                    .await?;
                return Err(ServiceError::WrongPassphrase);
            }
        }
        let Some(burned) = self.store.burn(&id, now, owner).await? else {
            return Err(self
                .refusal(&record.secret_id, record.passphrase_required, now)
                .await?);
        };
        crate::metrics::secret_burned();
        Ok(Burned {
            state: self.receipt_view(metadata_key, &burned, &payload, now),
            secret_shortkey: payload.secret_key.chars().take(SHORTKEY_CHARS).collect(),
        })
    }

    /// The caller's receipts from the last 30 days, newest first, without secret keys.
    pub async fn recent(&self, caller: &Caller, now: u64) -> Result<Vec<Receipt>, ServiceError> {
        let Caller::Customer { email, recent, .. } = caller else {
            return Err(ServiceError::NotAuthorized);
        };
        let customer_id = self.sealer.record_id(RecordKind::Customer, email);
        let since = now.saturating_sub(RECENT_WINDOW);
        let mut receipts = Vec::new();
        for seal in self.store.recent(&customer_id, since).await? {
            // Entries from before this credential was issued do not open; they are skipped.
            let Some(key) = self.open_recent(&customer_id, recent, &seal) else {
                continue;
            };
            let Ok(metadata_key) = std::str::from_utf8(&key) else {
                continue;
            };
            match self.load_receipt(metadata_key, now).await {
                Ok((_, record, payload)) => {
                    let mut receipt = self.receipt_view(metadata_key, &record, &payload, now);
                    receipt.secret_key = None;
                    receipts.push(receipt);
                }
                // The receipt's own time is up: nothing to list.
                Err(ServiceError::UnknownSecret) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(receipts)
    }

    /// The receipt object for a stored record at `now`.
    fn receipt_view(
        &self,
        metadata_key: &str,
        record: &MetadataRecord,
        payload: &ReceiptPayload,
        now: u64,
    ) -> Receipt {
        let state = match record.state {
            StoredState::New if record.secret_expires_at <= now => State::Expired,
            StoredState::New => State::New,
            StoredState::Received => State::Received,
            StoredState::Burned => State::Burned,
        };
        let secret_ttl = match state {
            State::Received => None,
            State::New => Some(Some(record.secret_expires_at.saturating_sub(now))),
            State::Burned | State::Expired => Some(None),
        };
        Receipt {
            custid: payload.custid.clone(),
            metadata_key: metadata_key.to_owned(),
            secret_key: (state != State::Received).then(|| payload.secret_key.clone()),
            ttl: record.ttl,
            metadata_ttl: record.expires_at.saturating_sub(now),
            secret_ttl,
            metadata_url: format!("{}/receipt/{metadata_key}", self.policy.base_url),
            state,
            updated: record.updated,
            created: record.created,
            received: record.received.filter(|_| state == State::Received),
            recipient: payload.recipients.clone(),
            share_domain: payload.share_domain.clone(),
            passphrase_required: record.passphrase_required && state == State::New,
            value: None,
            delivery: record.delivery.as_ref().map(|d| DeliveryStatus {
                state: d.state,
                reason: d.reason.clone(),
                updated: d.updated,
            }),
            memo: (!payload.memo.is_empty()).then(|| Sensitive::new(payload.memo.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receipt sealed before the private note existed (its payload without `memo`).
    #[derive(Serialize)]
    struct Schema1Payload<'a> {
        secret_key: &'a str,
        custid: &'a str,
        recipients: Vec<String>,
        share_domain: &'a str,
    }

    #[test]
    fn receipts_sealed_before_memos_existed_still_open() {
        let old = postcard::to_allocvec(&Schema1Payload {
            secret_key: "k",
            custid: "anon",
            recipients: vec!["a***@e***.com".into()],
            share_domain: "",
        })
        .expect("encode");
        let payload = ReceiptPayload::decode(&old).expect("decode");
        assert_eq!(payload.secret_key, "k");
        assert_eq!(payload.recipients, ["a***@e***.com"]);
        assert!(payload.memo.is_empty());

        let new = ReceiptPayload {
            secret_key: "k".into(),
            custid: "anon".into(),
            recipients: Vec::new(),
            share_domain: String::new(),
            memo: "note".into(),
        };
        let bytes = postcard::to_allocvec(&new).expect("encode");
        assert_eq!(ReceiptPayload::decode(&bytes).expect("decode").memo, "note");
        assert!(ReceiptPayload::decode(&bytes[..bytes.len() - 2]).is_err());
    }
}
