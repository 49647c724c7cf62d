//! Owners' rows: found by name, listed with their key counts, added and renamed.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::{FromRow, SqliteConnection};

use keyward_core::models::Owner;
use keyward_core::names::canonical;
use keyward_core::Result;

use crate::error::{from_sqlx, is_unique_violation, unless_taken, OrDb};
use crate::rows::{from_millis, to_millis};

/// Active means neither revoked nor expired at `?1`: the one spelling of it (the list's status
/// filter writes it with `+` and `COALESCE` so that SQLite picks the list's indexes).
macro_rules! active_at_1 {
    () => {
        "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)"
    };
}
pub(crate) use active_at_1;
const ACTIVE_SQL: &str = active_at_1!();

/// The tail of a query for one owner, given the [`owner_by_name_args`]: the name in its stored
/// form ([`canonical`]) or as typed (names stored before names were normalised), the stored form
/// winning when both exist; ASCII letters match without case (COLLATE NOCASE in the schema).
macro_rules! owner_by_name {
    () => {
        "FROM owners WHERE name IN (?, ?) ORDER BY name = ? DESC LIMIT 1"
    };
}
pub(crate) use owner_by_name;

/// The arguments of [`owner_by_name!`]: `wanted` (canonical), `typed` (trimmed as typed).
pub(crate) fn owner_by_name_args(wanted: &str, typed: &str) -> [String; 3] {
    [wanted.to_owned(), typed.to_owned(), wanted.to_owned()]
}

/// The same arguments for a name as a person typed it (the list's owner filter).
pub(crate) fn owner_by_typed_name_args(name: &str) -> [String; 3] {
    owner_by_name_args(&canonical(name), name.trim())
}

#[derive(FromRow)]
struct OwnerRow {
    name: String,
    created_at: i64,
    active_keys: i64,
    total_keys: i64,
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Every owner with their active (at `now`) and total key counts, by name.
pub(crate) async fn owners(pool: &SqlitePool, now: DateTime<Utc>) -> Result<Vec<Owner>> {
    let rows: Vec<OwnerRow> = sqlx::query_as(&format!(
        "SELECT o.name, o.created_at, \
           (SELECT COUNT(*) FROM api_keys k WHERE k.owner_id = o.id AND {ACTIVE_SQL}) AS active_keys, \
           (SELECT COUNT(*) FROM api_keys k WHERE k.owner_id = o.id) AS total_keys \
         FROM owners o ORDER BY o.name COLLATE NOCASE"
    ))
    .bind(to_millis(now))
    .fetch_all(pool)
    .await
    .db()?;
    Ok(rows
        .into_iter()
        .map(|r| Owner {
            name: r.name,
            created_at: from_millis(r.created_at),
            active_keys: count(r.active_keys),
            total_keys: count(r.total_keys),
        })
        .collect())
}

pub(crate) async fn find_owner(
    db: &mut SqliteConnection,
    wanted: &str,
    typed: &str,
) -> Result<Option<(i64, String)>> {
    let [wanted, typed, preferred] = owner_by_name_args(wanted, typed);
    sqlx::query_as(concat!("SELECT id, name ", owner_by_name!()))
        .bind(wanted)
        .bind(typed)
        .bind(preferred)
        .fetch_optional(db)
        .await
        .db()
}

/// `None` when the name is taken (the UNIQUE COLLATE NOCASE constraint says so).
pub(crate) async fn insert_owner(
    db: &mut SqliteConnection,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let inserted = sqlx::query("INSERT INTO owners (name, created_at) VALUES (?, ?)")
        .bind(name)
        .bind(to_millis(now))
        .execute(db)
        .await;
    match inserted {
        Ok(done) => Ok(Some(done.last_insert_rowid())),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(from_sqlx(e)),
    }
}

/// `false` when the new name is taken.
pub(crate) async fn rename_owner(db: &mut SqliteConnection, id: i64, to: &str) -> Result<bool> {
    let renamed = sqlx::query("UPDATE owners SET name = ? WHERE id = ?")
        .bind(to)
        .bind(id)
        .execute(db)
        .await;
    unless_taken(renamed)
}

/// Counted inside the writing transaction, so two processes cannot both pass the limit.
pub(crate) async fn active_key_count(
    db: &mut SqliteConnection,
    owner_id: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    let (active,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM api_keys WHERE owner_id = ?2 AND {ACTIVE_SQL}"
    ))
    .bind(to_millis(now))
    .bind(owner_id)
    .fetch_one(db)
    .await
    .db()?;
    Ok(active)
}
