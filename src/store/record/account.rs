//! An account as stored, its list keys and web password, and its recent list.

use crate::store::Result;
use serde::{Deserialize, Serialize};

use crate::crypto::{KdfParams, ListPublicKey, RecordId, Sealed};
use crate::store::StoreError;

/// An account as stored. Stored under its id, the keyed hash of its email, with the email
/// itself sealed under the server key alone: a copy of the store without the server key does
/// not list who has an account. The token exists only as a keyed hash, the web password only
/// as a scrypt PHC string.
///
/// postcard is not self-describing: fields are only ever appended. Records of schema 1 (keyed
/// by their plain email) are read only by [`upgrade`](crate::store::upgrade), which rewrites
/// them into this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// HMAC-SHA256(server key, the lowercased email): the key the account is stored under,
    /// and the account id its recent list is kept under.
    pub id: RecordId,
    /// The lowercased email (the account's name and `custid`), sealed under the server key
    /// alone and bound to `id`.
    pub email: Sealed,
    /// Plan name from `[plans.NAME]`.
    pub plan: String,
    /// Unix seconds.
    pub created: u64,
    /// HMAC-SHA256(server key, token): enough to check a token, useless to forge one.
    pub token_hash: [u8; 32],
    /// Unix seconds of the last token issue (creation or rotation).
    pub token_created: u64,
    /// The API side's list key, its private half sealed under the token. `None` in an account
    /// from schema 1 until its token is next used.
    pub api_key: Option<SealedListKey>,
    /// The web password, once `account passwd` set one.
    pub password: Option<WebPassword>,
    /// The single-sign-on side (identity provider or trusted proxy header), once the account
    /// signed in that way. Appended: a record without it is stored without it, byte for byte
    /// as before (so compare-and-swap on the stored bytes still matches), and such bytes read
    /// back as `None` (see [`AccountRecord::from_bytes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoSide>,
}

impl AccountRecord {
    /// The record's stored bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        super::encode(self)
    }

    /// Reads a stored record, which must account for every byte.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::read(bytes).ok_or_else(|| StoreError::Corrupt("account record".into()))
    }

    /// A record of either shape, accounting for every byte. A record without `sso` (all
    /// records from before single sign-on) ends where that field would begin: it reads as the
    /// same bytes with the field's `None` appended.
    pub fn read(bytes: &[u8]) -> Option<Self> {
        if let Ok((record, [])) = postcard::take_from_bytes::<Self>(bytes) {
            return Some(record);
        }
        // The appended byte must be that `None` itself: a new-shape record cut short is not
        // mistaken for the old shape.
        let padded = [bytes, &[0]].concat();
        match postcard::take_from_bytes::<Self>(&padded) {
            Ok((record, [])) if record.sso.is_none() => Some(record),
            _ => None,
        }
    }

    /// The public list keys every new recent entry of this account is sealed to.
    pub fn list_recipients(&self) -> Vec<ListPublicKey> {
        let web = self.password.as_ref().map(|p| &p.key);
        let sso = self.sso.as_ref().map(|s| &s.key);
        self.api_key
            .iter()
            .chain(web)
            .chain(sso)
            .map(|k| k.public)
            .collect()
    }
}

/// An account's single-sign-on side: its list key, the private half sealed under the server
/// key alone (no credential of the person's reaches this server), so an identity-provider or
/// proxy sign-in opens the recent list. Weaker than the password's side: whoever holds the data
/// directory *and* the server key opens this key and the entries sealed to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSide {
    /// Unix seconds of the first single sign-on.
    pub since: u64,
    /// The list key.
    pub key: SealedListKey,
}

/// One of an account's list keys: the public half in the clear, the private half sealed
/// under the credential it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedListKey {
    /// What new recent entries are sealed to.
    pub public: ListPublicKey,
    /// The private half, sealed under the API token or the web password's derived key.
    pub sealed: Sealed,
}

