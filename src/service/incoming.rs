//! Incoming secrets ("request a secret"): a visitor picks one of the recipients the operator
//! configured (`[incoming]`), and the secret's one-time link goes to that recipient by mail.
//! The visitor never gets the link, nor the receipt key, nor the recipient's address.
//!
//! Recipients are named to visitors by a digest: a keyed hash of the address under the
//! server key, so the digest tells nothing about the address and cannot be computed without
//! the key. Submissions are limited per client address and per recipient per hour.

use std::net::IpAddr;

use subtle::ConstantTimeEq;

use super::create::Accepted;
use super::error::ServiceError;
use super::Service;
use crate::config::Settings;
use crate::crypto::RecordKind;
use crate::domain::{Caller, EmailAddress, Receipt, RequestedTtl, Sensitive};
use crate::service::CreateRequest;

/// A recipient as visitors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRecipient {
    /// Keyed digest of the address (hex).
    pub digest: String,
    /// The name the operator gave.
    pub name: String,
}

/// The incoming rules, from `[incoming]`.
#[derive(Debug, Clone)]
pub(super) struct IncomingPolicy {
    enabled: bool,
    /// Configured recipients with their addresses; the digests are filled in by the service.
    recipients: Vec<(String, EmailAddress)>,
    memo_max: usize,
    ttl: u64,
    per_ip: u32,
    per_recipient: u32,
}

impl IncomingPolicy {
    pub(super) fn from_settings(settings: &Settings) -> Self {
        let i = &settings.incoming;
        Self {
            enabled: i.enabled,
            recipients: i
                .recipients
                .iter()
                .filter_map(|r| Some((r.name.trim().to_owned(), EmailAddress::parse(&r.email)?)))
                .collect(),
            memo_max: i.memo_max_length,
            ttl: i.default_ttl,
            per_ip: i.per_ip_per_hour,
            per_recipient: i.per_recipient_per_hour,
        }
    }
}

/// What the incoming page and `/api/incoming/config` show.
#[derive(Debug, Clone)]
pub struct IncomingConfig {
    /// Whether the feature is on.
    pub enabled: bool,
    /// Longest memo, characters.
    pub memo_max_length: usize,
    /// Largest secret, bytes (the anonymous plan's).
    pub secret_max_length: usize,
    /// Lifetime of an incoming secret, seconds.
    pub default_ttl: u64,
    /// Who can be sent a secret (empty when off).
    pub recipients: Vec<IncomingRecipient>,
}

/// What a visitor sends.
#[derive(Debug)]
pub struct IncomingRequest {
    /// The recipient's digest.
    pub recipient: String,
    /// The secret.
    pub secret: Option<Sensitive>,
    /// A short note for the recipient (cut to the configured length).
    pub memo: Option<Sensitive>,
}

/// Why an incoming submission was refused (beyond the create's own refusals).
#[derive(Debug, thiserror::Error)]
pub enum IncomingError {
    /// `[incoming]` is off.
    #[error("Incoming secrets feature is not enabled")]
    Disabled,
    /// No recipient digest given.
    #[error("Recipient is required")]
    RecipientRequired,
    /// A digest that names nobody.
    #[error("Invalid recipient")]
    InvalidRecipient,
    /// No secret given.
    #[error("Secret content is required")]
    SecretRequired,
    /// Too many submissions from this address or to this recipient this hour.
    #[error("Too many incoming secret submissions. Please try again later.")]
    Limited,
    /// The create failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

const HOUR: u64 = 3600;

impl Service {
    fn incoming_digest(&self, address: &EmailAddress) -> String {
        hex::encode(
            self.sealer
                .record_id(RecordKind::Incoming, address.as_str()),
        )
    }

