//! The change counter live views poll (`Backend::change_counter`), on a connection of its own.
//!
//! SQLite changes `PRAGMA data_version` on a connection whenever *another* connection commits to
//! the file: another process's, or one of this process's pooled connections. This connection
//! never writes, so it sees every commit, this app's own included. The pragma reads no table, so
//! asking twice a second costs next to nothing while nothing happens.
//!
//! Not every commit is a change to show: a verify server records a key's last use (up to once a
//! minute per key), its quota counts (every second while busy) and its heartbeat (every 5 s).
//! Every real change writes an audit row in the same transaction, so after a commit the newest
//! audit row tells the two apart, as the PostgreSQL backend's triggers do (its migration 0003).
//!
//! The connection is made at the first call, so a CLI command that never asks holds none.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Mutex;

use keyward_core::Result;

use crate::error::OrDb;

#[derive(Default)]
pub(crate) struct Changes {
    watch: Mutex<Watch>,
}

#[derive(Default)]
struct Watch {
    /// `None` until the first call, and again after a failure (made anew on the next call).
    connection: Option<SqliteConnection>,
    /// The last `data_version` read on `connection`; its numbers mean nothing on another one.
    data_version: Option<i64>,
    /// The newest audit row seen (`None`: not read yet; `Some(0)`: no rows).
    newest_audit: Option<i64>,
    counter: u64,
}

impl Changes {
    /// The counter, one more for each time a real change was found committed since the last call.
    pub(crate) async fn counter(&self, options: &SqliteConnectOptions) -> Result<u64> {
        let mut watch = self.watch.lock().await;
        let found = watch.look(options).await;
        if found.is_err() {
            // A connection that failed once (the file replaced, a disk error) is not trusted
            // again: the next call opens a new one.
            watch.connection = None;
            watch.data_version = None;
        }
        found?;
        Ok(watch.counter)
    }

    /// Closes the connection, if one was made.
    pub(crate) async fn close(&self) {
        if let Some(connection) = self.watch.lock().await.connection.take() {
            let _ = connection.close().await;
        }
    }
}

impl Watch {
    async fn look(&mut self, options: &SqliteConnectOptions) -> Result<()> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self.connection.insert(options.connect().await.db()?),
        };
        let version: i64 = sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&mut *connection)
            .await
            .db()?;
        if self.data_version == Some(version) {
            return Ok(());
        }
        let newest: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM audit_log")
            .fetch_one(&mut *connection)
            .await
            .db()?;
        self.data_version = Some(version);
        if self.newest_audit.is_some_and(|seen| seen != newest) {
            self.counter += 1;
        }
        self.newest_audit = Some(newest);
        Ok(())
    }
}
