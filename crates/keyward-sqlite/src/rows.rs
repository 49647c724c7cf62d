//! The edge between SQLite's columns and the core's row types: times are stored as UTC
//! milliseconds and scopes as a JSON list, and a row holding what no Keyward writes fails to
//! read (see [`DamagedRow`]) rather than being read with a made-up default.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};

use keyward_core::backend::{KeyRecord, LimitsRecord};

use crate::error::DamagedRow;

pub(crate) fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Every time Keyward writes fits; a number past what chrono holds (only a hand-edited file
/// has one) reads as the earliest time rather than failing the whole list.
pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Scopes as stored: a JSON list of names.
pub(crate) fn scopes_json(scopes: &[String]) -> String {
    serde_json::Value::from(scopes).to_string()
}

/// A key's row read with the columns of `keys::KEY_SELECT` (and of `RECORD_USE`'s RETURNING).
pub(crate) struct KeyRow(pub(crate) KeyRecord);

impl<'r> FromRow<'r, SqliteRow> for KeyRow {
    fn from_row(row: &'r SqliteRow) -> Result<Self, sqlx::Error> {
        let id: String = row.try_get("id")?;
        let scopes: String = row.try_get("scopes")?;
        let scopes: Vec<String> = serde_json::from_str(&scopes).map_err(|_| {
            DamagedRow::error(
                &format!("the key {id}"),
                "its scopes are not a list of names",
            )
        })?;
        let time = |column: &str| {
            row.try_get::<Option<i64>, _>(column)
                .map(|t| t.map(from_millis))
        };
        Ok(Self(KeyRecord {
            prefix: row.try_get("prefix")?,
            name: row.try_get("name")?,
            owner_id: row.try_get("owner_id")?,
            owner: row.try_get("owner")?,
            role: row.try_get("role")?,
            scopes,
            track_usage: row.try_get("track_usage")?,
            secret_last4: row.try_get("secret_last4")?,
            created_at: from_millis(row.try_get("created_at")?),
            created_by: row.try_get("created_by")?,
            expires_at: time("expires_at")?,
            revoked_at: time("revoked_at")?,
            last_used_at: time("last_used_at")?,
            plan: row.try_get("key_plan")?,
            id,
        }))
    }
}

/// A plan's limits, from the columns `plan_rate`, `plan_burst`, `plan_quota` and `plan_period`
/// (every query that reads limits names them so). Checked by the core
/// ([`LimitsRecord::limits`]), which refuses numbers no Keyward wrote.
pub(crate) fn limits_of(row: &SqliteRow) -> Result<LimitsRecord, sqlx::Error> {
    Ok(LimitsRecord {
        rate_per_second: row.try_get("plan_rate")?,
        burst: row.try_get("plan_burst")?,
        quota: row.try_get("plan_quota")?,
        quota_period: row.try_get("plan_period")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_their_milliseconds() {
        let at = Utc
            .timestamp_millis_opt(1_764_428_880_123)
            .single()
            .expect("a time");
        assert_eq!(from_millis(to_millis(at)), at);
    }

    #[test]
    fn scopes_are_stored_as_a_json_list() {
        assert_eq!(
            scopes_json(&["keys:read".to_owned(), "say \"hi\"".to_owned()]),
            r#"["keys:read","say \"hi\""]"#
        );
        assert_eq!(scopes_json(&[]), "[]");
    }
}
