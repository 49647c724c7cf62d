//! The change counter live views poll: a session that `LISTEN`s on `keyward_changes` (sent by
//! the triggers of migration 0003 at each commit) and counts what arrives. It starts at the first
//! call, so a CLI command that never asks holds no extra connection.
//!
//! Notifications sent while the listening connection is down are lost, so losing it counts as a
//! change too: the views then reload everything, as they must after any gap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use keyward_core::Result;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::errors::{Address, DbResult};

const CHANNEL: &str = "keyward_changes";
/// How long the listener waits before trying again after a failure, at most.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct Changes {
    counter: Arc<AtomicU64>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Changes {
    fn task(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        // The guarded value is a plain handle: a panic elsewhere cannot leave it half-written.
        self.task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The counter, listening first if nothing listens yet.
    pub(crate) async fn counter(&self, pool: &PgPool, at: &Address) -> Result<u64> {
        if self.task().is_none() {
            let mut listener = PgListener::connect_with(pool).await.db(at)?;
            listener.listen(CHANNEL).await.db(at)?;
            let mut task = self.task();
            // Another call may have started one meanwhile; this listener is then dropped.
            if task.is_none() {
                *task = Some(tokio::spawn(listen(listener, self.counter.clone())));
            }
        }
        Ok(self.counter.load(Ordering::Acquire))
    }

    pub(crate) fn stop(&self) {
        if let Some(task) = self.task().take() {
            task.abort();
        }
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn listen(mut listener: PgListener, counter: Arc<AtomicU64>) {
    let mut wait = Duration::from_secs(1);
    loop {
        match listener.try_recv().await {
            // A change; or `None`: the connection was lost and made again.
            Ok(_) => {
                counter.fetch_add(1, Ordering::AcqRel);
                wait = Duration::from_secs(1);
            }
            Err(sqlx::Error::PoolClosed) => return,
            // The server went away or refused: anything may have changed meanwhile.
            Err(_) => {
                counter.fetch_add(1, Ordering::AcqRel);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY_WAIT);
            }
        }
    }
}
