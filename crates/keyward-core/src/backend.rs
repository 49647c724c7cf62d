//! Where the store keeps its rows: the small interface a database engine implements
//! (`keyward-sqlite`, `keyward-postgres`). Every rule (validation, the per-owner limit, audit
//! details, the verify order and cache, plans) stays in [`crate::Store`]; a backend only reads and
//! writes rows, each write inside the transaction [`Backend::begin_write`] opens.
//!
//! Both backends run the same store tests (`crates/keyward-store/tests/`), so what a method
//! promises here is what both do.

use std::collections::HashSet;
use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::models::{AuditEvent, ListQuery, Owner, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::plans::{PlanLimits, Quota, QuotaPeriod};
use crate::servers::{ServerReport, VerifyServer};

/// Which database engine holds the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum BackendKind {
    /// One local file; the default for one person.
    Sqlite,
    /// A PostgreSQL server shared by a team.
    Postgres,
}

/// A key's row as read, in the same shape from every backend.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: String,
    pub prefix: String,
    pub name: String,
    pub owner_id: i64,
    pub owner: String,
    /// As stored (`standard`, …): [`crate::models::Role::parse`] reads it.
    pub role: String,
    pub scopes: Vec<String>,
    pub track_usage: bool,
    pub secret_last4: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// `None` only in a database no Keyward wrote (SQLite could add the column only nullable).
    pub plan: Option<String>,
}

/// A plan's limits as stored, before [`LimitsRecord::limits`] checks them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsRecord {
    pub rate_per_second: Option<i64>,
    pub burst: Option<i64>,
    pub quota: Option<i64>,
    pub quota_period: Option<String>,
}

fn damaged(what: &str) -> Error {
    Error::Unavailable(format!(
        "The key database holds a plan it cannot read ({what}). Nothing was changed; restore \
         the database from a backup, or edit the plan again."
    ))
}

impl LimitsRecord {
    /// The limits to store for `limits`.
    pub fn of(limits: &PlanLimits) -> Self {
        Self {
            rate_per_second: limits.rate_per_second.map(i64::from),
            burst: limits.burst.map(i64::from),
            quota: limits
                .quota
                .map(|q| i64::try_from(q.limit).unwrap_or(i64::MAX)),
            quota_period: limits.quota.map(|q| q.per.as_str().to_owned()),
        }
    }

    /// Fails on numbers or periods no Keyward wrote, rather than guessing.
    pub fn limits(&self) -> Result<PlanLimits> {
        let small = |n: Option<i64>, what| {
            n.map(|n| u32::try_from(n).map_err(|_| damaged(what)))
                .transpose()
        };
        let quota = match (self.quota, self.quota_period.as_deref()) {
            (None, None) => None,
            (Some(limit), Some(period)) => Some(Quota {
                limit: u64::try_from(limit).map_err(|_| damaged("a negative quota"))?,
                per: QuotaPeriod::parse(period).ok_or_else(|| damaged("an unknown period"))?,
            }),
            _ => return Err(damaged("a quota without its period")),
        };
        Ok(PlanLimits {
            rate_per_second: small(self.rate_per_second, "a rate out of range")?,
            burst: small(self.burst, "a burst out of range")?,
            quota,
        })
    }
}

/// A key with what a check needs: its hash and its plan, read in one go.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub key: KeyRecord,
    pub secret_hash: String,
    /// The plan's limits (all `None` when the key has no plan: then `key.plan` is `None` too).
    pub limits: LimitsRecord,
}

#[derive(Debug, Clone)]
pub struct PlanRecord {
    pub id: i64,
    pub name: String,
    pub limits: LimitsRecord,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    /// How many keys use it: counted by [`Backend::plans`] and [`Backend::plan`] only. Inside a
    /// write ([`WriteTx::plan`], [`WriteTx::default_plan`]) it is `None`: counting reads the
    /// whole plan index (5 ms at 100,000 keys), too slow for every key created under the write
    /// lock; [`WriteTx::plan_key_count`] counts when a rule needs it.
    pub keys: Option<i64>,
}

/// A new key's row. The secret is only here as its argon2 hash.
#[derive(Debug, Clone)]
pub struct NewKeyRecord {
    pub id: String,
    pub prefix: String,
    pub name: String,
    pub owner_id: i64,
    pub role: String,
    pub scopes: Vec<String>,
    pub track_usage: bool,
    pub secret_last4: String,
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub plan_id: i64,
}

