use serde_json::{json, Value};

use super::{Store, WriteTx};
use crate::error::{Error, Result};
use crate::models::{validate_scope, Settings, EXPIRY_PRESET_DAYS};
use crate::token::validate_prefix;

const CLIPBOARD_SECONDS: std::ops::RangeInclusive<u32> = 5..=600;
const OWNER_LIMIT: std::ops::RangeInclusive<u32> = 1..=1000;

/// Settings as `(name, JSON value)` rows: one row per setting, so a change touches only its own.
fn to_rows(settings: &Settings) -> Vec<(&'static str, Value)> {
    vec![
        ("default_expiry_days", json!(settings.default_expiry_days)),
        (
            "clipboard_clear_seconds",
            json!(settings.clipboard_clear_seconds),
        ),
        ("key_prefix", json!(settings.key_prefix)),
        ("owner_key_limit", json!(settings.owner_key_limit)),
        ("scope_catalogue", json!(settings.scope_catalogue)),
    ]
}

fn from_rows(rows: Vec<(String, String)>) -> Settings {
    let mut merged = serde_json::to_value(Settings::default()).unwrap_or_else(|_| json!({}));
    for (key, value) in rows {
        if let Ok(value) = serde_json::from_str::<Value>(&value) {
            merged[key] = value;
        }
    }
    // A row that does not parse falls back to the default rather than failing the whole app.
    serde_json::from_value(merged).unwrap_or_default()
}

/// Checks every setting and tidies the scope list (trimmed, no duplicates, sorted).
pub fn validate_settings(mut settings: Settings) -> Result<Settings> {
    let days = settings.default_expiry_days;
    if days != 0 && !EXPIRY_PRESET_DAYS.contains(&days) {
        return Err(Error::InvalidInput(
            "The default expiry must be 7, 30, 60, 90, 180 or 365 days, or never.".into(),
        ));
    }
    if !CLIPBOARD_SECONDS.contains(&settings.clipboard_clear_seconds) {
        return Err(Error::InvalidInput(format!(
            "Clear the clipboard after {} to {} seconds.",
            CLIPBOARD_SECONDS.start(),
            CLIPBOARD_SECONDS.end()
        )));
    }
    validate_prefix(&settings.key_prefix)?;
    if !OWNER_LIMIT.contains(&settings.owner_key_limit) {
        return Err(Error::InvalidInput(format!(
            "The limit per owner must be {} to {} active keys.",
            OWNER_LIMIT.start(),
            OWNER_LIMIT.end()
        )));
    }
    let mut scopes: Vec<String> = settings
        .scope_catalogue
        .iter()
        .map(|s| s.trim().to_owned())
        .collect();
    for scope in &scopes {
        validate_scope(scope)?;
    }
    scopes.sort();
    scopes.dedup();
    settings.scope_catalogue = scopes;
    Ok(settings)
}

impl Store {
    pub async fn settings(&self) -> Result<Settings> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM settings")
            .fetch_all(&self.pool)
            .await?;
        Ok(from_rows(rows))
    }

    pub(crate) async fn settings_in(&self, tx: &mut WriteTx) -> Result<Settings> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM settings")
            .fetch_all(&mut **tx)
            .await?;
        Ok(from_rows(rows))
    }

    /// Saves the settings; each changed one is written with one audit row listing the changes.
    pub async fn update_settings(&self, settings: Settings) -> Result<Settings> {
        let settings = validate_settings(settings)?;
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let before = self.settings_in(&mut tx).await?;
        let old_rows = to_rows(&before);
        let mut changes = serde_json::Map::new();
        for ((key, new), (_, old)) in to_rows(&settings).into_iter().zip(old_rows) {
            if new == old {
                continue;
            }
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = ?2",
            )
            .bind(key)
            .bind(new.to_string())
            .execute(&mut *tx)
            .await?;
            changes.insert(key.to_owned(), json!({ "from": old, "to": new }));
        }
        if !changes.is_empty() {
            self.audit(
                &mut tx,
                now,
                "settings_changed",
                None,
                Value::Object(changes),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(settings)
    }
}
