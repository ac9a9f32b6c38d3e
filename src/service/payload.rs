//! What the secret and receipt records seal, and how a receipt sealed by an older version
//! opens.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::Result;
use crate::store::StoreError;

/// What the secret record seals.
///
/// Fields are only ever appended: a secret sealed before end-to-end secrets existed opens as
/// `SecretPayloadV1` (a server-side secret).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SecretPayload {
    pub(super) value: String,
    pub(super) share_domain: String,
    /// The value is an end-to-end envelope (`docs/envelope.md`).
    pub(super) e2e: bool,
    /// The hex verifier of the envelope's key, when the creator gave one (else empty).
    pub(super) verifier: String,
}

/// A secret's sealed payload as written before end-to-end secrets.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct SecretPayloadV1 {
    value: String,
    share_domain: String,
}

impl SecretPayload {
    /// Decodes a secret's opened bytes, of either shape.
    pub(super) fn decode(plain: &[u8]) -> Result<Self> {
        if let Ok((payload, [])) = postcard::take_from_bytes::<Self>(plain) {
            return Ok(payload);
        }
        let Ok((old, [])) = postcard::take_from_bytes::<SecretPayloadV1>(plain) else {
            return Err(StoreError::Corrupt("secret payload".into()).into());
        };
        Ok(Self {
            value: old.value.clone(),
            share_domain: old.share_domain.clone(),
            e2e: false,
            verifier: String::new(),
        })
    }
}

/// What the receipt seals under the metadata key.
///
/// postcard is not self-describing: fields are only ever appended, and a receipt sealed before
/// `memo` existed opens as `ReceiptPayloadV1`, one sealed before end-to-end secrets as
/// `ReceiptPayloadV2`.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ReceiptPayload {
    pub(super) secret_key: String,
    pub(super) custid: String,
    pub(super) recipients: Vec<String>,
    pub(super) share_domain: String,
    pub(super) memo: String,
    /// The secret is an end-to-end envelope.
    pub(super) e2e: bool,
    /// The envelope's size in bytes when the creator said it holds a file (else 0).
    pub(super) file_size: u64,
}

/// A receipt's sealed payload as written before end-to-end secrets.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct ReceiptPayloadV2 {
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
    pub(super) fn decode(plain: &[u8]) -> Result<Self> {
        if let Ok((payload, [])) = postcard::take_from_bytes::<Self>(plain) {
            return Ok(payload);
        }
        if let Ok((old, [])) = postcard::take_from_bytes::<ReceiptPayloadV2>(plain) {
            return Ok(Self {
                secret_key: old.secret_key.clone(),
                custid: old.custid.clone(),
                recipients: old.recipients.clone(),
                share_domain: old.share_domain.clone(),
                memo: old.memo.clone(),
                e2e: false,
                file_size: 0,
            });
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
            e2e: false,
            file_size: 0,
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
            e2e: true,
            file_size: 7,
        };
        let bytes = postcard::to_allocvec(&new).expect("encode");
        let decoded = ReceiptPayload::decode(&bytes).expect("decode");
        assert_eq!(decoded.memo, "note");
        assert!(decoded.e2e);
        assert_eq!(decoded.file_size, 7);
        assert!(ReceiptPayload::decode(&bytes[..bytes.len() - 3]).is_err());
    }

    /// A receipt sealed before end-to-end secrets (with `memo`, without `e2e`).
    #[derive(Serialize)]
    struct Schema2Payload<'a> {
        secret_key: &'a str,
        custid: &'a str,
        recipients: Vec<String>,
        share_domain: &'a str,
        memo: &'a str,
    }

    /// A secret sealed before end-to-end secrets.
    #[derive(Serialize)]
    struct SecretV1<'a> {
        value: &'a str,
        share_domain: &'a str,
    }

    #[test]
    fn receipts_and_secrets_sealed_before_e2e_existed_still_open() {
        let old = postcard::to_allocvec(&Schema2Payload {
            secret_key: "k",
            custid: "anon",
            recipients: Vec::new(),
            share_domain: "",
            memo: "note",
        })
        .expect("encode");
        let payload = ReceiptPayload::decode(&old).expect("decode");
        assert_eq!(payload.memo, "note");
        assert!(!payload.e2e);

        let old = postcard::to_allocvec(&SecretV1 {
            value: "v",
            share_domain: "",
        })
        .expect("encode");
        let secret = SecretPayload::decode(&old).expect("decode");
        assert_eq!(secret.value, "v");
        assert!(!secret.e2e);
        assert!(secret.verifier.is_empty());
        let new = SecretPayload {
            value: "ote1.x".into(),
            share_domain: String::new(),
            e2e: true,
            verifier: "ab".into(),
        };
        let bytes = postcard::to_allocvec(&new).expect("encode");
        let secret = SecretPayload::decode(&bytes).expect("decode");
        assert!(secret.e2e);
        assert_eq!(secret.verifier, "ab");
        assert!(SecretPayload::decode(&bytes[..1]).is_err());
    }
}
