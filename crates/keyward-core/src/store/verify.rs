use super::keys::{parse_scopes, KeyRow, KEY_SELECT};
use super::verify_cache::fingerprint;
use super::{to_millis, Store};
use crate::error::{Error, Result};
use crate::hash;
use crate::models::{KeyStatus, KeySummary, Verdict, VerifiedKey};
use crate::secret::SecretToken;
use crate::token::parse_token;

/// Records a use and re-reads the key in one statement: it changes (and returns) the row only if
/// the key is active at `?1`. Returns the columns of [`KEY_SELECT`].
const RECORD_USE: &str = "UPDATE api_keys SET last_used_at = CASE WHEN track_usage THEN ?1 \
     ELSE last_used_at END WHERE id = ?2 AND revoked_at IS NULL \
     AND (expires_at IS NULL OR expires_at > ?1) \
     RETURNING id, prefix, name, (SELECT o.name FROM owners o WHERE o.id = owner_id) AS owner, \
     role, scopes, track_usage, secret_last4, created_at, created_by, expires_at, revoked_at, \
     last_used_at";

fn valid(key: KeySummary) -> Verdict {
    Verdict::Valid {
        key: VerifiedKey {
            id: key.id,
            name: key.name,
            owner: key.owner,
            role: key.role,
            scopes: key.scopes,
            expires_at: key.expires_at,
        },
    }
}

impl Store {
    /// Checks a presented key. Order: MALFORMED → NOT_FOUND → REVOKED → EXPIRED → FORBIDDEN; the
    /// first failure wins. A valid key that tracks usage gets its last-used time set, except on a
    /// read-only store ([`Store::is_read_only`]): the verdict is the same, but the use is not
    /// recorded.
    ///
    /// A token argon2 accepted before is not hashed again while its row holds the same hash (see
    /// `verify_cache`); everything else (the row itself, revocation, expiry, scopes) is read from
    /// the database on every call, so a revocation takes effect at once.
    pub async fn verify(&self, token: &SecretToken, required_scopes: &[String]) -> Result<Verdict> {
        let Some(parsed) = parse_token(token.expose()) else {
            return Ok(Verdict::Malformed);
        };
        // One connection for the whole check: taking one from the pool costs as much as a read.
        let mut db = self.pool.acquire().await?;
        // Seeded rows are made-up data whose secret nobody knows; they never verify.
        let stored: Option<(String, String, String)> = sqlx::query_as(
            "SELECT prefix, secret_hash, scopes FROM api_keys WHERE id = ? AND seeded = 0",
        )
        .bind(parsed.id)
        .fetch_optional(&mut *db)
        .await?;
        let Some((prefix, phc, scopes)) = stored else {
            return Ok(Verdict::NotFound);
        };
        if prefix != parsed.prefix {
            return Ok(Verdict::NotFound);
        }
        let token_print = fingerprint(token.expose());
        let phc_print = fingerprint(&phc);
        if !self.verified.accepted(&token_print, &phc_print) {
            // Others may use the connection while argon2 runs.
            drop(db);
            let secret = zeroize::Zeroizing::new(parsed.secret.to_owned());
            if !hash::verify_secret(secret, phc).await? {
                return Ok(Verdict::NotFound);
            }
            self.verified.remember(token_print, phc_print);
            db = self.pool.acquire().await?;
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
        if missing.is_empty() && !self.read_only {
            // fetch_all runs the statement to its end, which commits it at once.
            let used: Vec<KeyRow> = sqlx::query_as(RECORD_USE)
                .bind(to_millis(now))
                .bind(parsed.id)
                .fetch_all(&mut *db)
                .await?;
            if let Some(row) = used.into_iter().next() {
                return Ok(valid(row.into_summary(now)));
            }
        }
        // Not valid (or nothing can be recorded): the row as it is now says why.
        let row: Option<KeyRow> = sqlx::query_as(&format!("{KEY_SELECT} WHERE k.id = ?"))
            .bind(parsed.id)
            .fetch_optional(&mut *db)
            .await?;
        let Some(key) = row.map(|r| r.into_summary(now)) else {
            return Ok(Verdict::NotFound);
        };
        Ok(match key.status {
            KeyStatus::Revoked => Verdict::Revoked,
            KeyStatus::Expired => Verdict::Expired,
            KeyStatus::Active if !missing.is_empty() => Verdict::Forbidden { missing },
            KeyStatus::Active if self.read_only => valid(key),
            // Active now but not when the use was recorded: the clock and the row disagree only
            // if the key changed in between, so report the safe answer.
            KeyStatus::Active => {
                return Err(Error::Unavailable(
                    "The key changed while it was being checked; try again.".into(),
                ))
            }
        })
    }
}
