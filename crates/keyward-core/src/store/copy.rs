//! Moving a whole store onto another backend (`keyward-cli migrate-to`): keys (hash, id, plan,
//! seeded flag), owners, plans, settings, the audit log and quota counters, into a destination
//! that holds no keys, owners or audit rows yet, in one transaction there. The source is only
//! read. Running servers' heartbeats stay behind: they describe the old database.
//!
//! The move's own audit row (`store_migrated`) goes in with the copy, as the last row of the
//! copied log, so the copy and its record commit together or not at all.

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::Store;
use crate::backend::{AuditFilter, BackendKind, Snapshot};
use crate::error::{Error, Result};
use crate::models::{AuditEvent, ListQuery};

/// How many rows of each kind a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CopyCounts {
    pub keys: u64,
    pub owners: u64,
    pub plans: u64,
    pub audit: u64,
    pub settings: u64,
    pub quota_counters: u64,
}

impl CopyCounts {
    pub fn of(snapshot: &Snapshot) -> Self {
        let n = |len: usize| u64::try_from(len).unwrap_or(u64::MAX);
        Self {
            keys: n(snapshot.keys.len()),
            owners: n(snapshot.owners.len()),
            plans: n(snapshot.plans.len()),
            audit: n(snapshot.audit.len()),
            settings: n(snapshot.settings.len()),
            quota_counters: n(snapshot.quota_usage.len()),
        }
    }
}

/// `4 keys, 3 owners, …`, for messages.
impl std::fmt::Display for CopyCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} keys, {} owners, {} plans, {} audit rows, {} settings and {} quota counters",
            self.keys, self.owners, self.plans, self.audit, self.settings, self.quota_counters
        )
    }
}

/// What [`Store::copy_into`] did. `destination` is read back from the destination after the
/// commit: the source's rows plus the one audit row recording the move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// Both locations as [`Store::location`] shows them (never a password).
    pub from: String,
    pub to: String,
    pub source: CopyCounts,
    pub destination: CopyCounts,
}

/// The refusal of a destination that already holds rows, in the same words whether the core's
/// first look or a backend's check inside its import transaction finds them.
pub fn destination_not_empty(location: &str, keys: i64, owners: i64, audit: i64) -> Error {
    Error::InvalidInput(format!(
        "{location} already holds {keys} key(s), {owners} owner(s) and {audit} audit row(s), \
         so nothing was copied and nothing was changed. Keys are only copied into a new, empty \
         key database: name a new file, or an empty PostgreSQL database."
    ))
}

fn same_location(location: &str) -> Error {
    Error::InvalidInput(format!(
        "The source and the destination are the same key database ({location}); nothing was \
         changed. Name another file or database to copy into."
    ))
}

/// Whether two paths name one file: the same inode (which also catches hard links and
/// symlinks), or, where that cannot be read, the same canonical path.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (a.dev(), a.ino()) == (b.dev(), b.ino());
        }
    }
    matches!(
        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
        (Ok(a), Ok(b)) if a == b
    )
}

impl Store {
    /// Whether `other` is this very database: the same file for SQLite (however its path is
    /// spelled), the same URL for PostgreSQL. Two spellings of one PostgreSQL server (a host
    /// name and its address) are not recognised here; the emptiness check still refuses them.
    pub fn is_same_database(&self, other: &Store) -> bool {
        if self.backend_kind() != other.backend_kind() {
            return false;
        }
        let (here, there) = (self.location(), other.location());
        here == there
            || (self.backend_kind() == BackendKind::Sqlite
                && same_file(Path::new(&here), Path::new(&there)))
    }

    /// Copies everything worth moving from this store into `dest`, which must be writable and
    /// hold no keys, owners or audit rows (its default plan and settings are replaced by this
    /// store's). One transaction on `dest`: all of it or nothing. Afterwards `dest` is read back
    /// and its counts compared with what was copied. This store is only read.
    pub async fn copy_into(&self, dest: &Store) -> Result<CopyReport> {
        dest.ensure_writable()?;
        if self.is_same_database(dest) {
            return Err(same_location(&dest.location()));
        }
        // A first, cheap look before reading the whole source; the backend checks again inside
        // its transaction, where no other writer can slip rows in.
        dest.refuse_unless_empty().await?;

        let mut snapshot = self.backend.export().await?;
        check_snapshot(&snapshot, &self.location())?;
        let source = CopyCounts::of(&snapshot);
        snapshot
            .audit
            .push(self.migrated_event(dest, &snapshot, &source)?);
        dest.backend.import(&snapshot).await?;
        // 100,000 keys hold about 100 MB: let go of them before reading the copy back.
        drop(snapshot);

        let destination = CopyCounts::of(&dest.backend.export().await?);
        let expected = CopyCounts {
            audit: source.audit + 1,
            ..source
        };
        if destination != expected {
            return Err(Error::Unavailable(format!(
                "The copy in {} does not hold what was copied: {expected} were written, but \
                 {destination} were read back. The source {} was not changed; do not use the \
                 copy: remove it and copy again.",
                dest.location(),
                self.location()
            )));
        }
        Ok(CopyReport {
            from: self.location(),
            to: dest.location(),
            source,
            destination,
        })
    }

