//! The `verify_servers` table: each running verify server reports itself every few seconds; the
//! app lists those seen lately. A report never waits long: it is skipped (`false`) when another
//! writer holds the rows for more than 200 ms, and the next report tries again.

use chrono::{DateTime, Utc};
use keyward_core::servers::{CodeCounts, ServerReport, VerifyServer};
use keyward_core::{Error, Result};
use sqlx::{FromRow, PgPool};

use crate::errors::{sqlstate, Address, DbResult, DEADLOCK, LOCK_NOT_AVAILABLE};

const BEGIN_WITH_SHORT_WAIT: &str =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '200ms'";

#[derive(FromRow)]
struct ServerRow {
    id: String,
    address: String,
    pid: i64,
    started_at: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    last_minute: String,
    since_start: String,
}

/// Only servers write these; a row that cannot be read shows no counts rather than failing the
/// whole list.
fn counts(json: &str) -> CodeCounts {
    serde_json::from_str(json).unwrap_or_default()
}

impl From<ServerRow> for VerifyServer {
    fn from(r: ServerRow) -> Self {
        Self {
            id: r.id,
            address: r.address,
            pid: u32::try_from(r.pid).unwrap_or(0),
            started_at: r.started_at,
            last_seen: r.last_seen,
            last_minute: counts(&r.last_minute),
            since_start: counts(&r.since_start),
        }
    }
}

fn json(counts: &CodeCounts) -> Result<String> {
    serde_json::to_string(counts).map_err(|e| Error::Database(e.to_string()))
}

/// Upserts the server's row at `now` and removes rows not seen since `forget_before`.
pub(crate) async fn report(
    pool: &PgPool,
    at: &Address,
    report: &ServerReport,
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
) -> Result<bool> {
    let (last_minute, since_start) = (json(&report.last_minute)?, json(&report.since_start)?);
    let written = async {
        let mut tx = pool.begin_with(BEGIN_WITH_SHORT_WAIT).await?;
        sqlx::query("DELETE FROM verify_servers WHERE last_seen < $1")
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO verify_servers \
             (id, address, pid, started_at, last_seen, last_minute, since_start) \
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
               last_seen = excluded.last_seen, last_minute = excluded.last_minute, \
               since_start = excluded.since_start, stopped_at = NULL",
        )
        .bind(&report.id)
        .bind(&report.address)
        .bind(i64::from(report.pid))
        .bind(report.started_at)
        .bind(now)
        .bind(&last_minute)
        .bind(&since_start)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
    .await;
    match written {
        Ok(()) => Ok(true),
        Err(e) if matches!(sqlstate(&e).as_deref(), Some(LOCK_NOT_AVAILABLE | DEADLOCK)) => {
            Ok(false)
        }
        Err(e) => Err(at.explain(e)),
    }
}

/// Marks a server stopped (its clean shutdown): it is no longer listed as running.
pub(crate) async fn stopped(
    pool: &PgPool,
    at: &Address,
    id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE verify_servers SET stopped_at = $1, last_seen = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .db(at)?;
    Ok(())
}

/// Servers not stopped and seen since `since`, oldest first.
pub(crate) async fn running(
    pool: &PgPool,
    at: &Address,
    since: DateTime<Utc>,
) -> Result<Vec<VerifyServer>> {
    let rows: Vec<ServerRow> = sqlx::query_as(
        "SELECT id, address, pid, started_at, last_seen, last_minute::text AS last_minute, \
         since_start::text AS since_start FROM verify_servers \
         WHERE stopped_at IS NULL AND last_seen >= $1 ORDER BY started_at, id",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .db(at)?;
    Ok(rows.into_iter().map(VerifyServer::from).collect())
}