/// An account's web password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPassword {
    /// scrypt PHC string: verifies a password at sign-in, and nothing more.
    pub phc: String,
    /// Unix seconds when it was set.
    pub set_at: u64,
    /// The separate scrypt derivation (own salt) whose output seals the web list key.
    pub kdf: KdfParams,
    /// The web side's list key, sealed under that derivation.
    pub key: SealedListKey,
}

/// One line of an account's recent list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentEntry {
    /// Keyed hash of the account's email.
    pub account_id: RecordId,
    /// Unix seconds; the list keeps entries for [`RECENT_WINDOW`](crate::domain::RECENT_WINDOW).
    pub created: u64,
    /// The sealed metadata key.
    pub sealed: RecentSeal,
}

/// How a recent entry keeps its metadata key.
///
/// Schema 1: `sealed` is under a key derived from the creator's API token and `key_boxes` is
/// empty. Since web sign-in: `sealed` is under a random entry key, and `key_boxes` holds that
/// entry key in one sealed box per list key of the account, so each credential opens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentSeal {
    /// The metadata key, sealed (with the server key in the derivation, like every record).
    pub sealed: Sealed,
    /// The entry key, sealed to each of the account's public list keys.
    pub key_boxes: Vec<Vec<u8>>,
}

impl RecentSeal {
    /// The stored bytes: schema 1's bare `Sealed` when there are no key boxes, else both.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let bytes = if self.key_boxes.is_empty() {
            postcard::to_allocvec(&self.sealed)
        } else {
            postcard::to_allocvec(self)
        };
        bytes.map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Reads either shape: a bare `Sealed` ends before the key boxes' length, so it fails as
    /// the pair and must then account for every byte on its own.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if let Ok(seal) = postcard::from_bytes::<Self>(bytes) {
            return Ok(seal);
        }
        match postcard::take_from_bytes::<Sealed>(bytes) {
            Ok((sealed, [])) => Ok(Self {
                sealed,
                key_boxes: Vec::new(),
            }),
            _ => Err(StoreError::Corrupt("recent entry".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::conformance::{account, sealed};

    #[test]
    fn accounts_without_the_sso_side_keep_their_bytes() {
        let mut record = account("ann@example.com", 3);
        let before_sso = postcard::to_allocvec(&(
            record.id,
            &record.email,
            &record.plan,
            record.created,
            record.token_hash,
            record.token_created,
            &record.api_key,
            &record.password,
        ))
        .expect("encode");
        assert_eq!(record.to_bytes().expect("encode"), before_sso);
        assert_eq!(
            AccountRecord::from_bytes(&before_sso).expect("old shape"),
            record
        );
        record.sso = account("ann@example.com", 4)
            .api_key
            .map(|key| SsoSide { since: 9, key });
        let bytes = record.to_bytes().expect("encode");
        assert_eq!(
            AccountRecord::from_bytes(&bytes).expect("new shape"),
            record
        );
        assert!(AccountRecord::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(AccountRecord::from_bytes(&[bytes.as_slice(), &[0]].concat()).is_err());
    }

    #[test]
    fn recent_seals_of_both_shapes_round_trip() {
        let old = RecentSeal {
            sealed: sealed(1),
            key_boxes: Vec::new(),
        };
        let old_bytes = old.to_bytes().expect("encode");
        assert_eq!(
            old_bytes,
            postcard::to_allocvec(&sealed(1)).expect("encode"),
            "schema 1's shape: a bare Sealed"
        );
        assert_eq!(RecentSeal::from_bytes(&old_bytes).expect("decode"), old);

        let new = RecentSeal {
            sealed: sealed(2),
            key_boxes: vec![vec![3; 110], vec![4; 110]],
        };
        let bytes = new.to_bytes().expect("encode");
        assert_eq!(RecentSeal::from_bytes(&bytes).expect("decode"), new);
        assert!(RecentSeal::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
