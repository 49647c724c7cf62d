use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::sqlite::SqliteArguments;
use sqlx::FromRow;

use super::owners::owner_id;
use super::{count, from_millis, is_unique_violation, to_millis, Store, WriteTx};
use crate::error::{Error, Result};
use crate::hash;
use crate::models::{
    validate_name, CreatedKey, KeyPage, KeyStatus, KeySummary, KeyUpdate, ListQuery, NewKey,
    RevokeOutcome, Role, Settings, SortColumn, MAX_PAGE_SIZE,
};
use crate::token::{self, masked};

const DEFAULT_PAGE_SIZE: u32 = 50;

#[derive(FromRow)]
pub(crate) struct KeyRow {
    pub id: String,
    prefix: String,
    pub name: String,
    pub owner: String,
    role: String,
    scopes: String,
    track_usage: bool,
    secret_last4: String,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

pub(crate) const KEY_SELECT: &str = "SELECT k.id, k.prefix, k.name, o.name AS owner, k.role, \
     k.scopes, k.track_usage, k.secret_last4, k.created_at, k.created_by, k.expires_at, \
     k.revoked_at, k.last_used_at FROM api_keys k JOIN owners o ON o.id = k.owner_id";

/// The status of a row in SQL, so that filtering and sorting by status happen in the query.
const STATUS_SQL: &str = "CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked' \
     WHEN k.expires_at IS NOT NULL AND k.expires_at <= ?1 THEN 'expired' ELSE 'active' END";

pub(crate) fn parse_scopes(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl KeyRow {
    pub(crate) fn into_summary(self, now: DateTime<Utc>) -> KeySummary {
        let expires_at = self.expires_at.map(from_millis);
        let revoked_at = self.revoked_at.map(from_millis);
        KeySummary {
            masked: masked(&self.prefix, &self.id, &self.secret_last4),
            status: KeyStatus::derive(now, expires_at, revoked_at),
            role: Role::parse(&self.role).unwrap_or_default(),
            scopes: parse_scopes(&self.scopes),
            id: self.id,
            prefix: self.prefix,
            name: self.name,
            owner: self.owner,
            track_usage: self.track_usage,
            created_at: from_millis(self.created_at),
            created_by: self.created_by,
            expires_at,
            revoked_at,
            last_used_at: self.last_used_at.map(from_millis),
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

/// The list's search and filters as SQL parameters ?1–?6, bound the same way for a page and for
/// its total count.
struct ListFilter {
    now: i64,
    pattern: Option<String>,
    status: Option<&'static str>,
    owner: Option<String>,
    role: Option<&'static str>,
    expires_before: Option<i64>,
}

type SqliteQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Sqlite, O, SqliteArguments<'q>>;

impl ListFilter {
    fn where_sql() -> String {
        format!(
            "WHERE (?2 IS NULL OR k.name LIKE ?2 ESCAPE '\\' \
                    OR (k.prefix || '_' || k.id) LIKE ?2 ESCAPE '\\') \
             AND (?3 IS NULL OR {STATUS_SQL} = ?3) \
             AND (?4 IS NULL OR o.name = ?4 COLLATE NOCASE) \
             AND (?5 IS NULL OR k.role = ?5) \
             AND (?6 IS NULL OR (k.revoked_at IS NULL AND k.expires_at > ?1 AND k.expires_at <= ?6))"
        )
    }

    fn new(query: &ListQuery, now: DateTime<Utc>) -> Self {
        // The search text is matched literally: LIKE's wildcards in it are escaped.
        let pattern = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let escaped = s
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("%{escaped}%")
            });
        Self {
            now: to_millis(now),
            pattern,
            status: query.status.map(KeyStatus::as_str),
            owner: query.owner.as_deref().map(|o| o.trim().to_owned()),
            role: query.role.map(Role::as_str),
            expires_before: query
                .expiring_within_days
                .map(|days| to_millis(now + Duration::days(i64::from(days)))),
        }
    }

    fn bind<'q, O>(&'q self, query: SqliteQueryAs<'q, O>) -> SqliteQueryAs<'q, O> {
        query
            .bind(self.now)
            .bind(self.pattern.as_deref())
            .bind(self.status)
            .bind(self.owner.as_deref())
            .bind(self.role)
            .bind(self.expires_before)
    }
}

fn order_by(sort: SortColumn, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let column = match sort {
        SortColumn::Created => "k.created_at",
        SortColumn::Name => "k.name COLLATE NOCASE",
        SortColumn::Owner => "o.name COLLATE NOCASE",
        SortColumn::Role => "k.role",
        SortColumn::Status => STATUS_SQL,
        // Keys that never expire sort after every date, whichever the direction.
        SortColumn::Expires => "COALESCE(k.expires_at, 9223372036854775807)",
        SortColumn::LastUsed => "COALESCE(k.last_used_at, 0)",
    };
    format!("ORDER BY {column} {dir}, k.created_at {dir}, k.id {dir}")
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
            match self
                .insert_key(&mut tx, &new, &generated, &name, now, expires_at, &phc)
                .await
            {
                Err(Error::Database(e)) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    tx.commit().await?;
                    return Ok(CreatedKey {
                        key: self.get_key(&generated.id).await?,
                        token: generated.token,
                    });
                }
            }
        }
        Err(Error::TryAgain(
            "Could not find a free key id after three tries; try again.".into(),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_key(
        &self,
        tx: &mut WriteTx,
        new: &NewKey,
        generated: &token::GeneratedToken,
        name: &str,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        phc: &str,
    ) -> Result<()> {
        let settings = self.settings_in(tx).await?;
        let scopes = checked_scopes(&new.scopes, &settings)?;
        let (owner_id, owner) = match &new.owner {
            Some(owner) => (owner_id(tx, owner).await?, owner.trim().to_owned()),
            // The creator owns keys made without an owner, and becomes an owner on first use.
            None => match owner_id(tx, &self.actor).await {
                Ok(id) => (id, self.actor.clone()),
                Err(Error::OwnerNotFound(_)) => (
                    self.insert_owner(tx, &self.actor, now).await?,
                    self.actor.clone(),
                ),
                Err(e) => return Err(e),
            },
        };
        let overridden = self
            .check_owner_limit(tx, owner_id, &owner, now, new.override_limit)
            .await?;
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, name, owner_id, role, scopes, track_usage, \
             secret_last4, secret_hash, created_at, created_by, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&generated.id)
        .bind(generated.prefix())
        .bind(name)
        .bind(owner_id)
        .bind(new.role.as_str())
        .bind(json!(scopes).to_string())
        .bind(new.track_usage)
        .bind(&generated.secret_last4)
        .bind(phc)
        .bind(to_millis(now))
        .bind(&self.actor)
        .bind(expires_at.map(to_millis))
        .execute(&mut **tx)
        .await?;
        let mut details = json!({
            "name": name, "owner": owner, "role": new.role, "scopes": scopes,
            "track_usage": new.track_usage, "expires_at": expires_at,
        });
        if overridden {
            details["limit_overridden"] = json!(true);
        }
        self.audit(tx, now, "key_created", Some(&generated.id), details)
            .await
    }

    /// One page of keys, searched, filtered and sorted in SQL.
    pub async fn list_keys(&self, query: &ListQuery) -> Result<KeyPage> {
        let now = self.clock.now();
        let limit = match query.limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let filter = ListFilter::new(query, now);
        let rows: Vec<KeyRow> = filter
            .bind(sqlx::query_as(&format!(
                "{KEY_SELECT} {} {} LIMIT ?7 OFFSET ?8",
                ListFilter::where_sql(),
                order_by(query.sort, query.descending)
            )))
            .bind(limit)
            .bind(query.offset)
            .fetch_all(&self.pool)
            .await?;
        let (total,): (i64,) = filter
            .bind(sqlx::query_as(&format!(
                "SELECT COUNT(*) FROM api_keys k JOIN owners o ON o.id = k.owner_id {}",
                ListFilter::where_sql()
            )))
            .fetch_one(&self.pool)
            .await?;
        Ok(KeyPage {
            keys: rows.into_iter().map(|r| r.into_summary(now)).collect(),
            total: count(total),
            offset: query.offset,
        })
    }

    pub async fn get_key(&self, id: &str) -> Result<KeySummary> {
        let row: Option<KeyRow> = sqlx::query_as(&format!("{KEY_SELECT} WHERE k.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.into_summary(self.clock.now()))
            .ok_or_else(|| Error::KeyNotFound(id.to_owned()))
    }

    async fn key_in(tx: &mut WriteTx, id: &str) -> Result<KeyRow> {
        let row: Option<KeyRow> = sqlx::query_as(&format!("{KEY_SELECT} WHERE k.id = ?"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.ok_or_else(|| Error::KeyNotFound(id.to_owned()))
    }

    /// Changes a key's name, owner, role, scopes, usage tracking or expiry. The secret and prefix
    /// never change; a revoked key is read-only.
    pub async fn update_key(&self, id: &str, update: KeyUpdate) -> Result<KeySummary> {
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let current = Self::key_in(&mut tx, id).await?.into_summary(now);
        if current.status == KeyStatus::Revoked {
            return Err(Error::KeyRevoked);
        }
        let mut changes = serde_json::Map::new();
        let mut change = |field: &str, from: serde_json::Value, to: serde_json::Value| {
            if from != to {
                changes.insert(field.to_owned(), json!({ "from": from, "to": to }));
            }
        };
        let name = match &update.name {
            Some(name) => validate_name(name)?,
            None => current.name.clone(),
        };
        change("name", json!(current.name), json!(name));
        let role = update.role.unwrap_or(current.role);
        change("role", json!(current.role), json!(role));
        let scopes = match &update.scopes {
            Some(scopes) => checked_scopes(scopes, &self.settings_in(&mut tx).await?)?,
            None => current.scopes.clone(),
        };
        change("scopes", json!(current.scopes), json!(scopes));
        let track_usage = update.track_usage.unwrap_or(current.track_usage);
        change(
            "track_usage",
            json!(current.track_usage),
            json!(track_usage),
        );
        let expires_at = match update.expiry {
            Some(expiry) => expiry.expires_at(now)?,
            None => current.expires_at,
        };
        change("expires_at", json!(current.expires_at), json!(expires_at));

        let owner = update
            .owner
            .as_deref()
            .map(str::trim)
            .unwrap_or(&current.owner)
            .to_owned();
        let new_owner_id = owner_id(&mut tx, &owner).await?;
        let moves = !owner.eq_ignore_ascii_case(&current.owner);
        let mut overridden = false;
        // Moving an active key (or reviving an expired one) counts against the limit.
        let becomes_active = expires_at.is_none_or(|at| at > now);
        let was_active = current.status == KeyStatus::Active;
        if becomes_active && (moves || !was_active) {
            overridden = self
                .check_owner_limit(&mut tx, new_owner_id, &owner, now, update.override_limit)
                .await?;
        }
        let owner_name: Option<(String,)> = sqlx::query_as("SELECT name FROM owners WHERE id = ?")
            .bind(new_owner_id)
            .fetch_optional(&mut *tx)
            .await?;
        let owner_name = owner_name.map(|(n,)| n).unwrap_or(owner);
        change("owner", json!(current.owner), json!(owner_name));

        if changes.is_empty() {
            return Ok(current);
        }
        sqlx::query(
            "UPDATE api_keys SET name = ?, owner_id = ?, role = ?, scopes = ?, track_usage = ?, \
             expires_at = ? WHERE id = ?",
        )
        .bind(&name)
        .bind(new_owner_id)
        .bind(role.as_str())
        .bind(json!(scopes).to_string())
        .bind(track_usage)
        .bind(expires_at.map(to_millis))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let mut details = serde_json::Value::Object(changes);
        if overridden {
            details["limit_overridden"] = json!(true);
        }
        self.audit(&mut tx, now, "key_updated", Some(id), details)
            .await?;
        tx.commit().await?;
        self.get_key(id).await
    }

    /// Fails with [`Error::KeyNotFound`] naming the first id that does not exist, so a bulk
    /// action never half-happens.
    async fn require_keys(tx: &mut WriteTx, ids: &[String]) -> Result<Vec<KeyRow>> {
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
        for key in Self::require_keys(&mut tx, &ids).await? {
            if key.revoked_at.is_some() {
                outcome.already_revoked.push(key.id);
                continue;
            }
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(to_millis(now))
                .bind(&key.id)
                .execute(&mut *tx)
                .await?;
            let details = json!({ "name": key.name, "owner": key.owner });
            self.audit(&mut tx, now, "key_revoked", Some(&key.id), details)
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
        for key in Self::require_keys(&mut tx, &ids).await? {
            sqlx::query("DELETE FROM api_keys WHERE id = ?")
                .bind(&key.id)
                .execute(&mut *tx)
                .await?;
            let details = json!({ "name": key.name, "owner": key.owner });
            self.audit(&mut tx, now, "key_deleted", Some(&key.id), details)
                .await?;
        }
        tx.commit().await?;
        Ok(count(i64::try_from(ids.len()).unwrap_or(i64::MAX)))
    }
}
