//! The end-to-end envelope (`docs/envelope.md`): a text and/or one file, encrypted with
//! AES-256-GCM under a key that lives only in the link's fragment.
//!
//! The server only ever checks an envelope's shape ([`Envelope::parse`]) and a key's verifier
//! ([`verifier`]); the CLI client and the tests seal and open ([`seal`], [`open`]). The
//! browser's `static/e2e.js` implements the same format; both check the test vectors in the
//! docs.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::generate::random_key;

/// What every envelope's text starts with; also its associated data (`AD`).
pub const PREFIX: &str = "ote1.";
/// Associated data bound into every envelope of this version.
pub const AD: &[u8] = b"onetime-e2e-v1";
/// Bytes of the fragment key.
pub const KEY_LEN: usize = 32;
/// Bytes of the GCM nonce.
pub const IV_LEN: usize = 12;
/// Bytes of the GCM tag.
pub const TAG_LEN: usize = 16;
/// Characters of a fragment key (base64url without padding).
pub const KEY_CHARS: usize = 43;
/// Label hashed with the key into its verifier.
const VERIFIER_LABEL: &[u8] = b"onetime-e2e-v1 key verifier\0";
/// Longest file name kept, in bytes.
pub const NAME_MAX: usize = 255;
/// Longest media type kept, in bytes.
pub const TYPE_MAX: usize = 255;
/// Framing bytes around the text and the file beyond their own bytes, at most: text length,
/// name, type and size fields with the longest name and type.
pub const FRAMING_MAX: usize = 4 + 2 + NAME_MAX + 2 + TYPE_MAX + 4;

/// Why an envelope did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not `ote1.` followed by base64url of at least an IV and a tag.
    #[error("not an end-to-end envelope of a known version")]
    Malformed,
    /// The key is not 43 base64url characters.
    #[error("the link's key is missing or incomplete")]
    BadKey,
    /// Authentication failed: a wrong key, or a changed envelope.
    #[error("wrong key, or the encrypted secret was changed")]
    Unauthentic,
    /// It opened, but the framing inside is broken.
    #[error("the decrypted envelope is not framed as a text and a file")]
    Framing,
}

/// A fragment key: zeroized on drop.
pub struct Key(Zeroizing<[u8; KEY_LEN]>);

impl Key {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(random_key())
    }

    /// From the link's fragment (without `#`).
    pub fn parse(fragment: &str) -> Result<Self, EnvelopeError> {
        if fragment.len() != KEY_CHARS {
            return Err(EnvelopeError::BadKey);
        }
        let mut bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(fragment)
                .map_err(|_| EnvelopeError::BadKey)?,
        );
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(EnvelopeError::BadKey);
        }
        key.copy_from_slice(&bytes);
        bytes.zeroize();
        Ok(Self(key))
    }

    /// The fragment form: 43 base64url characters.
    pub fn fragment(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(self.0.as_slice()))
    }

    /// The key's verifier: what the server keeps to refuse a wrong key before a reveal.
    pub fn verifier(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(VERIFIER_LABEL);
        hash.update(self.0.as_slice());
        hex::encode(hash.finalize())
    }
}

/// A file inside an envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct File {
    /// Its name as the creator's system had it (no directories).
    pub name: String,
    /// Its media type, or empty.
    pub media_type: String,
    /// Its bytes.
    pub bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("size", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// What an envelope holds: a text (maybe empty) and at most one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contents {
    /// The text.
    pub text: Zeroizing<String>,
    /// The file, when one was attached.
    pub file: Option<File>,
}

/// An envelope's parts, as the server checks them: never opened there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// Bytes of ciphertext and tag (what the plan's size applies to).
    pub sealed_len: usize,
}

impl Envelope {
    /// Checks `text` is an envelope of this version: the prefix, base64url, room for an IV
    /// and a tag.
    pub fn parse(text: &str) -> Result<Self, EnvelopeError> {
        let bytes = decode_body(text)?;
        Ok(Self {
            sealed_len: bytes.len() - IV_LEN,
        })
    }

    /// The plaintext size it carries, exactly: sealed bytes minus the tag.
    pub fn plain_len(self) -> usize {
        self.sealed_len - TAG_LEN
    }
}

fn decode_body(text: &str) -> Result<Vec<u8>, EnvelopeError> {
    let body = text.strip_prefix(PREFIX).ok_or(EnvelopeError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| EnvelopeError::Malformed)?;
    if bytes.len() < IV_LEN + TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    Ok(bytes)
}

/// The framed plaintext of `contents`.
fn frame(contents: &Contents) -> Zeroizing<Vec<u8>> {
    let text = contents.text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(
        FRAMING_MAX + text.len() + contents.file.as_ref().map_or(0, |f| f.bytes.len()),
    ));
    out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(text);
    if let Some(file) = &contents.file {
        let name = truncate(&file.name, NAME_MAX);
        let media = truncate(&file.media_type, TYPE_MAX);
        for field in [name, media] {
            out.extend_from_slice(&(field.len() as u16).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(
            &u32::try_from(file.bytes.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&file.bytes);
    }
    out
}

/// The longest prefix of `s` within `max` bytes, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reads the framing of an opened envelope.
fn unframe(plain: &[u8]) -> Result<Contents, EnvelopeError> {
    let mut rest = plain;
    let text = take_field(&mut rest, 4)?;
    let text = String::from_utf8(text.to_vec()).map_err(|_| EnvelopeError::Framing)?;
    let mut contents = Contents {
        text: Zeroizing::new(text),
        file: None,
    };
    if rest.is_empty() {
        return Ok(contents);
    }
    let name =
        std::str::from_utf8(take_field(&mut rest, 2)?).map_err(|_| EnvelopeError::Framing)?;
    let media =
        std::str::from_utf8(take_field(&mut rest, 2)?).map_err(|_| EnvelopeError::Framing)?;
    let bytes = take_field(&mut rest, 4)?;
    if !rest.is_empty() {
        return Err(EnvelopeError::Framing);
    }
    contents.file = Some(File {
        name: name.to_owned(),
        media_type: media.to_owned(),
        bytes: Zeroizing::new(bytes.to_vec()),
    });
    Ok(contents)
}

/// A length-prefixed field (`width` bytes of big-endian length) off the front of `rest`.
fn take_field<'a>(rest: &mut &'a [u8], width: usize) -> Result<&'a [u8], EnvelopeError> {
    if rest.len() < width {
        return Err(EnvelopeError::Framing);
    }
    let (len, tail) = rest.split_at(width);
    let len = len.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
    if tail.len() < len {
        return Err(EnvelopeError::Framing);
    }
    let (field, tail) = tail.split_at(len);
    *rest = tail;
    Ok(field)
}

