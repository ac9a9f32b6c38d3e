//! Schema 1 -> 2 (`migrations/0003_accounts_by_hash.md`): what both backends share when they
//! rewrite accounts under the keyed hash of their email and re-key queued mail by receipt.
//!
//! The store never holds the server key: the caller lends what the rewrite needs through
//! [`UpgradeKeys`] (the [`Sealer`] in the app, a stand-in in tests).

use crate::store::Result;
use serde::Deserialize;

use super::{AccountRecord, OutboxRecord, SealedListKey, StoreError, WebPassword};
use crate::crypto::{Binding, RecordId, RecordKind, Sealed, Sealer};

/// What an upgrade needs the server key for.
pub trait UpgradeKeys: Send + Sync {
    /// The id the account with this (lowercased) email is stored under.
    fn account_id(&self, email: &str) -> RecordId;

    /// The email sealed for the account record `id`.
    fn seal_email(&self, id: &RecordId, email: &str) -> Sealed;

    /// A queued mail sealed for its old random outbox id, sealed again for `new` (its
    /// receipt's id); `None` if it does not open with this key.
    fn reseal_mail(&self, old: &RecordId, new: &RecordId, sealed: &Sealed) -> Option<Sealed>;
}

impl UpgradeKeys for Sealer {
    fn account_id(&self, email: &str) -> RecordId {
        self.record_id(RecordKind::Account, email)
    }

    fn seal_email(&self, id: &RecordId, email: &str) -> Sealed {
        Sealer::seal_email(self, id, email)
    }

    fn reseal_mail(&self, old: &RecordId, new: &RecordId, sealed: &Sealed) -> Option<Sealed> {
        let plain = self
            .open(Binding::new(RecordKind::Mail, old, ""), sealed)
            .ok()?;
        Some(self.seal(Binding::new(RecordKind::Mail, new, ""), &plain))
    }
}

/// An account as schema 1 stored it, under its plain email, in either of its two shapes: the
/// first five fields, or those with the web sign-in fields appended (`0002_web_sign_in.md`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LegacyCustomer {
    email: String,
    plan: String,
    created: u64,
    token_hash: [u8; 32],
    token_created: u64,
    api_key: Option<SealedListKey>,
    password: Option<WebPassword>,
}

/// The first shape of [`LegacyCustomer`]: its first five fields.
#[derive(Deserialize)]
struct FirstShape {
    email: String,
    plan: String,
    created: u64,
    token_hash: [u8; 32],
    token_created: u64,
}

impl LegacyCustomer {
    /// Reads a schema-1 record of either shape. The first shape ends where the appended fields
    /// begin, so it fails as the longer one and is read as the five-field record, which must
    /// then account for every byte (a damaged record is never mistaken for the other shape).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if let Ok(record) = postcard::from_bytes::<Self>(bytes) {
            return Ok(record);
        }
        match postcard::take_from_bytes::<FirstShape>(bytes) {
            Ok((v1, [])) => Ok(Self {
                email: v1.email,
                plan: v1.plan,
                created: v1.created,
                token_hash: v1.token_hash,
                token_created: v1.token_created,
                api_key: None,
                password: None,
            }),
            _ => Err(StoreError::Corrupt("schema-1 account record".into())),
        }
    }

    /// The record as schema 2 stores it: under the keyed hash of the email, the email sealed.
    pub fn upgrade(self, keys: &dyn UpgradeKeys) -> AccountRecord {
        let id = keys.account_id(&self.email);
        AccountRecord {
            id,
            email: keys.seal_email(&id, &self.email),
            plan: self.plan,
            created: self.created,
            token_hash: self.token_hash,
            token_created: self.token_created,
            api_key: self.api_key,
            password: self.password,
            sso: None,
        }
    }
}

/// A schema-1 outbox mail (under a random id) as schema 2 keeps it (under its receipt's id);
/// `None` if it cannot be opened with this server key (it could never be sent).
pub fn rekey_mail(
    keys: &dyn UpgradeKeys,
    old_id: &RecordId,
    mut mail: OutboxRecord,
) -> Option<OutboxRecord> {
    mail.sealed = keys.reseal_mail(old_id, &mail.receipt_id, &mail.sealed)?;
    Some(mail)
}

/// Stand-in keys for store tests: ids and "sealing" anyone can compute, so a test can write
/// schema-1 bytes and check what the upgrade made of them.
#[cfg(test)]
pub struct PlainKeys;

