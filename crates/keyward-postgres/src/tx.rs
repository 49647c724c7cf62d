//! The write transaction every change runs in, with its audit row.
//!
//! It is a plain `READ COMMITTED` transaction: it does not lock the database the way SQLite's
//! `BEGIN IMMEDIATE` does, so each rule that depends on what others write locks the rows it reads
//! for that rule ("rows locked as they are read for a write"):
//!
//! - **The per-owner limit.** [`WriteTx::find_owner`] and [`WriteTx::active_key_count`] lock the
//!   owner's row (`FOR NO KEY UPDATE`) before anything is counted. A second writer for the same
//!   owner waits at that lock until the first commits or rolls back; its count is a new statement,
//!   so under `READ COMMITTED` it sees the first one's key. Two processes can therefore never both
//!   pass the limit with the last free slot. Writers for different owners do not wait for each
//!   other. (The lock is taken by its own statement before the count: a statement's snapshot is
//!   taken when it starts, so a count that waited inside itself would count stale rows.)
//! - **A key being changed** ([`WriteTx::key`]) is locked `FOR UPDATE`, so two revocations or
//!   edits of one key run one after the other, each seeing the other's result.
//! - **Plans** ([`WriteTx::plan`], [`WriteTx::default_plan`]) are locked `FOR SHARE`: keys can be
//!   created on a plan at the same time, while a plan's change waits for them (and two changes of
//!   one plan at once end in one `TryAgain`).
//! - **Names** (owners, plans) are kept unique by their unique indexes; a clash is reported as the
//!   trait's `false` / `None`, under a savepoint or with `ON CONFLICT DO NOTHING`, because any
//!   failed statement would otherwise abort the whole transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::backend::{
    AuditRecord, KeyChange, KeyRecord, NewKeyRecord, PlanRecord, SeedKeyRecord, WriteTx,
};
use keyward_core::{PlanLimits, Result};
use sqlx::{PgPool, Postgres, Transaction};

use crate::errors::{Address, DbResult};
use crate::{audit, keys, owners, plans, seed, settings};

pub(crate) struct PgTx {
    tx: Transaction<'static, Postgres>,
    at: std::sync::Arc<Address>,
}

impl PgTx {
    /// Explicitly `READ COMMITTED` (whatever the server's default): waiting for a row lock then
    /// reading the newest committed rows is what the locking above relies on; a stricter level
    /// would fail such writers with a serialization error instead of letting them wait.
    pub(crate) async fn begin(pool: &PgPool, at: &std::sync::Arc<Address>) -> Result<Self> {
        let tx = pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .db(at)?;
        Ok(Self { tx, at: at.clone() })
    }
}

#[async_trait]
impl WriteTx for PgTx {
    async fn settings_rows(&mut self) -> Result<Vec<(String, String)>> {
        settings::rows(&mut *self.tx, &self.at).await
    }

    async fn put_setting(&mut self, key: &str, value: &str) -> Result<()> {
        settings::put(&mut self.tx, &self.at, key, value).await
    }

    async fn find_owner(&mut self, wanted: &str, typed: &str) -> Result<Option<(i64, String)>> {
        owners::find_owner(&mut self.tx, &self.at, wanted, typed).await
    }

    async fn insert_owner(&mut self, name: &str, now: DateTime<Utc>) -> Result<Option<i64>> {
        owners::insert_owner(&mut self.tx, &self.at, name, now).await
    }

    async fn rename_owner(&mut self, id: i64, to: &str) -> Result<bool> {
        owners::rename_owner(&mut self.tx, &self.at, id, to).await
    }

    async fn active_key_count(&mut self, owner_id: i64, now: DateTime<Utc>) -> Result<i64> {
        owners::active_key_count(&mut self.tx, &self.at, owner_id, now).await
    }

    async fn plan(&mut self, name: &str) -> Result<Option<PlanRecord>> {
        plans::plan(&mut *self.tx, &self.at, name, plans::Lock::Share).await
    }

    async fn default_plan(&mut self) -> Result<PlanRecord> {
        plans::default_plan(&mut self.tx, &self.at).await
    }

    async fn plan_key_count(&mut self, id: i64) -> Result<i64> {
        plans::key_count(&mut self.tx, &self.at, id).await
    }

    async fn insert_plan(
        &mut self,
        name: &str,
        limits: &PlanLimits,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        plans::insert_plan(&mut self.tx, &self.at, name, limits, now).await
    }

    async fn update_plan(&mut self, id: i64, name: &str, limits: &PlanLimits) -> Result<bool> {
        plans::update_plan(&mut self.tx, &self.at, id, name, limits).await
    }

    async fn delete_plan(&mut self, id: i64) -> Result<()> {
        plans::delete_plan(&mut self.tx, &self.at, id).await
    }

    async fn set_default_plan(&mut self, id: i64) -> Result<()> {
        plans::set_default_plan(&mut self.tx, &self.at, id).await
    }

    async fn key(&mut self, id: &str) -> Result<Option<KeyRecord>> {
        keys::key(&mut *self.tx, &self.at, id, keys::Lock::ForUpdate).await
    }

    async fn insert_key(&mut self, key: &NewKeyRecord) -> Result<bool> {
        keys::insert_key(&mut self.tx, &self.at, key).await
    }

    async fn update_key(&mut self, id: &str, change: &KeyChange) -> Result<()> {
        keys::update_key(&mut self.tx, &self.at, id, change).await
    }

    async fn revoke_key(&mut self, id: &str, at: DateTime<Utc>) -> Result<()> {
        keys::revoke_key(&mut self.tx, &self.at, id, at).await
    }

    async fn delete_key(&mut self, id: &str) -> Result<()> {
        keys::delete_key(&mut self.tx, &self.at, id).await
    }

    async fn audit(&mut self, row: &AuditRecord<'_>) -> Result<()> {
        audit::insert(&mut self.tx, &self.at, row).await
    }

    async fn owner_names(&mut self) -> Result<HashSet<String>> {
        owners::owner_names(&mut self.tx, &self.at).await
    }

    async fn insert_owners(&mut self, names: &[String], at: DateTime<Utc>) -> Result<Vec<i64>> {
        owners::insert_owners(&mut self.tx, &self.at, names, at).await
    }

    async fn insert_seed_keys(
        &mut self,
        keys: &[SeedKeyRecord],
        owner_ids: &[i64],
        prefix: &str,
        secret_hash: &str,
    ) -> Result<HashSet<String>> {
        seed::insert_seed_keys(&mut self.tx, &self.at, keys, owner_ids, prefix, secret_hash).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.db(&self.at)
    }
}
