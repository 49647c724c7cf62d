use chrono::{DateTime, Duration, Utc};

use super::Store;
use crate::backend::{StoredKey, UseRecorded};
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

/// The key's plan; a key without one is refused rather than guessed.
fn plan_of(stored: &StoredKey) -> Result<KeyPlan> {
    Ok(KeyPlan {
        name: stored.key.plan.clone().ok_or_else(|| {
            Error::Unavailable(
                "The key database holds a key without a usage plan, which no Keyward \
                 writes. Restore the database from a backup."
                    .into(),
            )
        })?,
        limits: stored.limits.limits()?,
    })
}

impl Store {
    /// A key as a verdict describes it (with its plan), by id: for answers about a key that
    /// did not pass (revoked, expired), whose id was in the token. Seeded keys are not described.
    pub async fn describe_key(&self, id: &str) -> Result<Option<VerifiedKey>> {
        let Some(stored) = self.backend.key_to_verify(id).await? else {
            return Ok(None);
        };
        let plan = plan_of(&stored)?;
        Ok(
            match valid(stored.key.into_summary(self.clock.now()), plan) {
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
        // Seeded rows are made-up data whose secret nobody knows; they never verify.
        let Some(stored) = self.backend.key_to_verify(parsed.id).await? else {
            return Ok(Verdict::NotFound);
        };
        let plan = plan_of(&stored)?;
        let StoredKey {
            key: mut current,
            secret_hash: phc,
            ..
        } = stored;
        if current.prefix != parsed.prefix {
            return Ok(Verdict::NotFound);
        }
        let token_print = fingerprint(token.expose());
        let phc_print = fingerprint(&phc);
        if !self.verified.accepted(&token_print, &phc_print) {
            let secret = zeroize::Zeroizing::new(parsed.secret.to_owned());
            if !hash::verify_secret(secret, phc).await? {
                return Ok(Verdict::NotFound);
            }
            self.verified.remember(token_print, phc_print);
            // The row read before argon2 is stale by tens of milliseconds: a revocation that
            // committed meanwhile must win.
            match self.backend.key(parsed.id).await? {
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
            KeyStatus::Active if self.is_read_only() || !use_is_due(&key, now) => {
                return Ok(valid(key, plan))
            }
            KeyStatus::Active => {}
        }

        // The status is checked again in the statement that records the use, so a revocation
        // that commits after the read above still wins.
        match self.backend.record_use(parsed.id, now).await? {
            // Another process holds the write lock (a long import, say). The check answers
            // anyway, from the row read above: a revocation waiting behind that lock has not
            // committed, so VALID is still the truth; the use is recorded by a later check.
            UseRecorded::Busy => return Ok(valid(key, plan)),
            UseRecorded::Active(row) => return Ok(valid((*row).into_summary(now), plan)),
            UseRecorded::NotActive => {}
        }
        // Not active any more: the row as it is now says why.
        Ok(match self.backend.key(parsed.id).await? {
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
