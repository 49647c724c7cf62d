use super::keys::{parse_scopes, KEY_SELECT};
use super::{to_millis, Store};
use crate::error::{Error, Result};
use crate::hash;
use crate::models::{KeyStatus, Verdict, VerifiedKey};
use crate::secret::SecretToken;
use crate::token::parse_token;

impl Store {
    /// Checks a presented key. Order: MALFORMED → NOT_FOUND → REVOKED → EXPIRED → FORBIDDEN; the
    /// first failure wins. A valid key that tracks usage gets its last-used time set, except on a
    /// read-only store ([`Store::is_read_only`]): the verdict is the same, but the use is not
    /// recorded.
    pub async fn verify(&self, token: &SecretToken, required_scopes: &[String]) -> Result<Verdict> {
        let Some(parsed) = parse_token(token.expose()) else {
            return Ok(Verdict::Malformed);
        };
        let stored: Option<(String, String, String)> =
            sqlx::query_as("SELECT prefix, secret_hash, scopes FROM api_keys WHERE id = ?")
                .bind(parsed.id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((prefix, phc, scopes)) = stored else {
            return Ok(Verdict::NotFound);
        };
        let secret = zeroize::Zeroizing::new(parsed.secret.to_owned());
        if prefix != parsed.prefix || !hash::verify_secret(secret, phc).await? {
            return Ok(Verdict::NotFound);
        }
        let granted = parse_scopes(&scopes);
        let missing: Vec<String> = required_scopes
            .iter()
            .filter(|s| !granted.contains(s))
            .cloned()
            .collect();

        // Status is read after the slow hash check, and for a valid key in the same statement
        // that records the use, so a revocation that commits while argon2 runs still wins.
        let now = self.clock.now();
        let used = if missing.is_empty() && self.read_only {
            // Nothing can be recorded; the status read below decides alone.
            true
        } else if missing.is_empty() {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = CASE WHEN track_usage THEN ?1 \
                 ELSE last_used_at END WHERE id = ?2 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?1)",
            )
            .bind(to_millis(now))
            .bind(parsed.id)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1
        } else {
            false
        };
        let row: Option<super::keys::KeyRow> =
            sqlx::query_as(&format!("{KEY_SELECT} WHERE k.id = ?"))
                .bind(parsed.id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(key) = row.map(|r| r.into_summary(now)) else {
            return Ok(Verdict::NotFound);
        };
        Ok(match key.status {
            KeyStatus::Revoked => Verdict::Revoked,
            KeyStatus::Expired => Verdict::Expired,
            KeyStatus::Active if !missing.is_empty() => Verdict::Forbidden { missing },
            KeyStatus::Active if used => Verdict::Valid {
                key: VerifiedKey {
                    id: key.id,
                    name: key.name,
                    owner: key.owner,
                    role: key.role,
                    scopes: key.scopes,
                    expires_at: key.expires_at,
                },
            },
            // Active now but not when the use was recorded: the clock and the row disagree only
            // if the key changed in between, so report the safe answer.
            KeyStatus::Active => {
                return Err(Error::TryAgain(
                    "The key changed while it was being checked; try again.".into(),
                ))
            }
        })
    }
}
