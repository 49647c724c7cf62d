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

pub type Result<T, E = Error> = std::result::Result<T, E>;
