//! Usage plans: reading them (with how many keys use each), and a transaction's plan writes.

use chrono::{DateTime, Utc};
use keyward_core::backend::{LimitsRecord, PlanRecord};
use keyward_core::{Error, PlanLimits, Result};
use sqlx::{Connection, PgConnection, PgExecutor, PgPool};

use crate::errors::{Address, DbResult, DbResultDoing, Doing, UniqueResult};
use crate::rows::{folded, PlanRow, PLAN_SELECT, PLAN_SELECT_UNCOUNTED};

/// Whether reading a plan locks it until the end of the transaction.
pub(crate) enum Lock {
    No,
    /// Inside a write (see `tx.rs`): keys may still be put on it meanwhile, but a change to the
    /// plan waits, and two changes of one plan cannot both go ahead on what they read.
    Share,
}

impl Lock {
    /// The SELECT, and how it ends. Inside a write the plan is read without its key count.
    fn sql(&self) -> (&'static str, &'static str) {
        match self {
            Self::No => (PLAN_SELECT, ""),
            Self::Share => (PLAN_SELECT_UNCOUNTED, " FOR SHARE OF p"),
        }
    }
}

/// Every plan, by name (as SQLite's NOCASE orders them).
pub(crate) async fn plans(pool: &PgPool, at: &Address) -> Result<Vec<PlanRecord>> {
    let rows: Vec<PlanRow> =
        sqlx::query_as(&format!("{PLAN_SELECT} ORDER BY {}", folded!("p.name")))
            .fetch_all(pool)
            .await
            .db(at)?;
    Ok(rows.into_iter().map(PlanRecord::from).collect())
}

/// The plan called `name`, ASCII letters compared without case (plan names are unique so).
pub(crate) async fn plan<'e>(
    db: impl PgExecutor<'e>,
    at: &Address,
    name: &str,
    lock: Lock,
) -> Result<Option<PlanRecord>> {
    let (select, locking) = lock.sql();
    let row: Option<PlanRow> = sqlx::query_as(&format!(
        "{select} WHERE {} = lower($1::text COLLATE \"C\"){locking}",
        folded!("p.name"),
    ))
    .bind(name)
    .fetch_optional(db)
    .await
    .db(at)?;
    Ok(row.map(PlanRecord::from))
}

/// The plan new keys get, locked `FOR SHARE`. When a change of the default commits while this
/// waits for the old default's row, that row no longer matches and the statement finds nothing;
/// a new statement (a new snapshot) then finds the new default.
pub(crate) async fn default_plan(conn: &mut PgConnection, at: &Address) -> Result<PlanRecord> {
    for _ in 0..3 {
        let (select, locking) = Lock::Share.sql();
        let row: Option<PlanRow> = sqlx::query_as(&format!("{select} WHERE p.is_default{locking}"))
            .fetch_optional(&mut *conn)
            .await
            .db(at)?;
        if let Some(row) = row {
            return Ok(row.into());
        }
    }
    Err(Error::Unavailable(
        "The key database has no default plan, which no Keyward leaves it without. Nothing was \
         changed; make a plan the default again, or restore the database from a dump."
            .into(),
    ))
}

/// How many keys use the plan `id`, for the rules that need it (a plan in use is not deleted).
pub(crate) async fn key_count(conn: &mut PgConnection, at: &Address, id: i64) -> Result<i64> {
    let (keys,): (i64,) = sqlx::query_as("SELECT count(*) FROM api_keys WHERE plan_id = $1")
        .bind(id)
        .fetch_one(conn)
        .await
        .db(at)?;
    Ok(keys)
}

/// `false` when the name is taken (no error: the caller's transaction stays usable).
pub(crate) async fn insert_plan(
    conn: &mut PgConnection,
    at: &Address,
    name: &str,
    limits: &PlanLimits,
    now: DateTime<Utc>,
) -> Result<bool> {
    let limits = LimitsRecord::of(limits);
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO plans (name, rate_per_second, burst, quota, quota_period, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(limits.rate_per_second)
    .bind(limits.burst)
    .bind(limits.quota)
    .bind(limits.quota_period)
    .bind(now)
    .fetch_optional(conn)
    .await
    .db_doing(at, Doing::ChangingPlans)?;
    Ok(inserted.is_some())
}

/// `false` when the new name is taken; under a savepoint, as an UPDATE has no `ON CONFLICT`.
pub(crate) async fn update_plan(
    conn: &mut PgConnection,
    at: &Address,
    id: i64,
    name: &str,
    limits: &PlanLimits,
) -> Result<bool> {
    let limits = LimitsRecord::of(limits);
    let mut savepoint = conn.begin().await.db(at)?;
    let updated = sqlx::query(
        "UPDATE plans SET name = $1, rate_per_second = $2, burst = $3, quota = $4, \
         quota_period = $5 WHERE id = $6",
    )
    .bind(name)
    .bind(limits.rate_per_second)
    .bind(limits.burst)
    .bind(limits.quota)
    .bind(limits.quota_period)
    .bind(id)
    .execute(&mut *savepoint)
    .await
    .unless_taken_doing(at, Doing::ChangingPlans)?;
    match updated {
        Some(_) => savepoint.commit().await.db(at)?,
        None => savepoint.rollback().await.db(at)?,
    }
    Ok(updated.is_some())
}

/// The core refuses first while keys use the plan; the foreign key refuses too, should a key be
/// put on it meanwhile.
pub(crate) async fn delete_plan(conn: &mut PgConnection, at: &Address, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM plans WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .db_doing(at, Doing::ChangingPlans)?;
    Ok(())
}

/// Two statements: the partial unique index allows one default at any moment.
pub(crate) async fn set_default_plan(conn: &mut PgConnection, at: &Address, id: i64) -> Result<()> {
    sqlx::query("UPDATE plans SET is_default = false WHERE is_default AND id <> $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .db_doing(at, Doing::ChangingPlans)?;
    sqlx::query("UPDATE plans SET is_default = true WHERE id = $1 AND NOT is_default")
        .bind(id)
        .execute(conn)
        .await
        .db_doing(at, Doing::ChangingPlans)?;
    Ok(())
}
