//! The audit log: one row per change, written in the change's own transaction.

use chrono::{DateTime, Utc};
use keyward_core::backend::{AuditFilter, AuditRecord};
use keyward_core::{AuditEvent, Result};
use sqlx::{FromRow, PgConnection, PgPool};

use crate::errors::{Address, DbResult};
use crate::rows::count;

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    key_id: Option<String>,
    details: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        Self {
            seq: count(r.seq),
            at: r.at,
            actor: r.actor,
            action: r.action,
            key_id: r.key_id,
            details: r.details,
        }
    }
}

const COLUMNS: &str =
    "SELECT seq, at, actor, action, key_id, details::text AS details FROM audit_log";

/// `details` is JSON and never a secret; the column refuses anything but JSON.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    at: &Address,
    row: &AuditRecord<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, key_id, details) VALUES ($1, $2, $3, $4, $5::json)",
    )
    .bind(row.at)
    .bind(row.actor)
    .bind(row.action)
    .bind(row.key_id)
    .bind(&row.details)
    .execute(conn)
    .await
    .db(at)?;
    Ok(())
}

/// Only the conditions the filter uses, so each reads its index (`audit_log_by_key`,
/// `audit_log_by_action`) instead of a generic `$1 IS NULL OR …` that reads every row.
fn where_sql(filter: &AuditFilter<'_>) -> (String, Vec<String>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    for (column, value) in [("key_id", filter.key_id), ("action", filter.action)] {
        if let Some(value) = value {
            values.push(value.to_owned());
            conditions.push(format!("{column} = ${}", values.len()));
        }
    }
    if conditions.is_empty() {
        (String::new(), values)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), values)
    }
}

/// Matching rows, oldest first.
pub(crate) async fn events(
    pool: &PgPool,
    at: &Address,
    filter: &AuditFilter<'_>,
) -> Result<Vec<AuditEvent>> {
    let (condition, values) = where_sql(filter);
    let sql = format!("{COLUMNS}{condition} ORDER BY seq");
    let mut query = sqlx::query_as::<_, AuditRow>(&sql);
    for value in &values {
        query = query.bind(value);
    }
    let rows = query.fetch_all(pool).await.db(at)?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}

/// Matching rows, newest first, with how many match in all.
pub(crate) async fn page(
    pool: &PgPool,
    at: &Address,
    filter: &AuditFilter<'_>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<AuditEvent>, i64)> {
    let (condition, values) = where_sql(filter);
    let n = values.len();
    let sql = format!(
        "{COLUMNS}{condition} ORDER BY seq DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let mut query = sqlx::query_as::<_, AuditRow>(&sql);
    for value in &values {
        query = query.bind(value);
    }
    let rows = query
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(pool)
        .await
        .db(at)?;
    let count_sql = format!("SELECT count(*) FROM audit_log{condition}");
    let mut counting = sqlx::query_as::<_, (i64,)>(&count_sql);
    for value in &values {
        counting = counting.bind(value);
    }
    let (total,) = counting.fetch_one(pool).await.db(at)?;
    Ok((rows.into_iter().map(AuditEvent::from).collect(), total))
}
