//! Plans' rows: listed with how many keys use each, found by name, made, changed and deleted,
//! and the one default that new keys get.

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Executor, FromRow, Row, Sqlite, SqliteConnection};

use keyward_core::backend::{LimitsRecord, PlanRecord};
use keyward_core::plans::PlanLimits;
use keyward_core::{Error, Result};

use crate::error::{unless_taken, OrDb};
use crate::rows::{from_millis, limits_of, to_millis};

const PLAN_SELECT: &str = "SELECT p.id, p.name, p.rate_per_second AS plan_rate, \
     p.burst AS plan_burst, p.quota AS plan_quota, p.quota_period AS plan_period, \
     p.is_default, p.created_at, \
     (SELECT COUNT(*) FROM api_keys k WHERE k.plan_id = p.id) AS keys FROM plans p";

/// [`PLAN_SELECT`] without the count of keys, for reads inside a write (see
/// `PlanRecord::keys`).
const PLAN_SELECT_UNCOUNTED: &str = "SELECT p.id, p.name, p.rate_per_second AS plan_rate, \
     p.burst AS plan_burst, p.quota AS plan_quota, p.quota_period AS plan_period, \
     p.is_default, p.created_at, NULL AS keys FROM plans p";

struct PlanRow(PlanRecord);

impl<'r> FromRow<'r, SqliteRow> for PlanRow {
    fn from_row(row: &'r SqliteRow) -> std::result::Result<Self, sqlx::Error> {
        Ok(Self(PlanRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            limits: limits_of(row)?,
            is_default: row.try_get("is_default")?,
            created_at: from_millis(row.try_get("created_at")?),
            keys: row.try_get::<Option<i64>, _>("keys")?,
        }))
    }
}

/// Every plan, by name.
pub(crate) async fn plans(pool: &SqlitePool) -> Result<Vec<PlanRecord>> {
    let rows: Vec<PlanRow> =
        sqlx::query_as(&format!("{PLAN_SELECT} ORDER BY p.name COLLATE NOCASE"))
            .fetch_all(pool)
            .await
            .db()?;
    Ok(rows.into_iter().map(|PlanRow(plan)| plan).collect())
}

/// The plan called `name` (stored names are canonical; ASCII letters match without case, as
/// the column's COLLATE NOCASE says).
pub(crate) async fn plan<'e>(
    db: impl Executor<'e, Database = Sqlite>,
    name: &str,
    counted: bool,
) -> Result<Option<PlanRecord>> {
    let select = if counted {
        PLAN_SELECT
    } else {
        PLAN_SELECT_UNCOUNTED
    };
    let row: Option<PlanRow> = sqlx::query_as(&format!("{select} WHERE p.name = ?"))
        .bind(name)
        .fetch_optional(db)
        .await
        .db()?;
    Ok(row.map(|PlanRow(plan)| plan))
}

/// The plan new keys get. Migration 0006 makes one and a partial unique index keeps it one.
pub(crate) async fn default_plan(db: &mut SqliteConnection) -> Result<PlanRecord> {
    let row: Option<PlanRow> =
        sqlx::query_as(&format!("{PLAN_SELECT_UNCOUNTED} WHERE p.is_default = 1"))
            .fetch_optional(db)
            .await
            .db()?;
    row.map(|PlanRow(plan)| plan).ok_or_else(|| {
        Error::Unavailable(
            "The key database has no default plan, which no Keyward leaves it without. \
             Nothing was changed; restore the database from a backup."
                .into(),
        )
    })
}

/// How many keys use the plan `id`.
pub(crate) async fn key_count(db: &mut SqliteConnection, id: i64) -> Result<i64> {
    let (keys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE plan_id = ?")
        .bind(id)
        .fetch_one(db)
        .await
        .db()?;
    Ok(keys)
}

/// `false` when the name is taken.
pub(crate) async fn insert_plan(
    db: &mut SqliteConnection,
    name: &str,
    limits: &PlanLimits,
    now: DateTime<Utc>,
) -> Result<bool> {
    let limits = LimitsRecord::of(limits);
    let inserted = sqlx::query(
        "INSERT INTO plans (name, rate_per_second, burst, quota, quota_period, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(name)
    .bind(limits.rate_per_second)
    .bind(limits.burst)
    .bind(limits.quota)
    .bind(limits.quota_period)
    .bind(to_millis(now))
    .execute(db)
    .await;
    unless_taken(inserted)
}

/// `false` when the new name is taken.
pub(crate) async fn update_plan(
    db: &mut SqliteConnection,
    id: i64,
    name: &str,
    limits: &PlanLimits,
) -> Result<bool> {
    let limits = LimitsRecord::of(limits);
    let updated = sqlx::query(
        "UPDATE plans SET name = ?, rate_per_second = ?, burst = ?, quota = ?, \
         quota_period = ? WHERE id = ?",
    )
    .bind(name)
    .bind(limits.rate_per_second)
    .bind(limits.burst)
    .bind(limits.quota)
    .bind(limits.quota_period)
    .bind(id)
    .execute(db)
    .await;
    unless_taken(updated)
}

pub(crate) async fn delete_plan(db: &mut SqliteConnection, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM plans WHERE id = ?")
        .bind(id)
        .execute(db)
        .await
        .db()?;
    Ok(())
}

/// Two statements, in the caller's transaction: the partial unique index allows one default
/// at a time, so the old one is cleared first. Refused when no plan has the id, which would
/// otherwise leave no default at all (the caller's transaction then rolls back).
pub(crate) async fn set_default_plan(db: &mut SqliteConnection, id: i64) -> Result<()> {
    sqlx::query("UPDATE plans SET is_default = 0 WHERE is_default = 1 AND id <> ?")
        .bind(id)
        .execute(&mut *db)
        .await
        .db()?;
    let made = sqlx::query("UPDATE plans SET is_default = 1 WHERE id = ?")
        .bind(id)
        .execute(db)
        .await
        .db()?;
    if made.rows_affected() == 0 {
        return Err(Error::InvalidInput(
            "That plan no longer exists, so it cannot be the default. Nothing was changed.".into(),
        ));
    }
    Ok(())
}
