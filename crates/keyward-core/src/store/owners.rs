use chrono::{DateTime, Utc};
use serde_json::json;

use super::Store;
use crate::backend::WriteTx;
use crate::error::{Error, Result};
use crate::models::{validate_owner_name, Owner};
use crate::names::canonical;

impl Store {
    /// Every owner with their key counts, by name.
    pub async fn list_owners(&self) -> Result<Vec<Owner>> {
        self.backend.owners(self.clock.now()).await
    }

    /// The owner called `name`, however its accents were composed (see [`find_owner`]).
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
        self.insert_owner(&mut *tx, &name, self.clock.now())
            .await?
            .ok_or_else(|| owner_taken(&name))?;
        tx.commit().await?;
        self.get_owner(&name).await
    }

    /// Adds an owner inside a transaction and audits it at `now` (the time of the change that
    /// needs it). `None` when the name is taken: nothing was written.
    pub(crate) async fn insert_owner(
        &self,
        tx: &mut dyn WriteTx,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        // Validated names are canonical already; the operating-system user may not be.
        let name = canonical(name);
        let Some(id) = tx.insert_owner(&name, now).await? else {
            return Ok(None);
        };
        self.audit(tx, now, "owner_created", None, json!({ "owner": name }))
            .await?;
        Ok(Some(id))
    }

    /// The owner of keys created without one: the actor, made an owner on first use. Another
    /// process may make the same owner at the same moment; then that one is used.
    pub(crate) async fn actor_as_owner(
        &self,
        tx: &mut dyn WriteTx,
        now: DateTime<Utc>,
    ) -> Result<(i64, String)> {
        if let Some(found) = find_owner(tx, &self.actor).await? {
            return Ok(found);
        }
        if let Some(id) = self.insert_owner(tx, &self.actor, now).await? {
            return Ok((id, canonical(&self.actor)));
        }
        find_owner(tx, &self.actor)
            .await?
            .ok_or_else(|| Error::OwnerNotFound(canonical(&self.actor)))
    }

    pub async fn rename_owner(&self, from: &str, to: &str) -> Result<Owner> {
        let to = validate_owner_name(to)?;
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let (id, from) = require_owner(&mut *tx, from).await?;
        if !tx.rename_owner(id, &to).await? {
            return Err(owner_taken(&to));
        }
        self.audit(
            &mut *tx,
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
        tx: &mut dyn WriteTx,
        owner_id: i64,
        owner_name: &str,
        now: DateTime<Utc>,
        override_limit: bool,
    ) -> Result<bool> {
        let limit = self.settings_in(tx).await?.owner_key_limit;
        let active = super::count(tx.active_key_count(owner_id, now).await?);
        let at_limit = active >= limit;
        if at_limit && !override_limit {
            return Err(Error::LimitReached {
                owner: owner_name.to_owned(),
                active,
                limit,
            });
        }
        Ok(at_limit)
    }
}

fn owner_taken(name: &str) -> Error {
    Error::InvalidInput(format!("An owner named \"{name}\" already exists."))
}

/// The id and stored name of the owner called `name`: names are matched in their stored form,
/// [`canonical`] (accents composed, one space between words), ASCII letters without case. Names
/// stored before names were normalised are found by the name as typed (trimmed); the canonical
/// form wins when both exist.
pub(crate) async fn find_owner(tx: &mut dyn WriteTx, name: &str) -> Result<Option<(i64, String)>> {
    tx.find_owner(&canonical(name), name.trim()).await
}

/// [`find_owner`], refusing an unknown name.
pub(crate) async fn require_owner(tx: &mut dyn WriteTx, name: &str) -> Result<(i64, String)> {
    find_owner(tx, name)
        .await?
        .ok_or_else(|| Error::OwnerNotFound(canonical(name)))
}
