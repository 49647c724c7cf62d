//! [`PlanLimiter`]: usage plans enforced after every valid verdict.
//!
//! - **Rate + burst** in memory: GCRA (the `governor` crate), one keyed limiter per distinct
//!   (rate, burst), keyed by the key's id. A key is checked against the limiter of the limits its
//!   row holds on this very check, so a plan edit applies at once (a key moved to new limits
//!   starts with a full burst). Stale states are dropped by [`PlanLimiter::tidy`], run from the
//!   flush about once a minute.
//! - **Quotas**: a counter per key for the current period, seeded from the database on first
//!   sight ([`keyward_core::Store::quota_usage`]) and corrected from the counts every write
//!   returns. New counts are written by [`PlanLimiter::flush_counts`] in one transaction; the
//!   server calls it every second ([`FLUSH_EVERY`]) and once more when it stops. So a crash loses
//!   at most the counts since the last write: about a second's, longer only while another writer
//!   holds the database.
//!
//! Order: rate first, then quota. A rate-limited request spends no quota; a request refused for
//! its quota spends none either (it did take a rate cell: it was answered).
//!
//! Time is injected twice: the store's clock (`Store::now`, a `ManualClock` in tests) for the
//! quota periods and every Unix time in the answer, and a `governor` clock (a
//! `FakeRelativeClock` in tests) for the rate limiter.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::RateLimiter;
use keyward_core::{Error, Quota, QuotaPeriod, Store, VerifiedKey};

use crate::limiter::{BoxFuture, Limiter, PlanCheck, PlanVerdict, Window};

/// A rate clock that stands still until advanced (clones share it), for tests that cross a
/// refill without sleeping: `PlanLimiter::with_clock(store, clock.clone())`.
pub use governor::clock::FakeRelativeClock;

/// How often the server writes quota counts (and how much counting a crash can lose).
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Every this many flushes, stale rate states and idle counters are dropped (about a minute).
const TIDY_EVERY_FLUSHES: u64 = 60;

/// A counter nobody used for this many flushes (about a minute) with nothing to write is
/// forgotten; the next check reads it again from the database.
const IDLE_FLUSHES: u32 = 60;

type KeyedLimiter<C> =
    RateLimiter<String, DashMapStateStore<String>, C, StateInformationMiddleware>;

/// One limiter per (rate per second, burst).
type RateLimiters<C> = HashMap<(u32, u32), Arc<KeyedLimiter<C>>>;

/// One key's quota in the period that began at `start`.
#[derive(Debug)]
struct Counter {
    per: QuotaPeriod,
    start: DateTime<Utc>,
    /// The count the database held at the last read or write (every server's checks).
    stored: u64,
    /// Counted here and being written now.
    inflight: u64,
    /// Counted here, not written yet.
    pending: u64,
    /// Flushes since it was last used.
    idle: u32,
}

impl Counter {
    fn used(&self) -> u64 {
        self.stored
            .saturating_add(self.inflight)
            .saturating_add(self.pending)
    }

    fn is_for(&self, per: QuotaPeriod, start: DateTime<Utc>) -> bool {
        self.per == per && self.start == start
    }
}

#[derive(Default)]
struct Quotas {
    counters: HashMap<String, Counter>,
    /// Counts of periods that ended (or of a plan's old period) not written yet.
    carry: Vec<(String, DateTime<Utc>, u64)>,
}

/// One item of a write: a counter's pending counts, or a carried count of a finished period.
struct Item {
    key_id: String,
    start: DateTime<Utc>,
    count: u64,
    from_counter: bool,
}

/// Rate + burst in memory, quotas counted in memory and written in batches. See the module doc.
pub struct PlanLimiter<C: Clock = MonotonicClock> {
    store: Store,
    clock: C,
    /// One limiter per (rate per second, burst). Read-locked for a check, write-locked only to
    /// add a limiter or to tidy.
    rates: RwLock<RateLimiters<C>>,
    quotas: Mutex<Quotas>,
    /// One flush at a time (the periodic one and the last one at shutdown).
    flushing: tokio::sync::Mutex<()>,
    flushes: AtomicU64,
    writes: AtomicU64,
}

