use chrono::DateTime;
use serde_json::json;
use sqlx::FromRow;

use super::{count, from_millis, to_millis, Store, WriteTx};
use crate::error::{Error, Result};
use crate::models::{validate_owner_name, Owner};
use crate::names::canonical;

#[derive(FromRow)]
struct OwnerRow {
    name: String,
    created_at: i64,
    active_keys: i64,
    total_keys: i64,
}

/// Active means neither revoked nor expired at `?1`.
pub(crate) const ACTIVE_SQL: &str =
    "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)";

impl Store {
    /// Every owner with their key counts, by name.
    pub async fn list_owners(&self) -> Result<Vec<Owner>> {
        let rows: Vec<OwnerRow> = sqlx::query_as(&format!(
            "SELECT o.name, o.created_at, \
               (SELECT COUNT(*) FROM api_keys k WHERE k.owner_id = o.id AND {ACTIVE_SQL}) AS active_keys, \
               (SELECT COUNT(*) FROM api_keys k WHERE k.owner_id = o.id) AS total_keys \
             FROM owners o ORDER BY o.name COLLATE NOCASE"
        ))
        .bind(to_millis(self.clock.now()))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Owner {
                name: r.name,
                created_at: from_millis(r.created_at),
                active_keys: count(r.active_keys),
                total_keys: count(r.total_keys),
            })
            .collect())
    }

    /// The owner called `name`, however its accents were composed (see [`owner_by_name!`]).
    pub async fn get_owner(&self, name: &str) -> Result<Owner> {
        let wanted = canonical(name);
        let owners = self.list_owners().await?;
        let position = owners
            .iter()
            .position(|o| o.name.eq_ignore_ascii_case(&wanted))
            .or_else(|| {
                owners
                    .iter()
                    .position(|o| o.name.eq_ignore_ascii_case(name.trim()))
            });
        position
            .map(|at| owners[at].clone())
            .ok_or(Error::OwnerNotFound(wanted))
    }

    pub async fn create_owner(&self, name: &str) -> Result<Owner> {
        let name = validate_owner_name(name)?;
        let mut tx = self.begin_write().await?;
        self.insert_owner(&mut tx, &name, self.clock.now()).await?;
        tx.commit().await?;
        self.get_owner(&name).await
    }

    /// Adds an owner inside a transaction and audits it at `now` (the time of the change that
    /// needs it); refuses a name already taken.
    pub(crate) async fn insert_owner(
        &self,
        tx: &mut WriteTx,
        name: &str,
        now: DateTime<chrono::Utc>,
    ) -> Result<i64> {
        // Validated names are canonical already; the operating-system user may not be.
        let name = canonical(name);
        let inserted = sqlx::query("INSERT INTO owners (name, created_at) VALUES (?, ?)")
            .bind(&name)
            .bind(to_millis(now))
            .execute(&mut **tx)
            .await;
        let id = match inserted {
            Ok(done) => done.last_insert_rowid(),
            Err(e) if super::is_unique_violation(&e) => {
                return Err(Error::InvalidInput(format!(
                    "An owner named \"{name}\" already exists."
                )))
            }
            Err(e) => return Err(e.into()),
        };
        self.audit(tx, now, "owner_created", None, json!({ "owner": name }))
            .await?;
        Ok(id)
    }

    pub async fn rename_owner(&self, from: &str, to: &str) -> Result<Owner> {
        let to = validate_owner_name(to)?;
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let (id, from) = find_owner(&mut tx, from).await?;
        let renamed = sqlx::query("UPDATE owners SET name = ? WHERE id = ?")
            .bind(&to)
            .bind(id)
            .execute(&mut *tx)
            .await;
        match renamed {
            Err(e) if super::is_unique_violation(&e) => {
                return Err(Error::InvalidInput(format!(
                    "An owner named \"{to}\" already exists."
                )))
            }
            other => other?,
        };
        self.audit(
            &mut tx,
            now,
            "owner_renamed",
            None,
            json!({ "from": from, "to": to }),
        )
        .await?;
        tx.commit().await?;
        self.get_owner(&to).await
    }

    /// Counts `owner_id`'s active keys and refuses when they are at the limit, unless overridden.
    /// Runs inside the writing transaction, so two processes cannot both pass it.
    pub(crate) async fn check_owner_limit(
        &self,
        tx: &mut WriteTx,
        owner_id: i64,
        owner_name: &str,
        now: DateTime<chrono::Utc>,
        override_limit: bool,
    ) -> Result<bool> {
        let limit = self.settings_in(tx).await?.owner_key_limit;
        let (active,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE owner_id = ?2 AND {ACTIVE_SQL}"
        ))
        .bind(to_millis(now))
        .bind(owner_id)
        .fetch_one(&mut **tx)
        .await?;
        let at_limit = count(active) >= limit;
        if at_limit && !override_limit {
            return Err(Error::LimitReached {
                owner: owner_name.to_owned(),
                active: count(active),
                limit,
            });
        }
        Ok(at_limit)
    }
}

/// The tail of a query for the owner called `?`, given the [`owner_by_name_args`]: names are
/// matched in their stored form, [`canonical`] (accents composed, one space between words), and
/// ASCII letters without case (COLLATE NOCASE in the schema).
macro_rules! owner_by_name {
    () => {
        "FROM owners WHERE name IN (?, ?) ORDER BY name = ? DESC LIMIT 1"
    };
}
pub(crate) use owner_by_name;

/// The arguments of [`owner_by_name!`] for a name as typed. Names stored before names were
/// normalised are left as they were; the name exactly as typed (trimmed) finds those, but the
/// canonical form wins when both exist.
pub(crate) fn owner_by_name_args(name: &str) -> [String; 3] {
    let wanted = canonical(name);
    [wanted.clone(), name.trim().to_owned(), wanted]
}

/// The id and stored name of the owner called `name` (see [`owner_by_name!`]).
pub(crate) async fn find_owner(tx: &mut WriteTx, name: &str) -> Result<(i64, String)> {
    let [wanted, typed, preferred] = owner_by_name_args(name);
    let row: Option<(i64, String)> = sqlx::query_as(concat!("SELECT id, name ", owner_by_name!()))
        .bind(&wanted)
        .bind(typed)
        .bind(preferred)
        .fetch_optional(&mut **tx)
        .await?;
    row.ok_or(Error::OwnerNotFound(wanted))
}
