//! How Keyward recognises what a file holds, by reading it only: new, one of its own databases
//! (and which schema changes it has), one made by a newer Keyward, another program's file, or a
//! damaged one. Nothing here writes to the file, not even a side file beside it.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use keyward_core::{Error, Result};

use crate::error::sqlite_code;
use crate::files::{io_words, refuse, side_file, wal_has_data};
use crate::open::MIGRATOR;
use crate::open_errors::{damaged_message, explain_open_error};

/// Written into the header of every Keyward database (`PRAGMA application_id`, migration 0005):
/// "KWRD" in ASCII. Files from before it are recognised by their migrations table instead.
const APPLICATION_ID: i64 = 0x4B57_5244;

/// How long an open waits for another Keyward process that is creating or upgrading the same
/// database. An upgrade of 100,000 keys takes seconds, not minutes.
pub(crate) const OPEN_LOCK_WAIT: Duration = Duration::from_secs(60);

/// What a file holds, found out by reading it only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Contents {
    /// An empty file (or an SQLite database with nothing in it): Keyward may create its schema.
    New,
    /// A Keyward database; the migration versions applied to it, all known to this version.
    Ours { applied: Vec<i64> },
    /// A Keyward database with schema changes this version does not know: it can be copied
    /// (`keyward-cli backup`), not used.
    Newer,
}

impl Contents {
    /// Whether this version has schema changes the file lacks.
    pub(crate) fn pending(&self) -> bool {
        let applied: &[i64] = match self {
            Self::New => &[],
            Self::Ours { applied } => applied,
            Self::Newer => return false,
        };
        MIGRATOR.iter().any(|m| !applied.contains(&m.version))
    }
}

/// Why one look at a file refused it. A `Suspect` refusal (broken pages, or no database at
/// all) may be a torn read when the look took no lock, so it is confirmed by one that takes part
/// in SQLite's locking before anyone is told.
enum Refusal {
    Suspect(Error),
    Final(Error),
}

impl Refusal {
    fn from_sqlite(path: &Path, error: sqlx::Error) -> Self {
        match sqlite_code(&error) {
            Some(11 | 26) => Self::Suspect(explain_open_error(path, error)),
            _ => Self::Final(explain_open_error(path, error)),
        }
    }

    fn into_error(self) -> Error {
        match self {
            Self::Suspect(e) | Self::Final(e) => e,
        }
    }
}

/// Reads what `path` holds without writing anything: not even a side file, unless a `-wal`
/// with data shows the file is in use (then a normal read-only connection, which shares it).
pub(crate) async fn inspect(path: &Path) -> Result<Contents> {
    let shown = path.display();
    let size = std::fs::metadata(path).map(|m| m.len()).map_err(|e| {
        refuse(format!(
            "The key database {shown} could not be read ({}).",
            io_words(&e)
        ))
    })?;
    if size == 0 {
        return Ok(Contents::New);
    }
    let lock_free = !wal_has_data(path);
    match look(path, lock_free).await {
        Ok(contents) => Ok(contents),
        Err(Refusal::Suspect(_)) if lock_free => {
            // The lock-free (immutable) read can meet pages another process is checkpointing
            // into the file at that moment, which look broken. Look again with a read that
            // waits for such writers; remove whatever side file that look made for a file that
            // is really broken, so the folder stays as it was.
            let had = [side_file(path, "-wal"), side_file(path, "-shm")]
                .map(|side| (side.exists(), side));
            let again = look(path, false).await;
            if again.is_err() {
                for (existed, side) in had {
                    if !existed {
                        let _ = std::fs::remove_file(side);
                    }
                }
            }
            again.map_err(Refusal::into_error)
        }
        Err(refusal) => Err(refusal.into_error()),
    }
}

