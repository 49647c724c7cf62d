//! Usage plans: listing, making, changing and deleting them (each with its audit row), and the
//! quota counters the verify server adds to in batches.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{count, Store};
use crate::backend::{PlanRecord, WriteTx};
use crate::error::{Error, Result};
use crate::names::canonical;
use crate::plans::{validate_limits, NewPlan, Plan, PlanLimits, QuotaUsage};

impl PlanRecord {
    fn into_plan(self) -> Result<Plan> {
        Ok(Plan {
            limits: self.limits.limits()?,
            name: self.name,
            keys: count(self.keys.unwrap_or_default()),
            is_default: self.is_default,
            created_at: self.created_at,
        })
    }
}

fn no_such_plan(name: &str) -> Error {
    Error::InvalidInput(format!(
        "There is no plan named \"{}\". The plans are listed in Settings → Plans in the app, \
         or by keyward-cli plans list. Nothing was changed.",
        canonical(name)
    ))
}

fn plan_taken(name: &str) -> Error {
    Error::InvalidInput(format!(
        "A plan named \"{name}\" already exists; choose another name. Nothing was changed."
    ))
}

/// A plan found by name (compared as names are), inside a write.
pub(crate) async fn plan_named(tx: &mut dyn WriteTx, name: &str) -> Result<PlanRecord> {
    tx.plan(&canonical(name))
        .await?
        .ok_or_else(|| no_such_plan(name))
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
        self.backend
            .plans()
            .await?
            .into_iter()
            .map(PlanRecord::into_plan)
            .collect()
    }

    pub async fn get_plan(&self, name: &str) -> Result<Plan> {
        match self.backend.plan(&canonical(name)).await? {
            Some(plan) => plan.into_plan(),
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
        if !tx.insert_plan(&name, &limits, now).await? {
            return Err(plan_taken(&name));
        }
        let mut details = limits_json(&limits);
        details["name"] = json!(name);
        self.audit(&mut *tx, now, "plan_created", None, details)
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
        let before = plan_named(&mut *tx, name).await?;
        let before_limits = before.limits.limits()?;
        if !tx.update_plan(before.id, &new_name, &limits).await? {
            return Err(plan_taken(&new_name));
        }
        if before.name != new_name || before_limits != limits {
            let details = json!({
                "name": { "from": before.name, "to": new_name },
                "from": limits_json(&before_limits),
                "to": limits_json(&limits),
            });
            self.audit(&mut *tx, now, "plan_updated", None, details)
                .await?;
        }
        tx.commit().await?;
        self.get_plan(&new_name).await
    }

    /// Deletes a plan no key uses and that is not the default.
    pub async fn delete_plan(&self, name: &str) -> Result<()> {
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let plan = plan_named(&mut *tx, name).await?;
        let keys = tx.plan_key_count(plan.id).await?;
        if keys > 0 {
            return Err(Error::InvalidInput(format!(
                "The plan \"{}\" is used by {} key{}; move {} to another plan first. Nothing was \
                 changed.",
                plan.name,
                keys,
                if keys == 1 { "" } else { "s" },
                if keys == 1 { "it" } else { "them" },
            )));
        }
        if plan.is_default {
            return Err(Error::InvalidInput(format!(
                "The plan \"{}\" is the default for new keys; make another plan the default \
                 first. Nothing was changed.",
                plan.name
            )));
        }
        tx.delete_plan(plan.id).await?;
        self.audit(
            &mut *tx,
            now,
            "plan_deleted",
            None,
            json!({ "name": plan.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `name` the plan new keys get.
    pub async fn set_default_plan(&self, name: &str) -> Result<Plan> {
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let to = plan_named(&mut *tx, name).await?;
        let from = tx.default_plan().await?;
        if from.id != to.id {
            tx.set_default_plan(to.id).await?;
            self.audit(
                &mut *tx,
                now,
                "default_plan_changed",
                None,
                json!({ "from": from.name, "to": to.name }),
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
        let Some(found) = self.backend.quota(key_id).await? else {
            return Err(Error::KeyNotFound(key_id.to_owned()));
        };
        let Some(quota) = found.limits.limits()?.quota else {
            return Ok(None);
        };
        let start = quota.per.start_of(now);
        let used = match (found.period_start, found.used) {
            (Some(at), Some(used)) if at == start => u64::try_from(used).unwrap_or(0),
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
        self.ensure_writable()?;
        self.backend.add_quota_usage(counts).await
    }
}
