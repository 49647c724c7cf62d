//! The whole database as one [`Snapshot`] and back (`keyward-cli migrate-to`): read in one
//! `REPEATABLE READ` transaction (one snapshot of every table while others keep writing), written
//! in one transaction into a database that holds no keys, owners or audit rows. Owners, plans and
//! audit rows keep their ids (`OVERRIDING SYSTEM VALUE`), so keys keep their owner and plan and
//! the log keeps its numbers; keys go in in their original order, so `seq` grows as it did.

use chrono::{DateTime, Utc};
use keyward_core::backend::{PlanRecord, Snapshot, SnapshotKey};
use keyward_core::names::key_search_text;
use keyward_core::store::destination_not_empty;
use keyward_core::{AuditEvent, Error, Result};
use sqlx::{FromRow, PgConnection, PgPool};

use crate::errors::{Address, DbResult};
use crate::rows::{key_columns, owner_and_plan, KeyRow, PlanRow, PLAN_SELECT_UNCOUNTED};

/// Rows per INSERT: every column is one array parameter, so this only bounds a statement's size.
const ROWS_PER_INSERT: usize = 5_000;

const KEYS: &str = concat!(
    "SELECT ",
    key_columns!(),
    ", k.secret_hash, k.seeded, k.plan_id FROM api_keys k ",
    owner_and_plan!(),
    " ORDER BY k.seq"
);

#[derive(FromRow)]
struct SnapshotKeyRow {
    #[sqlx(flatten)]
    key: KeyRow,
    secret_hash: String,
    seeded: bool,
    plan_id: i64,
}

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    key_id: Option<String>,
    details: String,
}

/// The event's number must survive the move, so one the core cannot hold is refused rather than
/// clamped (two rows would then share it).
fn audit_event(r: AuditRow) -> Result<AuditEvent> {
    let seq = u32::try_from(r.seq).map_err(|_| {
        Error::Unavailable(format!(
            "The audit log holds a row numbered {}, past what Keyward can copy. Nothing was \
             copied and nothing was changed.",
            r.seq
        ))
    })?;
    Ok(AuditEvent {
        seq,
        at: r.at,
        actor: r.actor,
        action: r.action,
        key_id: r.key_id,
        details: r.details,
    })
}

pub(crate) async fn export(pool: &PgPool, at: &Address) -> Result<Snapshot> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .db(at)?;
    let db: &mut PgConnection = &mut tx;
    let settings = sqlx::query_as("SELECT key, value::text FROM settings ORDER BY key")
        .fetch_all(&mut *db)
        .await
        .db(at)?;
    let owners = sqlx::query_as("SELECT id, name, created_at FROM owners ORDER BY id")
        .fetch_all(&mut *db)
        .await
        .db(at)?;
    let plans: Vec<PlanRow> = sqlx::query_as(&format!("{PLAN_SELECT_UNCOUNTED} ORDER BY p.id"))
        .fetch_all(&mut *db)
        .await
        .db(at)?;
    let keys: Vec<SnapshotKeyRow> = sqlx::query_as(KEYS).fetch_all(&mut *db).await.db(at)?;
    let audit: Vec<AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, key_id, details::text AS details FROM audit_log \
         ORDER BY seq",
    )
    .fetch_all(&mut *db)
    .await
    .db(at)?;
    let quota_usage =
        sqlx::query_as("SELECT key_id, period_start, used FROM quota_usage ORDER BY key_id")
            .fetch_all(&mut *db)
            .await
            .db(at)?;
    tx.rollback().await.db(at)?;
    Ok(Snapshot {
        settings,
        owners,
        plans: plans.into_iter().map(PlanRecord::from).collect(),
        keys: keys
            .into_iter()
            .map(|r| SnapshotKey {
                key: r.key.into(),
                secret_hash: r.secret_hash,
                seeded: r.seeded,
                plan_id: Some(r.plan_id),
            })
            .collect(),
        audit: audit.into_iter().map(audit_event).collect::<Result<_>>()?,
        quota_usage,
    })
}