/// Seals `contents` under `key` with a fresh IV.
pub fn seal(key: &Key, contents: &Contents) -> String {
    let mut iv = [0u8; IV_LEN];
    OsRng.fill_bytes(&mut iv);
    seal_with_iv(key, &iv, contents)
}

/// Seals `contents` under `key` and `iv`: for the test vectors; [`seal`] for anything else.
pub fn seal_with_iv(key: &Key, iv: &[u8; IV_LEN], contents: &Contents) -> String {
    let plain = frame(contents);
    let cipher = Aes256Gcm::new_from_slice(key.0.as_slice()).expect("a 32-byte key");
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(iv),
            Payload {
                msg: &plain,
                aad: AD,
            },
        )
        .expect("AES-GCM seals any length below 64 GiB");
    let mut body = Vec::with_capacity(IV_LEN + sealed.len());
    body.extend_from_slice(iv);
    body.extend_from_slice(&sealed);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(body))
}

/// Opens `envelope` under `key`.
pub fn open(key: &Key, envelope: &str) -> Result<Contents, EnvelopeError> {
    let body = decode_body(envelope)?;
    let (iv, sealed) = body.split_at(IV_LEN);
    let cipher = Aes256Gcm::new_from_slice(key.0.as_slice()).expect("a 32-byte key");
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                Nonce::from_slice(iv),
                Payload {
                    msg: sealed,
                    aad: AD,
                },
            )
            .map_err(|_| EnvelopeError::Unauthentic)?,
    );
    unframe(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of the test vectors: bytes 0x00..=0x1f.
    fn vector_key() -> Key {
        let bytes: Vec<u8> = (0u8..32).collect();
        Key::parse(&URL_SAFE_NO_PAD.encode(bytes)).expect("key")
    }

    /// The IV of the test vectors: bytes 0xa0..=0xab.
    const VECTOR_IV: [u8; IV_LEN] = [
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
    ];

    /// `docs/envelope.md`'s vectors: (text, file, envelope), also checked by the browser test
    /// `e2e::the_browser_code_matches_the_test_vectors`.
    fn vectors() -> Vec<(Contents, &'static str)> {
        vec![
            (
                Contents {
                    text: Zeroizing::new("hello, world".into()),
                    file: None,
                },
                include_str!("../../docs/vectors/text.txt").trim(),
            ),
            (
                Contents {
                    text: Zeroizing::new("größe ✓".into()),
                    file: Some(File {
                        name: "a.bin".into(),
                        media_type: "application/octet-stream".into(),
                        bytes: Zeroizing::new(vec![0, 1, 2, 255]),
                    }),
                },
                include_str!("../../docs/vectors/file.txt").trim(),
            ),
        ]
    }

    #[test]
    fn the_test_vectors_seal_and_open() {
        let key = vector_key();
        assert_eq!(
            key.fragment().as_str(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
        );
        for (contents, envelope) in vectors() {
            assert_eq!(seal_with_iv(&key, &VECTOR_IV, &contents), envelope);
            assert_eq!(open(&key, envelope).expect("opens"), contents);
        }
        assert_eq!(
            key.verifier(),
            include_str!("../../docs/vectors/verifier.txt").trim()
        );
    }

    #[test]
    fn a_wrong_key_or_a_changed_byte_does_not_open() {
        let key = Key::generate();
        let contents = Contents {
            text: Zeroizing::new("s".into()),
            file: None,
        };
        let envelope = seal(&key, &contents);
        assert_eq!(
            open(&Key::generate(), &envelope),
            Err(EnvelopeError::Unauthentic)
        );
        let mut bytes = envelope.clone().into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).expect("ascii");
        assert_eq!(open(&key, &changed), Err(EnvelopeError::Unauthentic));
        assert_eq!(open(&key, "ote1.AAAA"), Err(EnvelopeError::Malformed));
        assert_eq!(open(&key, "hello"), Err(EnvelopeError::Malformed));
        assert_eq!(Key::parse("short").err(), Some(EnvelopeError::BadKey));
        assert_eq!(
            Envelope::parse(&envelope).expect("parses").plain_len(),
            4 + 1
        );
    }

    #[test]
    fn fresh_keys_and_ivs_differ() {
        let a = Key::generate();
        let b = Key::generate();
        assert_ne!(a.fragment(), b.fragment());
        let contents = Contents::default();
        assert_ne!(seal(&a, &contents), seal(&a, &contents));
        assert_eq!(
            Key::parse(&a.fragment()).expect("round trip").verifier(),
            a.verifier()
        );
    }
}
