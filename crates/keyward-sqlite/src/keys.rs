//! Keys' rows: reading one, and the writes of a transaction (insert, edit, revoke, delete).

use sqlx::{Executor, Sqlite, SqliteConnection};

use keyward_core::backend::{KeyChange, KeyRecord, NewKeyRecord};
use keyward_core::names::key_search_text;
use keyward_core::Result;

use crate::error::{unless_taken, OrDb};
use crate::rows::{scopes_json, to_millis, KeyRow};

/// The plan's name for the key `k`: a lookup by primary key, so no list query needs another
/// join (and each keeps its index plan).
macro_rules! plan_column {
    () => {
        "(SELECT p.name FROM plans p WHERE p.id = k.plan_id) AS key_plan"
    };
}

/// The columns [`KeyRow`] reads, for a key `k` and its owner `o`.
macro_rules! key_columns {
    () => {
        concat!(
            "SELECT k.id, k.prefix, k.name, k.owner_id, o.name AS owner, k.role, k.scopes, \
             k.track_usage, k.secret_last4, k.created_at, k.created_by, k.expires_at, \
             k.revoked_at, k.last_used_at, ",
            plan_column!()
        )
    };
}
pub(crate) use {key_columns, plan_column};

pub(crate) const KEY_SELECT: &str = concat!(
    key_columns!(),
    " FROM api_keys k JOIN owners o ON o.id = k.owner_id"
);

/// [`KEY_SELECT`] plus the stored argon2 hash and the key's plan's limits, for a check:
/// everything it needs in one indexed read.
pub(crate) const KEY_AND_HASH_SELECT: &str = concat!(
    key_columns!(),
    ", k.secret_hash, p.rate_per_second AS plan_rate, p.burst AS plan_burst, \
     p.quota AS plan_quota, p.quota_period AS plan_period \
     FROM api_keys k JOIN owners o ON o.id = k.owner_id LEFT JOIN plans p ON p.id = k.plan_id"
);

/// One key's row by id, on any connection: the pool or a transaction.
pub(crate) async fn key<'e>(
    db: impl Executor<'e, Database = Sqlite>,
    id: &str,
) -> Result<Option<KeyRecord>> {
    let row: Option<KeyRow> = sqlx::query_as(&format!("{KEY_SELECT} WHERE k.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
        .db()?;
    Ok(row.map(|KeyRow(key)| key))
}

/// `false` when the id is taken: the caller draws another.
pub(crate) async fn insert_key(db: &mut SqliteConnection, key: &NewKeyRecord) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO api_keys (id, prefix, name, owner_id, role, scopes, track_usage, \
         secret_last4, secret_hash, created_at, created_by, expires_at, plan_id, search_text) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.id)
    .bind(&key.prefix)
    .bind(&key.name)
    .bind(key.owner_id)
    .bind(&key.role)
    .bind(scopes_json(&key.scopes))
    .bind(key.track_usage)
    .bind(&key.secret_last4)
    .bind(&key.secret_hash)
    .bind(to_millis(key.created_at))
    .bind(&key.created_by)
    .bind(key.expires_at.map(to_millis))
    .bind(key.plan_id)
    .bind(key_search_text(&key.name, &key.prefix, &key.id))
    .execute(db)
    .await;
    unless_taken(inserted)
}

pub(crate) async fn update_key(
    db: &mut SqliteConnection,
    id: &str,
    change: &KeyChange,
) -> Result<()> {
    sqlx::query(
        "UPDATE api_keys SET name = ?, owner_id = ?, role = ?, scopes = ?, track_usage = ?, \
         expires_at = ?, plan_id = COALESCE(?, plan_id), search_text = ? WHERE id = ?",
    )
    .bind(&change.name)
    .bind(change.owner_id)
    .bind(&change.role)
    .bind(scopes_json(&change.scopes))
    .bind(change.track_usage)
    .bind(change.expires_at.map(to_millis))
    .bind(change.plan_id)
    .bind(&change.search_text)
    .bind(id)
    .execute(db)
    .await
    .db()?;
    Ok(())
}

/// A key revoked already keeps its first revocation time.
pub(crate) async fn revoke_key(
    db: &mut SqliteConnection,
    id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(to_millis(at))
        .bind(id)
        .execute(db)
        .await
        .db()?;
    Ok(())
}

/// Its audit rows stay (`audit_log.key_id` has no foreign key); its quota counter goes with it.
pub(crate) async fn delete_key(db: &mut SqliteConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM api_keys WHERE id = ?")
        .bind(id)
        .execute(db)
        .await
        .db()?;
    Ok(())
}
