//! SQLite's failures as the core's [`Error`]s, in words a person can act on. The core knows no
//! driver, so every query here ends in [`OrDb::db`] rather than `?` on an `sqlx::Error` (the
//! orphan rule forbids `impl From<sqlx::Error> for keyward_core::Error` in this crate).

use keyward_core::{Error, Result};

/// Turns a query's `sqlx::Error` into the core's words: `query.await.db()?`.
pub(crate) trait OrDb<T> {
    fn db(self) -> Result<T>;
}

impl<T> OrDb<T> for std::result::Result<T, sqlx::Error> {
    fn db(self) -> Result<T> {
        self.map_err(from_sqlx)
    }
}

/// A row holding what no Keyward writes (scopes that are not a JSON list, say). Raised from a
/// row's `FromRow` so that the query fails, and turned into [`Error::Unavailable`] with these
/// words, rather than the row being read with a made-up default.
#[derive(Debug)]
pub(crate) struct DamagedRow(pub(crate) String);

impl std::fmt::Display for DamagedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DamagedRow {}

impl DamagedRow {
    /// The words for a row of `what` (a key, a plan) that cannot be read because of `why`.
    pub(crate) fn error(what: &str, why: &str) -> sqlx::Error {
        sqlx::Error::Decode(Box::new(Self(format!(
            "The key database holds {what} it cannot read ({why}). Nothing was changed; \
             restore the database from a backup (keyward-cli backup makes one)."
        ))))
    }
}

/// What SQLite said, without sqlx's framing ("error returned from database: (code: 1) …"):
/// the message is for a person, the code is of no use to one.
pub(crate) fn database_words(error: &sqlx::Error) -> String {
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

/// Busy and full disk pass ([`Error::TryAgain`]); read-only, damage and disk failures need a
/// person ([`Error::Unavailable`]); anything else is reported in SQLite's own words.
pub(crate) fn from_sqlx(error: sqlx::Error) -> Error {
    if let sqlx::Error::Decode(inner) = &error {
        if let Some(damaged) = inner.downcast_ref::<DamagedRow>() {
            return Error::Unavailable(damaged.0.clone());
        }
    }
    if let sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) = &error {
        // STRICT tables make this all but impossible; a file edited by hand could still do it.
        return Error::Unavailable(
            "The key database holds a row it cannot read. Nothing was changed; restore the \
             database from a backup (keyward-cli backup makes one)."
                .to_owned(),
        );
    }
    let code = sqlite_code(&error);
    match code.and_then(explain_sqlite_code) {
        Some(message) if matches!(code, Some(5 | 6 | 13)) => Error::TryAgain(message.into()),
        Some(message) => Error::Unavailable(message.to_owned()),
        None => Error::Database(database_words(&error)),
    }
}

/// Whether a write failed because a UNIQUE constraint holds the value already: the trait's
/// "name taken" and "id taken" answers come from this, never from the message's text.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Whether a failure means another writer held the lock longer than the wait allowed.
pub(crate) fn is_busy(error: &sqlx::Error) -> bool {
    matches!(sqlite_code(error), Some(5 | 6))
}

/// `Ok(false)` for a unique violation, `Ok(true)` for success, the error in words otherwise.
pub(crate) fn unless_taken<T>(written: std::result::Result<T, sqlx::Error>) -> Result<bool> {
    match written {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(from_sqlx(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_row_is_unavailable_in_its_own_words() {
        let error = from_sqlx(DamagedRow::error("a key", "scopes that are not a list"));
        match error {
            Error::Unavailable(words) => {
                assert!(words.contains("scopes that are not a list"), "{words}");
                assert!(words.contains("Nothing was changed"), "{words}");
            }
            other => panic!("not unavailable: {other:?}"),
        }
    }

    #[test]
    fn a_closed_pool_is_a_database_failure_in_plain_words() {
        let error = from_sqlx(sqlx::Error::PoolClosed);
        assert_eq!(
            error.to_string(),
            "The key database failed (it did not answer in time); nothing was changed."
        );
    }

    #[test]
    fn only_actionable_codes_have_words() {
        for code in [5, 6, 8, 10, 11, 13, 26] {
            assert!(explain_sqlite_code(code).is_some(), "{code}");
        }
        assert!(explain_sqlite_code(1).is_none());
    }
}
