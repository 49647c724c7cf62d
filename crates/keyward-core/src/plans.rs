//! Usage plans: how often a key may be checked. A plan has a sustained rate with a burst, and
//! an optional quota per day, week or month. Every key has exactly one plan; "Unlimited" (no
//! rate, no quota) is made by the migration and is the default for new keys until the setting
//! names another.
//!
//! The rules that are the same wherever a plan is enforced live here: what a valid plan is, and
//! when a quota period starts and ends (00:00 UTC; weeks start on Monday; months on the 1st).
//! Enforcement itself (a rate limiter in memory, counters written in batches) is the verify
//! server's.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

/// The plan the migration creates: no rate limit, no quota.
pub const UNLIMITED_PLAN: &str = "Unlimited";

/// Requests per second a plan may allow, and the largest burst: far beyond what one server
/// answers, small enough that no arithmetic on them can overflow.
pub const MAX_RATE_PER_SECOND: u32 = 1_000_000;
pub const MAX_BURST: u32 = 1_000_000;
/// The largest quota: a trillion checks in one period.
pub const MAX_QUOTA: u64 = 1_000_000_000_000;

/// How long a quota lasts before it starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

impl QuotaPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// When the period holding `at` began: 00:00 UTC that day, that week's Monday, or the 1st
    /// of that month.
    pub fn start_of(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let first = match self {
            Self::Day => day,
            Self::Week => day
                .checked_sub_signed(Duration::days(i64::from(
                    day.weekday().num_days_from_monday(),
                )))
                .unwrap_or(day),
            Self::Month => day.with_day(1).unwrap_or(day),
        };
        midnight(first)
    }

    /// When the period holding `at` ends and the next one begins.
    pub fn next_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.start_of(at).date_naive();
        let next = match self {
            Self::Day => start.succ_opt(),
            Self::Week => start.checked_add_signed(Duration::days(7)),
            Self::Month => {
                start
                    .with_month(start.month() % 12 + 1)
                    .and_then(|d| match start.month() {
                        12 => d.with_year(start.year() + 1),
                        _ => Some(d),
                    })
            }
        };
        next.map(midnight).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0)
        .map(|t| Utc.from_utc_datetime(&t))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// At most `limit` checks per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Quota {
    #[ts(type = "number")]
    pub limit: u64,
    pub per: QuotaPeriod,
}

/// What a plan allows, as the verify server enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PlanLimits {
    /// Sustained checks per second; `None` is no rate limit.
    pub rate_per_second: Option<u32>,
    /// How many checks may come at once above the sustained rate (at least 1 with a rate).
    pub burst: Option<u32>,
    pub quota: Option<Quota>,
}

/// A plan as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Plan {
    pub name: String,
    #[serde(flatten)]
    #[ts(flatten)]
    pub limits: PlanLimits,
    /// How many keys use it (deleting it is refused while any do).
    pub keys: u32,
    /// Whether new keys get it (the setting).
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

/// What the user fills in to make or change a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewPlan {
    pub name: String,
    #[serde(flatten)]
    #[ts(flatten)]
    pub limits: PlanLimits,
}

/// A plan's use of its quota in the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct QuotaUsage {
    #[ts(type = "number")]
    pub used: u64,
    #[ts(type = "number")]
    pub limit: u64,
    pub per: QuotaPeriod,
    /// When the count starts again from 0.
    pub resets_at: DateTime<Utc>,
}

