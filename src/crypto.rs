//! Keys, record ids, passphrase KDF and sealing.
//!
//! Goal: a copy of the whole data directory, server key included, yields no secret value, link
//! or recipient without the URL key a record belongs to. So records live under an HMAC of
//! their URL key, and each is sealed with XChaCha20-Poly1305 under
//! HKDF(server key, URL key [, scrypt(passphrase)]), with the record id, its kind and the
//! format version as associated data so no record can be swapped for another.
//!
//! Accounts add two things: web passwords as scrypt PHC strings ([`password`]), and list keys
//! ([`list_key`]), X25519 key pairs through which every credential of an account reads its
//! recent list.

pub mod list_key;
pub mod password;

pub use self::list_key::{seal_to, ListPublicKey, ListSecretKey};
pub use self::password::{hash_password, verify_password};

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

/// Bytes in the server key.
pub const SERVER_KEY_LEN: usize = 32;
/// Characters in an issued secret or metadata key: 62 base36 characters, about 320 bits.
pub const KEY_CHARS: usize = 62;
/// Version of the sealing scheme, bound into every record's associated data.
pub const FORMAT_VERSION: u8 = 1;

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The id a record is stored under: HMAC-SHA256(server key, kind ++ URL key).
pub type RecordId = [u8; 32];

/// What a sealed blob or record id belongs to; part of ids, HKDF info and associated data, so a
/// key meant for one kind never opens another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// The secret value, under the secret key.
    Secret,
    /// The receipt, under the metadata key.
    Metadata,
    /// A generated password kept for the first receipt read, under the metadata key.
    Generated,
    /// An account, keyed by email (ids only).
    Customer,
    /// An account's email, under the server key alone (`account list` must show it).
    AccountEmail,
    /// An API token (its stored hash).
    Token,
    /// A recent-list entry's metadata key, sealed under the entry's own random key (which the
    /// account's list keys open), or, in entries from schema 1, under the API token.
    Recent,
    /// A client address (the tag its passphrase failures are counted under).
    Client,
    /// A mail in the outbox, under the server key alone.
    Mail,
    /// A browser's anti-CSRF token (ids only: the form token is the keyed hash of the cookie).
    Csrf,
    /// A signed-in browser session, keyed and sealed by its cookie's secret.
    Session,
    /// An account's API-side list key, sealed under its API token.
    ApiListKey,
    /// An account's web-side list key, sealed under a key scrypt derives from its password.
    WebListKey,
}

impl RecordKind {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::Secret => b"secret",
            Self::Metadata => b"metadata",
            Self::Generated => b"generated",
            Self::Customer => b"customer",
            Self::AccountEmail => b"account-email",
            Self::Token => b"token",
            Self::Recent => b"recent",
            Self::Client => b"client",
            Self::Mail => b"mail",
            Self::Csrf => b"csrf",
            Self::Session => b"session",
            Self::ApiListKey => b"list-key/api",
            Self::WebListKey => b"list-key/web",
        }
    }
}

/// Why sealing, opening or key handling failed. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Wrong key or passphrase, or a tampered record: the AEAD tag did not verify.
    #[error("record could not be opened")]
    Open,
    /// Stored KDF parameters outside the allow-list.
    #[error("passphrase parameters outside the allowed range")]
    KdfParams,
    /// Too many passphrase derivations waiting already.
    #[error("passphrase work queue is full")]
    Busy,
    /// The blocking pool failed to run the derivation.
    #[error("passphrase derivation did not complete")]
    Join,
    /// A payload could not be encoded or decoded.
    #[error("sealed payload encoding: {0}")]
    Encoding(String),
}

/// Draws a fresh 62-character key, uniform over lowercase base36, from the OS CSPRNG.
pub fn generate_key() -> String {
    let mut key = String::with_capacity(KEY_CHARS);
    let mut buf = [0u8; 80];
    while key.len() < KEY_CHARS {
        OsRng.fill_bytes(&mut buf);
        // Rejection sampling: 252 = 7 * 36, so accepted bytes map uniformly onto base36.
        for b in buf.iter().filter(|&&b| b < 252) {
            if key.len() == KEY_CHARS {
                break;
            }
            key.push(char::from(BASE36[usize::from(*b % 36)]));
        }
    }
    key
}

/// The 32-byte server key. Zeroed on drop; never printed.
pub struct ServerKey(Zeroizing<[u8; SERVER_KEY_LEN]>);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey([redacted])")
    }
}

