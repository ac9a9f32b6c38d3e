//! recent: the caller's receipts of the last 30 days, through whichever credential it proved.

use zeroize::Zeroizing;

use super::error::{Result, ServiceError};
use super::Service;
use crate::crypto::{Binding, RecordId, RecordKind};
use crate::domain::{Caller, Receipt, ReceiptKey, RecentAccess, RECENT_WINDOW};
use crate::store::RecentSeal;

impl Service {
    /// The caller's receipts from the last 30 days, newest first, without secret keys.
    pub async fn recent(&self, caller: &Caller, now: u64) -> Result<Vec<Receipt>> {
        let Caller::Account { email, recent, .. } = caller else {
            return Err(ServiceError::NotAuthorized);
        };
        let account_id = self.sealer.record_id(RecordKind::Account, email);
        let since = now.saturating_sub(RECENT_WINDOW);
        let mut receipts = Vec::new();
        for seal in self.store.recent(&account_id, since).await? {
            // Entries from before this credential was issued do not open; they are skipped.
            let Some(key) = self.open_recent(&account_id, recent, &seal) else {
                continue;
            };
            let Some(receipt_key) = std::str::from_utf8(&key).ok().and_then(ReceiptKey::parse)
            else {
                continue;
            };
            match self.load_receipt(&receipt_key, now).await {
                Ok((_, record, payload)) => {
                    let mut receipt = self.receipt_view(&receipt_key, &record, &payload, now);
                    receipt.secret_key = None;
                    receipts.push(receipt);
                }
                // The receipt's own time is up: nothing to list.
                Err(ServiceError::UnknownReceipt) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(receipts)
    }

    /// The metadata key in a recent entry, if the caller's credential opens it: a schema-1
    /// entry with the API token it was sealed under, a newer one with the caller's list key.
    fn open_recent(
        &self,
        account_id: &RecordId,
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
                Binding::new(RecordKind::Recent, account_id, entry_key),
                &seal.sealed,
            )
            .ok()
    }
}
