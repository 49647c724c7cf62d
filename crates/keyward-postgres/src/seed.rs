//! `keyward-cli dev seed`: made-up keys written in bulk, one statement per few thousand rows.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use keyward_core::backend::SeedKeyRecord;
use keyward_core::names::key_search_text;
use keyward_core::{Error, Result, SEED_CREATED_BY};
use sqlx::{Connection, PgConnection};

use crate::errors::{Address, DbResult};

/// Rows per INSERT: each column is one array parameter, so this bounds a statement's size, not
/// its parameter count.
const ROWS_PER_INSERT: usize = 5_000;

/// Scopes of every row, as one JSON array each: PostgreSQL's arrays must be rectangular, so a
/// `text[][]` cannot hold lists of different lengths.
const INSERT: &str = "INSERT INTO api_keys (id, prefix, name, owner_id, role, scopes, \
     track_usage, secret_last4, secret_hash, created_at, created_by, expires_at, revoked_at, \
     last_used_at, seeded, plan_id, search_text) \
     SELECT s.id, $12, s.name, s.owner_id, s.role, \
       ARRAY(SELECT json_array_elements_text(s.scopes::json)), s.track_usage, s.last4, $13, \
       s.created_at, $14, s.expires_at, s.revoked_at, s.last_used_at, true, $15, s.search_text \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bool[], \
       $7::text[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], \
       $11::timestamptz[], $16::text[]) \
       AS s(id, name, owner_id, role, scopes, track_usage, last4, created_at, expires_at, \
         revoked_at, last_used_at, search_text) \
     ON CONFLICT (id) DO NOTHING RETURNING id";

/// One batch's columns, as the arrays [`INSERT`] takes.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    name: Vec<String>,
    owner_id: Vec<i64>,
    role: Vec<String>,
    scopes: Vec<String>,
    track_usage: Vec<bool>,
    last4: Vec<String>,
    created_at: Vec<DateTime<Utc>>,
    expires_at: Vec<Option<DateTime<Utc>>>,
    revoked_at: Vec<Option<DateTime<Utc>>>,
    last_used_at: Vec<Option<DateTime<Utc>>>,
    search_text: Vec<String>,
}

impl Columns {
    fn of(rows: &[SeedKeyRecord], owner_ids: &[i64], prefix: &str) -> Result<Self> {
        let mut c = Self::default();
        for row in rows {
            let owner = owner_ids.get(row.owner).copied().ok_or_else(|| {
                Error::Database("a made-up key names an owner that was not given".into())
            })?;
            let scopes =
                serde_json::to_string(&row.scopes).map_err(|e| Error::Database(e.to_string()))?;
            c.id.push(row.id.clone());
            c.name.push(row.name.clone());
            c.owner_id.push(owner);
            c.role.push(row.role.clone());
            c.scopes.push(scopes);
            c.track_usage.push(row.track_usage);
            c.last4.push(row.secret_last4.clone());
            c.created_at.push(row.created_at);
            c.expires_at.push(row.expires_at);
            c.revoked_at.push(row.revoked_at);
            c.last_used_at.push(row.last_used_at);
            c.search_text
                .push(key_search_text(&row.name, prefix, &row.id));
        }
        Ok(c)
    }
}

/// Inserts seeded keys on the default plan; returns the ids inserted (an id that clashes with
/// an existing one is skipped).
pub(crate) async fn insert_seed_keys(
    conn: &mut PgConnection,
    at: &Address,
    keys: &[SeedKeyRecord],
    owner_ids: &[i64],
    prefix: &str,
    secret_hash: &str,
) -> Result<HashSet<String>> {
    let (plan_id,): (i64,) = sqlx::query_as("SELECT id FROM plans WHERE is_default")
        .fetch_one(&mut *conn)
        .await
        .db(at)?;
    let mut inserted = HashSet::with_capacity(keys.len());
    for batch in keys.chunks(ROWS_PER_INSERT) {
        let c = Columns::of(batch, owner_ids, prefix)?;
        let ids: Vec<(String,)> = sqlx::query_as(INSERT)
            .bind(c.id)
            .bind(c.name)
            .bind(c.owner_id)
            .bind(c.role)
            .bind(c.scopes)
            .bind(c.track_usage)
            .bind(c.last4)
            .bind(c.created_at)
            .bind(c.expires_at)
            .bind(c.revoked_at)
            .bind(c.last_used_at)
            .bind(prefix)
            .bind(secret_hash)
            .bind(SEED_CREATED_BY)
            .bind(plan_id)
            .bind(c.search_text)
            .fetch_all(&mut *conn)
            .await
            .db(at)?;
        inserted.extend(ids.into_iter().map(|(id,)| id));
    }
    refresh_statistics(conn, at, inserted.len()).await?;
    Ok(inserted)
}

/// After a seed that at least doubles the table (as the planner knows it), its statistics are
/// refreshed and the search indexes' pending lists merged at once, so the next list query plans
/// for the new size instead of waiting up to a minute for autovacuum. Both may run inside a
/// transaction and see its own rows. They need the table's owner, so a login without that right
/// skips them (under a savepoint, so the seed still commits).
async fn refresh_statistics(conn: &mut PgConnection, at: &Address, inserted: usize) -> Result<()> {
    let (known,): (f32,) =
        sqlx::query_as("SELECT reltuples FROM pg_class WHERE oid = 'api_keys'::regclass")
            .fetch_one(&mut *conn)
            .await
            .db(at)?;
    // -1: never analyzed.
    if known >= 0.0 && (inserted as f64) < f64::from(known) {
        return Ok(());
    }
    let mut savepoint = conn.begin().await.db(at)?;
    let refreshed = async {
        sqlx::query("ANALYZE api_keys, owners, api_keys_short_grams")
            .execute(&mut *savepoint)
            .await?;
        sqlx::query(
            "SELECT gin_clean_pending_list('api_keys_search_trgm'::regclass), \
             gin_clean_pending_list('api_keys_short_grams_gin'::regclass)",
        )
        .execute(&mut *savepoint)
        .await
    }
    .await;
    match refreshed {
        Ok(_) => savepoint.commit().await.db(at),
        Err(_) => savepoint.rollback().await.db(at),
    }
}
