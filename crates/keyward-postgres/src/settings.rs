//! Settings: one row per setting, the value as JSON text (the core reads and checks it).

use keyward_core::Result;
use sqlx::{PgConnection, PgExecutor};

use crate::errors::{Address, DbResult, DbResultDoing, Doing};

pub(crate) async fn rows<'e>(
    db: impl PgExecutor<'e>,
    at: &Address,
) -> Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT key, value::text FROM settings")
        .fetch_all(db)
        .await
        .db(at)
}

/// `value` is JSON; the column's type refuses anything else.
pub(crate) async fn put(
    conn: &mut PgConnection,
    at: &Address,
    key: &str,
    value: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2::json) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await
    .db_doing(at, Doing::ChangingSettings)?;
    Ok(())
}
