//! One process at a time prepares a database file: the others opening it meanwhile wait, then
//! find it created or upgraded instead of doing it a second time.

use std::path::Path;
use std::time::Duration;

use keyward_core::{Error, Result};

use crate::files::folder_of;
use crate::inspect::OPEN_LOCK_WAIT;

/// Held while one process inspects, creates or upgrades a database, so that any number of
/// processes opening the same file at once each do their part once: the first creates or
/// upgrades it, the others then find it ready.
///
/// It is an advisory lock (`flock`) on the database's folder, not on the file: SQLite's own
/// locks on the file are POSIX locks, which closing any other handle on the same file would
/// silently release.
pub(crate) struct OpenLock(Option<std::fs::File>);

impl OpenLock {
    pub(crate) async fn acquire(path: &Path) -> Result<Self> {
        // A folder that cannot be opened for reading cannot be locked; the checks that follow
        // still hold, only two processes creating the same file at once could then collide.
        let Ok(folder) = std::fs::File::open(folder_of(path)) else {
            return Ok(Self(None));
        };
        let started = std::time::Instant::now();
        loop {
            match folder.try_lock() {
                Ok(()) => return Ok(Self(Some(folder))),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < OPEN_LOCK_WAIT => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::TryAgain(format!(
                        "Another Keyward program has been preparing the key database {} for \
                         over a minute. Try again in a moment; nothing was changed.",
                        path.display()
                    )))
                }
                // A file system without advisory locks: carry on without one.
                Err(std::fs::TryLockError::Error(_)) => return Ok(Self(None)),
            }
        }
    }
}

impl Drop for OpenLock {
    fn drop(&mut self) {
        if let Some(folder) = self.0.take() {
            let _ = folder.unlock();
        }
    }
}
