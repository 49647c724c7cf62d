//! Usage plans in the database: listing, making, changing and deleting them (each with its audit
//! row), and the quota counters the verify server adds to in batches.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::FromRow;

use super::{count, from_millis, to_millis, Store, WriteTx};
use crate::error::{Error, Result};
use crate::names::canonical;
use crate::plans::{validate_limits, NewPlan, Plan, PlanLimits, Quota, QuotaPeriod, QuotaUsage};

/// The columns a plan's limits are read from, as `plan_rate`, `plan_burst`, `plan_quota` and
/// `plan_period` (the key queries select them with these names too).
#[derive(FromRow, Debug, Clone)]
pub(crate) struct LimitsRow {
    plan_rate: Option<i64>,
    plan_burst: Option<i64>,
    plan_quota: Option<i64>,
    plan_period: Option<String>,
}

fn damaged(what: &str) -> Error {
    Error::Unavailable(format!(
        "The key database holds a plan it cannot read ({what}). Nothing was changed; restore \
         the database from a backup, or edit the plan again."
    ))
}

impl LimitsRow {
    /// Fails on numbers or periods no Keyward wrote, rather than guessing.
    pub(crate) fn limits(&self) -> Result<PlanLimits> {
        let small = |n: Option<i64>, what| {
            n.map(|n| u32::try_from(n).map_err(|_| damaged(what)))
                .transpose()
        };
        let quota = match (self.plan_quota, self.plan_period.as_deref()) {
            (None, None) => None,
            (Some(limit), Some(period)) => Some(Quota {
                limit: u64::try_from(limit).map_err(|_| damaged("a negative quota"))?,
                per: QuotaPeriod::parse(period).ok_or_else(|| damaged("an unknown period"))?,
            }),
            _ => return Err(damaged("a quota without its period")),
        };
        Ok(PlanLimits {
            rate_per_second: small(self.plan_rate, "a rate out of range")?,
            burst: small(self.plan_burst, "a burst out of range")?,
            quota,
        })
    }
}

#[derive(FromRow)]
struct PlanRow {
    name: String,
    #[sqlx(flatten)]
    limits: LimitsRow,
    is_default: bool,
    created_at: i64,
    keys: i64,
}

impl PlanRow {
    fn into_plan(self) -> Result<Plan> {
        Ok(Plan {
            limits: self.limits.limits()?,
            name: self.name,
            keys: count(self.keys),
            is_default: self.is_default,
            created_at: from_millis(self.created_at),
        })
    }
}

const PLAN_SELECT: &str = "SELECT p.name, p.rate_per_second AS plan_rate, p.burst AS plan_burst, \
     p.quota AS plan_quota, p.quota_period AS plan_period, p.is_default, p.created_at, \
     (SELECT COUNT(*) FROM api_keys k WHERE k.plan_id = p.id) AS keys FROM plans p";

/// A plan found by name (compared as names are), inside a write: its id and its name as stored.
pub(crate) async fn plan_named(tx: &mut WriteTx, name: &str) -> Result<(i64, String)> {
    let found: Option<(i64, String)> = sqlx::query_as("SELECT id, name FROM plans WHERE name = ?")
        .bind(canonical(name))
        .fetch_optional(&mut **tx)
        .await?;
    found.ok_or_else(|| {
        Error::InvalidInput(format!(
            "There is no plan named \"{}\". The plans are listed in Settings → Plans in the \
             app, or by keyward-cli plans list. Nothing was changed.",
            canonical(name)
        ))
    })
}

