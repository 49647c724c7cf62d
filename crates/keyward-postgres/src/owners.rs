//! Owners: finding one (and locking it for the per-owner limit, see `tx.rs`), naming, counting.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use keyward_core::{Error, Owner, Result};
use sqlx::{Connection, FromRow, PgConnection, PgPool};

use crate::errors::{Address, DbResult, DbResultDoing, Doing, UniqueResult};
use crate::rows::{active_at, count, folded};

/// `columns` of the owner called `wanted` (canonical form) or else `typed` (as typed), both
/// placeholders. ASCII letters are compared without case, and the canonical form wins when both
/// exist. Shared with the list's owner filter.
pub(crate) fn owner_by_name(columns: &str, wanted: &str, typed: &str) -> String {
    let name = folded!("name");
    format!(
        "SELECT {columns} FROM owners WHERE {name} IN (lower({wanted}::text COLLATE \"C\"), \
         lower({typed}::text COLLATE \"C\")) \
         ORDER BY {name} = lower({wanted}::text COLLATE \"C\") DESC LIMIT 1"
    )
}

/// Locked until the end of the transaction: a second writer for the same owner waits here (see
/// `tx.rs`). `NO KEY UPDATE` is enough to exclude other such writers and does not block the
/// foreign-key checks of keys being inserted for the owner.
pub(crate) async fn find_owner(
    conn: &mut PgConnection,
    at: &Address,
    wanted: &str,
    typed: &str,
) -> Result<Option<(i64, String)>> {
    sqlx::query_as(&format!(
        "{} FOR NO KEY UPDATE",
        owner_by_name("id, name", "$1", "$2")
    ))
    .bind(wanted)
    .bind(typed)
    .fetch_optional(conn)
    .await
    .db(at)
}

/// `None` when the name is taken. A concurrent insert of the same name is waited for, then
/// counted as taken if it committed.
pub(crate) async fn insert_owner(
    conn: &mut PgConnection,
    at: &Address,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let id: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO owners (name, created_at) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(now)
    .fetch_optional(conn)
    .await
    .db_doing(at, Doing::ChangingOwners)?;
    Ok(id.map(|(id,)| id))
}

/// `false` when the new name is taken. Under a savepoint: the unique violation would otherwise
/// abort the caller's transaction.
pub(crate) async fn rename_owner(
    conn: &mut PgConnection,
    at: &Address,
    id: i64,
    to: &str,
) -> Result<bool> {
    let mut savepoint = conn.begin().await.db(at)?;
    let renamed = sqlx::query("UPDATE owners SET name = $1 WHERE id = $2")
        .bind(to)
        .bind(id)
        .execute(&mut *savepoint)
        .await
        .unless_taken_doing(at, Doing::ChangingOwners)?;
    match renamed {
        Some(_) => savepoint.commit().await.db(at)?,
        None => savepoint.rollback().await.db(at)?,
    }
    Ok(renamed.is_some())
}

/// Locks the owner first, in its own statement, then counts: the count then sees every key a
/// writer that held the lock before committed (see `tx.rs`). So the limit holds even where the
/// core counts without having called `find_owner` (an owner's expired key made active again).
pub(crate) async fn active_key_count(
    conn: &mut PgConnection,
    at: &Address,
    owner_id: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    sqlx::query("SELECT 1 FROM owners WHERE id = $1 FOR NO KEY UPDATE")
        .bind(owner_id)
        .execute(&mut *conn)
        .await
        .db(at)?;
    let (active,): (i64,) = sqlx::query_as(concat!(
        "SELECT count(*) FROM api_keys WHERE owner_id = $1 AND ",
        active_at!("", "$2")
    ))
    .bind(owner_id)
    .bind(now)
    .fetch_one(conn)
    .await
    .db(at)?;
    Ok(active)
}

#[derive(FromRow)]
struct OwnerRow {
    name: String,
    created_at: DateTime<Utc>,
    active_keys: i64,
    total_keys: i64,
}

/// Every owner with their key counts, by name (as SQLite's NOCASE orders them).
pub(crate) async fn owners(pool: &PgPool, at: &Address, now: DateTime<Utc>) -> Result<Vec<Owner>> {
    let rows: Vec<OwnerRow> = sqlx::query_as(concat!(
        "SELECT o.name, o.created_at, \
         count(k.seq) FILTER (WHERE ",
        active_at!("k.", "$1"),
        ") AS active_keys, count(k.seq) AS total_keys \
         FROM owners o LEFT JOIN api_keys k ON k.owner_id = o.id \
         GROUP BY o.id ORDER BY ",
        folded!("o.name")
    ))
    .bind(now)
    .fetch_all(pool)
    .await
    .db(at)?;
    Ok(rows
        .into_iter()
        .map(|r| Owner {
            name: r.name,
            created_at: r.created_at,
            active_keys: count(r.active_keys),
            total_keys: count(r.total_keys),
        })
        .collect())
}

/// Lowercased as Rust does it, as the seed compares its made-up names.
pub(crate) async fn owner_names(conn: &mut PgConnection, at: &Address) -> Result<HashSet<String>> {
    let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM owners")
        .fetch_all(conn)
        .await
        .db(at)?;
    Ok(names.into_iter().map(|(n,)| n.to_lowercase()).collect())
}

/// Inserts new owners (none of whose names is taken) in one statement; their ids in the same
/// order.
pub(crate) async fn insert_owners(
    conn: &mut PgConnection,
    at: &Address,
    names: &[String],
    when: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO owners (name, created_at) SELECT n, $2 FROM unnest($1::text[]) AS n \
         RETURNING name, id",
    )
    .bind(names)
    .bind(when)
    .fetch_all(conn)
    .await
    .db_doing(at, Doing::ChangingOwners)?;
    let ids: HashMap<String, i64> = rows.into_iter().collect();
    names
        .iter()
        .map(|name| {
            ids.get(name)
                .copied()
                .ok_or_else(|| Error::Database(format!("the new owner \"{name}\" was not saved")))
        })
        .collect()
}
