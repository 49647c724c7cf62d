//! The whole database as one [`Snapshot`] and back (`keyward-cli migrate-to`): read in one
//! read transaction, written in one `BEGIN IMMEDIATE` transaction into a database that holds no
//! keys, owners or audit rows. Owners, plans and audit rows keep their ids, so keys keep their
//! owner and plan and the log keeps its numbers; keys are written in their original order, and
//! the search index's insert trigger indexes each one as it lands.

use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{FromRow, QueryBuilder, Row, SqliteConnection};

use keyward_core::backend::{PlanRecord, Snapshot, SnapshotKey};
use keyward_core::models::AuditEvent;
use keyward_core::names::key_search_text;
use keyward_core::store::destination_not_empty;
use keyward_core::{Error, Result};

use crate::busy::PAGE_CACHE_KIB;
use crate::error::OrDb;
use crate::keys::{key_columns, plan_column};
use crate::rows::{from_millis, limits_of, scopes_json, to_millis, KeyRow};

/// Rows per INSERT: at most 16 parameters each, far below SQLite's 32,766 per statement.
const ROWS_PER_INSERT: usize = 500;

/// Page cache while importing, in KiB, as for the seed: the import is one transaction, and
/// with the usual cache it would spill to the WAL over and over while the indexes grow.
const IMPORT_PAGE_CACHE_KIB: &str = "-262144";

const KEYS: &str = concat!(
    key_columns!(),
    ", k.secret_hash, k.seeded, k.plan_id \
     FROM api_keys k JOIN owners o ON o.id = k.owner_id ORDER BY k.seq"
);

const PLANS: &str = "SELECT id, name, rate_per_second AS plan_rate, burst AS plan_burst, \
     quota AS plan_quota, quota_period AS plan_period, is_default, created_at \
     FROM plans ORDER BY id";

/// Every row worth moving. A deferred transaction's first read fixes what it sees (WAL mode),
/// so every table is read as of one moment while others keep writing.
pub(crate) async fn export(pool: &SqlitePool) -> Result<Snapshot> {
    let mut tx = pool.begin().await.db()?;
    let db: &mut SqliteConnection = &mut tx;
    let settings = sqlx::query_as("SELECT key, value FROM settings ORDER BY key")
        .fetch_all(&mut *db)
        .await
        .db()?;
    let owners: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT id, name, created_at FROM owners ORDER BY id")
            .fetch_all(&mut *db)
            .await
            .db()?;
    let plans = sqlx::query(PLANS)
        .fetch_all(&mut *db)
        .await
        .db()?
        .iter()
        .map(plan)
        .collect::<std::result::Result<_, _>>()
        .db()?;
    let keys: Vec<KeyExport> = sqlx::query_as(KEYS).fetch_all(&mut *db).await.db()?;
    let audit: Vec<(i64, i64, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT seq, at, actor, action, key_id, details FROM audit_log ORDER BY seq",
    )
    .fetch_all(&mut *db)
    .await
    .db()?;
    let quota: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT key_id, period_start, used FROM quota_usage ORDER BY key_id")
            .fetch_all(&mut *db)
            .await
            .db()?;
    tx.rollback().await.db()?;
    Ok(Snapshot {
        settings,
        owners: owners
            .into_iter()
            .map(|(id, name, at)| (id, name, from_millis(at)))
            .collect(),
        plans,
        keys: keys.into_iter().map(|KeyExport(key)| key).collect(),
        audit: audit.into_iter().map(audit_event).collect::<Result<_>>()?,
        quota_usage: quota
            .into_iter()
            .map(|(key, at, used)| (key, from_millis(at), used))
            .collect(),
    })
}

fn plan(row: &SqliteRow) -> std::result::Result<PlanRecord, sqlx::Error> {
    Ok(PlanRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        limits: limits_of(row)?,
        is_default: row.try_get("is_default")?,
        created_at: from_millis(row.try_get("created_at")?),
        keys: None,
    })
}

/// A key decoded as its row arrives, so 100,000 raw rows are never held next to their records.
struct KeyExport(SnapshotKey);

impl<'r> FromRow<'r, SqliteRow> for KeyExport {
    fn from_row(row: &'r SqliteRow) -> std::result::Result<Self, sqlx::Error> {
        Ok(Self(SnapshotKey {
            key: KeyRow::from_row(row)?.0,
            secret_hash: row.try_get("secret_hash")?,
            seeded: row.try_get("seeded")?,
            plan_id: row.try_get("plan_id")?,
        }))
    }
}

/// The event's number must survive the move, so one the core cannot hold is refused rather
/// than clamped (two rows would then share it).
fn audit_event(
    (seq, at, actor, action, key_id, details): (i64, i64, String, String, Option<String>, String),
) -> Result<AuditEvent> {
    let seq = u32::try_from(seq).map_err(|_| {
        Error::Unavailable(format!(
            "The audit log holds a row numbered {seq}, past what Keyward can copy. Nothing was \
             copied and nothing was changed."
        ))
    })?;
    Ok(AuditEvent {
        seq,
        at: from_millis(at),
        actor,
        action,
        key_id,
        details,
    })
}