impl ServerKey {
    /// Parses 64 hex characters (config `server.secret`).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut key = Zeroizing::new([0u8; SERVER_KEY_LEN]);
        hex::decode_to_slice(hex, key.as_mut_slice()).ok()?;
        Some(Self(key))
    }

    /// Reads `path`, or creates it with 32 fresh random bytes and mode 0600.
    ///
    /// `create_new` makes two racing first starts agree on one key instead of overwriting.
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut key = Zeroizing::new([0u8; SERVER_KEY_LEN]);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut file) => {
                OsRng.fill_bytes(key.as_mut_slice());
                file.write_all(key.as_slice())?;
                file.sync_all()?;
                Ok(Self(key))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut file = fs::File::open(path)?;
                let mut bytes = Zeroizing::new(Vec::new());
                file.read_to_end(&mut bytes)?;
                if bytes.len() != SERVER_KEY_LEN {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} holds {} bytes, want {SERVER_KEY_LEN}",
                            path.display(),
                            bytes.len()
                        ),
                    ));
                }
                key.copy_from_slice(&bytes);
                Ok(Self(key))
            }
            Err(e) => Err(e),
        }
    }
}

/// A key derived from a passphrase with scrypt; joins the HKDF input of a sealed record.
pub struct PassKey(Zeroizing<[u8; 32]>);

/// scrypt parameters and salt, stored with each record so the cost can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// N = 2^log_n.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
    /// Per-record random salt.
    pub salt: [u8; 16],
}

impl KdfParams {
    /// Fresh parameters with a random salt; `log_n`, `r`, `p` come from config.
    pub fn fresh(log_n: u8, r: u32, p: u32) -> Self {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        Self { log_n, r, p, salt }
    }

    /// The allow-list for parameters, in config and in stored records: a record can never make
    /// the server spend more than 1 GiB or more than a few seconds on one derivation.
    pub fn check(log_n: u8, r: u32, p: u32) -> Result<(), String> {
        if !(1..=20).contains(&log_n) || !(1..=32).contains(&r) || !(1..=16).contains(&p) {
            return Err("want scrypt_log_n 1..=20, scrypt_r 1..=32, scrypt_p 1..=16".into());
        }
        let memory = (128u64 * u64::from(r)) << log_n;
        if memory > 1 << 30 {
            return Err("scrypt memory (128 * r * 2^log_n) must stay within 1 GiB".into());
        }
        Ok(())
    }

    /// Whether the cost meets OWASP ASVS 5.0 Appendix C for scrypt.
    pub fn meets_asvs(log_n: u8, r: u32, p: u32) -> bool {
        r >= 8
            && match p {
                1 => log_n >= 17,
                2 => log_n >= 16,
                _ => log_n >= 15,
            }
    }

    /// Runs scrypt. Blocking and memory-hungry: call through [`KdfPool`].
    fn derive(&self, passphrase: &str) -> Result<PassKey, CryptoError> {
        Self::check(self.log_n, self.r, self.p).map_err(|_| CryptoError::KdfParams)?;
        let params = scrypt::Params::new(self.log_n, self.r, self.p, 32)
            .map_err(|_| CryptoError::KdfParams)?;
        let mut out = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(
            passphrase.as_bytes(),
            &self.salt,
            &params,
            out.as_mut_slice(),
        )
        .map_err(|_| CryptoError::KdfParams)?;
        Ok(PassKey(out))
    }
}

/// Runs scrypt on the blocking pool, about one derivation per core at a time; one pool serves
/// the whole process (passphrase reveal, burn and create, web password sign-in, `account
/// passwd`), so the bound is the process's, not each use case's.
///
/// Why a bounded queue: each derivation holds 32 MiB; under a flood, piling up waiters would
/// exhaust memory, so past `queue` waiters new requests fail fast with [`CryptoError::Busy`].
///
/// Why the permits move into the blocking job: a request whose client goes away is dropped by
/// actix, but a derivation already on the blocking pool runs to its end. Permits held by the
/// request's future would be released at the drop while the 32 MiB stayed in use, so a client
/// resetting connections could start derivations without limit. Owned by the job, a permit is
/// released only when the derivation's memory is.
#[derive(Clone)]
pub struct KdfPool {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    /// The two semaphores' sizes, so [`KdfPool::load`] can tell what is in use.
    parallel: usize,
    capacity: usize,
}

