//! The `verify_servers` table: each running verify server reports itself (address, pid, start,
//! verifications by code) every few seconds; the app lists those seen lately.
//!
//! A report never waits long for the database: it is skipped when another writer holds it for
//! more than [`REPORT_WAIT`], and the next one (a few seconds later) tries again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::FromRow;

use keyward_core::servers::{CodeCounts, ServerReport, VerifyServer};
use keyward_core::Result;

use crate::busy::ShortWait;
use crate::error::{from_sqlx, is_busy, OrDb};
use crate::rows::{from_millis, to_millis};

/// How long a report waits for another writer before it is skipped.
const REPORT_WAIT: Duration = Duration::from_millis(200);

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

fn counts_json(counts: &CodeCounts) -> String {
    serde_json::to_string(counts).unwrap_or_else(|_| "{}".into())
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

/// Writes (or first creates) a running server's row, seen at `now`, removing rows not seen since
/// `forget_before`. `false` when another writer held the database for more than
/// [`REPORT_WAIT`]: nothing was written.
pub(crate) async fn report_server(
    pool: &SqlitePool,
    report: &ServerReport,
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
) -> Result<bool> {
    let mut short = ShortWait::acquire(pool, REPORT_WAIT).await?;
    let written = async {
        let mut tx = sqlx::Connection::begin(short.connection()).await?;
        sqlx::query("DELETE FROM verify_servers WHERE last_seen < ?")
            .bind(to_millis(forget_before))
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
        .bind(to_millis(now))
        .bind(counts_json(&report.last_minute))
        .bind(counts_json(&report.since_start))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
    .await;
    short.release().await;
    match written {
        Ok(()) => Ok(true),
        Err(e) if is_busy(&e) => Ok(false),
        Err(e) => Err(from_sqlx(e)),
    }
}

/// Marks a server stopped (its clean shutdown): it is no longer listed as running.
pub(crate) async fn server_stopped(pool: &SqlitePool, id: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE verify_servers SET stopped_at = ?1, last_seen = ?1 WHERE id = ?2")
        .bind(to_millis(now))
        .bind(id)
        .execute(pool)
        .await
        .db()?;
    Ok(())
}

/// Servers not stopped and seen since `since`, oldest first.
pub(crate) async fn servers(pool: &SqlitePool, since: DateTime<Utc>) -> Result<Vec<VerifyServer>> {
    let rows: Vec<ServerRow> = sqlx::query_as(
        "SELECT id, address, pid, started_at, last_seen, last_minute, since_start \
         FROM verify_servers WHERE stopped_at IS NULL AND last_seen >= ? \
         ORDER BY started_at, id",
    )
    .bind(to_millis(since))
    .fetch_all(pool)
    .await
    .db()?;
    Ok(rows.into_iter().map(ServerRow::into_server).collect())
}
