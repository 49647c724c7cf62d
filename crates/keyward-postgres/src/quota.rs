//! Quota counters: one row per key and period, added to in batches by the verify servers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use keyward_core::backend::QuotaRecord;
use keyward_core::Result;
use sqlx::{FromRow, PgPool};

use crate::errors::{Address, DbResult};
use crate::rows::LimitsRow;

#[derive(FromRow)]
struct QuotaRow {
    #[sqlx(flatten)]
    limits: LimitsRow,
    period_start: Option<DateTime<Utc>>,
    used: Option<i64>,
}

/// `None` when no such key exists.
pub(crate) async fn quota(
    pool: &PgPool,
    at: &Address,
    key_id: &str,
) -> Result<Option<QuotaRecord>> {
    let row: Option<QuotaRow> = sqlx::query_as(
        "SELECT p.rate_per_second, p.burst, p.quota, p.quota_period, u.period_start, u.used \
         FROM api_keys k LEFT JOIN plans p ON p.id = k.plan_id \
         LEFT JOIN quota_usage u ON u.key_id = k.id WHERE k.id = $1",
    )
    .bind(key_id)
    .fetch_optional(pool)
    .await
    .db(at)?;
    Ok(row.map(|r| QuotaRecord {
        limits: r.limits.into(),
        period_start: r.period_start,
        used: r.used,
    }))
}

/// One key's counts in a batch merged as the database merges them: the newest period wins with
/// the sum of its counts; counts of older periods are dropped. Merging is associative, so
/// merging the batch first and then into the stored row gives what adding the counts one by one
/// (as SQLite does) gives.
fn merge(into: &mut (DateTime<Utc>, i64), period: DateTime<Utc>, used: i64) {
    if period == into.0 {
        into.1 = into.1.saturating_add(used);
    } else if period > into.0 {
        *into = (period, used);
    }
}

/// Adds the counts in one statement and one transaction, then returns each key's count after it
/// (one entry per key, in the order the keys first appear). Keys deleted meanwhile are skipped:
/// each key's row is locked `FOR KEY SHARE` while its counter is written, so a deletion either
/// waits for this write (and removes the counter with the key) or has committed, and the key is
/// left out. Keys are written in id order, so two servers' batches never deadlock.
pub(crate) async fn add_quota_usage(
    pool: &PgPool,
    at: &Address,
    counts: &[(String, DateTime<Utc>, u64)],
) -> Result<Vec<(String, DateTime<Utc>, u64)>> {
    let mut order: Vec<&str> = Vec::new();
    let mut merged: HashMap<&str, (DateTime<Utc>, i64)> = HashMap::new();
    for (key_id, period, used) in counts {
        let used = i64::try_from(*used).unwrap_or(i64::MAX);
        match merged.get_mut(key_id.as_str()) {
            Some(entry) => merge(entry, *period, used),
            None => {
                order.push(key_id);
                merged.insert(key_id, (*period, used));
            }
        }
    }
    if merged.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<&str> = order.clone();
    ids.sort_unstable();
    let periods: Vec<DateTime<Utc>> = ids.iter().map(|id| merged[id].0).collect();
    let used: Vec<i64> = ids.iter().map(|id| merged[id].1).collect();
    let mut tx = pool.begin().await.db(at)?;
    let rows: Vec<(String, DateTime<Utc>, i64)> = sqlx::query_as(
        "INSERT INTO quota_usage (key_id, period_start, used) \
         SELECT c.key_id, c.period_start, c.used \
         FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) \
           WITH ORDINALITY AS c(key_id, period_start, used, n) \
         WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.id = c.key_id FOR KEY SHARE) \
         ORDER BY c.n \
         ON CONFLICT (key_id) DO UPDATE SET \
           used = CASE WHEN quota_usage.period_start = excluded.period_start \
                       THEN quota_usage.used + excluded.used \
                       WHEN quota_usage.period_start < excluded.period_start THEN excluded.used \
                       ELSE quota_usage.used END, \
           period_start = GREATEST(quota_usage.period_start, excluded.period_start) \
         RETURNING key_id, period_start, used",
    )
    .bind(&ids)
    .bind(&periods)
    .bind(&used)
    .fetch_all(&mut *tx)
    .await
    .db(at)?;
    tx.commit().await.db(at)?;
    let after: HashMap<String, (DateTime<Utc>, i64)> = rows
        .into_iter()
        .map(|(id, period, used)| (id, (period, used)))
        .collect();
    Ok(order
        .into_iter()
        .filter_map(|id| {
            let (period, used) = after.get(id)?;
            Some((id.to_owned(), *period, u64::try_from(*used).unwrap_or(0)))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_batch_merges_as_the_stored_row_does() {
        let day = |d| {
            Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0)
                .single()
                .expect("a date")
        };
        let mut row = (day(2), 3);
        merge(&mut row, day(2), 4);
        assert_eq!(row, (day(2), 7));
        merge(&mut row, day(1), 100);
        assert_eq!(row, (day(2), 7), "an older period is dropped");
        merge(&mut row, day(3), 2);
        assert_eq!(row, (day(3), 2), "a newer period starts from its own count");
    }
}