/// A key's editable columns after an edit; `plan_id` `None` keeps its plan.
#[derive(Debug, Clone)]
pub struct KeyChange {
    pub name: String,
    /// [`crate::names::key_search_text`] of the new name.
    pub search_text: String,
    pub owner_id: i64,
    pub role: String,
    pub scopes: Vec<String>,
    pub track_usage: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub plan_id: Option<i64>,
}

/// One audit row to write.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub key_id: Option<&'a str>,
    /// JSON; never a secret.
    pub details: String,
}

/// Which audit rows to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    pub key_id: Option<&'a str>,
    pub action: Option<&'a str>,
}

/// A made-up key of `keyward-cli dev seed` (see the core's `seed`): marked seeded, never verifies.
#[derive(Debug, Clone)]
pub struct SeedKeyRecord {
    pub id: String,
    pub name: String,
    /// Index into the owner ids given with it.
    pub owner: usize,
    pub role: String,
    pub scopes: Vec<String>,
    pub track_usage: bool,
    pub secret_last4: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One page of the key list to read: the query as asked (its status, sort, direction and offset
/// are read from it) with everything the core has decided that is not SQL.
#[derive(Debug, Clone)]
pub struct ListRequest<'a> {
    pub query: &'a ListQuery,
    /// The search term in [`crate::names::search_form`], never empty. It matches a key when it
    /// is a substring of [`crate::names::key_search_text`].
    pub search: Option<String>,
    /// With a search: how many matches to count at most. Exact totals of searches that match
    /// thousands of keys cost more than the page itself, so a backend may stop counting here;
    /// the core shows a total this high as "at least" (see [`ListRequest::counted_up_to`]).
    pub count_limit: Option<i64>,
    /// Statuses are at this time.
    pub now: DateTime<Utc>,
    /// Already bounded by the core (1..=200).
    pub limit: u32,
    /// "Expiring within" as a time range: active keys expiring in `(now, until]`.
    pub expiring_until: Option<DateTime<Utc>>,
    /// For the usage sort: the start of the current day, week and month, in that order; a count
    /// of another period counts as 0.
    pub usage_periods: [DateTime<Utc>; 3],
}

impl<'a> ListRequest<'a> {
    /// `query` at `now`, as the store asks a backend for it: the page size bounded, the search
    /// term in names' stored form (so "é" typed either way finds them), the expiry window and
    /// the usage periods as times. Tests of a backend build their requests here too.
    pub fn new(query: &'a ListQuery, now: DateTime<Utc>) -> Self {
        let search = query
            .search
            .as_deref()
            .map(crate::names::search_form)
            .filter(|s| !s.is_empty());
        let limit = match query.limit {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let count_limit = search
            .is_some()
            .then(|| Self::counted_up_to(query.offset, limit) + 1);
        // Any u32 is accepted: a window past the latest time chrono can hold means every key
        // that expires at all (never `now + days`, which panics past year 262143).
        let expiring_until = query.expiring_within_days.map(|days| {
            chrono::Duration::try_days(i64::from(days))
                .and_then(|window| now.checked_add_signed(window))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        });
        Self {
            query,
            search,
            count_limit,
            now,
            limit,
            expiring_until,
            usage_periods: [QuotaPeriod::Day, QuotaPeriod::Week, QuotaPeriod::Month]
                .map(|period| period.start_of(now)),
        }
    }
}

impl ListRequest<'_> {
    /// The total a searched page reports at most: the next multiple of [`SEARCH_COUNT_STEP`]
    /// past the page's end (`limit` as bounded), so the list always knows of rows beyond the
    /// page it shows, and scrolling on raises the bound a step at a time.
    pub fn counted_up_to(offset: u32, limit: u32) -> i64 {
        let end = i64::from(offset) + i64::from(limit);
        (end / SEARCH_COUNT_STEP + 1) * SEARCH_COUNT_STEP
    }
}

/// Searches count their matches in steps of this many ("1,000+").
pub const SEARCH_COUNT_STEP: i64 = 1_000;

#[derive(Debug, Clone)]
pub struct ListedKeys {
    pub keys: Vec<KeyRecord>,
    pub total: i64,
}

/// How the engine runs one list query (its `EXPLAIN` lines), for tests that check each sort and
/// filter reads an index.
#[derive(Debug, Clone)]
pub struct ListQueryPlan {
    pub page: Vec<String>,
    /// Empty when the search index alone gives the total.
    pub count: Vec<String>,
}

/// What recording a key's use found.
#[derive(Debug, Clone)]
pub enum UseRecorded {
    /// The key was active at that time; its row after the write.
    Active(Box<KeyRecord>),
    /// The key is no longer active (or gone): nothing was written.
    NotActive,
    /// Another writer held the database longer than the short wait allowed: nothing was written.
    Busy,
}

/// A key's quota row, with its plan's limits.
#[derive(Debug, Clone)]
pub struct QuotaRecord {
    pub limits: LimitsRecord,
    pub period_start: Option<DateTime<Utc>>,
    pub used: Option<i64>,
}

/// Everything a store holds that is worth moving to another backend (`keyward-cli migrate-to`):
/// rows with their ids, so keys, links and the audit order survive the move. Running servers'
/// heartbeats are not part of it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub settings: Vec<(String, String)>,
    /// Id, name, created.
    pub owners: Vec<(i64, String, DateTime<Utc>)>,
    pub plans: Vec<PlanRecord>,
    pub keys: Vec<SnapshotKey>,
    pub audit: Vec<AuditEvent>,
    /// Key id, period start, count.
    pub quota_usage: Vec<(String, DateTime<Utc>, i64)>,
}

