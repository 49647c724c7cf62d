//! The rows as PostgreSQL returns them, and the SQL that selects them: one place, so every query
//! reading a key or a plan reads the same columns in the same shape.

use chrono::{DateTime, Utc};
use keyward_core::backend::{KeyRecord, LimitsRecord, PlanRecord};
use sqlx::FromRow;

/// A name compared or ordered as SQLite's `COLLATE NOCASE` does: ASCII letters folded, bytewise
/// after that. Spelled exactly as in the indexes of migrations 0001 and 0002, or PostgreSQL will
/// not use them.
macro_rules! folded {
    ($column:literal) => {
        concat!("lower(", $column, " COLLATE \"C\")")
    };
}
pub(crate) use folded;

/// A key (its columns prefixed with `$key`) active at the time `$at`: neither revoked nor expired. The one
/// spelling of it (the list's status filter writes it with [`EXPIRY_OR_NEVER`], the form its
/// indexes hold).
macro_rules! active_at {
    ($key:literal, $at:literal) => {
        concat!(
            $key,
            "revoked_at IS NULL AND (",
            $key,
            "expires_at IS NULL OR ",
            $key,
            "expires_at > ",
            $at,
            ")"
        )
    };
}
pub(crate) use active_at;

/// Keys that never expire, as far as ordering and ranges go: after every date.
pub(crate) const EXPIRY_OR_NEVER: &str = "COALESCE(k.expires_at, 'infinity'::timestamptz)";
/// Keys never used, as far as ordering goes: the epoch (SQLite: 0 ms).
pub(crate) const LAST_USED_OR_NEVER: &str = "COALESCE(k.last_used_at, 'epoch'::timestamptz)";

/// The columns of the key `k` read with [`OWNER_AND_PLAN`].
macro_rules! key_columns {
    () => {
        "k.id, k.prefix, k.name, k.owner_id, o.name AS owner, k.role, k.scopes, k.track_usage, \
         k.secret_last4, k.created_at, k.created_by, k.expires_at, k.revoked_at, k.last_used_at, \
         pl.name AS plan"
    };
}
pub(crate) use key_columns;

/// Joined to the key `k`: its owner `o` and its plan `pl` (a LEFT JOIN, as SQLite's column could
/// be empty in a database no Keyward wrote; here it never is).
macro_rules! owner_and_plan {
    () => {
        "JOIN owners o ON o.id = k.owner_id LEFT JOIN plans pl ON pl.id = k.plan_id"
    };
}
pub(crate) use owner_and_plan;

pub(crate) const KEY_SELECT: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys k ",
    owner_and_plan!()
);

/// [`KEY_SELECT`] with the hash and the plan's limits: everything a check needs in one read.
pub(crate) const KEY_TO_VERIFY_SELECT: &str = concat!(
    "SELECT ",
    key_columns!(),
    ", k.secret_hash, pl.rate_per_second, pl.burst, pl.quota, pl.quota_period FROM api_keys k ",
    owner_and_plan!()
);

#[derive(FromRow)]
pub(crate) struct KeyRow {
    id: String,
    prefix: String,
    name: String,
    owner_id: i64,
    owner: String,
    role: String,
    scopes: Vec<String>,
    track_usage: bool,
    secret_last4: String,
    created_at: DateTime<Utc>,
    created_by: String,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    plan: Option<String>,
}

impl From<KeyRow> for KeyRecord {
    fn from(r: KeyRow) -> Self {
        Self {
            id: r.id,
            prefix: r.prefix,
            name: r.name,
            owner_id: r.owner_id,
            owner: r.owner,
            role: r.role,
            scopes: r.scopes,
            track_usage: r.track_usage,
            secret_last4: r.secret_last4,
            created_at: r.created_at,
            created_by: r.created_by,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            plan: r.plan,
        }
    }
}

/// A plan's limits as stored (all `None` for a key's missing plan in an outer join).
#[derive(FromRow, Default)]
pub(crate) struct LimitsRow {
    rate_per_second: Option<i64>,
    burst: Option<i64>,
    quota: Option<i64>,
    quota_period: Option<String>,
}

impl From<LimitsRow> for LimitsRecord {
    fn from(r: LimitsRow) -> Self {
        Self {
            rate_per_second: r.rate_per_second,
            burst: r.burst,
            quota: r.quota,
            quota_period: r.quota_period,
        }
    }
}

/// Every plan column, with how many keys use the plan.
pub(crate) const PLAN_SELECT: &str = "SELECT p.id, p.name, p.rate_per_second, p.burst, p.quota, \
     p.quota_period, p.is_default, p.created_at, \
     (SELECT count(*) FROM api_keys k WHERE k.plan_id = p.id) AS keys FROM plans p";

/// [`PLAN_SELECT`] without the count, inside a write: counting reads the whole plan index, too
/// slow for every key created while other writers wait (`WriteTx::plan_key_count` counts).
pub(crate) const PLAN_SELECT_UNCOUNTED: &str = "SELECT p.id, p.name, p.rate_per_second, p.burst, \
     p.quota, p.quota_period, p.is_default, p.created_at, NULL::bigint AS keys FROM plans p";

#[derive(FromRow)]
pub(crate) struct PlanRow {
    id: i64,
    name: String,
    #[sqlx(flatten)]
    limits: LimitsRow,
    is_default: bool,
    created_at: DateTime<Utc>,
    keys: Option<i64>,
}

impl From<PlanRow> for PlanRecord {
    fn from(r: PlanRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            limits: r.limits.into(),
            is_default: r.is_default,
            created_at: r.created_at,
            keys: r.keys,
        }
    }
}

/// A count as the core's `u32` fields hold it.
pub(crate) fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}
