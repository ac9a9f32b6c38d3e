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
//!
//! # Layout
//! - [`generate`]: keys and passwords from the OS CSPRNG.
//! - [`server_key`]: the server key, from config or a private file.
//! - [`kdf`]: scrypt parameters and the bounded pool that runs derivations.
//! - [`seal`]: record ids and sealing under the server key.
//! - [`envelope`]: the end-to-end envelope the browser and the CLI client seal (`docs/envelope.md`).
//! - [`list_key`]: the X25519 key pairs through which each credential reads a recent list.
//! - [`password`]: web passwords as scrypt PHC strings.

pub mod envelope;
mod generate;
mod kdf;
pub mod list_key;
pub mod password;
mod seal;
mod server_key;

pub use self::generate::{generate_key, generate_password, generate_password_from, CharSets};
pub use self::kdf::{KdfParams, KdfPool, KdfTicket, PassKey};
pub use self::list_key::{seal_to, ListPublicKey, ListSecretKey};
pub use self::password::{hash_password, verify_password};
pub use self::seal::{Binding, Sealed, Sealer};
pub use self::server_key::ServerKey;

/// Bytes in the server key.
pub const SERVER_KEY_LEN: usize = 32;
/// Characters in an issued secret or metadata key: 62 base36 characters, about 320 bits.
pub const KEY_CHARS: usize = 62;
/// Version of the sealing scheme, bound into every record's associated data.
pub const FORMAT_VERSION: u8 = 1;

/// The id a record is stored under: HMAC-SHA256(server key, kind ++ URL key).
pub type RecordId = [u8; 32];

/// What a sealed blob or record id belongs to; part of ids, HKDF info and associated data, so a
/// key meant for one kind never opens another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// The secret value, under the secret key.
    Secret,
    /// The receipt, under the metadata key.
    Receipt,
    /// A generated password kept for the first receipt read, under the metadata key.
    Generated,
    /// An account, keyed by email (ids only).
    Account,
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
    /// An incoming recipient's address (the digest visitors pick the recipient by).
    Incoming,
    /// An account's single-sign-on list key, sealed under the server key alone.
    SsoListKey,
    /// A sign-in with the identity provider in progress, keyed and sealed by its `state`.
    OidcLogin,
}

impl RecordKind {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::Secret => b"secret",
            Self::Receipt => b"metadata",
            Self::Generated => b"generated",
            Self::Account => b"customer",
            Self::AccountEmail => b"account-email",
            Self::Token => b"token",
            Self::Recent => b"recent",
            Self::Client => b"client",
            Self::Mail => b"mail",
            Self::Csrf => b"csrf",
            Self::Session => b"session",
            Self::ApiListKey => b"list-key/api",
            Self::WebListKey => b"list-key/web",
            Self::Incoming => b"incoming",
            Self::SsoListKey => b"list-key/sso",
            Self::OidcLogin => b"oidc-login",
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
