//! Record ids and sealing: HMAC ids and XChaCha20-Poly1305 under HKDF of the server key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CryptoError, PassKey, RecordId, RecordKind, ServerKey, FORMAT_VERSION};

/// A sealed blob: random nonce plus ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Fresh random 24-byte XChaCha20 nonce.
    pub nonce: [u8; 24],
    /// Ciphertext followed by the Poly1305 tag.
    pub ciphertext: Vec<u8>,
}

/// What a sealed blob is bound to: the record's kind and id, the key in its URL, and the
/// passphrase's key when it has one. Opening under any other binding fails authentication.
#[derive(Clone, Copy)]
pub struct Binding<'a> {
    kind: RecordKind,
    id: &'a RecordId,
    url_key: &'a str,
    pass: Option<&'a PassKey>,
}

impl<'a> Binding<'a> {
    /// The record `id` of `kind`, under the key in its URL (`""` for records sealed under the
    /// server key alone).
    pub fn new(kind: RecordKind, id: &'a RecordId, url_key: &'a str) -> Self {
        Self {
            kind,
            id,
            url_key,
            pass: None,
        }
    }

    /// The same binding, also under a passphrase's key.
    pub fn with_pass(self, pass: Option<&'a PassKey>) -> Self {
        Self { pass, ..self }
    }
}

/// Derives ids and seals/opens records with the server key.
pub struct Sealer {
    key: ServerKey,
    /// HMAC keyed with the server key, cloned per id (saves re-keying per call).
    id_mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer over `key`.
    pub fn new(key: ServerKey) -> Self {
        #[allow(clippy::expect_used)]
        let id_mac = <Hmac<Sha256> as Mac>::new_from_slice(key.0.as_slice())
            .expect("HMAC accepts any key length");
        Self { key, id_mac }
    }

    /// The id a record with this URL key is stored under. Deterministic; reveals nothing of
    /// the key without the server key.
    pub fn record_id(&self, kind: RecordKind, url_key: &str) -> RecordId {
        let mut mac = self.id_mac.clone();
        mac.update(b"onetime/id/");
        mac.update(kind.tag());
        mac.update(b"/");
        mac.update(url_key.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self, at: Binding<'_>) -> XChaCha20Poly1305 {
        let mut ikm = Zeroizing::new(Vec::with_capacity(at.url_key.len() + 32));
        ikm.extend_from_slice(at.url_key.as_bytes());
        if let Some(pass) = at.pass {
            ikm.extend_from_slice(pass.0.as_slice());
        }
        let hk = Hkdf::<Sha256>::new(Some(self.key.0.as_slice()), &ikm);
        let mut okm = Zeroizing::new([0u8; 32]);
        let info = [b"onetime/seal/".as_slice(), at.kind.tag()].concat();
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
        #[allow(clippy::expect_used)]
        hk.expand(&info, okm.as_mut_slice())
            .expect("32 bytes is a valid HKDF length");
        XChaCha20Poly1305::new(okm.as_slice().into())
    }

    fn associated_data(at: Binding<'_>) -> Vec<u8> {
        [
            &[FORMAT_VERSION],
            at.kind.tag(),
            b"/".as_slice(),
            at.id.as_slice(),
        ]
        .concat()
    }

    /// Seals `plaintext` under its binding.
    pub fn seal(&self, at: Binding<'_>, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let aad = Self::associated_data(at);
        // Encryption with a valid key and in-memory buffers cannot fail.
        #[allow(clippy::expect_used)]
        let ciphertext = self
            .cipher(at)
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer");
        Sealed { nonce, ciphertext }
    }

    /// Seals a serialisable payload (postcard), see [`Sealer::seal`].
    pub fn seal_value<T: Serialize>(
        &self,
        at: Binding<'_>,
        payload: &T,
    ) -> Result<Sealed, CryptoError> {
        let plain = Zeroizing::new(
            postcard::to_allocvec(payload).map_err(|e| CryptoError::Encoding(e.to_string()))?,
        );
        Ok(self.seal(at, &plain))
    }

    /// Opens what [`Sealer::seal_value`] sealed.
    pub fn open_value<T: serde::de::DeserializeOwned>(
        &self,
        at: Binding<'_>,
        sealed: &Sealed,
    ) -> Result<T, CryptoError> {
        let plain = self.open(at, sealed)?;
        postcard::from_bytes(&plain).map_err(|e| CryptoError::Encoding(e.to_string()))
    }

    /// Opens a sealed blob; a wrong URL key or passphrase fails authentication.
    pub fn open(
        &self,
        at: Binding<'_>,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let aad = Self::associated_data(at);
        self.cipher(at)
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open)
    }