    /// Refuses (in [`destination_not_empty`]'s words) when this store holds keys, owners or
    /// audit rows. Three counts: little next to reading the whole source.
    async fn refuse_unless_empty(&self) -> Result<()> {
        let (_, audit) = self
            .backend
            .audit_page(&AuditFilter::default(), 1, 0)
            .await?;
        let query = ListQuery {
            limit: 1,
            ..ListQuery::default()
        };
        let keys = i64::from(self.list_keys(&query).await?.total);
        let owners = i64::try_from(self.list_owners().await?.len()).unwrap_or(i64::MAX);
        if audit + keys + owners > 0 {
            return Err(destination_not_empty(&self.location(), keys, owners, audit));
        }
        Ok(())
    }

    /// The `store_migrated` row, written by `dest`'s actor at `dest`'s time, numbered after the
    /// last copied row so the log keeps one order.
    fn migrated_event(
        &self,
        dest: &Store,
        snapshot: &Snapshot,
        source: &CopyCounts,
    ) -> Result<AuditEvent> {
        let last = snapshot.audit.iter().map(|e| e.seq).max().unwrap_or(0);
        let seq = last.checked_add(1).ok_or_else(|| {
            Error::InvalidInput(format!(
                "The audit log of {} is numbered up to the largest number Keyward can copy, so \
                 nothing was copied and nothing was changed.",
                self.location()
            ))
        })?;
        Ok(AuditEvent {
            seq,
            at: dest.clock.now(),
            actor: dest.actor.clone(),
            action: "store_migrated".to_owned(),
            key_id: None,
            details: json!({
                "from": self.location(),
                "keys": source.keys,
                "owners": source.owners,
                "plans": source.plans,
                "audit": source.audit,
                "settings": source.settings,
                "quota_counters": source.quota_counters,
            })
            .to_string(),
        })
    }
}

/// Refuses a snapshot no Keyward database holds (it would copy into a store that then fails on
/// every new key, or not copy at all), before anything is written.
fn check_snapshot(snapshot: &Snapshot, source: &str) -> Result<()> {
    let defaults = snapshot.plans.iter().filter(|p| p.is_default).count();
    if defaults != 1 {
        return Err(Error::Unavailable(format!(
            "The key database {source} has {defaults} default plans where Keyward keeps exactly \
             one, so nothing was copied and nothing was changed. Choose the default plan \
             (keyward-cli plans default NAME), then copy again."
        )));
    }
    if let Some(key) = snapshot.keys.iter().find(|k| k.plan_id.is_none()) {
        return Err(Error::Unavailable(format!(
            "The key {} in {source} has no plan (only a database no Keyward wrote has such a \
             key), so nothing was copied and nothing was changed. Give it a plan (keyward-cli \
             keys edit {} --plan NAME), then copy again.",
            key.key.id, key.key.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{LimitsRecord, PlanRecord};

    fn plan(id: i64, is_default: bool) -> PlanRecord {
        PlanRecord {
            id,
            name: format!("plan {id}"),
            limits: LimitsRecord::default(),
            is_default,
            created_at: chrono::DateTime::UNIX_EPOCH,
            keys: None,
        }
    }

    #[test]
    fn a_snapshot_needs_exactly_one_default_plan() {
        let mut snapshot = Snapshot {
            plans: vec![plan(1, true), plan(2, false)],
            ..Snapshot::default()
        };
        assert!(check_snapshot(&snapshot, "a.db").is_ok());
        snapshot.plans[1].is_default = true;
        let error = check_snapshot(&snapshot, "a.db").expect_err("two defaults");
        assert!(error.to_string().contains("nothing was changed"), "{error}");
        snapshot.plans.clear();
        assert!(check_snapshot(&snapshot, "a.db").is_err());
    }

    #[test]
    fn refusals_say_nothing_was_changed() {
        for error in [
            destination_not_empty("b.db", 1, 2, 3),
            same_location("b.db"),
        ] {
            assert!(matches!(error, Error::InvalidInput(_)));
            assert!(error.to_string().contains("nothing was changed"), "{error}");
        }
    }

    #[test]
    fn one_file_under_two_names_is_the_same_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("k.db");
        std::fs::write(&file, b"x").expect("write");
        let spelled = dir.path().join(".").join("k.db");
        assert!(same_file(&file, &spelled));
        let other = dir.path().join("other.db");
        std::fs::write(&other, b"x").expect("write");
        assert!(!same_file(&file, &other));
        assert!(!same_file(&file, &dir.path().join("missing.db")));
    }
}
