//! The one SQLite file: opening it safely, and every read and write of keys, owners, settings
//! and audit rows. Each change runs in a `BEGIN IMMEDIATE` transaction together with its audit row.

mod audit;
mod keys;
mod owners;
mod seed;
mod settings;
mod verify;
mod verify_cache;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::clock::{Clock, SystemClock};
use crate::error::{explain_sqlite_code, sqlite_code, Error, Result};

pub use audit::audit_csv;
pub use keys::ListQueryPlan;
pub use seed::{SeedReport, SEED_CREATED_BY};
pub use settings::validate_settings;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (negative: SQLite's way to say KiB rather than pages). The
/// default 2 MiB holds too little of a 100,000-key database (about 60 MB) for a search to stay
/// in memory; memory is only taken as pages are read, so a small database costs nothing more.
pub(super) const PAGE_CACHE_KIB: &str = "-16384";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How to open a [`Store`]: the clock and the name written as the actor of every change.
pub struct StoreOptions {
    pub clock: Arc<dyn Clock>,
    pub actor: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            actor: current_os_user(),
        }
    }
}

/// The operating-system user running this process, recorded as "created by" and in the audit log.
/// The account of the real uid comes first: environment variables can be missing (a process
/// started by a service or a test driver) or set to anything.
pub fn current_os_user() -> String {
    account_of_this_process()
        .or_else(|| {
            ["USER", "USERNAME", "LOGNAME"]
                .iter()
                .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(unix)]
fn account_of_this_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2] == uid && !fields[0].is_empty())
            .then(|| fields[0].to_owned())
    })
}

#[cfg(not(unix))]
fn account_of_this_process() -> Option<String> {
    None
}

/// The key database. Cheap to clone; clones share one connection pool and one verify cache.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
    actor: String,
    path: PathBuf,
    read_only: bool,
    verified: Arc<verify_cache::VerifyCache>,
}

pub(crate) type WriteTx = Transaction<'static, Sqlite>;

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

pub(crate) fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Explains an SQLite failure at open time in words a person can act on.
fn explain_open_error(path: &Path, error: sqlx::Error) -> Error {
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
            None => format!("The database {shown} could not be opened: {error}"),
        },
        None => format!("The database {shown} could not be opened: {error}"),
    };
    Error::Unavailable(message)
}

fn damaged_message(path: &Path) -> String {
    format!(
        "The key database {} is damaged: SQLite's integrity check found broken pages, so Keyward \
         will not use it. It was left untouched; restore it from a backup (keyward-cli backup \
         makes one), or move it aside to start a new database.",
        path.display()
    )
}

/// Whether the failure of a write attempt means "you may not write here" (permissions, an
/// immutable file, a read-only file system) rather than some other problem.
fn is_write_refused(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::PermissionDenied
        || matches!(error.raw_os_error(), Some(1) | Some(13) | Some(30))
}

/// How the database file can be used, found out before SQLite touches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Writable,
    /// The file exists but cannot be written. `immutable` when its folder cannot take the
    /// `-wal`/`-shm` side files either: SQLite then reads the main file without any locking.
    ReadOnly {
        immutable: bool,
    },
}

