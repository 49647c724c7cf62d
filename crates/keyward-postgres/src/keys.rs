//! Key rows: reading one, and the writes of a transaction (insert, edit, revoke, delete).

use keyward_core::backend::{KeyChange, KeyRecord, NewKeyRecord, StoredKey};
use keyward_core::names::key_search_text;
use keyward_core::Result;
use sqlx::{FromRow, PgConnection, PgExecutor};

use crate::errors::{Address, DbResult};
use crate::rows::{KeyRow, LimitsRow, KEY_SELECT, KEY_TO_VERIFY_SELECT};

/// Whether reading a key locks it for the rest of the transaction.
pub(crate) enum Lock {
    No,
    /// Inside a write: the key is about to be changed on what was read.
    ForUpdate,
}

pub(crate) async fn key<'e>(
    db: impl PgExecutor<'e>,
    at: &Address,
    id: &str,
    lock: Lock,
) -> Result<Option<KeyRecord>> {
    let locking = match lock {
        Lock::No => "",
        Lock::ForUpdate => " FOR UPDATE OF k",
    };
    let row: Option<KeyRow> = sqlx::query_as(&format!("{KEY_SELECT} WHERE k.id = $1{locking}"))
        .bind(id)
        .fetch_optional(db)
        .await
        .db(at)?;
    Ok(row.map(KeyRecord::from))
}

#[derive(FromRow)]
struct StoredRow {
    #[sqlx(flatten)]
    key: KeyRow,
    secret_hash: String,
    #[sqlx(flatten)]
    limits: LimitsRow,
}

/// Seeded rows are made-up data whose secret nobody knows: they never verify.
pub(crate) async fn key_to_verify<'e>(
    db: impl PgExecutor<'e>,
    at: &Address,
    id: &str,
) -> Result<Option<StoredKey>> {
    let row: Option<StoredRow> = sqlx::query_as(&format!(
        "{KEY_TO_VERIFY_SELECT} WHERE k.id = $1 AND NOT k.seeded"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
    .db(at)?;
    Ok(row.map(|r| StoredKey {
        key: r.key.into(),
        secret_hash: r.secret_hash,
        limits: r.limits.into(),
    }))
}

/// `false` when the id is taken. `ON CONFLICT DO NOTHING` rather than catching the unique
/// violation: a failed statement would abort the transaction the caller wants to retry in.
pub(crate) async fn insert_key(
    conn: &mut PgConnection,
    at: &Address,
    key: &NewKeyRecord,
) -> Result<bool> {
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO api_keys (id, prefix, name, owner_id, role, scopes, track_usage, \
         secret_last4, secret_hash, created_at, created_by, expires_at, plan_id, search_text) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (id) DO NOTHING RETURNING seq",
    )
    .bind(&key.id)
    .bind(&key.prefix)
    .bind(&key.name)
    .bind(key.owner_id)
    .bind(&key.role)
    .bind(&key.scopes)
    .bind(key.track_usage)
    .bind(&key.secret_last4)
    .bind(&key.secret_hash)
    .bind(key.created_at)
    .bind(&key.created_by)
    .bind(key.expires_at)
    .bind(key.plan_id)
    .bind(key_search_text(&key.name, &key.prefix, &key.id))
    .fetch_optional(conn)
    .await
    .db(at)?;
    Ok(inserted.is_some())
}

pub(crate) async fn update_key(
    conn: &mut PgConnection,
    at: &Address,
    id: &str,
    change: &KeyChange,
) -> Result<()> {
    sqlx::query(
        "UPDATE api_keys SET name = $1, owner_id = $2, role = $3, scopes = $4, \
         track_usage = $5, expires_at = $6, plan_id = COALESCE($7, plan_id), search_text = $8 \
         WHERE id = $9",
    )
    .bind(&change.name)
    .bind(change.owner_id)
    .bind(&change.role)
    .bind(&change.scopes)
    .bind(change.track_usage)
    .bind(change.expires_at)
    .bind(change.plan_id)
    .bind(&change.search_text)
    .bind(id)
    .execute(conn)
    .await
    .db(at)?;
    Ok(())
}

/// A key revoked already keeps its first revocation time.
pub(crate) async fn revoke_key(
    conn: &mut PgConnection,
    at: &Address,
    id: &str,
    when: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(when)
        .bind(id)
        .execute(conn)
        .await
        .db(at)?;
    Ok(())
}

/// Its quota counter goes with it (ON DELETE CASCADE); its audit rows stay.
pub(crate) async fn delete_key(conn: &mut PgConnection, at: &Address, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .db(at)?;
    Ok(())
}
