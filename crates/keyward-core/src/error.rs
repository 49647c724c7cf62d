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

    /// Any other SQLite failure. Failures a person can act on become [`Error::TryAgain`]
    /// (busy, full disk) or [`Error::Unavailable`] (read-only, damaged, disk I/O) instead; see
    /// [`From<sqlx::Error>`].
    #[error("The key database failed ({}); nothing was changed.", database_words(.0))]
    Database(sqlx::Error),

    #[error("Hashing the key failed: {0}")]
    Hashing(String),
}

/// What SQLite said, without sqlx's framing ("error returned from database: (code: 1) …"):
/// the message is for a person, the code is of no use to one.
fn database_words(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(e) => e.message().trim_end_matches('.').to_owned(),
        sqlx::Error::Io(e) => e.to_string(),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            "it did not answer in time".to_owned()
        }
        _ => "an unexpected error".to_owned(),
    }
}

/// The primary SQLite result code (`SQLITE_BUSY` = 5, …) of a database error, if it has one.
pub(crate) fn sqlite_code(error: &sqlx::Error) -> Option<i32> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff)
}

/// Plain words for the SQLite failures a person can do something about, whatever the query.
pub(crate) fn explain_sqlite_code(code: i32) -> Option<&'static str> {
    Some(match code {
        5 | 6 => {
            "Another program is writing to the key database. Try again in a moment; nothing \
             was changed."
        }
        13 => {
            "The disk holding the key database is full. Free some space and try again; \
             nothing was changed."
        }
        8 => {
            "The key database cannot be written (it or its folder is read-only), so nothing was \
             changed. Open a writable copy to make changes."
        }
        11 | 26 => {
            "The key database is damaged. Nothing was changed; restore it from a backup \
             (keyward-cli backup makes one)."
        }
        10 => {
            "The disk failed while reading or writing the key database (it may be full, \
             removed or failing). Check the disk and try again; nothing was changed."
        }
        _ => return None,
    })
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        let code = sqlite_code(&error);
        match code.and_then(explain_sqlite_code) {
            Some(message) if matches!(code, Some(5 | 6 | 13)) => Self::TryAgain(message.into()),
            Some(message) => Self::Unavailable(message.to_owned()),
            None => Self::Database(error),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
