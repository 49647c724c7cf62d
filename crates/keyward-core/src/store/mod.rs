//! Every rule about keys, owners, plans, settings and the audit log, over a [`Backend`] that
//! holds the rows (SQLite or PostgreSQL). Each change runs in one write transaction together
//! with its audit row.

mod audit;
mod copy;
mod keys;
mod owners;
mod plans;
mod seed;
mod servers;
mod settings;
mod verify;
mod verify_cache;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::backend::{AuditRecord, Backend, BackendKind, OperatorRole, WriteTx};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

pub use audit::audit_csv;
pub use copy::{destination_not_empty, CopyCounts, CopyReport};
pub use seed::{SeedReport, SEED_CREATED_BY, SEED_PURPOSES, SEED_SERVICES};
pub use settings::validate_settings;

/// How to open a [`Store`]: the clock and the name written as the actor of every change.
pub struct StoreOptions {
    pub clock: Arc<dyn Clock>,
    pub actor: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            actor: current_os_user(),
        }
    }
}

/// The operating-system user running this process, recorded as "created by" and in the audit log.
/// The account of the real uid comes first: environment variables can be missing (a process
/// started by a service or a test driver) or set to anything.
pub fn current_os_user() -> String {
    account_of_this_process()
        .or_else(|| {
            ["USER", "USERNAME", "LOGNAME"]
                .iter()
                .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(unix)]
fn account_of_this_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2] == uid && !fields[0].is_empty())
            .then(|| fields[0].to_owned())
    })
}

#[cfg(not(unix))]
fn account_of_this_process() -> Option<String> {
    None
}

/// The key store: rules over a backend. Cheap to clone; clones share one backend (its
/// connection pool) and one verify cache.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    actor: String,
    verified: Arc<verify_cache::VerifyCache>,
}

impl Store {
    /// The store over an opened backend (`keyward-store` opens one from a location).
    pub fn new(backend: Arc<dyn Backend>, options: StoreOptions) -> Self {
        Self {
            backend,
            clock: options.clock,
            actor: options.actor,
            verified: Arc::new(verify_cache::VerifyCache::new(
                verify_cache::DEFAULT_CAPACITY,
            )),
        }
    }

    /// This store with a fresh verify cache holding at most `capacity` accepted tokens (0 turns
    /// it off). The default is 10,000.
    pub fn with_verify_cache_capacity(mut self, capacity: usize) -> Self {
        self.verified = Arc::new(verify_cache::VerifyCache::new(capacity));
        self
    }

    /// True when the database could not be written at open: changes are refused with
    /// [`Error::ReadOnly`], and `verify` does not record last-used times.
    pub fn is_read_only(&self) -> bool {
        self.backend.is_read_only()
    }

    /// Refuses a change on a read-only store, before any work is done.
    pub(crate) fn ensure_writable(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly(self.location()));
        }
        Ok(())
    }

    /// Where the keys live, for people: a file path, or a PostgreSQL URL without its password.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    pub fn backend_kind(&self) -> BackendKind {
        self.backend.kind()
    }

    /// What the operator may do, as the database enforces it (always admin on SQLite).
    pub async fn operator_role(&self) -> Result<OperatorRole> {
        self.backend.operator_role().await
    }

    /// A number that changes whenever anyone commits a change to this database, for views that
    /// follow other administrators' changes; `None` when the backend cannot tell.
    pub async fn change_counter(&self) -> Result<Option<u64>> {
        self.backend.change_counter().await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Who this store records as the author of changes: the operating-system user on SQLite,
    /// the database login on PostgreSQL.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Writes a consistent copy of the whole database to `dest`, a new owner-only file (it must
    /// not exist yet). Safe while other processes read and write.
    pub async fn backup(&self, dest: &std::path::Path) -> Result<()> {
        self.backend.backup(dest).await
    }

    /// Closes the backend's connections without waiting for other writers.
    pub async fn close(&self) {
        self.backend.close().await;
    }

    /// A write transaction that serialises with every writer that could break a rule, so two
    /// processes never both read and then both write on stale data (the per-owner limit
    /// depends on it).
    async fn begin_write(&self) -> Result<Box<dyn WriteTx>> {
        self.ensure_writable()?;
        self.backend.begin_write().await
    }

    /// Writes one audit row inside the caller's transaction, so the change and its record commit
    /// or fail together. `details` never holds a secret.
    pub(crate) async fn audit(
        &self,
        tx: &mut dyn WriteTx,
        at: DateTime<Utc>,
        action: &str,
        key_id: Option<&str>,
        details: serde_json::Value,
    ) -> Result<()> {
        tx.audit(&AuditRecord {
            at,
            actor: &self.actor,
            action,
            key_id,
            details: details.to_string(),
        })
        .await
    }
}

pub(crate) fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
