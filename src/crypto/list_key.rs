//! List keys: the X25519 key pairs that let each of an account's credentials read its recent
//! list.
//!
//! An account holds one pair per credential (its API token, its web password). A new recent
//! entry seals its own random entry key to every public key in a sealed box (libsodium's
//! `crypto_box_seal`: a fresh ephemeral X25519 key and XSalsa20-Poly1305, from the
//! `crypto_box` crate), so whichever credential created it, each credential can open it. A
//! private key is stored only sealed under its credential, so the data directory, server key
//! included, opens no list.

use crypto_box::{PublicKey, SecretKey};
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::generate::random_key;

/// Bytes in a list key, public or private.
pub const LIST_KEY_LEN: usize = 32;

/// A public list key: what new recent entries are sealed to.
pub type ListPublicKey = [u8; LIST_KEY_LEN];

/// A private list key. Zeroed on drop, never printed, compared in constant time.
#[derive(Clone)]
pub struct ListSecretKey(Zeroizing<[u8; LIST_KEY_LEN]>);

impl ListSecretKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(random_key())
    }

    /// The key from its bytes (as sealed in the store); `None` for a wrong length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut key = Zeroizing::new([0u8; LIST_KEY_LEN]);
        if bytes.len() != LIST_KEY_LEN {
            return None;
        }
        key.copy_from_slice(bytes);
        Some(Self(key))
    }

    /// The key's bytes, for sealing it under a credential.
    pub fn expose(&self) -> &[u8; LIST_KEY_LEN] {
        &self.0
    }

    /// The matching public key.
    pub fn public(&self) -> ListPublicKey {
        self.secret().public_key().to_bytes()
    }

    /// Opens a sealed box made for this key's public key; `None` when it was made for another
    /// key or was tampered with.
    pub fn open(&self, sealed_box: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.secret().unseal(sealed_box).ok().map(Zeroizing::new)
    }

    // crypto_box 0.9 zeroes the scalar of a dropped `SecretKey` but not its byte copy, so one
    // is built only for the moment it is needed; ours is the copy that lives.
    fn secret(&self) -> SecretKey {
        SecretKey::from_bytes(*self.0)
    }
}

impl PartialEq for ListSecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for ListSecretKey {}

impl std::fmt::Debug for ListSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListSecretKey([redacted])")
    }
}

/// Seals `plaintext` to `public` in an anonymous sealed box (32-byte ephemeral key, then the
/// ciphertext and its 16-byte tag). Only the matching private key opens it.
pub fn seal_to(public: &ListPublicKey, plaintext: &[u8]) -> Vec<u8> {
    // Sealing an in-memory buffer with a valid key cannot fail (the error type is only for
    // fixed-capacity buffers).
    #[allow(clippy::expect_used)]
    PublicKey::from_bytes(*public)
        .seal(&mut OsRng, plaintext)
        .expect("sealing an in-memory buffer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_box_opens_only_with_its_private_key() {
        let alice = ListSecretKey::generate();
        let bob = ListSecretKey::generate();
        let sealed = seal_to(&alice.public(), b"entry key");
        assert_eq!(alice.open(&sealed).expect("opens").as_slice(), b"entry key");
        assert!(bob.open(&sealed).is_none());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(alice.open(&tampered).is_none());
        assert!(alice.open(&sealed[..20]).is_none());
        // Each box has its own ephemeral key: two seals of one text differ.
        assert_ne!(sealed, seal_to(&alice.public(), b"entry key"));
    }

    #[test]
    fn list_keys_round_trip_compare_and_never_print() {
        let key = ListSecretKey::generate();
        let again = ListSecretKey::from_slice(key.expose()).expect("32 bytes");
        assert_eq!(key, again);
        assert_eq!(key.public(), again.public());
        assert_ne!(key, ListSecretKey::generate());
        assert!(ListSecretKey::from_slice(&[1; 31]).is_none());
        assert_eq!(format!("{key:?}"), "ListSecretKey([redacted])");
    }
}
