//! The `verify_servers` table: each running verify server reports itself (address, pid, start,
//! verifications by code) every few seconds; the app lists those seen lately.
//!
//! A report never waits long for the database: it is skipped when another writer holds it for
//! more than [`REPORT_WAIT`], and the next one (a few seconds later) tries again.

use chrono::Duration;
use sqlx::FromRow;

use super::{from_millis, is_busy, set_busy_timeout, to_millis, Store, BUSY_TIMEOUT};
use crate::error::{Error, Result};
use crate::servers::{CodeCounts, ServerReport, VerifyServer, SERVER_SEEN_WITHIN};

/// How long a report waits for another writer before it is skipped.
const REPORT_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Rows of servers not seen for this long are removed when a server reports.
const FORGET_AFTER: Duration = Duration::days(7);

#[derive(FromRow)]
struct ServerRow {
    id: String,
    address: String,
    pid: i64,
    started_at: i64,
    last_seen: i64,
    last_minute: String,
    since_start: String,
}

fn counts(json: &str) -> CodeCounts {
    // Only servers write these; a row that cannot be read shows no counts rather than failing
    // the whole list.
    serde_json::from_str(json).unwrap_or_default()
}

impl ServerRow {
    fn into_server(self) -> VerifyServer {
        VerifyServer {
            id: self.id,
            address: self.address,
            pid: u32::try_from(self.pid).unwrap_or(0),
            started_at: from_millis(self.started_at),
            last_seen: from_millis(self.last_seen),
            last_minute: counts(&self.last_minute),
            since_start: counts(&self.since_start),
        }
    }
}

impl Store {
    /// Writes (or first creates) a running server's row, seen now. Returns `false` when another
    /// writer held the database for more than 200 ms: nothing was written, try again at the
    /// next report. Rows of servers not seen for a week are removed on the way.
    pub async fn report_verify_server(&self, report: &ServerReport) -> Result<bool> {
        self.ensure_writable()?;
        let now = to_millis(self.clock.now());
        let json = |c: &CodeCounts| serde_json::to_string(c).unwrap_or_else(|_| "{}".into());
        let mut db = self.pool.acquire().await?;
        set_busy_timeout(&mut db, REPORT_WAIT).await?;
        let written = async {
            let mut tx = sqlx::Connection::begin(&mut *db).await?;
            sqlx::query("DELETE FROM verify_servers WHERE last_seen < ?")
                .bind(now - FORGET_AFTER.num_milliseconds())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO verify_servers \
                 (id, address, pid, started_at, last_seen, last_minute, since_start) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
                   last_seen = excluded.last_seen, last_minute = excluded.last_minute, \
                   since_start = excluded.since_start, stopped_at = NULL",
            )
            .bind(&report.id)
            .bind(&report.address)
            .bind(i64::from(report.pid))
            .bind(to_millis(report.started_at))
            .bind(now)
            .bind(json(&report.last_minute))
            .bind(json(&report.since_start))
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await;
        set_busy_timeout(&mut db, BUSY_TIMEOUT).await?;
        match written {
            Ok(()) => Ok(true),
            Err(e) if is_busy(&e) => Ok(false),
            Err(e) => Err(Error::from(e)),
        }
    }

    /// Marks a server stopped (its clean shutdown): it is no longer listed as running.
    pub async fn verify_server_stopped(&self, id: &str) -> Result<()> {
        self.ensure_writable()?;
        let now = to_millis(self.clock.now());
        sqlx::query("UPDATE verify_servers SET stopped_at = ?1, last_seen = ?1 WHERE id = ?2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The servers running on this database: not stopped, and seen in the last 15 seconds
    /// ([`SERVER_SEEN_WITHIN`]), oldest first.
    pub async fn verify_servers(&self) -> Result<Vec<VerifyServer>> {
        let since = to_millis(self.clock.now() - SERVER_SEEN_WITHIN);
        let rows: Vec<ServerRow> = sqlx::query_as(
            "SELECT id, address, pid, started_at, last_seen, last_minute, since_start \
             FROM verify_servers WHERE stopped_at IS NULL AND last_seen >= ? \
             ORDER BY started_at, id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ServerRow::into_server).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::StoreOptions;

    fn report(id: &str, valid: u64) -> ServerReport {
        ServerReport {
            id: id.into(),
            address: "127.0.0.1:8787".into(),
            pid: 4242,
            started_at: Utc::now(),
            last_minute: CodeCounts::from([("VALID".into(), valid)]),
            since_start: CodeCounts::from([("VALID".into(), valid), ("REVOKED".into(), 1)]),
        }
    }

    #[tokio::test]
    async fn running_servers_are_listed_until_stopped_or_silent() {
        let dir = tempfile::tempdir().expect("dir");
        let clock = ManualClock::new(Utc::now());
        let store = Store::open_with(
            &dir.path().join("k.db"),
            StoreOptions {
                clock: Arc::new(clock.clone()),
                ..StoreOptions::default()
            },
        )
        .await
        .expect("open");
        assert!(store.verify_servers().await.expect("list").is_empty());

        assert!(store
            .report_verify_server(&report("srv_a", 1))
            .await
            .expect("report"));
        assert!(store
            .report_verify_server(&report("srv_b", 2))
            .await
            .expect("report"));
        assert!(store
            .report_verify_server(&report("srv_a", 5))
            .await
            .expect("report again"));
        let listed = store.verify_servers().await.expect("list");
        assert_eq!(listed.len(), 2);
        let a = listed.iter().find(|s| s.id == "srv_a").expect("a");
        assert_eq!(a.last_minute["VALID"], 5);
        assert_eq!(a.since_start["REVOKED"], 1);
        assert_eq!((a.pid, a.address.as_str()), (4242, "127.0.0.1:8787"));
        assert_eq!(
            a.last_seen,
            crate::store::from_millis(to_millis(clock.now()))
        );

        store.verify_server_stopped("srv_a").await.expect("stop");
        let ids: Vec<String> = store
            .verify_servers()
            .await
            .expect("list")
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["srv_b"]);

        // Killed: no more reports, gone from the list after 15 seconds.
        clock.advance(Duration::seconds(16));
        assert!(store.verify_servers().await.expect("list").is_empty());

        // A week later a report clears the old rows.
        clock.advance(Duration::days(8));
        store
            .report_verify_server(&report("srv_c", 0))
            .await
            .expect("report");
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM verify_servers")
            .fetch_one(&store.pool)
            .await
            .expect("count");
        assert_eq!(rows, 1);
        store.close().await;
    }

    #[tokio::test]
    async fn a_busy_database_skips_the_report() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("k.db")).await.expect("open");
        let mut holder = store.pool.acquire().await.expect("connection");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *holder)
            .await
            .expect("hold the write lock");
        let started = std::time::Instant::now();
        let written = store
            .report_verify_server(&report("srv_busy", 1))
            .await
            .expect("no error");
        assert!(!written);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        sqlx::query("ROLLBACK")
            .execute(&mut *holder)
            .await
            .expect("release");
        drop(holder);
        assert!(store
            .report_verify_server(&report("srv_busy", 1))
            .await
            .expect("report"));
        store.close().await;
    }
}
