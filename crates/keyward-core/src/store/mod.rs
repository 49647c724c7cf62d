//! The one SQLite file: opening it safely, and every read and write of keys, owners, settings
//! and audit rows. Each change runs in a `BEGIN IMMEDIATE` transaction together with its audit row.

mod audit;
mod keys;
mod owners;
mod settings;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

pub use audit::audit_csv;
pub use settings::validate_settings;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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

/// The key database. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
    actor: String,
    path: PathBuf,
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
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    let message = match code {
        Some(26) | Some(11) => format!(
            "The file {shown} is not a Keyward database, or it is damaged. It was left untouched; \
             restore it from a backup or choose another file."
        ),
        Some(14) => format!(
            "The database {shown} could not be opened. Check that its folder exists and that you \
             may write to it."
        ),
        Some(8) => format!("The database {shown} is read-only, so keys cannot be changed."),
        Some(5) | Some(6) => {
            format!("The database {shown} is locked by another program. Close it and try again.")
        }
        _ => format!("The database {shown} could not be opened: {error}"),
    };
    Error::Unavailable(message)
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

    pub async fn open_with(path: &Path, options: StoreOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(connect)
            .await
            .map_err(|e| explain_open_error(path, e))?;
        backup_before_migrating(&pool, path, options.clock.now()).await?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => explain_open_error(path, inner),
            other => Error::Migration(other),
        })?;
        Ok(Self {
            pool,
            clock: options.clock,
            actor: options.actor,
            path: path.to_owned(),
        })
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

    /// Closes the pool, checkpointing the WAL into the main file.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction that takes the write lock up front, so two processes never both read
    /// and then both write on stale data (the per-owner limit depends on it).
    async fn begin_write(&self) -> Result<WriteTx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[cfg(test)]
mod tests;