impl KdfPool {
    /// A pool running `parallel` derivations with up to `queue` more waiting.
    pub fn new(parallel: usize, queue: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(parallel.max(1))),
            admitted: Arc::new(Semaphore::new(parallel.max(1) + queue)),
            parallel: parallel.max(1),
            capacity: parallel.max(1) + queue,
        }
    }

    /// `(running, waiting)` derivations right now, for the metrics.
    pub fn load(&self) -> (usize, usize) {
        let running = self.parallel - self.running.available_permits().min(self.parallel);
        let admitted = self.capacity - self.admitted.available_permits().min(self.capacity);
        (running, admitted.saturating_sub(running))
    }

    /// A pool of one derivation per core with up to `queue` more waiting.
    pub fn per_core(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, queue)
    }

    /// Derives the passphrase key for `params` off the async workers.
    pub async fn derive(
        &self,
        passphrase: Zeroizing<String>,
        params: KdfParams,
    ) -> Result<PassKey, CryptoError> {
        self.admit()?.derive(passphrase, params).await
    }

    /// Runs one scrypt job (`work`) on the blocking pool under the same bounds as
    /// [`KdfPool::derive`]: web password hashing and verification use it.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CryptoError> {
        self.admit()?.run(work).await
    }

    /// A place in the queue, or [`CryptoError::Busy`] at once when the queue is full. Taken
    /// before a passphrase guess is reserved, so a busy server does not use up a guess.
    pub fn admit(&self) -> Result<KdfTicket, CryptoError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| CryptoError::Busy)?;
        Ok(KdfTicket {
            admitted,
            running: Arc::clone(&self.running),
        })
    }
}

/// A place in a [`KdfPool`]'s queue, spent by one derivation.
pub struct KdfTicket {
    admitted: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
}

impl KdfTicket {
    /// Derives the passphrase key for `params` off the async workers.
    pub async fn derive(
        self,
        passphrase: Zeroizing<String>,
        params: KdfParams,
    ) -> Result<PassKey, CryptoError> {
        self.run(move || params.derive(&passphrase)).await?
    }

    /// Runs `work` on the blocking pool once one of the pool's running permits is free.
    pub async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CryptoError> {
        // Dropped while waiting here, nothing has started and both permits go back.
        let running = self
            .running
            .acquire_owned()
            .await
            .map_err(|_| CryptoError::Busy)?;
        let admitted = self.admitted;
        tokio::task::spawn_blocking(move || {
            // The job owns its permits: they go back when the derivation's memory does.
            let _permits = (admitted, running);
            work()
        })
        .await
        .map_err(|_| CryptoError::Join)
    }
}

