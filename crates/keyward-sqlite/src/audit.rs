//! The audit log: one row per change, written in the change's own transaction, read oldest
//! first (a key's history, an export) or a page at a time, newest first.

use sqlx::sqlite::SqlitePool;
use sqlx::{FromRow, SqliteConnection};

use keyward_core::backend::{AuditFilter, AuditRecord};
use keyward_core::models::AuditEvent;
use keyward_core::Result;

use crate::error::OrDb;
use crate::rows::{from_millis, to_millis};

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    key_id: Option<String>,
    details: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        Self {
            seq: u32::try_from(r.seq).unwrap_or(u32::MAX),
            at: from_millis(r.at),
            actor: r.actor,
            action: r.action,
            key_id: r.key_id,
            details: r.details,
        }
    }
}

/// Each condition only when asked for (`?1` the key, `?2` the action).
const FILTER: &str = "WHERE (?1 IS NULL OR key_id = ?1) AND (?2 IS NULL OR action = ?2)";
const COLUMNS: &str = "SELECT seq, at, actor, action, key_id, details FROM audit_log";

pub(crate) async fn audit(db: &mut SqliteConnection, row: &AuditRecord<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, key_id, details) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(to_millis(row.at))
    .bind(row.actor)
    .bind(row.action)
    .bind(row.key_id)
    .bind(&row.details)
    .execute(db)
    .await
    .db()?;
    Ok(())
}

/// Matching rows, oldest first.
pub(crate) async fn audit_events(
    pool: &SqlitePool,
    filter: &AuditFilter<'_>,
) -> Result<Vec<AuditEvent>> {
    let rows: Vec<AuditRow> = sqlx::query_as(&format!("{COLUMNS} {FILTER} ORDER BY seq"))
        .bind(filter.key_id)
        .bind(filter.action)
        .fetch_all(pool)
        .await
        .db()?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}

/// Matching rows, newest first, with how many match in all.
pub(crate) async fn audit_page(
    pool: &SqlitePool,
    filter: &AuditFilter<'_>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<AuditEvent>, i64)> {
    let rows: Vec<AuditRow> = sqlx::query_as(&format!(
        "{COLUMNS} {FILTER} ORDER BY seq DESC LIMIT ?3 OFFSET ?4"
    ))
    .bind(filter.key_id)
    .bind(filter.action)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
    .db()?;
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM audit_log {FILTER}"))
        .bind(filter.key_id)
        .bind(filter.action)
        .fetch_one(pool)
        .await
        .db()?;
    Ok((rows.into_iter().map(AuditEvent::from).collect(), total))
}
