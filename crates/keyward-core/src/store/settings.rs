use serde_json::{json, Value};

use super::Store;
use crate::backend::WriteTx;
use crate::error::{Error, Result};
use crate::models::{validate_scope, Settings, EXPIRY_PRESET_DAYS, VERIFY_SCOPE};
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

/// Settings from their rows, each on top of the defaults. A row that does not parse, does not fit
/// its type (`4294967296` for a `u32`, `-1`) or is out of range (a limit of 0) is skipped: that
/// setting keeps its default and the others still apply, rather than one bad row resetting all.
fn from_rows(rows: Vec<(String, String)>) -> Settings {
    let mut settings = Settings::default();
    for (key, value) in rows {
        let Ok(value) = serde_json::from_str::<Value>(&value) else {
            continue;
        };
        let Ok(mut merged) = serde_json::to_value(&settings) else {
            continue;
        };
        merged[key.as_str()] = value;
        let candidate = serde_json::from_value::<Settings>(merged)
            .ok()
            .and_then(|candidate| validate_settings(candidate).ok());
        if let Some(candidate) = candidate {
            settings = candidate;
        }
    }
    settings
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
    // Reserved: without it no service could be given the right to ask the verify server.
    scopes.push(VERIFY_SCOPE.to_owned());
    scopes.sort();
    scopes.dedup();
    settings.scope_catalogue = scopes;
    Ok(settings)
}

impl Store {
    pub async fn settings(&self) -> Result<Settings> {
        Ok(from_rows(self.backend.settings_rows().await?))
    }

    pub(crate) async fn settings_in(&self, tx: &mut dyn WriteTx) -> Result<Settings> {
        Ok(from_rows(tx.settings_rows().await?))
    }

    /// Saves the settings; each changed one is written with one audit row listing the changes.
    pub async fn update_settings(&self, settings: Settings) -> Result<Settings> {
        let settings = validate_settings(settings)?;
        let now = self.clock.now();
        let mut tx = self.begin_write().await?;
        let before = self.settings_in(&mut *tx).await?;
        let old_rows = to_rows(&before);
        let mut changes = serde_json::Map::new();
        for ((key, new), (_, old)) in to_rows(&settings).into_iter().zip(old_rows) {
            if new == old {
                continue;
            }
            tx.put_setting(key, &new.to_string()).await?;
            changes.insert(key.to_owned(), json!({ "from": old, "to": new }));
        }
        if !changes.is_empty() {
            self.audit(
                &mut *tx,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::DEFAULT_OWNER_KEY_LIMIT;

    fn with(change: impl FnOnce(&mut Settings)) -> Result<Settings> {
        let mut settings = Settings::default();
        change(&mut settings);
        validate_settings(settings)
    }

    fn refused(result: Result<Settings>, words: &str) {
        match result {
            Err(Error::InvalidInput(message)) => {
                assert!(message.contains(words), "{message:?} lacks {words:?}")
            }
            other => panic!("expected a refusal saying {words:?}, got {other:?}"),
        }
    }

    #[test]
    fn numeric_settings_at_their_extremes_are_refused_in_plain_words() {
        for days in [1, 6, 366, 3650, 3651, u32::MAX] {
            refused(
                with(|s| s.default_expiry_days = days),
                "The default expiry must be",
            );
        }
        for seconds in [0, 4, 601, u32::MAX] {
            refused(
                with(|s| s.clipboard_clear_seconds = seconds),
                "Clear the clipboard after 5 to 600 seconds.",
            );
        }
        for limit in [0, 1001, u32::MAX] {
            refused(
                with(|s| s.owner_key_limit = limit),
                "The limit per owner must be 1 to 1000 active keys.",
            );
        }
        // The ends of each range are accepted.
        for change in [
            (|s: &mut Settings| s.default_expiry_days = 0) as fn(&mut Settings),
            |s| s.default_expiry_days = 365,
            |s| s.clipboard_clear_seconds = 5,
            |s| s.clipboard_clear_seconds = 600,
            |s| s.owner_key_limit = 1,
            |s| s.owner_key_limit = 1000,
        ] {
            with(change).expect("in range");
        }
    }

    #[test]
    fn a_stored_setting_out_of_range_keeps_its_default_and_spares_the_others() {
        let row = |key: &str, value: &str| (key.to_owned(), value.to_owned());
        let good = vec![
            row("owner_key_limit", "7"),
            row("key_prefix", "\"ab\""),
            row("scope_catalogue", "[\"write\", \"read\"]"),
        ];
        let settings = from_rows(good.clone());
        assert_eq!(settings.owner_key_limit, 7);
        assert_eq!(settings.key_prefix, "ab");
        assert_eq!(settings.scope_catalogue, [VERIFY_SCOPE, "read", "write"]);

        let bad_values = [
            row("owner_key_limit", "4294967296"),
            row("owner_key_limit", "18446744073709551616"),
            row("owner_key_limit", "-1"),
            row("owner_key_limit", "0"),
            row("owner_key_limit", "1e30"),
            row("clipboard_clear_seconds", "4294967295"),
            row("default_expiry_days", "4294967295"),
            row("default_expiry_days", "not json"),
        ];
        for bad in bad_values {
            // One row per setting, as in the table: the bad one replaces a good one if any.
            let mut rows: Vec<_> = good.iter().filter(|r| r.0 != bad.0).cloned().collect();
            rows.push(bad.clone());
            let settings = from_rows(rows);
            assert_eq!(settings.key_prefix, "ab", "{bad:?} reset the prefix");
            assert_eq!(
                settings.scope_catalogue,
                [VERIFY_SCOPE, "read", "write"],
                "{bad:?}"
            );
            let defaults = Settings::default();
            if bad.0 == "owner_key_limit" {
                assert_eq!(settings.owner_key_limit, DEFAULT_OWNER_KEY_LIMIT, "{bad:?}");
            } else {
                assert_eq!(settings.owner_key_limit, 7, "{bad:?}");
            }
            assert_eq!(
                settings.clipboard_clear_seconds,
                defaults.clipboard_clear_seconds
            );
            assert_eq!(settings.default_expiry_days, defaults.default_expiry_days);
        }
    }
}