/// The plan new keys get: its id and name.
pub(crate) async fn default_plan(tx: &mut WriteTx) -> Result<(i64, String)> {
    Ok(
        sqlx::query_as("SELECT id, name FROM plans WHERE is_default = 1")
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// A plan's name: the same rules as key and owner names.
fn plan_name(raw: &str) -> Result<String> {
    crate::models::validate_name(raw).map_err(|e| match e {
        Error::InvalidInput(message) => Error::InvalidInput(message.replace("the key", "the plan")),
        other => other,
    })
}

fn limits_json(limits: &PlanLimits) -> serde_json::Value {
    json!({
        "rate_per_second": limits.rate_per_second,
        "burst": limits.burst,
        "quota": limits.quota,
    })
}

impl Store {
    /// Every plan with how many keys use it, by name.
    pub async fn list_plans(&self) -> Result<Vec<Plan>> {
        let rows: Vec<PlanRow> =
            sqlx::query_as(&format!("{PLAN_SELECT} ORDER BY p.name COLLATE NOCASE"))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(PlanRow::into_plan).collect()
    }

    pub async fn get_plan(&self, name: &str) -> Result<Plan> {
        let row: Option<PlanRow> = sqlx::query_as(&format!("{PLAN_SELECT} WHERE p.name = ?"))
            .bind(canonical(name))
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => row.into_plan(),
            None => Err(Error::InvalidInput(format!(
                "There is no plan named \"{}\".",
                canonical(name)
            ))),
        }
    }

    /// Makes a plan; its name must be new.
    pub async fn create_plan(&self, new: NewPlan) -> Result<Plan> {
        let name = plan_name(&new.name)?;
        let limits = validate_limits(&new.limits)?;
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO plans (name, rate_per_second, burst, quota, quota_period, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&name)
        .bind(limits.rate_per_second)
        .bind(limits.burst)
        .bind(limits.quota.map(|q| q.limit as i64))
        .bind(limits.quota.map(|q| q.per.as_str()))
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::InvalidInput(format!(
                    "A plan named \"{name}\" already exists; choose another name. Nothing was \
                     changed."
                )))
            }
            other => other?,
        };
        let mut details = limits_json(&limits);
        details["name"] = json!(name);
        self.audit(&mut tx, now, "plan_created", None, details)
            .await?;
        tx.commit().await?;
        self.get_plan(&name).await
    }

    /// Changes a plan's name and limits. Keys on it follow at once: the verify server reads
    /// the plan with the key on every check.
    pub async fn update_plan(&self, name: &str, changed: NewPlan) -> Result<Plan> {
        let new_name = plan_name(&changed.name)?;
        let limits = validate_limits(&changed.limits)?;
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let (id, _) = plan_named(&mut tx, name).await?;
        let before: PlanRow = sqlx::query_as(&format!("{PLAN_SELECT} WHERE p.id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let before_limits = before.limits.limits()?;
        let updated = sqlx::query(
            "UPDATE plans SET name = ?, rate_per_second = ?, burst = ?, quota = ?, \
             quota_period = ? WHERE id = ?",
        )
        .bind(&new_name)
        .bind(limits.rate_per_second)
        .bind(limits.burst)
        .bind(limits.quota.map(|q| q.limit as i64))
        .bind(limits.quota.map(|q| q.per.as_str()))
        .bind(id)
        .execute(&mut *tx)
        .await;
        match updated {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::InvalidInput(format!(
                    "A plan named \"{new_name}\" already exists; choose another name. Nothing \
                     was changed."
                )))
            }
            other => other?,
        };
        if before.name != new_name || before_limits != limits {
            let details = json!({
                "name": { "from": before.name, "to": new_name },
                "from": limits_json(&before_limits),
                "to": limits_json(&limits),
            });
            self.audit(&mut tx, now, "plan_updated", None, details)
                .await?;
        }
        tx.commit().await?;
        self.get_plan(&new_name).await
    }

    /// Deletes a plan no key uses and that is not the default.
    pub async fn delete_plan(&self, name: &str) -> Result<()> {
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let (id, _) = plan_named(&mut tx, name).await?;
        let row: PlanRow = sqlx::query_as(&format!("{PLAN_SELECT} WHERE p.id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if row.keys > 0 {
            return Err(Error::InvalidInput(format!(
                "The plan \"{}\" is used by {} key{}; move {} to another plan first. Nothing was \
                 changed.",
                row.name,
                row.keys,
                if row.keys == 1 { "" } else { "s" },
                if row.keys == 1 { "it" } else { "them" },
            )));
        }
        if row.is_default {
            return Err(Error::InvalidInput(format!(
                "The plan \"{}\" is the default for new keys; make another plan the default \
                 first. Nothing was changed.",
                row.name
            )));
        }
        sqlx::query("DELETE FROM plans WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.audit(
            &mut tx,
            now,
            "plan_deleted",
            None,
            json!({ "name": row.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `name` the plan new keys get.
    pub async fn set_default_plan(&self, name: &str) -> Result<Plan> {
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let (id, to) = plan_named(&mut tx, name).await?;
        let (before, from) = default_plan(&mut tx).await?;
        if before != id {
            // Two statements, one transaction: the partial unique index allows one default.
            sqlx::query("UPDATE plans SET is_default = 0 WHERE is_default = 1")
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE plans SET is_default = 1 WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            self.audit(
                &mut tx,
                now,
                "default_plan_changed",
                None,
                json!({ "from": from, "to": to }),
            )
            .await?;
        }
        tx.commit().await?;
        self.get_plan(name).await
    }

    /// How much of its quota a key has used in the period holding now, or `None` when its plan
    /// has no quota.
    pub async fn quota_usage(&self, key_id: &str) -> Result<Option<QuotaUsage>> {
        let now = self.clock.now();
        let found: Option<QuotaRow> = sqlx::query_as(
            "SELECT p.rate_per_second AS plan_rate, p.burst AS plan_burst, \
             p.quota AS plan_quota, p.quota_period AS plan_period, \
             u.period_start, u.used \
             FROM api_keys k JOIN plans p ON p.id = k.plan_id \
             LEFT JOIN quota_usage u ON u.key_id = k.id WHERE k.id = ?",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(found) = found else {
            return Err(Error::KeyNotFound(key_id.to_owned()));
        };
        let Some(quota) = found.limits.limits()?.quota else {
            return Ok(None);
        };
        let start = quota.per.start_of(now);
        let used = match (found.period_start, found.used) {
            (Some(at), Some(used)) if at == to_millis(start) => u64::try_from(used).unwrap_or(0),
            _ => 0,
        };
        Ok(Some(QuotaUsage {
            used,
            limit: quota.limit,
            per: quota.per,
            resets_at: quota.per.next_start(now),
        }))
    }

    /// Adds checks to keys' quota counters in one transaction: for each key, `used` more in the
    /// period that began at `period_start`. A count for an older period than the one stored is
    /// dropped (that period is over); a newer period starts again from this count. Keys deleted
    /// meanwhile are skipped. Returns each key's count after the write, to correct what a
    /// server holds in memory.
    pub async fn add_quota_usage(
        &self,
        counts: &[(String, DateTime<Utc>, u64)],
    ) -> Result<Vec<(String, DateTime<Utc>, u64)>> {
        if counts.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut after = Vec::with_capacity(counts.len());
        for (key_id, period_start, used) in counts {
            let start = to_millis(*period_start);
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
            .bind(start)
            .bind(added)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((at, used)) = total {
                after.push((
                    key_id.clone(),
                    from_millis(at),
                    u64::try_from(used).unwrap_or(0),
                ));
            }
        }
        tx.commit().await?;
        Ok(after)
    }
}

#[derive(FromRow)]
struct QuotaRow {
    #[sqlx(flatten)]
    limits: LimitsRow,
    period_start: Option<i64>,
    used: Option<i64>,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Duration;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::models::{ExpiryChoice, NewKey};
    use crate::plans::UNLIMITED_PLAN;
    use crate::store::StoreOptions;

    async fn fresh() -> (tempfile::TempDir, Store, ManualClock) {
        let dir = tempfile::tempdir().expect("temp dir");
        // A Sunday afternoon: the week ends at midnight.
        let clock = ManualClock::new(
            DateTime::parse_from_rfc3339("2026-11-29T15:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
        );
        let options = StoreOptions {
            clock: Arc::new(clock.clone()),
            actor: "admin".into(),
        };
        let store = Store::open_with(&dir.path().join("k.db"), options)
            .await
            .expect("open");
        (dir, store, clock)
    }

    /// The key a valid token stands for, as `verify` reports it.
    async fn verified(
        store: &Store,
        token: &crate::secret::SecretToken,
    ) -> crate::models::VerifiedKey {
        match store.verify(token, &[]).await.expect("verify") {
            crate::models::Verdict::Valid { key } => key,
            other => panic!("not valid: {other:?}"),
        }
    }

    fn limited(name: &str, rate: u32, burst: u32, quota: u64, per: QuotaPeriod) -> NewPlan {
        NewPlan {
            name: name.into(),
            limits: PlanLimits {
                rate_per_second: Some(rate),
                burst: Some(burst),
                quota: Some(Quota { limit: quota, per }),
            },
        }
    }

    #[tokio::test]
    async fn unlimited_exists_and_plans_are_made_changed_and_deleted_with_audit_rows() {
        let (_dir, store, _clock) = fresh().await;
        let plans = store.list_plans().await.expect("list");
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].name, UNLIMITED_PLAN);
        assert!(plans[0].is_default);
        assert_eq!(plans[0].limits.rate_per_second, None);

        let pro = store
            .create_plan(limited("Pro", 10, 20, 1000, QuotaPeriod::Day))
            .await
            .expect("create");
        assert_eq!(pro.limits.burst, Some(20));
        let again = store
            .create_plan(limited("pro", 1, 1, 1, QuotaPeriod::Day))
            .await
            .expect_err("names are unique, whatever their case");
        assert!(again.to_string().contains("already exists"), "{again}");

        let renamed = store
            .update_plan("Pro", limited("Team", 5, 5, 50, QuotaPeriod::Week))
            .await
            .expect("update");
        assert_eq!(renamed.name, "Team");
        assert_eq!(
            renamed.limits.quota,
            Some(Quota {
                limit: 50,
                per: QuotaPeriod::Week
            })
        );
        store.set_default_plan("Team").await.expect("default");
        let refused = store.delete_plan("Team").await.expect_err("default");
        assert!(refused.to_string().contains("default"), "{refused}");
        store
            .set_default_plan(UNLIMITED_PLAN)
            .await
            .expect("default back");
        store.delete_plan("Team").await.expect("delete");
        assert_eq!(store.list_plans().await.expect("list").len(), 1);

        let actions: Vec<String> = store
            .audit_events(None)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                "plan_created",
                "plan_updated",
                "default_plan_changed",
                "default_plan_changed",
                "plan_deleted"
            ]
        );
    }

    #[tokio::test]
    async fn a_keys_plan_is_chosen_changed_audited_and_read_with_every_check() {
        let (_dir, store, _clock) = fresh().await;
        store
            .create_plan(limited("Metered", 5, 10, 100, QuotaPeriod::Month))
            .await
            .expect("plan");
        let default = store
            .create_key(NewKey::named("default").expiring(ExpiryChoice::Never))
            .await
            .expect("key");
        assert_eq!(default.key.plan, UNLIMITED_PLAN);
        let metered = store
            .create_key(NewKey {
                plan: Some("metered".into()),
                ..NewKey::named("metered").expiring(ExpiryChoice::Never)
            })
            .await
            .expect("key");
        assert_eq!(metered.key.plan, "Metered");
        let unknown = store
            .create_key(NewKey {
                plan: Some("Gold".into()),
                ..NewKey::named("nope")
            })
            .await
            .expect_err("no such plan");
        assert!(unknown.to_string().contains("no plan named"), "{unknown}");

        let key = verified(&store, &metered.token).await;
        assert_eq!((key.plan.as_str(), key.limits.burst), ("Metered", Some(10)));

        // Moved to Unlimited: the next check reads the new plan.
        let moved = store
            .update_key(
                &metered.key.id,
                crate::models::KeyUpdate {
                    plan: Some(UNLIMITED_PLAN.into()),
                    ..Default::default()
                },
            )
            .await
            .expect("update");
        assert_eq!(moved.plan, UNLIMITED_PLAN);
        assert_eq!(
            verified(&store, &metered.token)
                .await
                .limits
                .rate_per_second,
            None
        );
        let last = store
            .audit_events(Some(&metered.key.id))
            .await
            .expect("audit")
            .pop()
            .expect("an event");
        assert_eq!(last.action, "key_updated");
        assert!(last.details.contains("Metered"), "{}", last.details);
        assert_eq!(
            store.get_plan("Metered").await.expect("plan").keys,
            0,
            "no key is on it now"
        );
    }

    #[tokio::test]
    async fn bad_limits_and_unknown_plans_change_nothing() {
        let (_dir, store, _clock) = fresh().await;
        for bad in [
            limited("Zero rate", 0, 1, 1, QuotaPeriod::Day),
            limited("Huge burst", 1, u32::MAX, 1, QuotaPeriod::Day),
            limited("No quota", 1, 1, 0, QuotaPeriod::Day),
            limited("", 1, 1, 1, QuotaPeriod::Day),
        ] {
            assert!(store.create_plan(bad).await.is_err());
        }
        assert!(store.delete_plan("nope").await.is_err());
        assert!(store.set_default_plan("nope").await.is_err());
        assert_eq!(store.list_plans().await.expect("list").len(), 1);
        assert!(store.audit_events(None).await.expect("audit").is_empty());
    }

    #[tokio::test]
    async fn quota_counts_add_up_within_a_period_and_start_again_in_the_next() {
        let (_dir, store, clock) = fresh().await;
        store
            .create_plan(limited("Weekly", 100, 100, 10, QuotaPeriod::Week))
            .await
            .expect("plan");
        let key = store
            .create_key(NewKey::named("svc").expiring(ExpiryChoice::Never))
            .await
            .expect("key");
        let id = key.key.id.clone();
        // Unlimited: no quota to show.
        assert_eq!(store.quota_usage(&id).await.expect("usage"), None);
        sqlx::query("UPDATE api_keys SET plan_id = (SELECT id FROM plans WHERE name = 'Weekly')")
            .execute(&store.pool)
            .await
            .expect("move");

        let week = QuotaPeriod::Week.start_of(clock.now());
        let after = store
            .add_quota_usage(&[(id.clone(), week, 3), (id.clone(), week, 4)])
            .await
            .expect("add");
        assert_eq!(after.last().map(|a| a.2), Some(7));
        let usage = store.quota_usage(&id).await.expect("usage").expect("quota");
        assert_eq!((usage.used, usage.limit), (7, 10));
        assert_eq!(usage.resets_at, QuotaPeriod::Week.next_start(clock.now()));

        // A late batch for a period that is over is dropped; Monday starts from 0.
        clock.advance(Duration::hours(9));
        assert_eq!(
            store
                .quota_usage(&id)
                .await
                .expect("usage")
                .expect("quota")
                .used,
            0
        );
        let next = QuotaPeriod::Week.start_of(clock.now());
        store
            .add_quota_usage(&[(id.clone(), next, 2)])
            .await
            .expect("add");
        store
            .add_quota_usage(&[(id.clone(), week, 5)])
            .await
            .expect("late");
        assert_eq!(
            store
                .quota_usage(&id)
                .await
                .expect("usage")
                .expect("quota")
                .used,
            2
        );

        // Counts for a deleted key are skipped, and its counter goes with it.
        store
            .delete_keys(std::slice::from_ref(&id))
            .await
            .expect("delete");
        let after = store
            .add_quota_usage(&[(id.clone(), next, 1)])
            .await
            .expect("add");
        assert!(after.is_empty());
    }
}
