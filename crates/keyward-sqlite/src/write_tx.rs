//! [`SqliteWriteTx`]: one `BEGIN IMMEDIATE` transaction, holding SQLite's write lock from its
//! first statement to its commit. Dropped without a commit, sqlx rolls it back.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};

use keyward_core::backend::{
    AuditRecord, KeyChange, KeyRecord, NewKeyRecord, PlanRecord, SeedKeyRecord, WriteTx,
};
use keyward_core::plans::PlanLimits;
use keyward_core::Result;

use crate::error::OrDb;
use crate::{audit, keys, owners, plans, seed, settings};

pub(crate) struct SqliteWriteTx {
    tx: Transaction<'static, Sqlite>,
}

impl SqliteWriteTx {
    pub(crate) fn new(tx: Transaction<'static, Sqlite>) -> Self {
        Self { tx }
    }
}

#[async_trait]
impl WriteTx for SqliteWriteTx {
    async fn settings_rows(&mut self) -> Result<Vec<(String, String)>> {
        settings::settings_rows(&mut *self.tx).await
    }

    async fn put_setting(&mut self, key: &str, value: &str) -> Result<()> {
        settings::put_setting(&mut self.tx, key, value).await
    }

    async fn find_owner(&mut self, wanted: &str, typed: &str) -> Result<Option<(i64, String)>> {
        owners::find_owner(&mut self.tx, wanted, typed).await
    }

    async fn insert_owner(&mut self, name: &str, now: DateTime<Utc>) -> Result<Option<i64>> {
        owners::insert_owner(&mut self.tx, name, now).await
    }

    async fn rename_owner(&mut self, id: i64, to: &str) -> Result<bool> {
        owners::rename_owner(&mut self.tx, id, to).await
    }

    async fn active_key_count(&mut self, owner_id: i64, now: DateTime<Utc>) -> Result<i64> {
        owners::active_key_count(&mut self.tx, owner_id, now).await
    }

    async fn plan(&mut self, name: &str) -> Result<Option<PlanRecord>> {
        plans::plan(&mut *self.tx, name, false).await
    }

    async fn default_plan(&mut self) -> Result<PlanRecord> {
        plans::default_plan(&mut self.tx).await
    }

    async fn plan_key_count(&mut self, id: i64) -> Result<i64> {
        plans::key_count(&mut self.tx, id).await
    }

    async fn insert_plan(
        &mut self,
        name: &str,
        limits: &PlanLimits,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        plans::insert_plan(&mut self.tx, name, limits, now).await
    }

    async fn update_plan(&mut self, id: i64, name: &str, limits: &PlanLimits) -> Result<bool> {
        plans::update_plan(&mut self.tx, id, name, limits).await
    }

    async fn delete_plan(&mut self, id: i64) -> Result<()> {
        plans::delete_plan(&mut self.tx, id).await
    }

    async fn set_default_plan(&mut self, id: i64) -> Result<()> {
        plans::set_default_plan(&mut self.tx, id).await
    }

    async fn key(&mut self, id: &str) -> Result<Option<KeyRecord>> {
        keys::key(&mut *self.tx, id).await
    }

    async fn insert_key(&mut self, key: &NewKeyRecord) -> Result<bool> {
        keys::insert_key(&mut self.tx, key).await
    }

    async fn update_key(&mut self, id: &str, change: &KeyChange) -> Result<()> {
        keys::update_key(&mut self.tx, id, change).await
    }

    async fn revoke_key(&mut self, id: &str, at: DateTime<Utc>) -> Result<()> {
        keys::revoke_key(&mut self.tx, id, at).await
    }

    async fn delete_key(&mut self, id: &str) -> Result<()> {
        keys::delete_key(&mut self.tx, id).await
    }

    async fn audit(&mut self, row: &AuditRecord<'_>) -> Result<()> {
        audit::audit(&mut self.tx, row).await
    }

    async fn owner_names(&mut self) -> Result<HashSet<String>> {
        seed::owner_names(&mut self.tx).await
    }

    async fn insert_owners(&mut self, names: &[String], at: DateTime<Utc>) -> Result<Vec<i64>> {
        seed::insert_owners(&mut self.tx, names, at).await
    }

    async fn insert_seed_keys(
        &mut self,
        keys: &[SeedKeyRecord],
        owner_ids: &[i64],
        prefix: &str,
        secret_hash: &str,
    ) -> Result<HashSet<String>> {
        seed::insert_seed_keys(&mut self.tx, keys, owner_ids, prefix, secret_hash).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.db()
    }
}
