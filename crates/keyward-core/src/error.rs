use thiserror::Error;

/// Everything the core can refuse or fail at, worded for the person who will read it.
///
/// Messages never contain a key or a secret: a token is only ever carried as
/// [`crate::SecretToken`], which prints `[redacted]`.
#[derive(Debug, Error)]
pub enum Error {
    /// The caller gave something we cannot accept; the message says what to fix.
    #[error("{0}")]
    InvalidInput(String),

    #[error("No key with the id {0} exists.")]
    KeyNotFound(String),

    #[error("No owner named \"{0}\" exists. Create the owner first.")]
    OwnerNotFound(String),

    /// The owner already has as many active keys as the limit allows.
    #[error("{owner} has {active} of {limit} active keys — revoke one first.")]
    LimitReached {
        owner: String,
        active: u32,
        limit: u32,
    },

    #[error("This key is revoked, so it can no longer be changed.")]
    KeyRevoked,

    /// The database file could not be opened or used; the message says what to do.
    #[error("{0}")]
    Unavailable(String),

    /// A passing condition (another program writing, a full disk): nothing was changed, and
    /// the same action can succeed once it passes. The message says what to do.
    #[error("{0}")]
    TryAgain(String),

    /// The database was opened read-only (the file or its folder cannot be written): listing
    /// and verifying work, every change is refused. Holds the database path.
    #[error(
        "This key database is read-only ({0}), so nothing can be changed. Open a writable copy \
         to make changes."
    )]
    ReadOnly(String),

    /// Any other database failure, in the engine's own words (never a driver's framing).
    /// Failures a person can act on become [`Error::TryAgain`] (busy, full disk) or
    /// [`Error::Unavailable`] (read-only, damaged, disk I/O, server gone) instead.
    #[error("The key database failed ({0}); nothing was changed.")]
    Database(String),

    /// The database refused the operator (PostgreSQL: the login's role or a row policy). The
    /// message says what they may not do and who can.
    #[error("{0}")]
    NotPermitted(String),

    #[error("Hashing the key failed: {0}")]
    Hashing(String),
}

/// What kind of failure an [`Error`] is, whatever the backend: the app, the CLI and the server
/// each map kinds (never messages) to what they do, in one place each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input cannot be accepted; the words say what to fix.
    InvalidInput,
    /// The input is fine but the data's state refuses it: an unknown owner, a revoked key.
    Conflict,
    /// No such key.
    NotFound,
    /// The owner is at the per-owner limit.
    LimitReached,
    /// The database opened read-only.
    ReadOnly,
    /// The database cannot be used at all.
    Unavailable,
    /// A passing condition: nothing was changed, the same action can succeed later.
    TryAgain,
    /// The database refused this operator (PostgreSQL roles).
    NotPermitted,
    /// Anything else: a bug or an unexpected database failure.
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInput(_) => ErrorKind::InvalidInput,
            Self::OwnerNotFound(_) | Self::KeyRevoked => ErrorKind::Conflict,
            Self::KeyNotFound(_) => ErrorKind::NotFound,
            Self::LimitReached { .. } => ErrorKind::LimitReached,
            Self::ReadOnly(_) => ErrorKind::ReadOnly,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::TryAgain(_) => ErrorKind::TryAgain,
            Self::NotPermitted(_) => ErrorKind::NotPermitted,
            Self::Database(_) | Self::Hashing(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