/// Checks the folder and the file without changing either: a missing or unwritable folder is
/// refused with plain words; an existing file that cannot be written is opened read-only.
fn check_access(path: &Path) -> Result<Access> {
    let shown = path.display();
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    if !folder.is_dir() {
        return Err(Error::Unavailable(format!(
            "The folder {} for the key database does not exist. Create it, or choose another \
             location for the database.",
            folder.display()
        )));
    }
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A new database: SQLite turns an empty file into one, so create it ourselves to
            // learn whether the folder accepts it.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => Ok(Access::Writable),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => check_access(path),
                Err(e) if is_write_refused(&e) => Err(Error::Unavailable(format!(
                    "The folder {} cannot be written, so the key database {shown} cannot be \
                     created there. Choose a writable folder, or ask for write access to it.",
                    folder.display()
                ))),
                Err(e) => Err(Error::Unavailable(format!(
                    "The key database {shown} could not be created: {e}."
                ))),
            }
        }
        Err(e) => Err(Error::Unavailable(format!(
            "The key database {shown} could not be read: {e}."
        ))),
        Ok(meta) if meta.is_dir() => Err(Error::Unavailable(format!(
            "{shown} is a folder, not a key database file. Choose a file instead."
        ))),
        Ok(_) => {
            // Opening for writing without truncating changes nothing, not even the times.
            let file_writable = match std::fs::OpenOptions::new().write(true).open(path) {
                Ok(_) => true,
                Err(e) if is_write_refused(&e) => false,
                Err(e) => {
                    return Err(Error::Unavailable(format!(
                        "The key database {shown} could not be opened: {e}."
                    )))
                }
            };
            let folder_writable = folder_accepts_files(folder);
            Ok(if file_writable && folder_writable {
                Access::Writable
            } else {
                // Without a writable folder SQLite cannot create the side files it needs for a
                // WAL database; read the main file as it is then, unless a leftover -wal holds
                // committed changes that only a normal (locking) read would see.
                let wal = path.with_file_name(format!(
                    "{}-wal",
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ));
                let wal_has_data = std::fs::metadata(wal).is_ok_and(|m| m.len() > 0);
                Access::ReadOnly {
                    immutable: !folder_writable && !wal_has_data,
                }
            })
        }
    }
}

/// After an I/O failure: whether the disk holding `path` has no room left, found by writing a
/// small probe file next to it (removed at once).
fn disk_is_full(path: &Path) -> bool {
    use std::io::Write;
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let probe = folder.join(format!(".keyward-space-check-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut file| {
            file.write_all(&[0u8; 16 * 1024])?;
            file.sync_all()
        });
    let _ = std::fs::remove_file(&probe);
    matches!(written, Err(e) if e.raw_os_error() == Some(28))
}