/// A key's whole row, hash and all, for a [`Snapshot`].
#[derive(Debug, Clone)]
pub struct SnapshotKey {
    pub key: KeyRecord,
    pub secret_hash: String,
    pub seeded: bool,
    /// `None` only in a database no Keyward wrote.
    pub plan_id: Option<i64>,
}

/// What the operator may do, as the database enforces it (on SQLite: everything; the file's
/// permissions are the only gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OperatorRole {
    /// Everything.
    Admin,
    /// Their own keys (owned by an owner named as their login), up to the limit, no override,
    /// no settings or plans.
    Manager,
    /// What `keyward-cli serve` needs: read keys and plans, record use and quota counts.
    Verifier,
}

fn unsupported(what: &str) -> Error {
    Error::InvalidInput(format!(
        "This kind of key database cannot {what} yet; nothing was changed."
    ))
}

/// A database engine holding Keyward's tables. Cheap to share; every method is safe to call from
/// several tasks and processes at once.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn kind(&self) -> BackendKind;
    /// Where the data lives, for people: a path, or a URL without its password.
    fn location(&self) -> String;
    /// Opened read-only (the file cannot be written): every change is refused before it starts.
    fn is_read_only(&self) -> bool;

    /// A write transaction that serialises with every other writer that could break a rule
    /// (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: rows locked as they are read for a write).
    async fn begin_write(&self) -> Result<Box<dyn WriteTx>>;

    async fn settings_rows(&self) -> Result<Vec<(String, String)>>;
    async fn key(&self, id: &str) -> Result<Option<KeyRecord>>;
    /// A key with its hash and plan, unless it is seeded (seeded keys never verify).
    async fn key_to_verify(&self, id: &str) -> Result<Option<StoredKey>>;
    /// Sets `last_used_at = now` if the key is active at `now`, waiting at most a fraction of a
    /// second for another writer.
    async fn record_use(&self, id: &str, now: DateTime<Utc>) -> Result<UseRecorded>;
    async fn list_keys(&self, request: &ListRequest<'_>) -> Result<ListedKeys>;
    async fn list_query_plan(&self, request: &ListRequest<'_>) -> Result<ListQueryPlan>;
    /// Every owner with their active (at `now`) and total key counts, by name.
    async fn owners(&self, now: DateTime<Utc>) -> Result<Vec<Owner>>;
    /// Every plan, by name.
    async fn plans(&self) -> Result<Vec<PlanRecord>>;
    /// The plan with exactly this (canonical) name.
    async fn plan(&self, name: &str) -> Result<Option<PlanRecord>>;
    /// `None` when no such key exists.
    async fn quota(&self, key_id: &str) -> Result<Option<QuotaRecord>>;
    /// Adds to quota counters in one transaction; see `Store::add_quota_usage`.
    async fn add_quota_usage(
        &self,
        counts: &[(String, DateTime<Utc>, u64)],
    ) -> Result<Vec<(String, DateTime<Utc>, u64)>>;
    /// Matching audit rows, oldest first.
    async fn audit_events(&self, filter: &AuditFilter<'_>) -> Result<Vec<AuditEvent>>;
    /// Matching audit rows, newest first, with how many match in all.
    async fn audit_page(
        &self,
        filter: &AuditFilter<'_>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<AuditEvent>, i64)>;
    /// Upserts a server's row at `now`, removing rows not seen since `forget_before`. `false`
    /// when another writer held the database longer than a short wait (nothing written).
    async fn report_server(
        &self,
        report: &ServerReport,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<bool>;
    async fn server_stopped(&self, id: &str, now: DateTime<Utc>) -> Result<()>;
    /// Servers not stopped and seen since `since`, oldest first.
    async fn servers(&self, since: DateTime<Utc>) -> Result<Vec<VerifyServer>>;
    /// A consistent copy of everything to a new owner-only file at `dest`, which must not exist
    /// yet (refused in plain words otherwise). Safe while others read and write.
    async fn backup(&self, dest: &Path) -> Result<()>;
    /// Closes connections; never waits for another writer.
    async fn close(&self);

    /// What the operator may do here.
    async fn operator_role(&self) -> Result<OperatorRole> {
        Ok(OperatorRole::Admin)
    }

    /// Every row worth moving, read in one consistent snapshot.
    async fn export(&self) -> Result<Snapshot> {
        Err(unsupported("be copied from"))
    }

    /// Writes `snapshot` into this store, which must hold no keys, owners or audit rows, in one
    /// transaction: all of it or nothing.
    async fn import(&self, _snapshot: &Snapshot) -> Result<()> {
        Err(unsupported("be copied into"))
    }

    /// A counter that changes whenever any process commits a change to what the app shows
    /// (not a key's last use, quota counts or server heartbeats), for live views: SQLite's
    /// `PRAGMA data_version` on a connection of its own, then the audit log; PostgreSQL's
    /// notifications. `None` when the backend cannot tell.
    async fn change_counter(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}

/// One write transaction. Dropped without [`WriteTx::commit`], it rolls back.
#[async_trait]
pub trait WriteTx: Send {
    async fn settings_rows(&mut self) -> Result<Vec<(String, String)>>;
    async fn put_setting(&mut self, key: &str, value: &str) -> Result<()>;

    /// The id and stored name of the owner called `wanted` (the canonical form) or, failing
    /// that, `typed` (as typed, trimmed: names stored before names were normalised), ASCII
    /// letters compared without case. On PostgreSQL the row is locked until the end of the
    /// transaction, so the per-owner limit holds.
    async fn find_owner(&mut self, wanted: &str, typed: &str) -> Result<Option<(i64, String)>>;
    /// `None` when the name is taken (compared as [`WriteTx::find_owner`] does).
    async fn insert_owner(&mut self, name: &str, now: DateTime<Utc>) -> Result<Option<i64>>;
    /// `false` when the new name is taken.
    async fn rename_owner(&mut self, id: i64, to: &str) -> Result<bool>;
    async fn active_key_count(&mut self, owner_id: i64, now: DateTime<Utc>) -> Result<i64>;

    async fn plan(&mut self, name: &str) -> Result<Option<PlanRecord>>;
    async fn default_plan(&mut self) -> Result<PlanRecord>;
    /// How many keys use the plan `id`.
    async fn plan_key_count(&mut self, id: i64) -> Result<i64>;
    /// `false` when the name is taken.
    async fn insert_plan(
        &mut self,
        name: &str,
        limits: &PlanLimits,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// `false` when the new name is taken.
    async fn update_plan(&mut self, id: i64, name: &str, limits: &PlanLimits) -> Result<bool>;
    async fn delete_plan(&mut self, id: i64) -> Result<()>;
    async fn set_default_plan(&mut self, id: i64) -> Result<()>;

    async fn key(&mut self, id: &str) -> Result<Option<KeyRecord>>;
    /// `false` when the id is taken (the caller draws another).
    async fn insert_key(&mut self, key: &NewKeyRecord) -> Result<bool>;
    async fn update_key(&mut self, id: &str, change: &KeyChange) -> Result<()>;
    async fn revoke_key(&mut self, id: &str, at: DateTime<Utc>) -> Result<()>;
    async fn delete_key(&mut self, id: &str) -> Result<()>;

    async fn audit(&mut self, row: &AuditRecord<'_>) -> Result<()>;

    /// Owner names already taken, lowercased (for the seed's made-up names).
    async fn owner_names(&mut self) -> Result<HashSet<String>>;
    /// Inserts new owners; their ids in the same order.
    async fn insert_owners(&mut self, names: &[String], at: DateTime<Utc>) -> Result<Vec<i64>>;
    /// Inserts seeded keys on the default plan, `created_by` [`crate::SEED_CREATED_BY`]; returns
    /// the ids inserted (one that clashes with an existing id is skipped).
    async fn insert_seed_keys(
        &mut self,
        keys: &[SeedKeyRecord],
        owner_ids: &[i64],
        prefix: &str,
        secret_hash: &str,
    ) -> Result<HashSet<String>>;

    async fn commit(self: Box<Self>) -> Result<()>;
}
