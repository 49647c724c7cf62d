//! Keyward's PostgreSQL backend: the key store a team shares. It implements the core's
//! [`Backend`] (reads and writes rows; every rule stays in the core's `Store`).
//!
//! - [`open`]: the address, the first look at the database, its schema (`migrations/`).
//! - `tx`: the write transaction, and how the per-owner limit holds across processes.
//! - `keys`, `list`, `verify`, `owners`, `plans`, `quota`, `settings`, `audit`, `servers`,
//!   `seed`: the rows of each kind, one file each; `snapshot`: all of them at once, to move a
//!   store between backends.
//! - `changes`: the change counter of live views (`LISTEN`/`NOTIFY`, migration 0003).
//! - `errors`: every PostgreSQL failure in plain words, by SQLSTATE.
//! - `team`, `team_sql`: Keyward's roles on a shared database (`team init`, `team add`) and
//!   what each may do, enforced by grants, row-level security and one trigger.

mod audit;
mod changes;
mod errors;
mod keys;
mod list;
mod open;
mod owners;
mod plans;
mod quota;
mod rows;
mod search_text;
mod seed;
mod servers;
mod settings;
mod short_terms;
mod snapshot;
mod team;
mod team_sql;
mod tx;
mod verify;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::backend::{
    AuditFilter, Backend, BackendKind, KeyRecord, ListQueryPlan, ListRequest, ListedKeys,
    OperatorRole, PlanRecord, QuotaRecord, Snapshot, StoredKey, UseRecorded, WriteTx,
};
use keyward_core::servers::{ServerReport, VerifyServer};
use keyward_core::{AuditEvent, Error, Owner, Result};
use sqlx::PgPool;

use errors::Address;
pub use open::open;
pub use team::{quoted, TeamAdded};

/// How long [`Backend::close`] waits for connections still in use to come back.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The Keyward database on a PostgreSQL server. Cheap to share: one pool of connections.
pub struct PgBackend {
    pool: PgPool,
    at: Arc<Address>,
    /// `session_user` as the server reported it at open.
    login: String,
    changes: changes::Changes,
}

/// Only the location: sqlx's own Debug of the pool would print the connect options, password
/// included.
impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend")
            .field("location", &self.at.url())
            .finish()
    }
}

impl PgBackend {
    /// The database login this backend is connected as, as the server names it. The store
    /// records it as the author of every change: it is what the database's permissions apply to.
    pub fn login(&self) -> &str {
        &self.login
    }

    /// `keyward-cli team init` on this database: creates Keyward's roles where missing and
    /// (re)applies their grants, row-level security policies and key rules. Run by the
    /// database's owner or a superuser; returns the statements it ran, in order.
    pub async fn team_init(&self) -> Result<Vec<String>> {
        team::init(&self.pool, &self.at).await
    }

    /// `keyward-cli team add LOGIN --role …`: `login` holds `role` and no other Keyward role,
    /// created (without a password) if it does not exist.
    pub async fn team_add(&self, login: &str, role: OperatorRole) -> Result<TeamAdded> {
        team::add(&self.pool, &self.at, login, role).await
    }

    /// The pool, for tests and tools that look at the database directly. Never print it with
    /// `{:?}`: sqlx's Debug output of a pool shows its connect options, password included.
    #[doc(hidden)]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Backend for PgBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Postgres
    }

    fn location(&self) -> String {
        self.at.url()
    }

    fn is_read_only(&self) -> bool {
        false
    }

    async fn begin_write(&self) -> Result<Box<dyn WriteTx>> {
        Ok(Box::new(tx::PgTx::begin(&self.pool, &self.at).await?))
    }

    async fn settings_rows(&self) -> Result<Vec<(String, String)>> {
        settings::rows(&self.pool, &self.at).await
    }

    async fn key(&self, id: &str) -> Result<Option<KeyRecord>> {
        keys::key(&self.pool, &self.at, id, keys::Lock::No).await
    }

    async fn key_to_verify(&self, id: &str) -> Result<Option<StoredKey>> {
        keys::key_to_verify(&self.pool, &self.at, id).await
    }

    async fn record_use(&self, id: &str, now: DateTime<Utc>) -> Result<UseRecorded> {
        verify::record_use(&self.pool, &self.at, id, now).await
    }

    async fn list_keys(&self, request: &ListRequest<'_>) -> Result<ListedKeys> {
        list::list_keys(&self.pool, &self.at, request).await
    }

    async fn list_query_plan(&self, request: &ListRequest<'_>) -> Result<ListQueryPlan> {
        list::list_query_plan(&self.pool, &self.at, request).await
    }

    async fn owners(&self, now: DateTime<Utc>) -> Result<Vec<Owner>> {
        owners::owners(&self.pool, &self.at, now).await
    }

    async fn plans(&self) -> Result<Vec<PlanRecord>> {
        plans::plans(&self.pool, &self.at).await
    }

    async fn plan(&self, name: &str) -> Result<Option<PlanRecord>> {
        plans::plan(&self.pool, &self.at, name, plans::Lock::No).await
    }

    async fn quota(&self, key_id: &str) -> Result<Option<QuotaRecord>> {
        quota::quota(&self.pool, &self.at, key_id).await
    }

    async fn add_quota_usage(
        &self,
        counts: &[(String, DateTime<Utc>, u64)],
    ) -> Result<Vec<(String, DateTime<Utc>, u64)>> {
        quota::add_quota_usage(&self.pool, &self.at, counts).await
    }

    async fn audit_events(&self, filter: &AuditFilter<'_>) -> Result<Vec<AuditEvent>> {
        audit::events(&self.pool, &self.at, filter).await
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter<'_>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<AuditEvent>, i64)> {
        audit::page(&self.pool, &self.at, filter, limit, offset).await
    }

    async fn report_server(
        &self,
        report: &ServerReport,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<bool> {
        servers::report(&self.pool, &self.at, report, now, forget_before).await
    }

    async fn server_stopped(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        servers::stopped(&self.pool, &self.at, id, now).await
    }

    async fn servers(&self, since: DateTime<Utc>) -> Result<Vec<VerifyServer>> {
        servers::running(&self.pool, &self.at, since).await
    }

    /// A server's database is copied by the server's own tools, which know its roles, grants
    /// and extensions; a file Keyward wrote could hold none of those.
    async fn backup(&self, _dest: &Path) -> Result<()> {
        Err(Error::InvalidInput(format!(
            "A PostgreSQL key database is backed up with pg_dump, for example: pg_dump -Fc -f \
             keyward.dump '{}' (pg_restore puts it back). Nothing was written.",
            self.at.url()
        )))
    }

    /// By the login's group roles (see `team.rs`).
    async fn operator_role(&self) -> Result<OperatorRole> {
        team::operator_role(&self.pool, &self.at, &self.login).await
    }

    async fn export(&self) -> Result<Snapshot> {
        snapshot::export(&self.pool, &self.at).await
    }

    async fn import(&self, snapshot: &Snapshot) -> Result<()> {
        snapshot::import(&self.pool, &self.at, snapshot).await
    }

    /// Counts changes others (and this process) commit, from PostgreSQL's notifications.
    async fn change_counter(&self) -> Result<Option<u64>> {
        Ok(Some(self.changes.counter(&self.pool, &self.at).await?))
    }

    /// Closes the pool. Connections still in use are waited for a few seconds at most; none
    /// of them waits for another writer's lock for longer than its own statement does.
    async fn close(&self) {
        self.changes.stop();
        let _ = tokio::time::timeout(CLOSE_WAIT, self.pool.close()).await;
    }
}
