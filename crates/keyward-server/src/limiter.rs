//! The plan step: after the core says VALID (and the permissions hold), a [`Limiter`] decides
//! whether the key's usage plan allows one more request. The server's limiter is
//! [`crate::plans::PlanLimiter`] (rate + burst in memory, quotas counted in the database);
//! [`Unlimited`] allows everything.
//!
//! What a limiter returns is everything the three answers need: Keyward's `rate` / `quota`,
//! Unkey's `ratelimits[]` and `credits`, and forward-auth's `Retry-After`, `RateLimit` and
//! `RateLimit-Policy` headers.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use keyward_core::VerifiedKey;
use serde::Serialize;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One limit of a plan as it stands after this request: a rate window or a quota period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Stable id, `rl_` and base62 (Unkey's `ratelimits[].id` must match `^rl_[a-zA-Z0-9_]+$`,
    /// at least 8 characters).
    pub id: String,
    /// The policy's name (`burst`, `day`): Unkey's `ratelimits[].name`, the IETF header's
    /// policy name.
    pub name: String,
    /// Requests allowed in the window.
    pub limit: u64,
    /// Requests left in the window after this one (0 when refused).
    pub remaining: u64,
    /// The window's length in milliseconds.
    pub window_ms: u64,
    /// When the window resets, Unix milliseconds (Unkey's `ratelimits[].reset`).
    pub reset_at_ms: i64,
}

/// The plan's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanVerdict {
    Allowed,
    /// Rate or burst used up; `retry_after` until one more request fits.
    RateLimited {
        retry_after: Duration,
    },
    /// The quota for the period is spent; `retry_after` until the next period.
    UsageExceeded {
        retry_after: Duration,
    },
}

/// The plan's answer with the state of its limits. `rate`/`quota` are `None` for a plan without
/// that limit (and always for [`Unlimited`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCheck {
    pub verdict: PlanVerdict,
    pub rate: Option<Window>,
    pub quota: Option<Window>,
}

impl PlanCheck {
    pub fn allowed() -> Self {
        Self {
            verdict: PlanVerdict::Allowed,
            rate: None,
            quota: None,
        }
    }

    /// Seconds for `Retry-After`, at least 1, when refused.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match &self.verdict {
            PlanVerdict::Allowed => None,
            PlanVerdict::RateLimited { retry_after }
            | PlanVerdict::UsageExceeded { retry_after } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
                    .map(|s| s.max(1))
            }
        }
    }
}

/// Decides, after a valid verdict, whether the key's plan allows this request. Called only for
/// requests every other check allowed, so a refused request spends no quota.
pub trait Limiter: Send + Sync + 'static {
    /// Counts this request against `key`'s plan (unless refused) and says whether it fits.
    fn check<'a>(&'a self, key: &'a VerifiedKey) -> BoxFuture<'a, keyward_core::Result<PlanCheck>>;

    /// Writes pending counts: called every second while the server runs (never twice at once
    /// by the server), and once more when it stops, after the last request.
    fn flush(&self) -> BoxFuture<'_, keyward_core::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// No plans: every valid key may be used without limit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

impl Limiter for Unlimited {
    fn check<'a>(
        &'a self,
        _key: &'a VerifiedKey,
    ) -> BoxFuture<'a, keyward_core::Result<PlanCheck>> {
        Box::pin(async { Ok(PlanCheck::allowed()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let check = |retry_after| PlanCheck {
            verdict: PlanVerdict::RateLimited { retry_after },
            rate: None,
            quota: None,
        };
        assert_eq!(check(Duration::from_millis(1)).retry_after_secs(), Some(1));
        assert_eq!(
            check(Duration::from_millis(1001)).retry_after_secs(),
            Some(2)
        );
        assert_eq!(check(Duration::ZERO).retry_after_secs(), Some(1));
        assert_eq!(PlanCheck::allowed().retry_after_secs(), None);
    }
}