impl PlanLimiter<MonotonicClock> {
    /// Plans on `store`, rates measured with the monotonic clock.
    pub fn new(store: Store) -> Self {
        Self::with_clock(store, MonotonicClock)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters hold no invariant a panic elsewhere could break halfway.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn after(now: DateTime<Utc>, d: Duration) -> i64 {
    now.timestamp_millis()
        .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl<C> PlanLimiter<C>
where
    C: Clock + Clone + Send + Sync + 'static,
{
    /// Plans on `store`, rates measured with `clock` (a `FakeRelativeClock` in tests; quota
    /// periods follow the store's own clock).
    pub fn with_clock(store: Store, clock: C) -> Self {
        Self {
            store,
            clock,
            rates: RwLock::new(HashMap::new()),
            quotas: Mutex::new(Quotas::default()),
            flushing: tokio::sync::Mutex::new(()),
            flushes: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

    /// How many batches of counts were written (each one transaction).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Counts taken in memory and not written yet.
    #[cfg(test)]
    fn unwritten(&self) -> u64 {
        let quotas = lock(&self.quotas);
        let counted: u64 = quotas
            .counters
            .values()
            .map(|c| c.pending + c.inflight)
            .sum();
        counted + quotas.carry.iter().map(|(_, _, n)| n).sum::<u64>()
    }

    /// Rate-limit states held in memory (keys seen within their burst's refill time).
    #[cfg(test)]
    fn rate_states(&self) -> usize {
        self.rates
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|l| l.len())
            .sum()
    }

    /// Decides a key's plan: rate first, then quota.
    pub async fn check_key(&self, key: &VerifiedKey) -> keyward_core::Result<PlanCheck> {
        let limits = &key.limits;
        if limits.rate_per_second.is_none() && limits.quota.is_none() {
            return Ok(PlanCheck::allowed());
        }
        let now = self.store.now();
        let rate = match limits.rate_per_second {
            Some(rate) => {
                let (window, refused) =
                    self.check_rate(&key.id, rate, limits.burst.unwrap_or(rate), now);
                if let Some(wait) = refused {
                    // Refused for its rate: the quota is only looked at, not spent.
                    let quota = match limits.quota {
                        Some(q) => Some(self.quota_step(&key.id, q, now, false).await?.0),
                        None => None,
                    };
                    return Ok(PlanCheck {
                        verdict: PlanVerdict::RateLimited { retry_after: wait },
                        rate: Some(window),
                        quota,
                    });
                }
                Some(window)
            }
            None => None,
        };
        let Some(q) = limits.quota else {
            return Ok(PlanCheck {
                verdict: PlanVerdict::Allowed,
                rate,
                quota: None,
            });
        };
        let (window, exceeded) = self.quota_step(&key.id, q, now, true).await?;
        let verdict = if exceeded {
            let next = q.per.next_start(now);
            PlanVerdict::UsageExceeded {
                retry_after: (next - now).to_std().unwrap_or(Duration::ZERO),
            }
        } else {
            PlanVerdict::Allowed
        };
        Ok(PlanCheck {
            verdict,
            rate,
            quota: Some(window),
        })
    }

    fn limiter(&self, rate: u32, burst: u32) -> Arc<KeyedLimiter<C>> {
        if let Some(found) = self
            .rates
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(rate, burst))
        {
            return Arc::clone(found);
        }
        let mut rates = self.rates.write().unwrap_or_else(PoisonError::into_inner);
        let made = rates.entry((rate, burst)).or_insert_with(|| {
            let one = NonZeroU32::MIN;
            let quota = governor::Quota::per_second(NonZeroU32::new(rate).unwrap_or(one))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(one));
            Arc::new(RateLimiter::dashmap_with_clock(quota, self.clock.clone()).with_middleware())
        });
        Arc::clone(made)
    }

    /// One cell of `key_id`'s rate: the window after it, and how long to wait when refused.
    fn check_rate(
        &self,
        key_id: &str,
        rate: u32,
        burst: u32,
        now: DateTime<Utc>,
    ) -> (Window, Option<Duration>) {
        let rate = rate.max(1);
        let burst = burst.max(1);
        let limiter = self.limiter(rate, burst);
        let cell = Duration::from_secs(1) / rate;
        let mut window = Window {
            id: format!("rl_{key_id}_rate"),
            name: "burst".to_owned(),
            limit: u64::from(burst),
            remaining: 0,
            window_ms: millis(cell * burst).max(1),
            reset_at_ms: now.timestamp_millis(),
        };
        match limiter.check_key(&key_id.to_owned()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity().min(burst);
                window.remaining = u64::from(remaining);
                // Full again once every used cell has come back.
                window.reset_at_ms = after(now, cell * (burst - remaining));
                (window, None)
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                window.reset_at_ms = after(now, wait);
                (window, Some(wait))
            }
        }
    }

    /// The quota window of `key_id` now; with `spend`, counts this request unless the quota is
    /// used up. Returns the window and whether the quota was used up.
    async fn quota_step(
        &self,
        key_id: &str,
        quota: Quota,
        now: DateTime<Utc>,
        spend: bool,
    ) -> keyward_core::Result<(Window, bool)> {
        let start = quota.per.start_of(now);
        let mut seeded = None;
        loop {
            {
                let mut quotas = lock(&self.quotas);
                if let Some(used) = seeded {
                    let fresh = quotas
                        .counters
                        .get(key_id)
                        .is_some_and(|c| c.is_for(quota.per, start));
                    if !fresh {
                        let counter = Counter {
                            per: quota.per,
                            start,
                            stored: used,
                            inflight: 0,
                            pending: 0,
                            idle: 0,
                        };
                        if let Some(old) = quotas.counters.insert(key_id.to_owned(), counter) {
                            if old.pending > 0 {
                                quotas
                                    .carry
                                    .push((key_id.to_owned(), old.start, old.pending));
                            }
                        }
                    }
                }
                if let Some(counter) = quotas
                    .counters
                    .get_mut(key_id)
                    .filter(|c| c.is_for(quota.per, start))
                {
                    counter.idle = 0;
                    let exceeded = counter.used() >= quota.limit;
                    if spend && !exceeded {
                        counter.pending += 1;
                    }
                    let next = quota.per.next_start(now);
                    let window = Window {
                        id: format!("rl_{key_id}_{}", quota.per.as_str()),
                        name: quota.per.as_str().to_owned(),
                        limit: quota.limit,
                        remaining: quota.limit.saturating_sub(counter.used()),
                        window_ms: u64::try_from((next - start).num_milliseconds()).unwrap_or(0),
                        reset_at_ms: next.timestamp_millis(),
                    };
                    return Ok((window, exceeded));
                }
            }
            // First sight of this key (or of this period): what the database has counted.
            seeded = Some(self.stored_usage(key_id, quota.per, start).await?);
        }
    }

    async fn stored_usage(
        &self,
        key_id: &str,
        per: QuotaPeriod,
        start: DateTime<Utc>,
    ) -> keyward_core::Result<u64> {
        match self.store.quota_usage(key_id).await {
            Ok(Some(usage)) if usage.per == per && usage.resets_at == per.next_start(start) => {
                Ok(usage.used)
            }
            // The plan changed meanwhile, or the key was deleted: nothing counted yet.
            Ok(_) | Err(Error::KeyNotFound(_)) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Writes every count not written yet, in one transaction. On failure the counts stay in
    /// memory for the next flush.
    pub async fn flush_counts(&self) -> keyward_core::Result<()> {
        let _one = self.flushing.lock().await;
        if self.flushes.fetch_add(1, Ordering::Relaxed) % TIDY_EVERY_FLUSHES
            == TIDY_EVERY_FLUSHES - 1
        {
            self.tidy();
        }
        let items = self.take_pending();
        if items.is_empty() {
            return Ok(());
        }
        let batch: Vec<(String, DateTime<Utc>, u64)> = items
            .iter()
            .map(|i| (i.key_id.clone(), i.start, i.count))
            .collect();
        let written = self.store.add_quota_usage(&batch).await;
        let mut quotas = lock(&self.quotas);
        match &written {
            Ok(after) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                let after: HashMap<(&str, DateTime<Utc>), u64> = after
                    .iter()
                    .map(|(id, start, n)| ((id.as_str(), *start), *n))
                    .collect();
                for item in items.iter().filter(|i| i.from_counter) {
                    if let Some(c) = quotas
                        .counters
                        .get_mut(&item.key_id)
                        .filter(|c| c.start == item.start)
                    {
                        c.inflight = 0;
                        // The database's count holds every server's checks, ours included.
                        c.stored = match after.get(&(item.key_id.as_str(), item.start)) {
                            Some(n) => *n,
                            None => c.stored.saturating_add(item.count),
                        };
                    }
                }
            }
            Err(_) => {
                for item in items {
                    match quotas
                        .counters
                        .get_mut(&item.key_id)
                        .filter(|c| item.from_counter && c.start == item.start)
                    {
                        Some(c) => {
                            c.inflight = 0;
                            c.pending += item.count;
                        }
                        None => quotas.carry.push((item.key_id, item.start, item.count)),
                    }
                }
            }
        }
        written.map(|_| ())
    }

    /// Moves every pending count to in flight and returns them (carried ones first).
    fn take_pending(&self) -> Vec<Item> {
        let mut quotas = lock(&self.quotas);
        let mut items: Vec<Item> = std::mem::take(&mut quotas.carry)
            .into_iter()
            .map(|(key_id, start, count)| Item {
                key_id,
                start,
                count,
                from_counter: false,
            })
            .collect();
        quotas.counters.retain(|key_id, c| {
            if c.pending > 0 {
                c.inflight += c.pending;
                items.push(Item {
                    key_id: key_id.clone(),
                    start: c.start,
                    count: c.pending,
                    from_counter: true,
                });
                c.pending = 0;
                c.idle = 0;
                return true;
            }
            c.idle = c.idle.saturating_add(1);
            c.inflight > 0 || c.idle < IDLE_FLUSHES
        });
        items
    }

    /// Drops rate states indistinguishable from a fresh one (`retain_recent`), and limiters left
    /// empty (limits no key uses any more).
    pub fn tidy(&self) {
        let mut rates = self.rates.write().unwrap_or_else(PoisonError::into_inner);
        rates.retain(|_, limiter| {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            !limiter.is_empty()
        });
    }
}

impl<C> Limiter for PlanLimiter<C>
where
    C: Clock + Clone + Send + Sync + 'static,
{
    fn check<'a>(&'a self, key: &'a VerifiedKey) -> BoxFuture<'a, keyward_core::Result<PlanCheck>> {
        Box::pin(self.check_key(key))
    }

    fn flush(&self) -> BoxFuture<'_, keyward_core::Result<()>> {
        Box::pin(self.flush_counts())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use keyward_core::{ManualClock, NewKey, NewPlan, PlanLimits, StoreOptions};

    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        wall: ManualClock,
        rates: FakeRelativeClock,
        limiter: PlanLimiter<FakeRelativeClock>,
    }

    /// Sunday 2026-11-29, 15:00 UTC: the day ends in nine hours.
    fn sunday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 15, 0, 0)
            .single()
            .expect("a time")
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let wall = ManualClock::new(sunday());
        let store = keyward_store::open_with(
            &dir.path().join("k.db"),
            StoreOptions {
                clock: Arc::new(wall.clone()),
                actor: "admin".into(),
            },
        )
        .await
        .expect("open");
        let rates = FakeRelativeClock::default();
        let limiter = PlanLimiter::with_clock(store.clone(), rates.clone());
        Fixture {
            _dir: dir,
            store,
            wall,
            rates,
            limiter,
        }
    }

    fn plan(name: &str, rate: Option<(u32, u32)>, quota: Option<u64>) -> NewPlan {
        NewPlan {
            name: name.into(),
            limits: PlanLimits {
                rate_per_second: rate.map(|r| r.0),
                burst: rate.map(|r| r.1),
                quota: quota.map(|limit| Quota {
                    limit,
                    per: QuotaPeriod::Day,
                }),
            },
        }
    }

    impl Fixture {
        /// A key on a new plan `name`; returns its id.
        async fn key_on(&self, name: &str, rate: Option<(u32, u32)>, quota: Option<u64>) -> String {
            self.store
                .create_plan(plan(name, rate, quota))
                .await
                .expect("plan");
            self.key_on_plan(name).await
        }

        async fn key_on_plan(&self, name: &str) -> String {
            let created = self
                .store
                .create_key(NewKey {
                    plan: Some(name.into()),
                    ..NewKey::named(format!("key on {name}"))
                })
                .await
                .expect("key");
            created.key.id
        }

        /// The key as `Store::verify` gives it: its plan's limits read now.
        async fn key(&self, id: &str) -> VerifiedKey {
            self.store
                .describe_key(id)
                .await
                .expect("read")
                .expect("the key exists")
        }

        async fn check(&self, id: &str) -> PlanCheck {
            let key = self.key(id).await;
            self.limiter.check_key(&key).await.expect("check")
        }

        async fn stored(&self, id: &str) -> u64 {
            self.store
                .quota_usage(id)
                .await
                .expect("usage")
                .map_or(0, |u| u.used)
        }
    }

    fn is_allowed(check: &PlanCheck) -> bool {
        check.verdict == PlanVerdict::Allowed
    }

    #[tokio::test]
    async fn burst_used_up_is_rate_limited_then_refilled_after_one_cell() {
        let f = fixture().await;
        let id = f.key_on("Burst 3", Some((1, 3)), None).await;
        for remaining in [2, 1, 0] {
            let check = f.check(&id).await;
            assert!(is_allowed(&check), "{check:?}");
            let rate = check.rate.expect("a rate window");
            assert_eq!((rate.limit, rate.remaining), (3, remaining));
            assert_eq!((rate.name.as_str(), rate.window_ms), ("burst", 3000));
            assert!(rate.id.starts_with("rl_") && rate.id.len() >= 8);
            assert_eq!(check.quota, None);
        }
        let refused = f.check(&id).await;
        assert_eq!(
            refused.verdict,
            PlanVerdict::RateLimited {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(refused.retry_after_secs(), Some(1));
        let rate = refused.rate.expect("window");
        assert_eq!(rate.remaining, 0);
        assert_eq!(rate.reset_at_ms, sunday().timestamp_millis() + 1000);

        f.rates.advance(Duration::from_millis(999));
        assert!(!is_allowed(&f.check(&id).await));
        f.rates.advance(Duration::from_millis(1));
        let again = f.check(&id).await;
        assert!(is_allowed(&again), "{again:?}");
        assert_eq!(again.rate.expect("window").remaining, 0);
        assert!(!is_allowed(&f.check(&id).await));

        // Once the whole burst has come back, tidying forgets the key's state.
        f.rates.advance(Duration::from_secs(5));
        assert_eq!(f.limiter.rate_states(), 1);
        f.limiter.tidy();
        assert_eq!(f.limiter.rate_states(), 0);
        for _ in 0..3 {
            assert!(is_allowed(&f.check(&id).await));
        }
    }

    #[tokio::test]
    async fn quota_used_up_is_usage_exceeded_until_the_next_period() {
        let f = fixture().await;
        let id = f.key_on("Five a day", None, Some(5)).await;
        let midnight = Utc
            .with_ymd_and_hms(2026, 11, 30, 0, 0, 0)
            .single()
            .expect("time");
        for remaining in (0..5).rev() {
            let check = f.check(&id).await;
            assert!(is_allowed(&check), "{check:?}");
            let quota = check.quota.expect("a quota window");
            assert_eq!((quota.limit, quota.remaining), (5, remaining));
            assert_eq!(quota.name, "day");
            assert_eq!(quota.reset_at_ms, midnight.timestamp_millis());
            assert_eq!(quota.window_ms, 86_400_000);
            assert_eq!(check.rate, None);
        }
        let refused = f.check(&id).await;
        assert_eq!(
            refused.verdict,
            PlanVerdict::UsageExceeded {
                retry_after: Duration::from_secs(9 * 3600)
            }
        );
        assert_eq!(refused.quota.expect("window").remaining, 0);

        // 23:59:59 still the same day; midnight is a new one.
        f.wall.set(midnight - chrono::Duration::seconds(1));
        assert!(!is_allowed(&f.check(&id).await));
        f.wall.set(midnight);
        let next = f.check(&id).await;
        assert!(is_allowed(&next), "{next:?}");
        assert_eq!(next.quota.expect("window").remaining, 4);
        f.limiter.flush_counts().await.expect("flush");
        assert_eq!(f.stored(&id).await, 1);
    }

    #[tokio::test]
    async fn refused_requests_spend_no_quota_and_rate_comes_first() {
        let f = fixture().await;
        let id = f.key_on("Tight", Some((1, 2)), Some(3)).await;
        assert!(is_allowed(&f.check(&id).await));
        assert!(is_allowed(&f.check(&id).await));
        for _ in 0..5 {
            let check = f.check(&id).await;
            assert!(
                matches!(check.verdict, PlanVerdict::RateLimited { .. }),
                "{check:?}"
            );
            assert_eq!(check.quota.expect("quota shown").remaining, 1);
        }
        f.limiter.flush_counts().await.expect("flush");
        assert_eq!(f.stored(&id).await, 2);

        f.rates.advance(Duration::from_secs(1));
        assert!(is_allowed(&f.check(&id).await));
        // Quota and burst both used up: RATE_LIMITED wins.
        let both = f.check(&id).await;
        assert!(matches!(both.verdict, PlanVerdict::RateLimited { .. }));
        // The rate allows more, the quota does not (an answered refusal still takes its cell).
        f.rates.advance(Duration::from_secs(5));
        for _ in 0..2 {
            let check = f.check(&id).await;
            assert!(
                matches!(check.verdict, PlanVerdict::UsageExceeded { .. }),
                "{check:?}"
            );
        }
        f.limiter.flush_counts().await.expect("flush");
        assert_eq!(f.stored(&id).await, 3);
    }

    #[tokio::test]
    async fn a_plan_edit_applies_at_the_next_check() {
        let f = fixture().await;
        let id = f.key_on("Edited", Some((1, 2)), Some(3)).await;
        assert!(is_allowed(&f.check(&id).await));
        assert!(is_allowed(&f.check(&id).await));
        assert!(!is_allowed(&f.check(&id).await));
        f.store
            .update_plan("Edited", plan("Edited", Some((1, 5)), Some(3)))
            .await
            .expect("edit");
        let check = f.check(&id).await;
        assert!(is_allowed(&check), "{check:?}");
        assert_eq!(check.rate.expect("rate").limit, 5);
        let check = f.check(&id).await;
        assert!(matches!(check.verdict, PlanVerdict::UsageExceeded { .. }));

        f.store
            .update_plan("Edited", plan("Edited", Some((1, 5)), Some(10)))
            .await
            .expect("edit");
        let check = f.check(&id).await;
        assert!(is_allowed(&check), "{check:?}");
        assert_eq!(check.quota.expect("quota").remaining, 6);

        // No limits at all: nothing to show.
        f.store
            .update_plan("Edited", plan("Edited", None, None))
            .await
            .expect("edit");
        assert_eq!(f.check(&id).await, PlanCheck::allowed());
    }

    #[tokio::test]
    async fn flush_writes_every_key_in_one_transaction_and_a_restart_continues() {
        let f = fixture().await;
        f.store
            .create_plan(plan("Hundred", None, Some(100)))
            .await
            .expect("plan");
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(f.key_on_plan("Hundred").await);
        }
        for (n, id) in ids.iter().enumerate() {
            for _ in 0..=n {
                assert!(is_allowed(&f.check(id).await));
            }
        }
        assert_eq!(f.limiter.unwritten(), 6);
        assert_eq!(f.stored(&ids[2]).await, 0, "nothing written before a flush");
        f.limiter.flush_counts().await.expect("flush");
        assert_eq!(f.limiter.writes(), 1);
        assert_eq!(f.limiter.unwritten(), 0);
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(f.stored(id).await, n as u64 + 1);
        }
        // Nothing new: nothing written.
        f.limiter.flush_counts().await.expect("flush");
        assert_eq!(f.limiter.writes(), 1);

        // Another server (or this one restarted) on the same database continues the count, and
        // its writes add up with ours.
        let other = PlanLimiter::with_clock(f.store.clone(), FakeRelativeClock::default());
        let key = f.key(&ids[2]).await;
        let check = other.check_key(&key).await.expect("check");
        assert_eq!(check.quota.expect("quota").remaining, 96);
        assert!(is_allowed(&f.check(&ids[2]).await));
        other.flush_counts().await.expect("flush");
        f.limiter.flush_counts().await.expect("flush");
        assert_eq!(f.stored(&ids[2]).await, 5);
        // Our counter learned the other server's count from the write.
        let check = f.check(&ids[2]).await;
        assert_eq!(check.quota.expect("quota").remaining, 94);
    }

    #[tokio::test]
    async fn counts_of_a_day_that_ended_unwritten_are_not_added_to_the_next() {
        let f = fixture().await;
        let id = f.key_on("Daily", None, Some(10)).await;
        assert!(is_allowed(&f.check(&id).await));
        assert!(is_allowed(&f.check(&id).await));
        f.wall.advance(chrono::Duration::days(1));
        let check = f.check(&id).await;
        assert_eq!(check.quota.expect("quota").remaining, 9);
        f.limiter.flush_counts().await.expect("flush");
        assert_eq!(f.limiter.writes(), 1);
        assert_eq!(f.stored(&id).await, 1);
    }

    #[tokio::test]
    async fn keys_without_limits_are_allowed_with_nothing_to_show() {
        let f = fixture().await;
        let id = f.key_on_plan(keyward_core::UNLIMITED_PLAN).await;
        for _ in 0..10 {
            assert_eq!(f.check(&id).await, PlanCheck::allowed());
        }
        f.limiter.flush_counts().await.expect("flush");
        assert_eq!(f.limiter.writes(), 0);
    }
}
