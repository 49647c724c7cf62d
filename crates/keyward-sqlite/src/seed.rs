//! The bulk inserts of `keyward-cli dev seed`: thousands of made-up owners and keys in one
//! transaction, many rows per statement. The core makes the rows up; this only writes them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, SqliteConnection};

use keyward_core::backend::SeedKeyRecord;
use keyward_core::names::key_search_text;
use keyward_core::{Error, Result, SEED_CREATED_BY};

use crate::busy::PAGE_CACHE_KIB;
use crate::error::OrDb;
use crate::rows::{scopes_json, to_millis};

/// Rows per INSERT statement: 14 parameters each (and two constants) stays far below SQLite's
/// 32,766 limit.
const ROWS_PER_INSERT: usize = 500;

/// Page cache while seeding, in KiB: the whole seed is one transaction, and with the usual cache
/// it would spill to the WAL over and over while the indexes grow.
const SEED_PAGE_CACHE_KIB: &str = "-262144";

/// Owner names already taken, lowercased.
pub(crate) async fn owner_names(db: &mut SqliteConnection) -> Result<HashSet<String>> {
    let taken: Vec<(String,)> = sqlx::query_as("SELECT name FROM owners")
        .fetch_all(db)
        .await
        .db()?;
    Ok(taken.into_iter().map(|(n,)| n.to_lowercase()).collect())
}

/// Inserts owners (none of whose names is taken), created at `at`; their ids in the same order.
pub(crate) async fn insert_owners(
    db: &mut SqliteConnection,
    names: &[String],
    at: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let at = to_millis(at);
    let mut ids: HashMap<String, i64> = HashMap::with_capacity(names.len());
    for chunk in names.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new("INSERT INTO owners (name, created_at) ");
        insert.push_values(chunk, |mut row, name| {
            row.push_bind(name.as_str()).push_bind(at);
        });
        insert.push(" RETURNING name, id");
        let rows: Vec<(String, i64)> = insert.build_query_as().fetch_all(&mut *db).await.db()?;
        ids.extend(rows);
    }
    names
        .iter()
        .map(|name| {
            ids.get(name).copied().ok_or_else(|| {
                Error::Unavailable(format!(
                    "The seeded owner \"{name}\" was not saved. Nothing was changed."
                ))
            })
        })
        .collect()
}

/// Inserts seeded keys on the default plan; returns the ids inserted (a random id that clashes
/// with an existing one is skipped). The page cache is raised for the inserts and put back
/// afterwards, whether they worked or not: the connection goes back to the pool either way.
pub(crate) async fn insert_seed_keys(
    db: &mut SqliteConnection,
    keys: &[SeedKeyRecord],
    owner_ids: &[i64],
    prefix: &str,
    secret_hash: &str,
) -> Result<HashSet<String>> {
    let owners = keys
        .iter()
        .map(|key| {
            owner_ids.get(key.owner).copied().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "The made-up key \"{}\" names an owner that was not given. Nothing was \
                     changed.",
                    key.name
                ))
            })
        })
        .collect::<Result<Vec<i64>>>()?;
    sqlx::query(&format!("PRAGMA cache_size = {SEED_PAGE_CACHE_KIB}"))
        .execute(&mut *db)
        .await
        .db()?;
    let inserted = insert_in_batches(db, keys, &owners, prefix, secret_hash).await;
    let restored = sqlx::query(&format!("PRAGMA cache_size = {PAGE_CACHE_KIB}"))
        .execute(&mut *db)
        .await
        .db();
    // The inserts' failure says more than the restore's.
    let inserted = inserted?;
    restored?;
    Ok(inserted)
}

/// `owners[i]` is the owner id of `keys[i]`.
async fn insert_in_batches(
    db: &mut SqliteConnection,
    keys: &[SeedKeyRecord],
    owners: &[i64],
    prefix: &str,
    secret_hash: &str,
) -> Result<HashSet<String>> {
    let mut inserted = HashSet::with_capacity(keys.len());
    for (batch, batch_owners) in keys
        .chunks(ROWS_PER_INSERT)
        .zip(owners.chunks(ROWS_PER_INSERT))
    {
        let mut insert = QueryBuilder::new(
            "INSERT OR IGNORE INTO api_keys (id, prefix, name, owner_id, role, scopes, \
             track_usage, secret_last4, secret_hash, created_at, created_by, expires_at, \
             revoked_at, last_used_at, seeded, plan_id, search_text) ",
        );
        insert.push_values(
            batch.iter().zip(batch_owners),
            |mut values, (key, owner)| {
                values
                    .push_bind(key.id.as_str())
                    .push_bind(prefix)
                    .push_bind(key.name.as_str())
                    .push_bind(*owner)
                    .push_bind(key.role.as_str())
                    .push_bind(scopes_json(&key.scopes))
                    .push_bind(key.track_usage)
                    .push_bind(key.secret_last4.as_str())
                    .push_bind(secret_hash)
                    .push_bind(to_millis(key.created_at))
                    .push_bind(SEED_CREATED_BY)
                    .push_bind(key.expires_at.map(to_millis))
                    .push_bind(key.revoked_at.map(to_millis))
                    .push_bind(key.last_used_at.map(to_millis))
                    .push("1")
                    .push("(SELECT id FROM plans WHERE is_default = 1)")
                    .push_bind(key_search_text(&key.name, prefix, &key.id));
            },
        );
        insert.push(" RETURNING id");
        let rows: Vec<(String,)> = insert.build_query_as().fetch_all(&mut *db).await.db()?;
        inserted.extend(rows.into_iter().map(|(id,)| id));
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> SeedKeyRecord {
        SeedKeyRecord {
            id: id.into(),
            name: "made up".into(),
            owner: 0,
            role: "standard".into(),
            scopes: Vec::new(),
            track_usage: true,
            secret_last4: "abcd".into(),
            created_at: Utc::now(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        }
    }

    async fn cache_size(db: &mut SqliteConnection) -> String {
        let (kib,): (i64,) = sqlx::query_as("PRAGMA cache_size")
            .fetch_one(db)
            .await
            .expect("pragma");
        kib.to_string()
    }

    #[tokio::test]
    async fn the_page_cache_is_put_back_even_when_an_insert_fails() {
        let dir = tempfile::tempdir().expect("dir");
        let backend = crate::open(&dir.path().join("k.db"), Utc::now())
            .await
            .expect("open");
        let mut tx = backend
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .expect("begin");
        let owners = insert_owners(&mut tx, &["Seed".into()], Utc::now())
            .await
            .expect("owner");
        assert_eq!(cache_size(&mut tx).await, PAGE_CACHE_KIB);
        let inserted = insert_seed_keys(&mut tx, &[key("SEEDKEY001")], &owners, "kw", "$x")
            .await
            .expect("seed");
        assert_eq!(inserted.len(), 1);
        assert_eq!(cache_size(&mut tx).await, PAGE_CACHE_KIB);
        // No such owner: the foreign key refuses the insert (OR IGNORE skips a row that breaks
        // UNIQUE, NOT NULL or CHECK, never one that breaks a foreign key).
        let failed = insert_seed_keys(&mut tx, &[key("SEEDKEY002")], &[424_242], "kw", "$x").await;
        assert!(failed.is_err());
        assert_eq!(cache_size(&mut tx).await, PAGE_CACHE_KIB);
    }
}
