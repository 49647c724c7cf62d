//! [`SqliteBackend`]: the core's [`Backend`] on one local SQLite file. Each method is one
//! concern's query (see the modules named in each); this file only routes and refuses changes
//! to a read-only file before they start.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;

use keyward_core::backend::{
    AuditFilter, Backend, BackendKind, KeyRecord, ListQueryPlan, ListRequest, ListedKeys,
    PlanRecord, QuotaRecord, Snapshot, StoredKey, UseRecorded, WriteTx,
};
use keyward_core::models::{AuditEvent, Owner};
use keyward_core::servers::{ServerReport, VerifyServer};
use keyward_core::{Error, Result};

use crate::busy::checkpoint_now;
use crate::changes::Changes;
use crate::error::OrDb;
use crate::write_tx::SqliteWriteTx;
use crate::{audit, backup, keys, list, owners, plans, quota, servers, settings, snapshot, verify};

/// The key database in one SQLite file, opened by [`crate::open()`]. Cheap to share: every
/// method is safe to call from several tasks at once, and from several processes on the file.
pub struct SqliteBackend {
    pool: SqlitePool,
    /// As given to `open`, for messages.
    path: PathBuf,
    read_only: bool,
    changes: Changes,
}

impl SqliteBackend {
    pub(crate) fn new(pool: SqlitePool, path: PathBuf, read_only: bool) -> Self {
        Self {
            pool,
            path,
            read_only,
            changes: Changes::default(),
        }
    }

    /// The path as given to [`crate::open()`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// For tests that need SQL the trait does not offer (a pragma, a raw transaction).
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Refuses a change on a read-only file, before any work is done.
    fn ensure_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly(self.location()));
        }
        Ok(())
    }
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front, so two processes never both read and
    /// then both write on stale data (the per-owner limit depends on it).
    async fn begin_write(&self) -> Result<Box<dyn WriteTx>> {
        self.ensure_writable()?;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.db()?;
        Ok(Box::new(SqliteWriteTx::new(tx)))
    }

    async fn settings_rows(&self) -> Result<Vec<(String, String)>> {
        settings::settings_rows(&self.pool).await
    }

    async fn key(&self, id: &str) -> Result<Option<KeyRecord>> {
        keys::key(&self.pool, id).await
    }

    async fn key_to_verify(&self, id: &str) -> Result<Option<StoredKey>> {
        verify::key_to_verify(&self.pool, id).await
    }

    async fn record_use(&self, id: &str, now: DateTime<Utc>) -> Result<UseRecorded> {
        self.ensure_writable()?;
        verify::record_use(&self.pool, id, now).await
    }

    async fn list_keys(&self, request: &ListRequest<'_>) -> Result<ListedKeys> {
        list::list_keys(&self.pool, request).await
    }

    async fn list_query_plan(&self, request: &ListRequest<'_>) -> Result<ListQueryPlan> {
        list::list_query_plan(&self.pool, request).await
    }

    async fn owners(&self, now: DateTime<Utc>) -> Result<Vec<Owner>> {
        owners::owners(&self.pool, now).await
    }

    async fn plans(&self) -> Result<Vec<PlanRecord>> {
        plans::plans(&self.pool).await
    }

    async fn plan(&self, name: &str) -> Result<Option<PlanRecord>> {
        plans::plan(&self.pool, name, true).await
    }

    async fn quota(&self, key_id: &str) -> Result<Option<QuotaRecord>> {
        quota::quota(&self.pool, key_id).await
    }

    async fn add_quota_usage(
        &self,
        counts: &[(String, DateTime<Utc>, u64)],
    ) -> Result<Vec<(String, DateTime<Utc>, u64)>> {
        self.ensure_writable()?;
        quota::add_quota_usage(&self.pool, counts).await
    }

    async fn audit_events(&self, filter: &AuditFilter<'_>) -> Result<Vec<AuditEvent>> {
        audit::audit_events(&self.pool, filter).await
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter<'_>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<AuditEvent>, i64)> {
        audit::audit_page(&self.pool, filter, limit, offset).await
    }

    async fn report_server(
        &self,
        report: &ServerReport,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<bool> {
        self.ensure_writable()?;
        servers::report_server(&self.pool, report, now, forget_before).await
    }

    async fn server_stopped(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        self.ensure_writable()?;
        servers::server_stopped(&self.pool, id, now).await
    }

    async fn servers(&self, since: DateTime<Utc>) -> Result<Vec<VerifyServer>> {
        servers::servers(&self.pool, since).await
    }

    /// `VACUUM INTO` a new owner-only file: a consistent copy while others read and write.
    async fn backup(&self, dest: &Path) -> Result<()> {
        let dest = backup::backup_destination(dest)?;
        let mut db = self.pool.acquire().await.db()?;
        backup::backup_into(&mut db, &dest).await
    }

    /// One read transaction: every table as of one moment, while others keep writing.
    async fn export(&self) -> Result<Snapshot> {
        snapshot::export(&self.pool).await
    }

    async fn import(&self, snapshot: &Snapshot) -> Result<()> {
        self.ensure_writable()?;
        snapshot::import(&self.pool, &self.location(), snapshot).await
    }

    /// Counts commits by anyone that change what the app shows; see `changes`.
    async fn change_counter(&self) -> Result<Option<u64>> {
        let options = self.pool.connect_options();
        Ok(Some(self.changes.counter(&options).await?))
    }

    /// Checkpoints the WAL into the main file, then closes the pool. The checkpoint comes first
    /// and explicitly: SQLite only does it on close for the last connection, which several
    /// pooled connections closing at once may all miss. It never waits: while another process
    /// writes, the WAL stays for that process to checkpoint. A read-only file has nothing to move.
    async fn close(&self) {
        self.changes.close().await;
        if !self.read_only {
            checkpoint_now(&self.pool).await;
        }
        self.pool.close().await;
    }
}
