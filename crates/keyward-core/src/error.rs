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

    #[error("The key database failed: {0}")]
    Database(#[from] sqlx::Error),

    #[error("The key database could not be brought up to date: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    #[error("Hashing the key failed: {0}")]
    Hashing(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
