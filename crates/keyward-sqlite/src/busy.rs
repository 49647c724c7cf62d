//! How long statements wait for another writer's lock. Every pooled connection waits up to
//! [`BUSY_TIMEOUT`]; bookkeeping that must never hold anything up (recording a use, a server's
//! report, the closing checkpoint) borrows a connection with a much shorter wait.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, SqliteConnection};

use keyward_core::Result;

use crate::error::OrDb;

pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (negative: SQLite's way to say KiB rather than pages). The
/// default 2 MiB holds too little of a 100,000-key database (about 60 MB) for a search to stay
/// in memory; memory is only taken as pages are read, so a small database costs nothing more.
pub(crate) const PAGE_CACHE_KIB: &str = "-16384";

/// Sets how long statements on `db` wait for another writer's lock.
pub(crate) async fn set_busy_timeout(
    db: &mut SqliteConnection,
    wait: Duration,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(&format!("PRAGMA busy_timeout = {}", wait.as_millis()))
        .execute(db)
        .await
        .map(|_| ())
}

/// A pooled connection whose statements wait at most a short time for another writer.
/// [`ShortWait::release`] puts [`BUSY_TIMEOUT`] back; a connection whose timeout could not be
/// put back (or whose work was cancelled halfway) is closed rather than returned to the pool,
/// where the next caller would silently give up after a fraction of a second.
pub(crate) struct ShortWait {
    db: PoolConnection<Sqlite>,
    restored: bool,
}

impl ShortWait {
    pub(crate) async fn acquire(pool: &SqlitePool, wait: Duration) -> Result<Self> {
        let db = pool.acquire().await.db()?;
        let mut short = Self {
            db,
            restored: false,
        };
        set_busy_timeout(&mut short.db, wait).await.db()?;
        Ok(short)
    }

    pub(crate) fn connection(&mut self) -> &mut SqliteConnection {
        &mut self.db
    }

    /// Hands the connection back with the usual wait. Never fails: the work it did stands
    /// either way, and a connection that keeps the short wait is closed instead.
    pub(crate) async fn release(mut self) {
        self.restored = set_busy_timeout(&mut self.db, BUSY_TIMEOUT).await.is_ok();
    }
}

impl Drop for ShortWait {
    fn drop(&mut self) {
        if !self.restored {
            self.db.close_on_drop();
        }
    }
}

/// Moves the WAL into the main file and empties it, if no other connection is reading: never
/// waits. After an upgrade every migration's pages sit in the WAL (hundreds of KiB for a new
/// file), which the next writer would otherwise have to find room for on top.
pub(crate) async fn checkpoint_now(pool: &SqlitePool) {
    if let Ok(mut short) = ShortWait::acquire(pool, Duration::ZERO).await {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(short.connection())
            .await;
        short.release().await;
    }
}
