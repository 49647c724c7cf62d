//! Opening a database file safely, whatever path a person typed, and bringing an older schema up
//! to date (with a backup first), once however many processes open the file at the same moment.
//!
//! Nothing here writes to a file until it is known to be new or Keyward's own: another
//! application's SQLite file is refused untouched, without even a `-wal` or `-shm` beside it.

use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use keyward_core::{Error, Result};

use crate::backend::SqliteBackend;
use crate::backup::backup_before_migrating;
use crate::busy::{checkpoint_now, BUSY_TIMEOUT, PAGE_CACHE_KIB};
use crate::files::{check_access, checked_path, Access};
use crate::inspect::{inspect, made_by_newer, Contents};
use crate::open_errors::explain_open_error;
use crate::open_lock::OpenLock;

/// The schema, one file per change. The first file's checksum also identifies Keyward's
/// databases from before they carried an application id (see `inspect`).
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens (creating if missing) the database at `path` and brings its schema up to date; `now`
/// names the copy made before an upgrade.
///
/// A file that exists but cannot be written (permissions, an immutable file, a read-only
/// mount or folder) opens read-only: reads work, every change is refused with
/// [`Error::ReadOnly`]. A damaged file, a file of another program or of a newer Keyward, and
/// anything that is not a regular file are refused and never written to.
pub async fn open(path: &Path, now: DateTime<Utc>) -> Result<SqliteBackend> {
    let file = checked_path(path)?;
    // Held until the schema is ready: others opening the same file meanwhile wait, then
    // find it created or upgraded instead of doing it a second time.
    let lock = OpenLock::acquire(&file).await?;
    let (access, created) = check_access(&file)?;
    let opened = connect(&file, access, lock, now).await;
    if opened.is_err() && created {
        // Leave the folder as it was: remove the empty file made for a database that
        // could not be made after all.
        if std::fs::metadata(&file).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(&file);
        }
    }
    let (pool, read_only) = opened?;
    Ok(SqliteBackend::new(pool, path.to_owned(), read_only))
}

/// Looks at the file, then opens the pool and (when writable and needed) backs the file up
/// and brings its schema up to date, releasing `lock` as soon as the schema is ready.
async fn connect(
    file: &Path,
    access: Access,
    lock: OpenLock,
    now: DateTime<Utc>,
) -> Result<(SqlitePool, bool)> {
    let contents = inspect(file).await?;
    if contents == Contents::Newer {
        return Err(made_by_newer(file));
    }
    let read_only = access != Access::Writable;
    if read_only && contents.pending() {
        return Err(Error::Unavailable(match contents {
            Contents::New => format!(
                "The file {} is empty and read-only, so Keyward cannot make a key database \
                 in it. Choose a file you may write to.",
                file.display()
            ),
            _ => format!(
                "The key database {} is read-only and was made by an older Keyward. Open \
                 it once where it can be written so it can be upgraded; it was left \
                 untouched.",
                file.display()
            ),
        }));
    }
    let connect = SqliteConnectOptions::new()
        .filename(file)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", PAGE_CACHE_KIB);
    let connect = match access {
        Access::Writable => connect
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full),
        Access::ReadOnly { immutable } => connect.read_only(true).immutable(immutable),
    };
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A ping before every query is for servers that drop connections; a local SQLite
        // file cannot, and the ping adds a round trip to every query (a cached verify is
        // one query).
        .test_before_acquire(false)
        .connect_with(connect)
        .await
        .map_err(|e| explain_open_error(file, e))?;
    let prepared = async {
        if contents.pending() {
            if let Contents::Ours { .. } = contents {
                backup_before_migrating(&pool, file, now).await?;
            }
            migrate(&pool, file).await?;
            checkpoint_now(&pool).await;
        }
        if !read_only {
            crate::search::fill_missing_search_text(&pool).await?;
        }
        Ok(())
    }
    .await;
    drop(lock);
    if let Err(e) = prepared {
        // Closing lets SQLite remove the -wal/-shm files it created, leaving the folder as
        // it was.
        pool.close().await;
        return Err(e);
    }
    Ok((pool, read_only))
}

/// Applies the migrations this version has and the file lacks, in plain words on failure.
async fn migrate(pool: &SqlitePool, file: &Path) -> Result<()> {
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(inner) => explain_open_error(file, inner),
        _ => Error::Unavailable(format!(
            "The key database {} could not be brought up to date, so Keyward will not use it. \
             Nothing was changed; a copy made before the upgrade is beside it.",
            file.display()
        )),
    })
}