/// Writes `snapshot` into this database, which must hold no keys, owners or audit rows. The
/// tables are locked against other writers first (readers go on), so none can add a row between
/// the check and the copy. The snapshot's plans and settings replace those here (a new
/// database's "Unlimited" among them). All of it commits, or none.
pub(crate) async fn import(pool: &PgPool, at: &Address, snapshot: &Snapshot) -> Result<()> {
    // A key without a plan cannot be stored here; say which rather than fail on the column.
    if let Some(key) = snapshot.keys.iter().find(|k| k.plan_id.is_none()) {
        return Err(Error::InvalidInput(format!(
            "The key {} has no usage plan, which a PostgreSQL key database requires. Give it a \
             plan where it is now, then copy again; nothing was changed.",
            key.key.id
        )));
    }
    let mut tx = pool.begin().await.db(at)?;
    sqlx::query(
        "LOCK TABLE settings, owners, plans, api_keys, audit_log, quota_usage IN EXCLUSIVE MODE",
    )
    .execute(&mut *tx)
    .await
    .db(at)?;
    let (keys, owners, audit): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM api_keys), (SELECT count(*) FROM owners), \
         (SELECT count(*) FROM audit_log)",
    )
    .fetch_one(&mut *tx)
    .await
    .db(at)?;
    if keys + owners + audit > 0 {
        return Err(destination_not_empty(&at.url(), keys, owners, audit));
    }
    write_all(&mut tx, at, snapshot).await?;
    tx.commit().await.db(at)
}

async fn write_all(db: &mut PgConnection, at: &Address, snapshot: &Snapshot) -> Result<()> {
    // No key refers to them (there are none), and quota rows go with keys.
    for table in ["settings", "plans"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *db)
            .await
            .db(at)?;
    }
    let (names, values): (Vec<&str>, Vec<&str>) = snapshot
        .settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .unzip();
    sqlx::query(
        "INSERT INTO settings (key, value) SELECT k, v::json FROM unnest($1::text[], $2::text[]) \
         AS s(k, v)",
    )
    .bind(names)
    .bind(values)
    .execute(&mut *db)
    .await
    .db(at)?;
    for chunk in snapshot.owners.chunks(ROWS_PER_INSERT) {
        let ids: Vec<i64> = chunk.iter().map(|o| o.0).collect();
        let names: Vec<&str> = chunk.iter().map(|o| o.1.as_str()).collect();
        let created: Vec<DateTime<Utc>> = chunk.iter().map(|o| o.2).collect();
        sqlx::query(
            "INSERT INTO owners (id, name, created_at) OVERRIDING SYSTEM VALUE \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[])",
        )
        .bind(ids)
        .bind(names)
        .bind(created)
        .execute(&mut *db)
        .await
        .db(at)?;
    }
    write_plans(db, at, &snapshot.plans).await?;
    write_keys(db, at, &snapshot.keys).await?;
    write_audit(db, at, &snapshot.audit).await?;
    let (keys, periods, used): (Vec<&str>, Vec<DateTime<Utc>>, Vec<i64>) = snapshot
        .quota_usage
        .iter()
        .fold(Default::default(), |(mut k, mut p, mut u), row| {
            k.push(row.0.as_str());
            p.push(row.1);
            u.push(row.2);
            (k, p, u)
        });
    sqlx::query(
        "INSERT INTO quota_usage (key_id, period_start, used) \
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[])",
    )
    .bind(keys)
    .bind(periods)
    .bind(used)
    .execute(&mut *db)
    .await
    .db(at)?;
    // New rows take ids after the copied ones.
    for (table, column) in [("owners", "id"), ("plans", "id"), ("audit_log", "seq")] {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             COALESCE(max({column}), 0) + 1, false) FROM {table}"
        ))
        .execute(&mut *db)
        .await
        .db(at)?;
    }
    Ok(())
}

async fn write_plans(db: &mut PgConnection, at: &Address, plans: &[PlanRecord]) -> Result<()> {
    let mut c = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for p in plans {
        c.0.push(p.id);
        c.1.push(p.name.as_str());
        c.2.push(p.limits.rate_per_second);
        c.3.push(p.limits.burst);
        c.4.push(p.limits.quota);
        c.5.push(p.limits.quota_period.as_deref());
        c.6.push(p.is_default);
        c.7.push(p.created_at);
    }
    sqlx::query(
        "INSERT INTO plans (id, name, rate_per_second, burst, quota, quota_period, is_default, \
         created_at) OVERRIDING SYSTEM VALUE SELECT * FROM unnest($1::bigint[], $2::text[], \
         $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bool[], $8::timestamptz[])",
    )
    .bind(c.0)
    .bind(c.1)
    .bind(c.2)
    .bind(c.3)
    .bind(c.4)
    .bind(c.5)
    .bind(c.6)
    .bind(c.7)
    .execute(db)
    .await
    .db(at)?;
    Ok(())
}

