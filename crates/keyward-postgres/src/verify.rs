//! Recording a key's use after a check: bookkeeping that must never hold an answer up.

use chrono::{DateTime, Utc};
use keyward_core::backend::{KeyRecord, UseRecorded};
use keyward_core::Result;
use sqlx::PgPool;

use crate::errors::{sqlstate, Address, DbResult, DEADLOCK, LOCK_NOT_AVAILABLE};
use crate::rows::{active_at, key_columns, owner_and_plan, KeyRow};

/// Waits at most 200 ms for a writer holding the key's row (a revocation or an edit in
/// progress), as SQLite's busy timeout does for this write: the check then answers from the row
/// it read, since a change still waiting to commit has not happened yet.
const BEGIN_WITH_SHORT_WAIT: &str =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '200ms'";

/// Sets `last_used_at` only if the key is still active at `now`, and returns the row after, in
/// one statement. Should a revocation commit while this waits for the row, PostgreSQL checks the
/// condition again on the new row, so a revoked key is never marked used.
const RECORD_USE: &str = concat!(
    "WITH k AS (UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND ",
    active_at!("", "$1"),
    " RETURNING *) SELECT ",
    key_columns!(),
    " FROM k ",
    owner_and_plan!()
);

pub(crate) async fn record_use(
    pool: &PgPool,
    at: &Address,
    id: &str,
    now: DateTime<Utc>,
) -> Result<UseRecorded> {
    let mut tx = pool.begin_with(BEGIN_WITH_SHORT_WAIT).await.db(at)?;
    let used: std::result::Result<Option<KeyRow>, sqlx::Error> = sqlx::query_as(RECORD_USE)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await;
    let row = match used {
        Ok(row) => row,
        // Dropping the transaction rolls it back: nothing was written.
        Err(e) if matches!(sqlstate(&e).as_deref(), Some(LOCK_NOT_AVAILABLE | DEADLOCK)) => {
            return Ok(UseRecorded::Busy)
        }
        Err(e) => return Err(at.explain(e)),
    };
    tx.commit().await.db(at)?;
    Ok(match row {
        Some(row) => UseRecorded::Active(Box::new(KeyRecord::from(row))),
        None => UseRecorded::NotActive,
    })
}