    /// The incoming settings and recipients as visitors may see them.
    pub fn incoming_config(&self) -> IncomingConfig {
        let policy = &self.incoming;
        IncomingConfig {
            enabled: policy.enabled,
            memo_max_length: policy.memo_max,
            secret_max_length: self.policy.plan(&Caller::Anonymous).max_size,
            default_ttl: policy.ttl,
            recipients: if policy.enabled {
                policy
                    .recipients
                    .iter()
                    .map(|(name, address)| IncomingRecipient {
                        digest: self.incoming_digest(address),
                        name: name.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// The configured recipient whose digest is `digest`: compared in constant time, as it
    /// is derived from the server key.
    fn incoming_recipient(&self, digest: &str) -> Option<(&str, &EmailAddress)> {
        let wanted = digest.trim().as_bytes();
        self.incoming
            .recipients
            .iter()
            .find(|(_, address)| bool::from(self.incoming_digest(address).as_bytes().ct_eq(wanted)))
            .map(|(name, address)| (name.as_str(), address))
    }

    /// Whether `digest` names a recipient; `Disabled` when the feature is off.
    pub fn incoming_valid(&self, digest: &str) -> Result<bool, IncomingError> {
        if !self.incoming.enabled {
            return Err(IncomingError::Disabled);
        }
        if digest.trim().is_empty() {
            return Err(IncomingError::RecipientRequired);
        }
        Ok(self.incoming_recipient(digest).is_some())
    }

    /// Stores the visitor's secret and queues its link to the chosen recipient. Returns the
    /// recipient's name and the receipt (for the caller's own bookkeeping: neither it nor any
    /// key in it may reach the visitor).
    pub async fn send_incoming(
        &self,
        req: IncomingRequest,
        client: IpAddr,
        now: u64,
    ) -> Result<(String, Receipt), IncomingError> {
        if !self.incoming.enabled {
            return Err(IncomingError::Disabled);
        }
        let secret = req
            .secret
            .filter(|s| !s.expose().is_empty())
            .ok_or(IncomingError::SecretRequired)?;
        let plan = self.policy.plan(&Caller::Anonymous);
        if secret.expose().len() > plan.max_size {
            return Err(ServiceError::TooLarge { max: plan.max_size }.into());
        }
        if req.recipient.trim().is_empty() {
            return Err(IncomingError::RecipientRequired);
        }
        // Both budgets are spent before the recipient is looked up, so guessing digests costs
        // the same as sending.
        let ip_tag = hex::encode(
            self.sealer
                .record_id(RecordKind::Client, &client.to_string()),
        );
        let by_ip = self
            .store
            .hit(&format!("incoming-ip:{ip_tag}"), HOUR, now)
            .await
            .map_err(ServiceError::from)?;
        let recipient_tag = hex::encode(self.sealer.record_id(
            RecordKind::Incoming,
            &format!("limit/{}", req.recipient.trim()),
        ));
        let by_recipient = self
            .store
            .hit(&format!("incoming-to:{recipient_tag}"), HOUR, now)
            .await
            .map_err(ServiceError::from)?;
        if by_ip > u64::from(self.incoming.per_ip)
            || by_recipient > u64::from(self.incoming.per_recipient)
        {
            crate::metrics::rate_limited("incoming");
            return Err(IncomingError::Limited);
        }
        let (name, address) = self
            .incoming_recipient(&req.recipient)
            .ok_or(IncomingError::InvalidRecipient)?;
        let memo: String = req
            .memo
            .as_ref()
            .map(|m| {
                m.expose()
                    .trim()
                    .chars()
                    .take(self.incoming.memo_max)
                    .collect()
            })
            .unwrap_or_default();
        let create = CreateRequest {
            ttl: Some(RequestedTtl::seconds(self.incoming.ttl)),
            memo: Some(Sensitive::new(memo)),
            ..CreateRequest::default()
        };
        let accepted = Accepted {
            caller: &Caller::Anonymous,
            req: &create,
            plan,
            value: secret,
            generated: false,
            recipient: Some(address.clone()),
            incoming: true,
        };
        let receipt = self.create(accepted, now).await?;
        Ok((name.to_owned(), receipt))
    }
}
