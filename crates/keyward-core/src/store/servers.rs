//! The `verify_servers` table: each running verify server reports itself (address, pid, start,
//! verifications by code) every few seconds; the app lists those seen lately.
//!
//! A report never waits long for the database: it is skipped when another writer holds it for
//! more than [`REPORT_WAIT`], and the next one (a few seconds later) tries again.

use chrono::Duration;

use super::Store;
use crate::error::Result;
use crate::servers::{ServerReport, VerifyServer, SERVER_SEEN_WITHIN};

/// Rows of servers not seen for this long are removed when a server reports.
const FORGET_AFTER: Duration = Duration::days(7);

impl Store {
    /// Writes (or first creates) a running server's row, seen now. Returns `false` when another
    /// writer held the database for more than 200 ms: nothing was written, try again at the
    /// next report. Rows of servers not seen for a week are removed on the way.
    pub async fn report_verify_server(&self, report: &ServerReport) -> Result<bool> {
        self.ensure_writable()?;
        let now = self.clock.now();
        self.backend
            .report_server(report, now, now - FORGET_AFTER)
            .await
    }

    /// Marks a server stopped (its clean shutdown): it is no longer listed as running.
    pub async fn verify_server_stopped(&self, id: &str) -> Result<()> {
        self.ensure_writable()?;
        self.backend.server_stopped(id, self.clock.now()).await
    }

    /// The servers running on this database: not stopped, and seen in the last 15 seconds
    /// ([`SERVER_SEEN_WITHIN`]), oldest first.
    pub async fn verify_servers(&self) -> Result<Vec<VerifyServer>> {
        self.backend
            .servers(self.clock.now() - SERVER_SEEN_WITHIN)
            .await
    }
}
