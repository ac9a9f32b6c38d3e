//! Why a store operation failed: one variant per cause, built where the cause is known (a
//! sled I/O error, a Redis reply, a lost compare-and-swap race), never read back from text.
//!
//! No variant carries a key, a value, a token or an address: the texts go to logs and to the
//! operator's terminal, never to a client.

/// What a store step returns: its answer, or why it failed.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a store operation failed. Carries no key or value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend does not answer, or not as expected: a lost or timed-out Redis connection,
    /// an unexpected reply, a sled database being reopened after an I/O error.
    #[error("storage backend: {0}")]
    Unavailable(String),
    /// The disk is full: writes and flushes fail while reads still work. sled latches it, so
    /// the store reopens its database once space returns.
    #[error("storage backend: the disk is full: {0}")]
    Full(String),
    /// The disk failed a read, write or flush for another reason; as with [`Self::Full`], the
    /// store reopens its database.
    #[error("storage backend: I/O error: {0}")]
    Io(String),
    /// Another process holds the store's lock (sled admits one process per directory).
    #[error("storage backend: the store at {path} is locked by another process")]
    Locked {
        /// Where the store lives.
        path: String,
    },
    /// The configured backend address cannot be used (`storage.redis_url`).
    #[error("storage backend: {0}")]
    Config(String),
    /// Fewer replicas than `storage.redis_replicas_ack` confirmed a write in time: it was not
    /// acknowledged (and a reveal's value is not handed out).
    #[error("only {confirmed} of {wanted} replicas confirmed the write in time")]
    NotReplicated {
        /// `storage.redis_replicas_ack`.
        wanted: u32,
        /// Replicas that confirmed.
        confirmed: i64,
    },
    /// A stored record could not be decoded.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The store was written by a newer onetime.
    #[error(
        "the store at {path} has schema version {found}, but this onetime supports up to \
         {supported}; run the newer onetime or restore a backup"
    )]
    NewerSchema {
        /// Where the store lives.
        path: String,
        /// Version found.
        found: u32,
        /// Newest version this build understands.
        supported: u32,
    },
}

impl StoreError {
    /// Whether trying again later may succeed: the backend is unreachable, full, failing,
    /// held by another process or short of replicas, as opposed to damage or a newer schema,
    /// which no retry fixes.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_)
            | Self::Full(_)
            | Self::Io(_)
            | Self::Locked { .. }
            | Self::Config(_)
            | Self::NotReplicated { .. } => true,
            Self::Corrupt(_) | Self::NewerSchema { .. } => false,
        }
    }

    /// Whether the disk failed under a sled database, which then refuses every later write
    /// until it is reopened.
    pub fn is_disk_failure(&self) -> bool {
        matches!(self, Self::Full(_) | Self::Io(_))
    }
}

impl From<std::io::Error> for StoreError {
    /// An I/O error, told apart by its kind: a full disk (or quota) is [`StoreError::Full`].
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Self::Full(e.to_string()),
            _ => Self::Io(e.to_string()),
        }
    }
}
