//! The one SQLite file: opening it safely, and every read and write of keys, owners, settings
//! and audit rows. Each change runs in a `BEGIN IMMEDIATE` transaction together with its audit row.

mod audit;
mod keys;
mod open;
mod owners;
mod plans;
mod seed;
mod servers;
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
use crate::error::{sqlite_code, Error, Result};
use open::explain_open_error;

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

/// After an I/O failure: whether the disk holding `path` has no room left, found by writing a
/// small probe file next to it (removed at once).
fn disk_is_full(path: &Path) -> bool {
    use std::io::Write;
    let probe = open::folder_of(path).join(format!(".keyward-space-check-{}", std::process::id()));
    let written = open::create_private_file(&probe).and_then(|mut file| {
        file.write_all(&[0u8; 16 * 1024])?;
        file.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    matches!(written, Err(e) if e.raw_os_error() == Some(28))
}

/// Sets how long statements on `db` wait for another writer's lock. Bookkeeping that must never
/// hold anything up (recording a use, a server's report, the closing checkpoint) shortens it for
/// one statement, then puts [`BUSY_TIMEOUT`] back.
pub(crate) async fn set_busy_timeout(
    db: &mut sqlx::SqliteConnection,
    wait: Duration,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(&format!("PRAGMA busy_timeout = {}", wait.as_millis()))
        .execute(db)
        .await
        .map(|_| ())
}

/// Whether a failure means another writer held the lock longer than the wait allowed.
pub(crate) fn is_busy(error: &sqlx::Error) -> bool {
    matches!(sqlite_code(error), Some(5 | 6))
}

/// Moves the WAL into the main file and empties it, if no other connection is reading: never
/// waits. After an upgrade every migration's pages sit in the WAL (hundreds of KiB for a new
/// file), which the next writer would otherwise have to find room for on top.
async fn checkpoint_now(pool: &SqlitePool) {
    if let Ok(mut db) = pool.acquire().await {
        let _ = set_busy_timeout(&mut db, Duration::ZERO).await;
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *db)
            .await;
        let _ = set_busy_timeout(&mut db, BUSY_TIMEOUT).await;
    }
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

/// Where a backup may be written: a path (not an SQLite address) where nothing exists yet, not
/// even a link.
fn backup_destination(dest: &Path) -> Result<PathBuf> {
    let path = open::checked_path(dest).map_err(|e| match e {
        Error::Unavailable(message) => Error::InvalidInput(message),
        other => other,
    })?;
    if std::fs::symlink_metadata(dest).is_ok() || path.exists() {
        return Err(Error::InvalidInput(format!(
            "{} already exists; choose a new file name for the backup.",
            dest.display()
        )));
    }
    let folder = open::folder_of(&path);
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
async fn backup_into(db: &mut sqlx::SqliteConnection, dest: &Path) -> Result<()> {
    match open::vacuum_into(db, dest).await {
        Ok(()) => Ok(()),
        Err(open::VacuumError::Exists) => Err(Error::InvalidInput(format!(
            "{} already exists; choose a new file name for the backup.",
            dest.display()
        ))),
        Err(open::VacuumError::Failed(why)) => Err(Error::Unavailable(format!(
            "The backup to {} failed ({why}); nothing was written there.",
            dest.display()
        ))),
    }
}

impl Store {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, StoreOptions::default()).await
    }

    /// A file that exists but cannot be written (permissions, an immutable file, a read-only
    /// mount or folder) opens read-only: listing and verifying work, every change is refused
    /// with [`Error::ReadOnly`]. A damaged file, a file of another program or of a newer
    /// Keyward, and anything that is not a regular file are refused and never written to.
    pub async fn open_with(path: &Path, options: StoreOptions) -> Result<Self> {
        let file = open::checked_path(path)?;
        // Held until the schema is ready: others opening the same file meanwhile wait, then
        // find it created or upgraded instead of doing it a second time.
        let lock = open::OpenLock::acquire(&file).await?;
        let (access, created) = open::check_access(&file)?;
        let opened = Self::connect(&file, access, lock, options.clock.now()).await;
        if opened.is_err() && created {
            // Leave the folder as it was: remove the empty file made for a database that
            // could not be made after all.
            if std::fs::metadata(&file).is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(&file);
            }
        }
        let (pool, read_only) = opened?;
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

    /// Looks at the file, then opens the pool and (when writable and needed) backs the file up
    /// and brings its schema up to date, releasing `lock` as soon as the schema is ready.
    async fn connect(
        file: &Path,
        access: open::Access,
        lock: open::OpenLock,
        now: DateTime<Utc>,
    ) -> Result<(SqlitePool, bool)> {
        let contents = open::inspect(file).await?;
        if contents == open::Contents::Newer {
            return Err(open::made_by_newer(file));
        }
        let read_only = access != open::Access::Writable;
        if read_only && contents.pending() {
            return Err(Error::Unavailable(match contents {
                open::Contents::New => format!(
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
            open::Access::Writable => connect
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full),
            open::Access::ReadOnly { immutable } => connect.read_only(true).immutable(immutable),
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
                if let open::Contents::Ours { .. } = contents {
                    open::backup_before_migrating(&pool, file, now).await?;
                }
                migrate(&pool, file).await?;
                checkpoint_now(&pool).await;
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

    /// This store with a fresh verify cache holding at most `capacity` accepted tokens (0 turns
    /// it off). The default is 10,000.
    pub fn with_verify_cache_capacity(mut self, capacity: usize) -> Self {
        self.verified = Arc::new(verify_cache::VerifyCache::new(capacity));
        self
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

    /// Writes a consistent copy of the whole database to `dest`, a new owner-only file (it must
    /// not exist yet). Safe while other processes read and write.
    pub async fn backup(&self, dest: &Path) -> Result<()> {
        let dest = backup_destination(dest)?;
        let mut db = self.pool.acquire().await?;
        backup_into(&mut db, &dest).await
    }

    /// Copies the key database at `source` to `dest` without opening it as a store: nothing is
    /// upgraded or written to `source`, and a database made by a newer Keyward can be copied
    /// too. Refuses files that are not Keyward databases.
    pub async fn backup_file(source: &Path, dest: &Path) -> Result<()> {
        let file = open::checked_path(source)?;
        let dest = backup_destination(dest)?;
        if !file.exists() {
            return Err(Error::Unavailable(format!(
                "There is no key database at {}, so there is nothing to back up.",
                source.display()
            )));
        }
        if let open::Contents::New = open::inspect(&file).await? {
            return Err(Error::Unavailable(format!(
                "The key database {} is empty, so there is nothing to back up.",
                source.display()
            )));
        }
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .read_only(true)
            .immutable(!open::wal_has_data(&file))
            .busy_timeout(BUSY_TIMEOUT);
        let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
            .await
            .map_err(|e| explain_open_error(&file, e))?;
        let copied = backup_into(&mut db, &dest).await;
        let _ = sqlx::Connection::close(db).await;
        copied
    }

    /// Closes the pool, checkpointing the WAL into the main file. The checkpoint comes first
    /// and explicitly: SQLite only does it on close for the last connection, which several
    /// pooled connections closing at once may all miss. It never waits: while another process
    /// writes, the WAL stays for that process to checkpoint. Read-only stores have nothing to move.
    pub async fn close(&self) {
        if !self.read_only {
            checkpoint_now(&self.pool).await;
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
