use chrono::{DateTime, Duration, Utc};
use sqlx::FromRow;

use super::keys::{key_row, KeyRow, KEY_AND_HASH_SELECT};
use super::plans::LimitsRow;
use super::{is_busy, set_busy_timeout, to_millis, Store, BUSY_TIMEOUT};
use crate::error::{Error, Result};
use crate::hash;
use crate::models::{KeyStatus, KeySummary, Verdict, VerifiedKey};
use crate::plans::PlanLimits;
use crate::secret::{fingerprint, SecretToken};
use crate::token::parse_token;

/// A key's last use is written at most this often. Writing it on every check made each
/// verification a committed, fsynced write that took the database's write lock: most of the
/// time of a cached check, and a queue behind any busy key. "Last used" is shown to the minute.
pub(crate) const LAST_USED_PRECISION: Duration = Duration::seconds(60);

/// Records a use and re-reads the key in one statement: it changes (and returns) the row only if
/// the key is active at `?1`. Returns the columns of [`KEY_SELECT`].
const RECORD_USE: &str = "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 \
     AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?1) \
     RETURNING id, prefix, name, (SELECT o.name FROM owners o WHERE o.id = owner_id) AS owner, \
     role, scopes, track_usage, secret_last4, created_at, created_by, expires_at, revoked_at, \
     last_used_at, (SELECT p.name FROM plans p WHERE p.id = plan_id) AS key_plan";

#[derive(FromRow)]
struct StoredKey {
    #[sqlx(flatten)]
    row: KeyRow,
    secret_hash: String,
    /// `None` only in a database no Keyward wrote: refused rather than guessed.
    plan: Option<String>,
    #[sqlx(flatten)]
    limits: LimitsRow,
}

/// The key's plan, as read with it.
struct KeyPlan {
    name: String,
    limits: PlanLimits,
}

fn valid(key: KeySummary, plan: KeyPlan) -> Verdict {
    Verdict::Valid {
        key: VerifiedKey {
            id: key.id,
            name: key.name,
            owner: key.owner,
            role: key.role,
            scopes: key.scopes,
            expires_at: key.expires_at,
            plan: plan.name,
            limits: plan.limits,
        },
    }
}

/// Whether a valid check of `key` at `now` should write its last use.
fn use_is_due(key: &KeySummary, now: DateTime<Utc>) -> bool {
    key.track_usage
        && key
            .last_used_at
            .is_none_or(|last| now - last >= LAST_USED_PRECISION || last > now)
}

/// How long recording a use may wait for another writer before it is skipped. Far below the
/// store's busy timeout: bookkeeping must not hold up an answer.
const RECORD_USE_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Records a use of `id` at `now` if the key is still active then: `Some(Some(row))` when it was,
/// `Some(None)` when it is no longer active, `None` when another writer held the database for
/// longer than [`RECORD_USE_WAIT`] (nothing was written).
async fn record_use(
    db: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Option<KeyRow>>> {
    set_busy_timeout(db, RECORD_USE_WAIT).await?;
    // fetch_all runs the statement to its end, which commits it at once.
    let used: std::result::Result<Vec<KeyRow>, sqlx::Error> = sqlx::query_as(RECORD_USE)
        .bind(to_millis(now))
        .bind(id)
        .fetch_all(&mut **db)
        .await;
    set_busy_timeout(db, BUSY_TIMEOUT).await?;
    match used {
        Ok(rows) => Ok(Some(rows.into_iter().next())),
        Err(e) if is_busy(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl StoredKey {
    fn plan(&mut self) -> Result<KeyPlan> {
        Ok(KeyPlan {
            name: self.plan.take().ok_or_else(|| {
                Error::Unavailable(
                    "The key database holds a key without a usage plan, which no Keyward \
                     writes. Restore the database from a backup."
                        .into(),
                )
            })?,
            limits: self.limits.limits()?,
        })
    }
}

impl Store {
    /// A key as a verdict describes it (with its plan), by id: for answers about a key that
    /// did not pass (revoked, expired), whose id was in the token. Seeded keys are not described.
    pub async fn describe_key(&self, id: &str) -> Result<Option<VerifiedKey>> {
        let stored: Option<StoredKey> = sqlx::query_as(&format!(
            "{KEY_AND_HASH_SELECT} WHERE k.id = ? AND k.seeded = 0"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut stored) = stored else {
            return Ok(None);
        };
        let plan = stored.plan()?;
        Ok(
            match valid(stored.row.into_summary(self.clock.now()), plan) {
                Verdict::Valid { key } => Some(key),
                _ => None,
            },
        )
    }

    /// Checks a presented key. Order: MALFORMED → NOT_FOUND → REVOKED → EXPIRED → FORBIDDEN; the
    /// first failure wins. A valid key that tracks usage gets its last-used time set when the one
    /// stored is older than [`LAST_USED_PRECISION`], except on a read-only store
    /// ([`Store::is_read_only`]): the verdict is the same, but the use is not recorded.
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
        let stored: Option<StoredKey> = sqlx::query_as(&format!(
            "{KEY_AND_HASH_SELECT} WHERE k.id = ? AND k.seeded = 0"
        ))
        .bind(parsed.id)
        .fetch_optional(&mut *db)
        .await?;
        let Some(mut stored) = stored else {
            return Ok(Verdict::NotFound);
        };
        let plan = stored.plan()?;
        let StoredKey {
            row: mut current,
            secret_hash: phc,
            ..
        } = stored;
        if current.prefix != parsed.prefix {
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
            // The row read before argon2 is stale by tens of milliseconds: a revocation that
            // committed meanwhile must win.
            match key_row(&mut *db, parsed.id).await? {
                Some(row) => current = row,
                None => return Ok(Verdict::NotFound),
            }
        }

        let now = self.clock.now();
        let key = current.into_summary(now);
        let missing: Vec<String> = required_scopes
            .iter()
            .filter(|s| !key.scopes.contains(s))
            .cloned()
            .collect();
        match key.status {
            KeyStatus::Revoked => return Ok(Verdict::Revoked),
            KeyStatus::Expired => return Ok(Verdict::Expired),
            KeyStatus::Active if !missing.is_empty() => return Ok(Verdict::Forbidden { missing }),
            KeyStatus::Active if self.read_only || !use_is_due(&key, now) => {
                return Ok(valid(key, plan))
            }
            KeyStatus::Active => {}
        }

        // The status is checked again in the statement that records the use, so a revocation
        // that commits after the read above still wins.
        let Some(used) = record_use(&mut db, parsed.id, now).await? else {
            // Another process holds the write lock (a long import, say). The check answers
            // anyway, from the row read above: a revocation waiting behind that lock has not
            // committed, so VALID is still the truth; the use is recorded by a later check.
            return Ok(valid(key, plan));
        };
        if let Some(row) = used {
            return Ok(valid(row.into_summary(now), plan));
        }
        // Not active any more: the row as it is now says why.
        Ok(match key_row(&mut *db, parsed.id).await? {
            None => Verdict::NotFound,
            Some(row) => match row.into_summary(now).status {
                KeyStatus::Revoked => Verdict::Revoked,
                KeyStatus::Expired => Verdict::Expired,
                // Active now but not when the use was recorded: the clock and the row disagree
                // only if the key changed in between, so report the safe answer.
                KeyStatus::Active => {
                    return Err(Error::TryAgain(
                        "The key changed while it was being checked; try again.".into(),
                    ))
                }
            },
        })
    }
}