/// One look at the file: what it holds, and for Keyward's own, `PRAGMA quick_check` (here
/// rather than on the pool: a damaged file is refused before any connection that could write,
/// or leave a -wal beside it, exists).
async fn look(path: &Path, lock_free: bool) -> Result<Contents, Refusal> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(lock_free)
        .busy_timeout(OPEN_LOCK_WAIT)
        .disable_statement_logging();
    let mut db = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| Refusal::from_sqlite(path, e))?;
    let mut found = read_contents(&mut db, path).await;
    if let Ok(Contents::Ours { .. }) = found {
        if let Err(refusal) = check_integrity(&mut db, path).await {
            found = Err(refusal);
        }
    }
    let _ = db.close().await;
    found
}

/// `PRAGMA quick_check`: refuses a damaged file.
async fn check_integrity(db: &mut SqliteConnection, path: &Path) -> Result<(), Refusal> {
    let rows: std::result::Result<Vec<(String,)>, sqlx::Error> =
        sqlx::query_as("PRAGMA quick_check")
            .fetch_all(&mut *db)
            .await;
    let damaged = match rows {
        Ok(rows) => !(rows.len() == 1 && rows[0].0 == "ok"),
        Err(e) if matches!(sqlite_code(&e), Some(11) | Some(26)) => true,
        Err(e) => return Err(Refusal::Final(explain_open_error(path, e))),
    };
    if damaged {
        return Err(Refusal::Suspect(refuse(damaged_message(path))));
    }
    Ok(())
}

/// The migration table's rows: version, checksum, and whether it finished.
type MigrationRow = (i64, Vec<u8>, bool);

async fn read_contents(db: &mut SqliteConnection, path: &Path) -> Result<Contents, Refusal> {
    let objects: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *db)
    .await
    .map_err(|e| Refusal::from_sqlite(path, e))?;
    let (application_id,): (i64,) = sqlx::query_as("PRAGMA application_id")
        .fetch_one(&mut *db)
        .await
        .map_err(|e| Refusal::from_sqlite(path, e))?;
    if objects.is_empty() && application_id == 0 {
        return Ok(Contents::New);
    }
    let has_migrations = objects.iter().any(|(name,)| name == "_sqlx_migrations");
    let rows: Vec<MigrationRow> = if has_migrations {
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *db)
            .await
            .map_err(|e| match sqlite_code(&e) {
                Some(11 | 26) => Refusal::Suspect(refuse(damaged_message(path))),
                // A table of that name that is not sqlx's: another program's.
                _ => Refusal::Final(not_ours(path)),
            })?
    } else {
        Vec::new()
    };
    // Before migration 0005 Keyward left the application id at 0: its files are known by the
    // first migration, recorded with this very checksum.
    let first = MIGRATOR.iter().next();
    let ours = application_id == APPLICATION_ID
        || (application_id == 0
            && first.is_some_and(|m| {
                rows.iter()
                    .any(|(v, sum, _)| *v == m.version && sum.as_slice() == &*m.checksum)
            }));
    if !ours {
        return Err(Refusal::Final(not_ours(path)));
    }
    let known = |version: i64, sum: &[u8]| {
        MIGRATOR
            .iter()
            .any(|m| m.version == version && &*m.checksum == sum)
    };
    if rows.iter().any(|(v, sum, _)| !known(*v, sum)) {
        return Ok(Contents::Newer);
    }
    if rows.iter().any(|(_, _, success)| !success) {
        return Err(Refusal::Final(refuse(format!(
            "An earlier upgrade of the key database {} did not finish, so Keyward will not use \
             it. Restore the copy made before that upgrade (the file named {}.before-migration-… \
             beside it); this file was left untouched.",
            path.display(),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))));
    }
    Ok(Contents::Ours {
        applied: rows.into_iter().map(|(v, _, _)| v).collect(),
    })
}

fn not_ours(path: &Path) -> Error {
    refuse(format!(
        "The file {} is not a Keyward database (it belongs to another program). It was left \
         untouched; choose the right file, or a new file name to start a new key database.",
        path.display()
    ))
}

pub(crate) fn made_by_newer(path: &Path) -> Error {
    refuse(format!(
        "The key database {} was made by a newer version of Keyward, so this version cannot \
         use it. Update Keyward to open it; it was left untouched. (keyward-cli backup can \
         still copy it.)",
        path.display()
    ))
}