/// Checks a plan's numbers: a rate needs a burst of at least 1 (a burst alone means nothing),
/// everything within its maximum, a quota of at least 1.
pub fn validate_limits(limits: &PlanLimits) -> Result<PlanLimits> {
    let bad = |message: String| Err(Error::InvalidInput(message));
    let burst = match (limits.rate_per_second, limits.burst) {
        (None, Some(_)) => {
            return bad("A burst needs a rate: give the requests per second too.".into())
        }
        (None, None) => None,
        (Some(rate), _) if !(1..=MAX_RATE_PER_SECOND).contains(&rate) => {
            return bad(format!(
                "The rate must be between 1 and {MAX_RATE_PER_SECOND} requests per second."
            ))
        }
        (Some(_), Some(burst)) if !(1..=MAX_BURST).contains(&burst) => {
            return bad(format!(
                "The burst must be between 1 and {MAX_BURST} requests."
            ))
        }
        // Without a burst, a second's worth of requests may come at once.
        (Some(rate), None) => Some(rate.min(MAX_BURST)),
        (Some(_), Some(burst)) => Some(burst),
    };
    if let Some(quota) = limits.quota {
        if !(1..=MAX_QUOTA).contains(&quota.limit) {
            return bad(format!(
                "The quota must be between 1 and {MAX_QUOTA} requests per {}.",
                quota.per.as_str()
            ));
        }
    }
    Ok(PlanLimits {
        rate_per_second: limits.rate_per_second,
        burst,
        quota: limits.quota,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn periods_start_at_midnight_utc_weeks_on_monday() {
        // Sunday 2026-11-29, late.
        let sunday = at("2026-11-29T23:59:59Z");
        assert_eq!(
            QuotaPeriod::Day.start_of(sunday),
            at("2026-11-29T00:00:00Z")
        );
        assert_eq!(
            QuotaPeriod::Day.next_start(sunday),
            at("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            QuotaPeriod::Week.start_of(sunday),
            at("2026-11-23T00:00:00Z")
        );
        assert_eq!(
            QuotaPeriod::Week.next_start(sunday),
            at("2026-11-30T00:00:00Z")
        );
        let monday = at("2026-11-30T00:00:00Z");
        assert_eq!(QuotaPeriod::Week.start_of(monday), monday);
        assert_eq!(
            QuotaPeriod::Month.start_of(sunday),
            at("2026-11-01T00:00:00Z")
        );
        assert_eq!(
            QuotaPeriod::Month.next_start(sunday),
            at("2026-12-01T00:00:00Z")
        );
        let december = at("2026-12-31T12:00:00Z");
        assert_eq!(
            QuotaPeriod::Month.next_start(december),
            at("2027-01-01T00:00:00Z")
        );
        let leap = at("2028-02-29T08:00:00Z");
        assert_eq!(
            QuotaPeriod::Month.next_start(leap),
            at("2028-03-01T00:00:00Z")
        );
        assert_eq!(
            QuotaPeriod::Day.next_start(leap),
            at("2028-03-01T00:00:00Z")
        );
    }

    #[test]
    fn periods_never_panic_at_the_ends_of_time() {
        for period in [QuotaPeriod::Day, QuotaPeriod::Week, QuotaPeriod::Month] {
            for moment in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
                let start = period.start_of(moment);
                assert!(period.next_start(moment) >= start);
            }
        }
    }

    #[test]
    fn limits_are_checked_and_a_rate_gets_a_burst() {
        let limits = |rate, burst, quota: Option<u64>| PlanLimits {
            rate_per_second: rate,
            burst,
            quota: quota.map(|limit| Quota {
                limit,
                per: QuotaPeriod::Day,
            }),
        };
        assert_eq!(
            validate_limits(&limits(Some(10), None, None))
                .expect("valid")
                .burst,
            Some(10)
        );
        assert!(validate_limits(&limits(None, None, Some(1000))).is_ok());
        for bad in [
            limits(None, Some(5), None),
            limits(Some(0), None, None),
            limits(Some(MAX_RATE_PER_SECOND + 1), None, None),
            limits(Some(1), Some(0), None),
            limits(Some(1), Some(u32::MAX), None),
            limits(None, None, Some(0)),
            limits(None, None, Some(u64::MAX)),
        ] {
            assert!(validate_limits(&bad).is_err(), "{bad:?}");
        }
    }
}