/// A sealed blob: random nonce plus ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Fresh random 24-byte XChaCha20 nonce.
    pub nonce: [u8; 24],
    /// Ciphertext followed by the Poly1305 tag.
    pub ciphertext: Vec<u8>,
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

    fn cipher(&self, kind: RecordKind, url_key: &str, pass: Option<&PassKey>) -> XChaCha20Poly1305 {
        let mut ikm = Zeroizing::new(Vec::with_capacity(url_key.len() + 32));
        ikm.extend_from_slice(url_key.as_bytes());
        if let Some(pass) = pass {
            ikm.extend_from_slice(pass.0.as_slice());
        }
        let hk = Hkdf::<Sha256>::new(Some(self.key.0.as_slice()), &ikm);
        let mut okm = Zeroizing::new([0u8; 32]);
        let info = [b"onetime/seal/".as_slice(), kind.tag()].concat();
        // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
        #[allow(clippy::expect_used)]
        hk.expand(&info, okm.as_mut_slice())
            .expect("32 bytes is a valid HKDF length");
        XChaCha20Poly1305::new(okm.as_slice().into())
    }

    fn associated_data(kind: RecordKind, id: &RecordId) -> Vec<u8> {
        [
            &[FORMAT_VERSION],
            kind.tag(),
            b"/".as_slice(),
            id.as_slice(),
        ]
        .concat()
    }

    /// Seals `plaintext` for the record `id` under its URL key (and passphrase key).
    pub fn seal(
        &self,
        kind: RecordKind,
        id: &RecordId,
        url_key: &str,
        pass: Option<&PassKey>,
        plaintext: &[u8],
    ) -> Sealed {
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let aad = Self::associated_data(kind, id);
        // Encryption with a valid key and in-memory buffers cannot fail.
        #[allow(clippy::expect_used)]
        let ciphertext = self
            .cipher(kind, url_key, pass)
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
        kind: RecordKind,
        id: &RecordId,
        url_key: &str,
        pass: Option<&PassKey>,
        payload: &T,
    ) -> Result<Sealed, CryptoError> {
        let plain = Zeroizing::new(
            postcard::to_allocvec(payload).map_err(|e| CryptoError::Encoding(e.to_string()))?,
        );
        Ok(self.seal(kind, id, url_key, pass, &plain))
    }

    /// Opens what [`Sealer::seal_value`] sealed.
    pub fn open_value<T: serde::de::DeserializeOwned>(
        &self,
        kind: RecordKind,
        id: &RecordId,
        url_key: &str,
        pass: Option<&PassKey>,
        sealed: &Sealed,
    ) -> Result<T, CryptoError> {
        let plain = self.open(kind, id, url_key, pass, sealed)?;
        postcard::from_bytes(&plain).map_err(|e| CryptoError::Encoding(e.to_string()))
    }

    /// Opens a sealed blob; a wrong URL key or passphrase fails authentication.
    pub fn open(
        &self,
        kind: RecordKind,
        id: &RecordId,
        url_key: &str,
        pass: Option<&PassKey>,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let aad = Self::associated_data(kind, id);
        self.cipher(kind, url_key, pass)
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
        self.seal(RecordKind::AccountEmail, id, "", None, email.as_bytes())
    }

    /// Opens what [`Sealer::seal_email`] sealed.
    pub fn open_email(&self, id: &RecordId, sealed: &Sealed) -> Result<String, CryptoError> {
        let plain = self.open(RecordKind::AccountEmail, id, "", None, sealed)?;
        String::from_utf8(plain.to_vec()).map_err(|e| CryptoError::Encoding(e.to_string()))
    }
}

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghjkmnpqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!@#$%^&*()_-+=[]{}|:;\"'<>,.?/~`";

/// Uniform indexes below `n` (at most 256) from the OS CSPRNG, drawn in bulk: one syscall per
/// buffer rather than one per character.
fn random_indexes(n: usize, count: usize) -> Zeroizing<Vec<usize>> {
    let limit = 256 - 256 % n; // rejection bound: bytes below it map uniformly onto 0..n
    let mut out = Zeroizing::new(Vec::with_capacity(count));
    let mut buf = Zeroizing::new([0u8; 256]);
    while out.len() < count {
        OsRng.fill_bytes(buf.as_mut_slice());
        for &b in buf.iter().filter(|&&b| usize::from(b) < limit) {
            if out.len() == count {
                break;
            }
            out.push(usize::from(b) % n);
        }
    }
    out
}