/// Writes `snapshot` into this database, which must hold no keys, owners or audit rows (checked
/// under the write lock, so no other writer can add one meanwhile). Its plans and settings, a
/// new database's default plan among them, give way to the snapshot's. Running servers' rows
/// are left alone. All of it commits, or none.
pub(crate) async fn import(pool: &SqlitePool, location: &str, snapshot: &Snapshot) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.db()?;
    let (keys, owners, audit): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM api_keys), (SELECT COUNT(*) FROM owners), \
         (SELECT COUNT(*) FROM audit_log)",
    )
    .fetch_one(&mut *tx)
    .await
    .db()?;
    if keys + owners + audit > 0 {
        return Err(destination_not_empty(location, keys, owners, audit));
    }
    sqlx::query(&format!("PRAGMA cache_size = {IMPORT_PAGE_CACHE_KIB}"))
        .execute(&mut *tx)
        .await
        .db()?;
    let written = write_all(&mut tx, snapshot).await;
    // The connection goes back to the pool whatever happened: its usual cache goes back too.
    let restored = sqlx::query(&format!("PRAGMA cache_size = {PAGE_CACHE_KIB}"))
        .execute(&mut *tx)
        .await
        .db();
    written?;
    restored?;
    tx.commit().await.db()
}

async fn write_all(db: &mut SqliteConnection, snapshot: &Snapshot) -> Result<()> {
    // No key refers to them (there are none), and quota rows go with keys.
    for table in ["settings", "plans"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *db)
            .await
            .db()?;
    }
    for chunk in snapshot.settings.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new("INSERT INTO settings (key, value) ");
        insert.push_values(chunk, |mut row, (key, value)| {
            row.push_bind(key).push_bind(value);
        });
        insert.build().execute(&mut *db).await.db()?;
    }
    for chunk in snapshot.owners.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new("INSERT INTO owners (id, name, created_at) ");
        insert.push_values(chunk, |mut row, (id, name, at)| {
            row.push_bind(id).push_bind(name).push_bind(to_millis(*at));
        });
        insert.build().execute(&mut *db).await.db()?;
    }
    for chunk in snapshot.plans.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO plans (id, name, rate_per_second, burst, quota, quota_period, \
             is_default, created_at) ",
        );
        insert.push_values(chunk, |mut row, plan| {
            row.push_bind(plan.id)
                .push_bind(&plan.name)
                .push_bind(plan.limits.rate_per_second)
                .push_bind(plan.limits.burst)
                .push_bind(plan.limits.quota)
                .push_bind(&plan.limits.quota_period)
                .push_bind(plan.is_default)
                .push_bind(to_millis(plan.created_at));
        });
        insert.build().execute(&mut *db).await.db()?;
    }
    write_keys(db, &snapshot.keys).await?;
    for chunk in snapshot.audit.chunks(ROWS_PER_INSERT) {
        let mut insert =
            QueryBuilder::new("INSERT INTO audit_log (seq, at, actor, action, key_id, details) ");
        insert.push_values(chunk, |mut row, event| {
            row.push_bind(i64::from(event.seq))
                .push_bind(to_millis(event.at))
                .push_bind(&event.actor)
                .push_bind(&event.action)
                .push_bind(&event.key_id)
                .push_bind(&event.details);
        });
        insert.build().execute(&mut *db).await.db()?;
    }
    for chunk in snapshot.quota_usage.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new("INSERT INTO quota_usage (key_id, period_start, used) ");
        insert.push_values(chunk, |mut row, (key, at, used)| {
            row.push_bind(key).push_bind(to_millis(*at)).push_bind(used);
        });
        insert.build().execute(&mut *db).await.db()?;
    }
    Ok(())
}