    /// An account's email sealed for its record `id`, under the server key alone: the store
    /// then holds no plain address, and whoever has the server key (`account list`) reads it.
    pub fn seal_email(&self, id: &RecordId, email: &str) -> Sealed {
        self.seal(
            Binding::new(RecordKind::AccountEmail, id, ""),
            email.as_bytes(),
        )
    }

    /// Opens what [`Sealer::seal_email`] sealed.
    pub fn open_email(&self, id: &RecordId, sealed: &Sealed) -> Result<String, CryptoError> {
        let plain = self.open(Binding::new(RecordKind::AccountEmail, id, ""), sealed)?;
        String::from_utf8(plain.to_vec()).map_err(|e| CryptoError::Encoding(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;
    use crate::crypto::{generate_key, KdfParams, KdfPool};

    fn sealer() -> Sealer {
        Sealer::new(ServerKey::from_hex(&"11".repeat(32)).expect("hex"))
    }

    #[test]
    fn sealed_record_opens_only_with_its_key_kind_and_id() {
        let s = sealer();
        let key = generate_key();
        let id = s.record_id(RecordKind::Secret, &key);
        let sealed = s.seal(Binding::new(RecordKind::Secret, &id, &key), b"hunter2");
        let opened = s
            .open(Binding::new(RecordKind::Secret, &id, &key), &sealed)
            .expect("opens");
        assert_eq!(opened.as_slice(), b"hunter2");

        let other = generate_key();
        assert!(s
            .open(Binding::new(RecordKind::Secret, &id, &other), &sealed)
            .is_err());
        assert!(s
            .open(Binding::new(RecordKind::Receipt, &id, &key), &sealed)
            .is_err());
        let other_id = s.record_id(RecordKind::Secret, &other);
        assert!(s
            .open(Binding::new(RecordKind::Secret, &other_id, &key), &sealed)
            .is_err());
        let mut tampered = sealed;
        tampered.ciphertext[0] ^= 1;
        assert!(s
            .open(Binding::new(RecordKind::Secret, &id, &key), &tampered)
            .is_err());
    }

    #[test]
    fn record_ids_depend_on_server_key_and_kind() {
        let a = sealer();
        let b = Sealer::new(ServerKey::from_hex(&"22".repeat(32)).expect("hex"));
        let key = generate_key();
        assert_ne!(
            a.record_id(RecordKind::Secret, &key),
            b.record_id(RecordKind::Secret, &key)
        );
        assert_ne!(
            a.record_id(RecordKind::Secret, &key),
            a.record_id(RecordKind::Receipt, &key)
        );
        assert_eq!(
            a.record_id(RecordKind::Secret, &key),
            a.record_id(RecordKind::Secret, &key)
        );
    }

    #[tokio::test]
    async fn passphrase_key_is_needed_to_open() {
        let s = sealer();
        let pool = KdfPool::new(2, 4);
        let params = KdfParams::fresh(10, 8, 1);
        let right = pool
            .derive(Zeroizing::new("correct horse".into()), params)
            .await
            .expect("derive");
        let wrong = pool
            .derive(Zeroizing::new("wrong horse".into()), params)
            .await
            .expect("derive");
        let key = generate_key();
        let id = s.record_id(RecordKind::Secret, &key);
        let sealed = s.seal(
            Binding::new(RecordKind::Secret, &id, &key).with_pass(Some(&right)),
            b"v",
        );
        assert!(s
            .open(
                Binding::new(RecordKind::Secret, &id, &key).with_pass(Some(&right)),
                &sealed
            )
            .is_ok());
        assert!(s
            .open(
                Binding::new(RecordKind::Secret, &id, &key).with_pass(Some(&wrong)),
                &sealed
            )
            .is_err());
        assert!(s
            .open(Binding::new(RecordKind::Secret, &id, &key), &sealed)
            .is_err());
    }
}
