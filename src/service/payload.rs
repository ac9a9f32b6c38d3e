//! What the secret and receipt records seal, and how a receipt sealed by an older version
//! opens.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::ServiceError;
use crate::store::StoreError;

/// What the secret record seals.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SecretPayload {
    pub(super) value: String,
    pub(super) share_domain: String,
}

/// What the receipt seals under the metadata key.
///
/// postcard is not self-describing: fields are only ever appended, and a receipt sealed before
/// `memo` existed opens as `ReceiptPayloadV1`.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ReceiptPayload {
    pub(super) secret_key: String,
    pub(super) custid: String,
    pub(super) recipients: Vec<String>,
    pub(super) share_domain: String,
    pub(super) memo: String,
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
    pub(super) fn decode(plain: &[u8]) -> Result<Self, ServiceError> {
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
