//! Why a database file could not be opened, in words a person can act on.

use std::path::Path;

use keyward_core::Error;

use crate::error::{explain_sqlite_code, sqlite_code};
use crate::files::{disk_is_full, io_words};

/// Explains an SQLite failure at open time in words a person can act on.
pub(crate) fn explain_open_error(path: &Path, error: sqlx::Error) -> Error {
    let shown = path.display();
    let message = match sqlite_code(&error) {
        Some(26) => format!(
            "The file {shown} is not a Keyward database (it is not an SQLite database at all). \
             It was left untouched; choose the right file, or restore it from a backup."
        ),
        Some(11) => damaged_message(path),
        Some(14) => format!(
            "The database {shown} could not be opened. Check that its folder exists and that you \
             may write to it."
        ),
        Some(8) => format!(
            "The database {shown} is read-only, so it cannot be prepared for use. Open a writable \
             copy instead."
        ),
        Some(5) | Some(6) => format!(
            "Another program is writing to the key database {shown}. Try again in a moment; \
             nothing was changed."
        ),
        // SQLite reports a full disk as SQLITE_FULL only for some writes; growing the -shm file
        // or the journal fails as a plain I/O error. Look at the disk itself.
        Some(10) | Some(13) if disk_is_full(path) => format!(
            "{} (Database: {shown})",
            explain_sqlite_code(13).unwrap_or_default()
        ),
        Some(code) => match explain_sqlite_code(code) {
            Some(words) => format!("{words} (Database: {shown})"),
            None => format!(
                "The database {shown} could not be opened (SQLite reported error {code}); it \
                 was left untouched."
            ),
        },
        None => match &error {
            sqlx::Error::Io(e) => format!(
                "The database {shown} could not be opened ({}).",
                io_words(e)
            ),
            _ => format!("The database {shown} could not be opened; it was left untouched."),
        },
    };
    Error::Unavailable(message)
}

pub(crate) fn damaged_message(path: &Path) -> String {
    format!(
        "The key database {} is damaged: SQLite's integrity check found broken pages, so Keyward \
         will not use it. It was left untouched; restore it from a backup (keyward-cli backup \
         makes one), or move it aside to start a new database.",
        path.display()
    )
}