/// A password of `length` characters (at least 4) with at least one upper, lower, digit and
/// symbol, none of the ambiguous `ilo1IO0`, from the OS CSPRNG.
///
/// Drawn whole from the combined alphabet and redrawn until every class is present: uniform
/// over all passwords that satisfy the rule (forcing one character per class is not).
pub fn generate_password(length: usize) -> Zeroizing<String> {
    let length = length.max(4);
    let classes = [UPPER, LOWER, DIGITS, SYMBOLS];
    let all: Vec<u8> = classes.concat();
    loop {
        let chars: Zeroizing<Vec<u8>> = Zeroizing::new(
            random_indexes(all.len(), length)
                .iter()
                .map(|&i| all[i])
                .collect(),
        );
        if classes.iter().all(|c| chars.iter().any(|b| c.contains(b))) {
            return Zeroizing::new(chars.iter().map(|&b| char::from(b)).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(ServerKey::from_hex(&"11".repeat(32)).expect("hex"))
    }

    #[test]
    fn keys_are_62_base36_chars_and_distinct() {
        let a = generate_key();
        let b = generate_key();
        assert_eq!(a.len(), KEY_CHARS);
        assert!(a.bytes().all(|c| BASE36.contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn key_characters_are_roughly_uniform() {
        let mut counts = [0u32; 36];
        for _ in 0..2000 {
            for c in generate_key().bytes() {
                counts[BASE36.iter().position(|&x| x == c).expect("base36")] += 1;
            }
        }
        // 124,000 draws: each character expects ~3444; a biased mapping (e.g. byte % 36
        // without rejection) would push the first 4 characters ~14% high.
        let expected = 2000.0 * KEY_CHARS as f64 / 36.0;
        for n in counts {
            assert!(
                (f64::from(n) - expected).abs() / expected < 0.08,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn sealed_record_opens_only_with_its_key_kind_and_id() {
        let s = sealer();
        let key = generate_key();
        let id = s.record_id(RecordKind::Secret, &key);
        let sealed = s.seal(RecordKind::Secret, &id, &key, None, b"hunter2");
        let opened = s
            .open(RecordKind::Secret, &id, &key, None, &sealed)
            .expect("opens");
        assert_eq!(opened.as_slice(), b"hunter2");

        let other = generate_key();
        assert!(s
            .open(RecordKind::Secret, &id, &other, None, &sealed)
            .is_err());
        assert!(s
            .open(RecordKind::Metadata, &id, &key, None, &sealed)
            .is_err());
        let other_id = s.record_id(RecordKind::Secret, &other);
        assert!(s
            .open(RecordKind::Secret, &other_id, &key, None, &sealed)
            .is_err());
        let mut tampered = sealed;
        tampered.ciphertext[0] ^= 1;
        assert!(s
            .open(RecordKind::Secret, &id, &key, None, &tampered)
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
            a.record_id(RecordKind::Metadata, &key)
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
        let sealed = s.seal(RecordKind::Secret, &id, &key, Some(&right), b"v");
        assert!(s
            .open(RecordKind::Secret, &id, &key, Some(&right), &sealed)
            .is_ok());
        assert!(s
            .open(RecordKind::Secret, &id, &key, Some(&wrong), &sealed)
            .is_err());
        assert!(s
            .open(RecordKind::Secret, &id, &key, None, &sealed)
            .is_err());
    }

    #[tokio::test]
    async fn full_kdf_queue_fails_fast() {
        let pool = KdfPool::new(1, 0);
        let params = KdfParams::fresh(16, 8, 1);
        let first = pool.derive(Zeroizing::new("a".into()), params);
        let second = pool.derive(Zeroizing::new("b".into()), params);
        let (a, b) = tokio::join!(first, second);
        assert!(a.is_ok());
        assert!(matches!(b, Err(CryptoError::Busy)));
    }

    #[tokio::test]
    async fn a_cancelled_request_keeps_its_permit_until_the_derivation_ends() {
        // Arrange: a pool of one with no queue, and a job that runs until told to stop.
        let pool = KdfPool::new(1, 0);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move || {
                    started_tx.send(()).expect("test waits");
                    release_rx.recv().ok();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || started_rx.recv().expect("job started"))
            .await
            .expect("join");

        // Act: the request is dropped (its client went away) while the job still runs.
        first.abort();
        assert!(first.await.is_err_and(|e| e.is_cancelled()));

        // Assert: the running job still holds the only permit, so nothing more starts...
        assert!(matches!(pool.run(|| ()).await, Err(CryptoError::Busy)));
        // ...until it ends.
        release_tx.send(()).expect("job waits");
        let mut freed = false;
        for _ in 0..200 {
            if pool.run(|| ()).await.is_ok() {
                freed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(freed, "the permit came back when the job ended");
    }

    #[test]
    fn stored_kdf_params_outside_allow_list_are_refused() {
        let params = KdfParams {
            log_n: 30,
            r: 8,
            p: 1,
            salt: [0; 16],
        };
        assert!(matches!(params.derive("x"), Err(CryptoError::KdfParams)));
        assert!(KdfParams::meets_asvs(15, 8, 3));
        assert!(!KdfParams::meets_asvs(15, 8, 1));
    }

    #[test]
    fn generated_passwords_have_every_class_and_no_ambiguous_chars() {
        for len in [4, 12, 128] {
            for _ in 0..50 {
                let pw = generate_password(len);
                assert_eq!(pw.len(), len);
                let b = pw.as_bytes();
                assert!(b.iter().any(|c| UPPER.contains(c)));
                assert!(b.iter().any(|c| LOWER.contains(c)));
                assert!(b.iter().any(|c| DIGITS.contains(c)));
                assert!(b.iter().any(|c| SYMBOLS.contains(c)));
                assert!(!b.iter().any(|c| b"ilo1IO0".contains(c)));
            }
        }
    }

    #[test]
    fn server_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.key");
        let a = ServerKey::load_or_create(&path).expect("create");
        let mode = fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = ServerKey::load_or_create(&path).expect("load");
        assert_eq!(*a.0, *b.0);
    }
}
