//! Copies of a database: the one made before an upgrade, a backup on demand while the store is
//! in use, and a copy of a file no store has open (even one made by a newer Keyward). Every copy
//! is a new owner-only file made with `VACUUM INTO`; nothing that exists is ever overwritten.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use keyward_core::{Error, Result};

use crate::busy::BUSY_TIMEOUT;
use crate::error::{explain_sqlite_code, sqlite_code};
use crate::files::{checked_path, create_private_file, folder_of, io_words, wal_has_data};
use crate::inspect::{inspect, Contents};
use crate::open_errors::explain_open_error;

/// Copies the key database at `source` to `dest` without opening it as a store: nothing is
/// upgraded or written to `source`, and a database made by a newer Keyward can be copied
/// too. Refuses files that are not Keyward databases.
pub async fn backup_file(source: &Path, dest: &Path) -> Result<()> {
    let file = checked_path(source)?;
    let dest = backup_destination(dest)?;
    if !file.exists() {
        return Err(Error::Unavailable(format!(
            "There is no key database at {}, so there is nothing to back up.",
            source.display()
        )));
    }
    if let Contents::New = inspect(&file).await? {
        return Err(Error::Unavailable(format!(
            "The key database {} is empty, so there is nothing to back up.",
            source.display()
        )));
    }
    let options = SqliteConnectOptions::new()
        .filename(&file)
        .read_only(true)
        .immutable(!wal_has_data(&file))
        .busy_timeout(BUSY_TIMEOUT);
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
        .await
        .map_err(|e| explain_open_error(&file, e))?;
    let copied = backup_into(&mut db, &dest).await;
    let _ = sqlx::Connection::close(db).await;
    copied
}

/// Where a backup may be written: a path (not an SQLite address) where nothing exists yet, not
/// even a link.
pub(crate) fn backup_destination(dest: &Path) -> Result<PathBuf> {
    let path = checked_path(dest).map_err(|e| match e {
        Error::Unavailable(message) => Error::InvalidInput(message),
        other => other,
    })?;
    if std::fs::symlink_metadata(dest).is_ok() || path.exists() {
        return Err(Error::InvalidInput(format!(
            "{} already exists; choose a new file name for the backup.",
            dest.display()
        )));
    }
    let folder = folder_of(&path);
    if !folder.is_dir() {
        return Err(Error::InvalidInput(format!(
            "The folder {} for the backup does not exist. Create it, or choose another place \
             for the copy.",
            folder.display()
        )));
    }
    Ok(path)
}

/// `VACUUM INTO` a new owner-only file, in words a person can act on.
pub(crate) async fn backup_into(db: &mut sqlx::SqliteConnection, dest: &Path) -> Result<()> {
    match vacuum_into(db, dest).await {
        Ok(()) => Ok(()),
        Err(VacuumError::Exists) => Err(Error::InvalidInput(format!(
            "{} already exists; choose a new file name for the backup.",
            dest.display()
        ))),
        Err(VacuumError::Failed(why)) => Err(Error::Unavailable(format!(
            "The backup to {} failed ({why}); nothing was written there.",
            dest.display()
        ))),
    }
}

/// Before a schema change to a database that holds data, copies it next to itself
/// (`keyward.db.before-migration-20261122T104500.db`, owner-only), so a failed or unwanted
/// upgrade loses nothing.
pub(crate) async fn backup_before_migrating(
    pool: &SqlitePool,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keyward.db".into());
    let stamp = now.format("%Y%m%dT%H%M%S");
    let cannot = |why: String| {
        Error::Unavailable(format!(
            "Keyward needs to update the key database {}, but could not back it up first \
             ({why}). Nothing was changed.",
            path.display()
        ))
    };
    // Another upgrade in the same second (of a copy of this file, say) must not collide.
    for attempt in 0..100 {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let backup = path.with_file_name(format!("{name}.before-migration-{stamp}{suffix}.db"));
        match vacuum_into(pool, &backup).await {
            Ok(()) => return Ok(backup),
            Err(VacuumError::Exists) => continue,
            Err(VacuumError::Failed(why)) => return Err(cannot(why)),
        }
    }
    Err(cannot("too many backups with the same time".into()))
}

pub(crate) enum VacuumError {
    /// Something is at the destination already; it was not touched.
    Exists,
    /// In words, for a sentence.
    Failed(String),
}

/// Writes a consistent copy of the database to `dest`, a new owner-only file.
pub(crate) async fn vacuum_into<'c, E>(db: E, dest: &Path) -> Result<(), VacuumError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let file = create_private_file(dest).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => VacuumError::Exists,
        _ => VacuumError::Failed(io_words(&e)),
    })?;
    drop(file);
    // Absolute, so SQLite cannot take it for a URI; the empty file just made is one SQLite
    // accepts as the target of VACUUM INTO, and keeps its owner-only mode.
    let target = std::path::absolute(dest)
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned));
    let Some(target) = target else {
        let _ = std::fs::remove_file(dest);
        return Err(VacuumError::Failed(
            "the path must be valid UTF-8".to_owned(),
        ));
    };
    match sqlx::query("VACUUM INTO ?").bind(target).execute(db).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(dest);
            let why = sqlite_code(&e)
                .and_then(explain_sqlite_code)
                .map(|w| w.trim_end_matches('.').to_owned())
                .unwrap_or_else(|| "SQLite could not write the copy".to_owned());
            Err(VacuumError::Failed(why))
        }
    }
}
