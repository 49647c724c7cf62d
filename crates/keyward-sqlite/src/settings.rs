//! Settings' rows: one per setting, its value as JSON. The core reads and checks them; a missing
//! row means the built-in default.

use sqlx::{Executor, Sqlite, SqliteConnection};

use keyward_core::Result;

use crate::error::OrDb;

pub(crate) async fn settings_rows<'e>(
    db: impl Executor<'e, Database = Sqlite>,
) -> Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT key, value FROM settings")
        .fetch_all(db)
        .await
        .db()
}

pub(crate) async fn put_setting(db: &mut SqliteConnection, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = ?2",
    )
    .bind(key)
    .bind(value)
    .execute(db)
    .await
    .db()?;
    Ok(())
}
