//! burn: the creator destroys an unread secret.

use std::net::IpAddr;

use super::error::{Result, ServiceError};
use super::Service;
use crate::crypto::{Binding, RecordKind};

use crate::domain::{Burned, Caller, ReceiptKey, Sensitive, SHORTKEY_CHARS};
use crate::store::StoredState;

impl Service {
    /// Destroys the unread secret of the receipt under `receipt_key`.
    ///
    /// A secret with a passphrase needs it, unless `caller` is the account that created it:
    /// the account owns it, and may burn it even while wrong guesses keep it locked.
    /// `UnknownReceipt`: no such receipt; `UnknownSecret`: the receipt is there, its secret
    /// is not (received, burned or expired).
    pub async fn burn(
        &self,
        caller: &Caller,
        receipt_key: &ReceiptKey,
        passphrase: Option<&Sensitive>,
        client: IpAddr,
        now: u64,
    ) -> Result<Burned> {
        let (id, record, payload) = self.load_receipt(receipt_key, now).await?;
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
                .passphrase_key(&record.secret_id, &secret, passphrase, client, now)
                .await?;
            let at = Binding::new(RecordKind::Secret, &record.secret_id, &payload.secret_key);
            let opened = self.open_secret(at.with_pass(pass_key.as_ref()), &secret.sealed);
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
            state: self.receipt_view(receipt_key, &burned, &payload, now),
            secret_shortkey: payload.secret_key.chars().take(SHORTKEY_CHARS).collect(),
        })
    }
}
