//! Quota counters: how much of its plan's quota a key has used in the current period, added to
//! in batches by the verify server.

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{FromRow, Row};

use keyward_core::backend::QuotaRecord;
use keyward_core::Result;

use crate::error::OrDb;
use crate::rows::{from_millis, limits_of, to_millis};

struct QuotaRow(QuotaRecord);

impl<'r> FromRow<'r, SqliteRow> for QuotaRow {
    fn from_row(row: &'r SqliteRow) -> std::result::Result<Self, sqlx::Error> {
        let period_start: Option<i64> = row.try_get("period_start")?;
        Ok(Self(QuotaRecord {
            limits: limits_of(row)?,
            period_start: period_start.map(from_millis),
            used: row.try_get("used")?,
        }))
    }
}

/// A key's counter with its plan's limits; `None` when no such key exists. A key without a plan
/// (only in a database no Keyward wrote) reads with no limits, so no quota.
pub(crate) async fn quota(pool: &SqlitePool, key_id: &str) -> Result<Option<QuotaRecord>> {
    let found: Option<QuotaRow> = sqlx::query_as(
        "SELECT p.rate_per_second AS plan_rate, p.burst AS plan_burst, \
         p.quota AS plan_quota, p.quota_period AS plan_period, \
         u.period_start, u.used \
         FROM api_keys k LEFT JOIN plans p ON p.id = k.plan_id \
         LEFT JOIN quota_usage u ON u.key_id = k.id WHERE k.id = ?",
    )
    .bind(key_id)
    .fetch_optional(pool)
    .await
    .db()?;
    Ok(found.map(|QuotaRow(quota)| quota))
}

/// Adds checks to keys' quota counters in one `BEGIN IMMEDIATE` transaction: for each key, `used`
/// more in the period that began at `period_start`. A count for an older period than the one
/// stored is dropped (that period is over); a newer period starts again from this count. Keys
/// deleted meanwhile are skipped. Returns each key's count after the write.
pub(crate) async fn add_quota_usage(
    pool: &SqlitePool,
    counts: &[(String, DateTime<Utc>, u64)],
) -> Result<Vec<(String, DateTime<Utc>, u64)>> {
    if counts.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.db()?;
    let mut after = Vec::with_capacity(counts.len());
    for (key_id, period_start, used) in counts {
        let added = i64::try_from(*used).unwrap_or(i64::MAX);
        let total: Option<(i64, i64)> = sqlx::query_as(
            "INSERT INTO quota_usage (key_id, period_start, used) \
             SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = ?1) \
             ON CONFLICT (key_id) DO UPDATE SET \
               used = CASE WHEN period_start = excluded.period_start \
                           THEN used + excluded.used \
                           WHEN period_start < excluded.period_start THEN excluded.used \
                           ELSE used END, \
               period_start = MAX(period_start, excluded.period_start) \
             RETURNING period_start, used",
        )
        .bind(key_id)
        .bind(to_millis(*period_start))
        .bind(added)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if let Some((at, used)) = total {
            after.push((
                key_id.clone(),
                from_millis(at),
                u64::try_from(used).unwrap_or(0),
            ));
        }
    }
    tx.commit().await.db()?;
    Ok(after)
}