/// Keys in the snapshot's order (the source's insertion order), so the new rows' `seq` (the
/// search index's row number) grows in the same order as on the source.
async fn write_keys(db: &mut SqliteConnection, keys: &[SnapshotKey]) -> Result<()> {
    for chunk in keys.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO api_keys (id, prefix, name, owner_id, role, scopes, track_usage, \
             secret_last4, secret_hash, created_at, created_by, expires_at, revoked_at, \
             last_used_at, seeded, plan_id, search_text) ",
        );
        insert.push_values(chunk, |mut row, stored| {
            let key = &stored.key;
            row.push_bind(&key.id)
                .push_bind(&key.prefix)
                .push_bind(&key.name)
                .push_bind(key.owner_id)
                .push_bind(&key.role)
                .push_bind(scopes_json(&key.scopes))
                .push_bind(key.track_usage)
                .push_bind(&key.secret_last4)
                .push_bind(&stored.secret_hash)
                .push_bind(to_millis(key.created_at))
                .push_bind(&key.created_by)
                .push_bind(key.expires_at.map(to_millis))
                .push_bind(key.revoked_at.map(to_millis))
                .push_bind(key.last_used_at.map(to_millis))
                .push_bind(stored.seeded)
                .push_bind(stored.plan_id)
                .push_bind(key_search_text(&key.name, &key.prefix, &key.id));
        });
        insert.build().execute(&mut *db).await.db()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use keyward_core::backend::{AuditRecord, Backend, NewKeyRecord};
    use keyward_core::plans::PlanLimits;

    use crate::SqliteBackend;

    /// A database with a setting, an owner, a plan, a revoked key, audit rows and a counter.
    async fn filled(path: &std::path::Path) -> SqliteBackend {
        let at = Utc::now() - Duration::days(3);
        let backend = crate::open(path, at).await.expect("open");
        let mut tx = backend.begin_write().await.expect("begin");
        tx.put_setting("owner_key_limit", "7")
            .await
            .expect("setting");
        let owner = tx
            .insert_owner("Ada", at)
            .await
            .expect("owner")
            .expect("new");
        let limits = PlanLimits {
            rate_per_second: Some(5),
            burst: Some(10),
            quota: None,
        };
        assert!(tx.insert_plan("Pro", &limits, at).await.expect("plan"));
        let pro = tx.plan("Pro").await.expect("read").expect("made");
        for id in ["AAAAAAAAAA", "BBBBBBBBBB"] {
            let key = NewKeyRecord {
                id: id.into(),
                prefix: "kw".into(),
                name: format!("deploy bot {id}"),
                owner_id: owner,
                role: "standard".into(),
                scopes: vec!["read".into()],
                track_usage: true,
                secret_last4: "wxyz".into(),
                secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                created_at: at,
                created_by: "ada".into(),
                expires_at: Some(at + Duration::days(30)),
                plan_id: pro.id,
            };
            assert!(tx.insert_key(&key).await.expect("key"));
            let row = AuditRecord {
                at,
                actor: "ada",
                action: "key_created",
                key_id: Some(id),
                details: "{\"name\":\"deploy\"}".into(),
            };
            tx.audit(&row).await.expect("audit");
        }
        tx.revoke_key("BBBBBBBBBB", at + Duration::hours(1))
            .await
            .expect("revoke");
        tx.commit().await.expect("commit");
        backend
            .add_quota_usage(&[("AAAAAAAAAA".into(), at, 3)])
            .await
            .expect("counter");
        backend
    }

    async fn searched(backend: &SqliteBackend, term: &str) -> i64 {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM api_keys_grams WHERE api_keys_grams MATCH ?")
                .bind(crate::search::pairs_query(
                    &keyward_core::names::search_form(term),
                ))
                .fetch_one(backend.pool())
                .await
                .expect("search");
        n
    }

    #[tokio::test]
    async fn a_copy_reads_back_the_same_and_is_searchable() {
        let dir = tempfile::tempdir().expect("dir");
        let source = filled(&dir.path().join("a.db")).await;
        let dest = crate::open(&dir.path().join("b.db"), Utc::now())
            .await
            .expect("open");
        let snapshot = source.export().await.expect("export");
        assert_eq!(snapshot.keys.len(), 2);
        assert_eq!(snapshot.plans.len(), 2, "Unlimited and Pro");
        dest.import(&snapshot).await.expect("import");
        let copied = dest.export().await.expect("read back");
        assert_eq!(format!("{snapshot:?}"), format!("{copied:?}"));
        assert_eq!(searched(&dest, "deploy").await, 2);
        assert_eq!(searched(&dest, "kw_BBBBBB").await, 1);

        // New rows take ids after the copied ones.
        let mut tx = dest.begin_write().await.expect("begin");
        let owner = tx.insert_owner("Grace", Utc::now()).await.expect("owner");
        assert_eq!(owner, Some(copied.owners[0].0 + 1));
        tx.commit().await.expect("commit");
    }

    #[tokio::test]
    async fn a_database_with_rows_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().expect("dir");
        let source = filled(&dir.path().join("a.db")).await;
        let dest = filled(&dir.path().join("b.db")).await;
        let before = format!("{:?}", dest.export().await.expect("export"));
        let snapshot = source.export().await.expect("export");
        let refused = dest.import(&snapshot).await.expect_err("not empty");
        assert!(matches!(refused, Error::InvalidInput(_)), "{refused:?}");
        assert!(
            refused.to_string().contains("nothing was changed"),
            "{refused}"
        );
        assert_eq!(
            before,
            format!("{:?}", dest.export().await.expect("export"))
        );
    }

    #[tokio::test]
    async fn a_failed_import_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("dir");
        let source = filled(&dir.path().join("a.db")).await;
        let dest = crate::open(&dir.path().join("b.db"), Utc::now())
            .await
            .expect("open");
        let before = format!("{:?}", dest.export().await.expect("export"));
        let mut snapshot = source.export().await.expect("export");
        // A key of an owner that is not in the snapshot: the foreign key refuses it, after the
        // plans, settings and owners were already written in the same transaction.
        snapshot.keys[1].key.owner_id = 424_242;
        assert!(dest.import(&snapshot).await.is_err());
        assert_eq!(
            before,
            format!("{:?}", dest.export().await.expect("export"))
        );
    }
}