/// Whether a new file can be created in `folder` (a probe file, removed at once).
fn folder_accepts_files(folder: &Path) -> bool {
    let probe = folder.join(format!(".keyward-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => !is_write_refused(&e),
    }
}

/// `PRAGMA quick_check`: refuses a damaged file before anything is written to it.
async fn check_integrity(pool: &SqlitePool, path: &Path) -> Result<()> {
    let rows: std::result::Result<Vec<(String,)>, sqlx::Error> =
        sqlx::query_as("PRAGMA quick_check").fetch_all(pool).await;
    let damaged = match rows {
        Ok(rows) => !(rows.len() == 1 && rows[0].0 == "ok"),
        Err(e) if matches!(sqlite_code(&e), Some(11) | Some(26)) => true,
        Err(e) => return Err(explain_open_error(path, e)),
    };
    if damaged {
        return Err(Error::Unavailable(damaged_message(path)));
    }
    Ok(())
}

/// A read-only file cannot be upgraded, so it must already have this version's schema.
async fn ensure_schema_current(pool: &SqlitePool, path: &Path) -> Result<()> {
    let applied: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = 1")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    let pending = MIGRATOR
        .iter()
        .any(|m| !applied.iter().any(|(v,)| *v == m.version));
    if pending {
        return Err(Error::Unavailable(format!(
            "The key database {} is read-only and was made by an older Keyward (or is not a \
             Keyward database). Open it once where it can be written so it can be upgraded; \
             it was left untouched.",
            path.display()
        )));
    }
    Ok(())
}

/// Before a schema change to a database that already holds data, copies it next to itself
/// (`keyward.db.before-migration-20261122T104500.db`), so a failed or unwanted upgrade loses
/// nothing. A new, empty database needs no copy.
async fn backup_before_migrating(
    pool: &SqlitePool,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<Option<PathBuf>> {
    let applied: Vec<(i64,)> =
        match sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = 1")
            .fetch_all(pool)
            .await
        {
            Ok(applied) => applied,
            // No migrations table: a brand-new file.
            Err(_) => return Ok(None),
        };
    let pending = MIGRATOR
        .iter()
        .any(|m| !applied.iter().any(|(v,)| *v == m.version));
    if applied.is_empty() || !pending {
        return Ok(None);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keyward.db".into());
    let backup = path.with_file_name(format!(
        "{name}.before-migration-{}.db",
        now.format("%Y%m%dT%H%M%S")
    ));
    let backup_text = backup.to_string_lossy().into_owned();
    sqlx::query("VACUUM INTO ?")
        .bind(backup_text)
        .execute(pool)
        .await
        .map_err(|e| {
            Error::Unavailable(format!(
                "Keyward needs to update the database {}, but could not back it up first \
                 ({e}). Nothing was changed.",
                path.display()
            ))
        })?;
    Ok(Some(backup))
}

impl Store {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, StoreOptions::default()).await
    }

    /// A file that exists but cannot be written (permissions, an immutable file, a read-only
    /// mount or folder) opens read-only: listing and verifying work, every change is refused
    /// with [`Error::ReadOnly`]. A damaged file is refused and never written to.
    pub async fn open_with(path: &Path, options: StoreOptions) -> Result<Self> {
        let access = check_access(path)?;
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", PAGE_CACHE_KIB);
        let connect = match access {
            Access::Writable => connect
                .create_if_missing(true)
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
            .map_err(|e| explain_open_error(path, e))?;
        let read_only = access != Access::Writable;
        if let Err(e) = Self::prepare(&pool, path, read_only, options.clock.now()).await {
            // Closing lets SQLite remove the -wal/-shm files it created, leaving the folder as
            // it was.
            pool.close().await;
            return Err(e);
        }
        Ok(Self {
            pool,
            clock: options.clock,
            actor: options.actor,
            path: path.to_owned(),
            read_only,
            verified: Arc::new(verify_cache::VerifyCache::new(
                verify_cache::DEFAULT_CAPACITY,
            )),
        })
    }

    /// This store with a fresh verify cache holding at most `capacity` accepted tokens (0 turns
    /// it off). The default is 10,000.
    pub fn with_verify_cache_capacity(mut self, capacity: usize) -> Self {
        self.verified = Arc::new(verify_cache::VerifyCache::new(capacity));
        self
    }

    /// Checks the file, then (when writable) backs it up and brings its schema up to date.
    async fn prepare(
        pool: &SqlitePool,
        path: &Path,
        read_only: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        check_integrity(pool, path).await?;
        if read_only {
            return ensure_schema_current(pool, path).await;
        }
        backup_before_migrating(pool, path, now).await?;
        MIGRATOR.run(pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => explain_open_error(path, inner),
            other => Error::Migration(other),
        })
    }

    /// True when the file could not be written at open: changes are refused with
    /// [`Error::ReadOnly`], and `verify` does not record last-used times.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Refuses a change on a read-only store, before any work is done.
    pub(crate) fn ensure_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly(self.path.display().to_string()));
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The operating-system user this store records as the author of changes.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Writes a consistent copy of the whole database to `dest` (`VACUUM INTO`), which must not
    /// exist yet. Safe while other processes read and write.
    pub async fn backup(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(Error::InvalidInput(format!(
                "{} already exists; choose a new file name for the backup.",
                dest.display()
            )));
        }
        let dest_text = dest
            .to_str()
            .ok_or_else(|| Error::InvalidInput("The backup path must be valid UTF-8.".into()))?;
        sqlx::query("VACUUM INTO ?")
            .bind(dest_text)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                Error::Unavailable(format!("The backup to {} failed: {e}", dest.display()))
            })?;
        Ok(())
    }

    /// Closes the pool, checkpointing the WAL into the main file. The checkpoint comes first
    /// and explicitly: SQLite only does it on close for the last connection, which several
    /// pooled connections closing at once may all miss. Read-only stores have nothing to move.
    pub async fn close(&self) {
        if !self.read_only {
            // Best effort: another process reading may hold the WAL; it checkpoints later.
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await;
        }
        self.pool.close().await;
    }

    /// A write transaction that takes the write lock up front, so two processes never both read
    /// and then both write on stale data (the per-owner limit depends on it).
    async fn begin_write(&self) -> Result<WriteTx> {
        self.ensure_writable()?;
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[cfg(test)]
mod tests;
