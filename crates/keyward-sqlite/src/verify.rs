//! What a check reads and writes: a key with its hash and plan in one read, and its last use,
//! recorded without ever holding the answer up.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{FromRow, Row};

use keyward_core::backend::{StoredKey, UseRecorded};
use keyward_core::Result;

use crate::busy::ShortWait;
use crate::error::{from_sqlx, is_busy, OrDb};
use crate::keys::KEY_AND_HASH_SELECT;
use crate::owners::active_at_1;
use crate::rows::{limits_of, to_millis, KeyRow};

/// How long recording a use may wait for another writer before it is skipped. Far below the
/// usual busy timeout: bookkeeping must not hold up an answer.
const RECORD_USE_WAIT: Duration = Duration::from_millis(200);

/// Records a use and re-reads the key in one statement: it changes (and returns) the row only if
/// the key is active at `?1`. Returns the columns of `KEY_SELECT`.
const RECORD_USE: &str = concat!(
    "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 AND ",
    active_at_1!(),
    " RETURNING id, prefix, name, owner_id, \
     (SELECT o.name FROM owners o WHERE o.id = owner_id) AS owner, \
     role, scopes, track_usage, secret_last4, created_at, created_by, expires_at, revoked_at, \
     last_used_at, (SELECT p.name FROM plans p WHERE p.id = plan_id) AS key_plan"
);

struct StoredKeyRow(StoredKey);

impl<'r> FromRow<'r, SqliteRow> for StoredKeyRow {
    fn from_row(row: &'r SqliteRow) -> std::result::Result<Self, sqlx::Error> {
        let KeyRow(key) = KeyRow::from_row(row)?;
        Ok(Self(StoredKey {
            key,
            secret_hash: row.try_get("secret_hash")?,
            limits: limits_of(row)?,
        }))
    }
}

/// A key with its hash and plan, unless it is seeded: seeded rows are made-up data whose secret
/// nobody knows, and they never verify.
pub(crate) async fn key_to_verify(pool: &SqlitePool, id: &str) -> Result<Option<StoredKey>> {
    let stored: Option<StoredKeyRow> = sqlx::query_as(&format!(
        "{KEY_AND_HASH_SELECT} WHERE k.id = ? AND k.seeded = 0"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .db()?;
    Ok(stored.map(|StoredKeyRow(stored)| stored))
}

/// Sets `last_used_at = now` if the key is active at `now`, waiting at most [`RECORD_USE_WAIT`]
/// for another writer (then nothing is written: [`UseRecorded::Busy`]).
pub(crate) async fn record_use(
    pool: &SqlitePool,
    id: &str,
    now: DateTime<Utc>,
) -> Result<UseRecorded> {
    let mut short = ShortWait::acquire(pool, RECORD_USE_WAIT).await?;
    // fetch_all runs the statement to its end, which commits it at once.
    let used: std::result::Result<Vec<KeyRow>, sqlx::Error> = sqlx::query_as(RECORD_USE)
        .bind(to_millis(now))
        .bind(id)
        .fetch_all(short.connection())
        .await;
    short.release().await;
    match used {
        Ok(rows) => Ok(match rows.into_iter().next() {
            Some(KeyRow(key)) => UseRecorded::Active(Box::new(key)),
            None => UseRecorded::NotActive,
        }),
        Err(e) if is_busy(&e) => Ok(UseRecorded::Busy),
        Err(e) => Err(from_sqlx(e)),
    }
}