#[cfg(test)]
impl UpgradeKeys for PlainKeys {
    fn account_id(&self, email: &str) -> RecordId {
        use sha2::Digest;
        sha2::Sha256::digest(email.as_bytes()).into()
    }

    fn seal_email(&self, id: &RecordId, email: &str) -> Sealed {
        Sealed {
            nonce: id[..24].try_into().unwrap_or_default(),
            ciphertext: email.bytes().rev().collect(),
        }
    }

    fn reseal_mail(&self, _old: &RecordId, new: &RecordId, sealed: &Sealed) -> Option<Sealed> {
        Some(Sealed {
            nonce: new[..24].try_into().unwrap_or_default(),
            ciphertext: sealed.ciphertext.clone(),
        })
    }
}

/// Two accounts as schema 1 stored them, `(email, bytes)`: one of the first shape, one with
/// the web sign-in fields. What the backends' upgrade tests write before upgrading.
#[cfg(test)]
pub fn schema_1_accounts() -> [(&'static str, Vec<u8>); 2] {
    let first = ("old@example.com", "default", 7u64, [9u8; 32], 8u64);
    let web = (
        ("web@example.com", "team", 1u64, [2u8; 32], 3u64),
        None::<SealedListKey>,
        None::<WebPassword>,
    );
    [
        (first.0, postcard::to_allocvec(&first).unwrap_or_default()),
        (web.0 .0, postcard::to_allocvec(&web).unwrap_or_default()),
    ]
}

/// Upgrades `store` (holding [`schema_1_accounts`]) twice, the second time to no effect, and
/// checks both accounts read back under their ids with every field.
#[cfg(test)]
pub async fn upgrade_twice_and_check_accounts(store: &dyn super::Store) {
    store.upgrade(&PlainKeys).await.expect("upgrade");
    store
        .upgrade(&PlainKeys)
        .await
        .expect("a second upgrade changes nothing");
    assert_eq!(store.schema().await.expect("schema"), super::SCHEMA_VERSION);
    let read = |email: &'static str| async move {
        let id = PlainKeys.account_id(email);
        let record = store.account(&id).await.expect("decodes").expect("present");
        assert_eq!(record.email, PlainKeys.seal_email(&id, email));
        record
    };
    let old = read("old@example.com").await;
    assert_eq!((old.plan.as_str(), old.token_hash), ("default", [9; 32]));
    let web = read("web@example.com").await;
    assert_eq!((web.plan.as_str(), web.created), ("team", 1));
    assert_eq!(store.accounts().await.expect("list").len(), 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::conformance::sealed;

    #[test]
    fn schema_1_customer_records_of_both_shapes_decode_and_damaged_ones_do_not() {
        let v1 = ("a@example.com", "team", 1u64, [2u8; 32], 3u64);
        let old_bytes = postcard::to_allocvec(&v1).expect("encode");
        let old = LegacyCustomer::from_bytes(&old_bytes).expect("first shape");
        assert_eq!(
            (old.email.as_str(), old.plan.as_str(), old.token_created),
            ("a@example.com", "team", 3)
        );
        assert_eq!((&old.api_key, &old.password), (&None, &None));

        let api_key = Some(SealedListKey {
            public: [4; 32],
            sealed: sealed(5),
        });
        let longer = (v1, &api_key, None::<WebPassword>);
        let bytes = postcard::to_allocvec(&longer).expect("encode");
        assert!(bytes.starts_with(&old_bytes), "fields were only appended");
        let read = LegacyCustomer::from_bytes(&bytes).expect("web sign-in shape");
        assert_eq!(read.api_key, api_key);

        // A longer record cut short is corrupt, never a first-shape record that lost its keys.
        assert!(LegacyCustomer::from_bytes(&bytes[..bytes.len() - 3]).is_err());
        let mut trailing = old_bytes;
        trailing.push(7);
        assert!(LegacyCustomer::from_bytes(&trailing).is_err());

        let upgraded = read.upgrade(&PlainKeys);
        assert_eq!(upgraded.id, PlainKeys.account_id("a@example.com"));
        assert_eq!(upgraded.api_key, api_key);
        let bytes = upgraded.to_bytes().expect("encode");
        assert!(
            !bytes.windows(13).any(|w| w == b"a@example.com"),
            "no plain email in the new record"
        );
        assert_eq!(AccountRecord::from_bytes(&bytes).expect("decode"), upgraded);
    }
}
