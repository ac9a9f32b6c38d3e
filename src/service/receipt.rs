//! The creator's side: reading a receipt, and the receipt object clients see.

use super::error::{Result, ServiceError};
use super::payload::ReceiptPayload;
use super::Service;
use crate::crypto::{Binding, RecordId, RecordKind};
use crate::domain::{
    Caller, DeliveryStatus, Receipt, ReceiptKey, Sensitive, State, GENERATED_VALUE_WINDOW,
    MEMO_MAX_CHARS,
};
use crate::store::{ReceiptRecord, StoreError, StoredState};

impl Service {
    /// The receipt under `receipt_key` without its generated value, changing nothing.
    pub async fn receipt_status(&self, receipt_key: &ReceiptKey, now: u64) -> Result<Receipt> {
        let (_, record, payload) = self.load_receipt(receipt_key, now).await?;
        Ok(self.receipt_view(receipt_key, &record, &payload, now))
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

    /// The receipt under `receipt_key`; the generated value on the first read within 60 s.
    pub async fn receipt(&self, receipt_key: &ReceiptKey, now: u64) -> Result<Receipt> {
        let (id, record, payload) = self.load_receipt(receipt_key, now).await?;
        let mut receipt = self.receipt_view(receipt_key, &record, &payload, now);
        if let Some(sealed) = &record.generated {
            let fresh = now.saturating_sub(record.created) <= GENERATED_VALUE_WINDOW;
            // Taken even when stale, so a generated value never outlives its window on disk.
            if self.store.take_generated(&id).await? && fresh {
                let value = self
                    .sealer
                    .open(
                        Binding::new(RecordKind::Generated, &id, receipt_key.as_str()),
                        sealed,
                    )
                    .map_err(|e| unknown_receipt(e.into()))?;
                let text = String::from_utf8(value.to_vec())
                    .map_err(|_| StoreError::Corrupt("generated value".into()))?;
                receipt.value = Some(Sensitive::new(text));
            }
        }
        Ok(receipt)
    }

    /// Replaces the private note on the receipt under `receipt_key` (empty removes it). Only
    /// the account that created the secret may: anyone else, holder of the receipt key or not,
    /// is `NotAuthorized`.
    pub async fn update_memo(
        &self,
        caller: &Caller,
        receipt_key: &ReceiptKey,
        memo: &Sensitive,
        now: u64,
    ) -> Result<Receipt> {
        let (id, record, mut payload) = self.load_receipt(receipt_key, now).await?;
        let owner = matches!(caller, Caller::Account { .. }) && caller.custid() == payload.custid;
        if !owner {
            return Err(ServiceError::NotAuthorized);
        }
        let memo = memo.expose().trim();
        if memo.chars().count() > MEMO_MAX_CHARS {
            return Err(ServiceError::MemoTooLong {
                max: MEMO_MAX_CHARS,
            });
        }
        payload.memo = memo.to_owned();
        let sealed = self.seal(
            Binding::new(RecordKind::Receipt, &id, receipt_key.as_str()),
            &payload,
        )?;
        if !self.store.reseal_receipt(&id, &sealed).await? {
            return Err(ServiceError::UnknownReceipt);
        }
        let record = ReceiptRecord { sealed, ..record };
        Ok(self.receipt_view(receipt_key, &record, &payload, now))
    }

    /// The receipt record under `receipt_key` and its opened payload, or `UnknownReceipt`.
    pub(super) async fn load_receipt(
        &self,
        receipt_key: &ReceiptKey,
        now: u64,
    ) -> Result<(RecordId, ReceiptRecord, ReceiptPayload)> {
        let id = self
            .sealer
            .record_id(RecordKind::Receipt, receipt_key.as_str());
        let record = self
            .store
            .receipt(&id, now)
            .await?
            .ok_or(ServiceError::UnknownReceipt)?;
        let plain = self
            .sealer
            .open(
                Binding::new(RecordKind::Receipt, &id, receipt_key.as_str()),
                &record.sealed,
            )
            .map_err(|e| unknown_receipt(e.into()))?;
        Ok((id, record, ReceiptPayload::decode(&plain)?))
    }

    /// The receipt object for a stored record at `now`.
    pub(super) fn receipt_view(
        &self,
        receipt_key: &ReceiptKey,
        record: &ReceiptRecord,
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
            metadata_key: receipt_key.as_str().to_owned(),
            secret_key: (state != State::Received).then(|| payload.secret_key.clone()),
            ttl: record.ttl,
            metadata_ttl: record.expires_at.saturating_sub(now),
            secret_ttl,
            metadata_url: format!("{}/receipt/{}", self.policy.base_url, receipt_key.as_str()),
            state,
            updated: record.updated,
            created: record.created,
            received: record.received.filter(|_| state == State::Received),
            previewed: record.previewed().filter(|_| state == State::New),
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
            e2e: payload.e2e,
            file_size: (payload.file_size > 0).then_some(payload.file_size),
        }
    }
}

/// A receipt that does not open is, to the caller, a receipt that does not exist.
fn unknown_receipt(e: ServiceError) -> ServiceError {
    match e {
        ServiceError::UnknownSecret => ServiceError::UnknownReceipt,
        other => other,
    }
}