/// In the snapshot's order (the source's insertion order). Scopes travel as one JSON array per
/// row: PostgreSQL's arrays must be rectangular.
async fn write_keys(db: &mut PgConnection, at: &Address, keys: &[SnapshotKey]) -> Result<()> {
    for chunk in keys.chunks(ROWS_PER_INSERT) {
        let mut c = KeyColumns::default();
        for stored in chunk {
            c.push(stored)?;
        }
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, name, owner_id, role, scopes, track_usage, \
             secret_last4, secret_hash, created_at, created_by, expires_at, revoked_at, \
             last_used_at, seeded, plan_id, search_text) \
             SELECT id, prefix, name, owner_id, role, \
               ARRAY(SELECT json_array_elements_text(scopes::json)), track_usage, last4, hash, \
               created_at, created_by, expires_at, revoked_at, last_used_at, seeded, plan_id, \
               search_text \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], \
               $6::text[], $7::bool[], $8::text[], $9::text[], $10::timestamptz[], $11::text[], \
               $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::bool[], \
               $16::bigint[], $17::text[]) WITH ORDINALITY \
             AS k(id, prefix, name, owner_id, role, scopes, track_usage, last4, hash, \
               created_at, created_by, expires_at, revoked_at, last_used_at, seeded, plan_id, \
               search_text, n) \
             ORDER BY n",
        )
        .bind(c.id)
        .bind(c.prefix)
        .bind(c.name)
        .bind(c.owner_id)
        .bind(c.role)
        .bind(c.scopes)
        .bind(c.track_usage)
        .bind(c.last4)
        .bind(c.hash)
        .bind(c.created_at)
        .bind(c.created_by)
        .bind(c.expires_at)
        .bind(c.revoked_at)
        .bind(c.last_used_at)
        .bind(c.seeded)
        .bind(c.plan_id)
        .bind(c.search_text)
        .execute(&mut *db)
        .await
        .db(at)?;
    }
    Ok(())
}

/// One chunk of keys, as the arrays [`write_keys`] binds.
#[derive(Default)]
struct KeyColumns {
    id: Vec<String>,
    prefix: Vec<String>,
    name: Vec<String>,
    owner_id: Vec<i64>,
    role: Vec<String>,
    scopes: Vec<String>,
    track_usage: Vec<bool>,
    last4: Vec<String>,
    hash: Vec<String>,
    created_at: Vec<DateTime<Utc>>,
    created_by: Vec<String>,
    expires_at: Vec<Option<DateTime<Utc>>>,
    revoked_at: Vec<Option<DateTime<Utc>>>,
    last_used_at: Vec<Option<DateTime<Utc>>>,
    seeded: Vec<bool>,
    plan_id: Vec<Option<i64>>,
    search_text: Vec<String>,
}

impl KeyColumns {
    fn push(&mut self, stored: &SnapshotKey) -> Result<()> {
        let key = &stored.key;
        self.id.push(key.id.clone());
        self.prefix.push(key.prefix.clone());
        self.name.push(key.name.clone());
        self.owner_id.push(key.owner_id);
        self.role.push(key.role.clone());
        self.scopes
            .push(serde_json::to_string(&key.scopes).map_err(|e| Error::Database(e.to_string()))?);
        self.track_usage.push(key.track_usage);
        self.last4.push(key.secret_last4.clone());
        self.hash.push(stored.secret_hash.clone());
        self.created_at.push(key.created_at);
        self.created_by.push(key.created_by.clone());
        self.expires_at.push(key.expires_at);
        self.revoked_at.push(key.revoked_at);
        self.last_used_at.push(key.last_used_at);
        self.seeded.push(stored.seeded);
        self.plan_id.push(stored.plan_id);
        self.search_text
            .push(key_search_text(&key.name, &key.prefix, &key.id));
        Ok(())
    }
}

async fn write_audit(db: &mut PgConnection, at: &Address, audit: &[AuditEvent]) -> Result<()> {
    for chunk in audit.chunks(ROWS_PER_INSERT) {
        let seq: Vec<i64> = chunk.iter().map(|e| i64::from(e.seq)).collect();
        let when: Vec<DateTime<Utc>> = chunk.iter().map(|e| e.at).collect();
        let actor: Vec<&str> = chunk.iter().map(|e| e.actor.as_str()).collect();
        let action: Vec<&str> = chunk.iter().map(|e| e.action.as_str()).collect();
        let key_id: Vec<Option<&str>> = chunk.iter().map(|e| e.key_id.as_deref()).collect();
        let details: Vec<&str> = chunk.iter().map(|e| e.details.as_str()).collect();
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, key_id, details) \
             OVERRIDING SYSTEM VALUE SELECT seq, at, actor, action, key_id, details::json \
             FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
               $6::text[]) AS a(seq, at, actor, action, key_id, details)",
        )
        .bind(seq)
        .bind(when)
        .bind(actor)
        .bind(action)
        .bind(key_id)
        .bind(details)
        .execute(&mut *db)
        .await
        .db(at)?;
    }
    Ok(())
}
