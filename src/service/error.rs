//! Why a use case refused or failed, in variants that say what was wrong. The words are the
//! caller's: the API words each variant in English as Onetime Secret does, the pages in the
//! visitor's language (`crate::http`).

use crate::crypto::CryptoError;
use crate::store::StoreError;

/// What a use case returns: its answer, or why it refused or failed.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A share without a value.
    #[error("nothing to share")]
    NothingToShare,
    /// The value is larger than the caller's plan allows.
    #[error("secret larger than {max} bytes")]
    TooLarge {
        /// The plan's largest secret, bytes.
        max: usize,
    },
    /// The passphrase is shorter than `secrets.passphrase_min_length`.
    #[error("passphrase shorter than {min} characters")]
    PassphraseTooShort {
        /// Fewest characters.
        min: usize,
    },
    /// The passphrase is longer than the API allows.
    #[error("passphrase longer than {max} characters")]
    PassphraseTooLong {
        /// Most characters.
        max: usize,
    },
    /// The private note is longer than allowed.
    #[error("memo longer than {max} characters")]
    MemoTooLong {
        /// Most characters.
        max: usize,
    },
    /// An anonymous caller named a recipient.
    #[error("an account is required to send emails")]
    AccountRequiredForEmail,
    /// The first recipient is not a deliverable address.
    #[error("undeliverable email address")]
    Undeliverable {
        /// The address as given (the caller's own input).
        address: String,
    },
    /// A recipient was named, but this server sends no mail (`mail.smtp_url` unset).
    #[error("mail is off on this server")]
    MailOff,
    /// Missing, consumed, expired, or a record that does not open: the secret.
    #[error("unknown secret")]
    UnknownSecret,
    /// Missing, expired, or a record that does not open: the receipt itself.
    #[error("unknown receipt")]
    UnknownReceipt,
    /// The secret needs a passphrase and none was given.
    #[error("passphrase required")]
    PassphraseRequired,
    /// Wrong passphrase (reveal, burn); it counted toward the lockout.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// Too many wrong passphrases: the secret is locked for a while.
    #[error("locked after wrong passphrases")]
    Locked,
    /// An end-to-end create whose value is not an envelope, or whose verifier is not one.
    #[error("malformed end-to-end envelope")]
    BadEnvelope,
    /// An end-to-end secret asked for without proof of its key (a page without JavaScript, or
    /// a link without its `#key`); it stays unread.
    #[error("the link's key is needed")]
    KeyRequired,
    /// The key's verifier does not match: a wrong or mangled `#key`; it stays unread.
    #[error("wrong key")]
    WrongKey,
    /// The caller may not do this.
    #[error("not authorized")]
    NotAuthorized,
    /// The client has used up its budget for this kind of request.
    #[error("rate limited")]
    RateLimited,
    /// Too many passphrase derivations queued; try again shortly.
    #[error("server busy")]
    Busy,
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Storage(#[from] StorageFailure),
}

/// A store failure as the use cases' callers need to know it: try again, or a bug.
///
/// The one place a [`StoreError`] is classified; its text goes to the log only (a
/// `StoreError` never holds keys or values).
#[derive(Debug, thiserror::Error)]
pub enum StorageFailure {
    /// Unreachable, full, reopening or short of replicas: a retry may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(StoreError),
    /// A record that does not decode, a store from a newer version: damage or a bug, which a
    /// retry does not fix.
    #[error("store damaged: {0}")]
    Damaged(StoreError),
}

impl From<StoreError> for StorageFailure {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            Self::Unavailable(e)
        } else {
            Self::Damaged(e)
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        Self::Storage(e.into())
    }
}

impl From<CryptoError> for ServiceError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Busy => Self::Busy,
            // A record that does not open is, to the caller, a secret that does not exist.
            _ => Self::UnknownSecret,
        }
    }
}
