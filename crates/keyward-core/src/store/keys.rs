use chrono::{DateTime, Utc};
use serde_json::json;

use super::owners::require_owner;
use super::plans::plan_named;
use super::{count, Store};
use crate::backend::{KeyChange, KeyRecord, ListQueryPlan, ListRequest, NewKeyRecord, WriteTx};
use crate::error::{Error, Result};
use crate::hash;
use crate::models::{
    validate_name, CreatedKey, KeyPage, KeyStatus, KeySummary, KeyUpdate, ListQuery, NewKey,
    RevokeOutcome, Role, Settings,
};
use crate::token::{self, masked};

impl KeyRecord {
    pub(crate) fn into_summary(self, now: DateTime<Utc>) -> KeySummary {
        KeySummary {
            masked: masked(&self.prefix, &self.id, &self.secret_last4),
            status: KeyStatus::derive(now, self.expires_at, self.revoked_at),
            role: Role::parse(&self.role).unwrap_or_default(),
            scopes: self.scopes,
            id: self.id,
            prefix: self.prefix,
            name: self.name,
            owner: self.owner,
            track_usage: self.track_usage,
            created_at: self.created_at,
            created_by: self.created_by,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            plan: self.plan.unwrap_or_default(),
        }
    }
}

/// Refuses scopes that are not in the catalogue; returns them trimmed, sorted, without repeats.
fn checked_scopes(scopes: &[String], settings: &Settings) -> Result<Vec<String>> {
    let mut out: Vec<String> = scopes.iter().map(|s| s.trim().to_owned()).collect();
    if let Some(unknown) = out.iter().find(|s| !settings.scope_catalogue.contains(s)) {
        return Err(Error::InvalidInput(format!(
            "The scope \"{unknown}\" is not in the catalogue. Add it in Settings first."
        )));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A key being edited: as it was (its owner's id too), and what changes.
struct Edit {
    current: KeySummary,
    owner_id: i64,
    now: DateTime<Utc>,
    changes: Changes,
}

/// The `key_updated` audit row's `{field: {from, to}}` for every field that changes.
#[derive(Default)]
struct Changes(serde_json::Map<String, serde_json::Value>);

impl Changes {
    fn note(&mut self, field: &str, from: serde_json::Value, to: serde_json::Value) {
        if from != to {
            self.0
                .insert(field.to_owned(), json!({ "from": from, "to": to }));
        }
    }
}

/// The plan `plan` names, if any: its id for the change (`None` keeps the key's plan).
async fn edit_plan(
    tx: &mut dyn WriteTx,
    edit: &mut Edit,
    plan: Option<&str>,
) -> Result<Option<i64>> {
    let (plan_id, plan) = match plan {
        Some(plan) => {
            let plan = plan_named(tx, plan).await?;
            (Some(plan.id), plan.name)
        }
        None => (None, edit.current.plan.clone()),
    };
    edit.changes
        .note("plan", json!(edit.current.plan), json!(plan));
    Ok(plan_id)
}

impl Store {
    /// Issues a new key. The returned token is the only copy of the secret there will ever be.
    pub async fn create_key(&self, new: NewKey) -> Result<CreatedKey> {
        self.ensure_writable()?;
        let name = validate_name(&new.name)?;
        let now = self.clock.now();
        let expires_at = new.expiry.expires_at(now)?;
        let prefix = self.settings().await?.key_prefix;
        // Ids are random over 62^10: a clash is astronomically rare, but must not be an error.
        for _ in 0..3 {
            let generated = token::generate_token(&prefix, &token::generate_id())?;
            // Hash before taking the write lock: argon2 takes tens of milliseconds and other
            // writers should not wait for it.
            let phc = hash::hash_secret(generated.secret()).await?;
            let mut tx = self.begin_write().await?;
            let row = NewKeyRecord {
                id: generated.id.clone(),
                prefix: generated.prefix().to_owned(),
                name: name.clone(),
                owner_id: 0,
                role: new.role.as_str().to_owned(),
                scopes: Vec::new(),
                track_usage: new.track_usage,
                secret_last4: generated.secret_last4.clone(),
                secret_hash: phc,
                created_at: now,
                created_by: self.actor.clone(),
                expires_at,
                plan_id: 0,
            };
            if self.insert_key(&mut *tx, &new, row).await? {
                tx.commit().await?;
                return Ok(CreatedKey {
                    key: self.get_key(&generated.id).await?,
                    token: generated.token,
                });
            }
        }
        Err(Error::TryAgain(
            "Could not find a free key id after three tries; try again.".into(),
        ))
    }

    /// Checks the owner, scopes, limit and plan of a new key inside the write, then writes it and
    /// its audit row. `false` when its random id is taken (nothing written).
    async fn insert_key(
        &self,
        tx: &mut dyn WriteTx,
        new: &NewKey,
        mut row: NewKeyRecord,
    ) -> Result<bool> {
        let settings = self.settings_in(tx).await?;
        row.scopes = checked_scopes(&new.scopes, &settings)?;
        let (owner_id, owner) = match &new.owner {
            Some(owner) => require_owner(tx, owner).await?,
            // The creator owns keys made without an owner, and becomes an owner on first use.
            None => self.actor_as_owner(tx, row.created_at).await?,
        };
        row.owner_id = owner_id;
        let overridden = self
            .check_owner_limit(tx, owner_id, &owner, row.created_at, new.override_limit)
            .await?;
        let plan = match &new.plan {
            Some(plan) => plan_named(tx, plan).await?,
            None => tx.default_plan().await?,
        };
        row.plan_id = plan.id;
        if !tx.insert_key(&row).await? {
            return Ok(false);
        }
        let mut details = json!({
            "name": row.name, "owner": owner, "role": new.role, "scopes": row.scopes,
            "track_usage": new.track_usage, "expires_at": row.expires_at, "plan": plan.name,
        });
        if overridden {
            details["limit_overridden"] = json!(true);
        }
        self.audit(tx, row.created_at, "key_created", Some(&row.id), details)
            .await?;
        Ok(true)
    }

    /// One page of keys, searched, filtered and sorted by the database.
    pub async fn list_keys(&self, query: &ListQuery) -> Result<KeyPage> {
        let now = self.clock.now();
        let request = ListRequest::new(query, now);
        let listed = self.backend.list_keys(&request).await?;
        // A backend that counted past the cap found more than it reports.
        let total_exact = request.count_limit.is_none_or(|limit| listed.total < limit);
        let total = match request.count_limit {
            Some(limit) if !total_exact => limit - 1,
            _ => listed.total,
        };
        Ok(KeyPage {
            keys: listed
                .keys
                .into_iter()
                .map(|r| r.into_summary(now))
                .collect(),
            total: count(total),
            total_exact,
            offset: query.offset,
        })
    }

    /// How the database runs the queries [`Store::list_keys`] would run, so tests can check that
    /// every sort and filter reads an index rather than the whole table.
    pub async fn list_query_plan(&self, query: &ListQuery) -> Result<ListQueryPlan> {
        self.backend
            .list_query_plan(&ListRequest::new(query, self.clock.now()))
            .await
    }

    pub async fn get_key(&self, id: &str) -> Result<KeySummary> {
        self.backend
            .key(id)
            .await?
            .map(|r| r.into_summary(self.clock.now()))
            .ok_or_else(|| Error::KeyNotFound(id.to_owned()))
    }

    async fn key_in(tx: &mut dyn WriteTx, id: &str) -> Result<KeyRecord> {
        tx.key(id)
            .await?
            .ok_or_else(|| Error::KeyNotFound(id.to_owned()))
    }

    /// Changes a key's name, owner, role, scopes, usage tracking, expiry or plan. The secret and
    /// prefix never change; a revoked key is read-only. Each field is checked in turn (the
    /// owner's limit before the plan), and one `key_updated` audit row lists what changed.
    pub async fn update_key(&self, id: &str, update: KeyUpdate) -> Result<KeySummary> {
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let record = Self::key_in(&mut *tx, id).await?;
        let mut edit = Edit {
            owner_id: record.owner_id,
            current: record.into_summary(now),
            now,
            changes: Changes::default(),
        };
        if edit.current.status == KeyStatus::Revoked {
            return Err(Error::KeyRevoked);
        }
        let mut change = self.edit_fields(&mut *tx, &mut edit, &update).await?;
        let overridden = self
            .edit_owner(&mut *tx, &mut edit, &update, &mut change)
            .await?;
        change.plan_id = edit_plan(&mut *tx, &mut edit, update.plan.as_deref()).await?;
        if edit.changes.0.is_empty() {
            return Ok(edit.current);
        }
        tx.update_key(id, &change).await?;
        let mut details = serde_json::Value::Object(edit.changes.0);
        if overridden {
            details["limit_overridden"] = json!(true);
        }
        self.audit(&mut *tx, now, "key_updated", Some(id), details)
            .await?;
        tx.commit().await?;
        self.get_key(id).await
    }

    /// The key's own fields after `update`: name, role, scopes, usage tracking and expiry; its
    /// owner and plan as they are.
    async fn edit_fields(
        &self,
        tx: &mut dyn WriteTx,
        edit: &mut Edit,
        update: &KeyUpdate,
    ) -> Result<KeyChange> {
        let (current, changes) = (&edit.current, &mut edit.changes);
        let name = match &update.name {
            Some(name) => validate_name(name)?,
            None => current.name.clone(),
        };
        changes.note("name", json!(current.name), json!(name));
        let role = update.role.unwrap_or(current.role);
        changes.note("role", json!(current.role), json!(role));
        let scopes = match &update.scopes {
            Some(scopes) => checked_scopes(scopes, &self.settings_in(tx).await?)?,
            None => current.scopes.clone(),
        };
        changes.note("scopes", json!(current.scopes), json!(scopes));
        let track_usage = update.track_usage.unwrap_or(current.track_usage);
        changes.note(
            "track_usage",
            json!(current.track_usage),
            json!(track_usage),
        );
        let expires_at = match update.expiry {
            Some(expiry) => expiry.expires_at(edit.now)?,
            None => current.expires_at,
        };
        changes.note("expires_at", json!(current.expires_at), json!(expires_at));
        Ok(KeyChange {
            search_text: crate::names::key_search_text(&name, &current.prefix, &current.id),
            name,
            owner_id: edit.owner_id,
            role: role.as_str().to_owned(),
            scopes,
            track_usage,
            expires_at,
            plan_id: None,
        })
    }

    /// Moves the key to `update`'s owner, if it names one. Moving an active key (or reviving an
    /// expired one) counts against the owner's limit: whether it was overridden.
    async fn edit_owner(
        &self,
        tx: &mut dyn WriteTx,
        edit: &mut Edit,
        update: &KeyUpdate,
        change: &mut KeyChange,
    ) -> Result<bool> {
        let (owner_id, owner_name) = match update.owner.as_deref() {
            Some(owner) => require_owner(tx, owner).await?,
            None => (edit.owner_id, edit.current.owner.clone()),
        };
        let moves = owner_id != edit.owner_id;
        let becomes_active = change.expires_at.is_none_or(|at| at > edit.now);
        let was_active = edit.current.status == KeyStatus::Active;
        let mut overridden = false;
        if becomes_active && (moves || !was_active) {
            overridden = self
                .check_owner_limit(tx, owner_id, &owner_name, edit.now, update.override_limit)
                .await?;
        }
        edit.changes
            .note("owner", json!(edit.current.owner), json!(owner_name));
        change.owner_id = owner_id;
        Ok(overridden)
    }

    /// Fails with [`Error::KeyNotFound`] naming the first id that does not exist, so a bulk
    /// action never half-happens.
    async fn require_keys(tx: &mut dyn WriteTx, ids: &[String]) -> Result<Vec<KeyRecord>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.push(Self::key_in(tx, id).await?);
        }
        Ok(found)
    }

    fn dedup(ids: &[String]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .map(|id| id.trim().to_owned())
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }

    /// Revokes keys at once and for good. All or nothing: an unknown id changes nothing.
    pub async fn revoke_keys(&self, ids: &[String]) -> Result<RevokeOutcome> {
        let ids = Self::dedup(ids);
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let mut outcome = RevokeOutcome::default();
        for key in Self::require_keys(&mut *tx, &ids).await? {
            if key.revoked_at.is_some() {
                outcome.already_revoked.push(key.id);
                continue;
            }
            tx.revoke_key(&key.id, now).await?;
            let details = json!({ "name": key.name, "owner": key.owner });
            self.audit(&mut *tx, now, "key_revoked", Some(&key.id), details)
                .await?;
            outcome.revoked.push(key.id);
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Deletes keys permanently; their audit history stays. All or nothing.
    pub async fn delete_keys(&self, ids: &[String]) -> Result<u32> {
        let ids = Self::dedup(ids);
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        for key in Self::require_keys(&mut *tx, &ids).await? {
            tx.delete_key(&key.id).await?;
            let details = json!({ "name": key.name, "owner": key.owner });
            self.audit(&mut *tx, now, "key_deleted", Some(&key.id), details)
                .await?;
        }
        tx.commit().await?;
        Ok(count(i64::try_from(ids.len()).unwrap_or(i64::MAX)))
    }
}
