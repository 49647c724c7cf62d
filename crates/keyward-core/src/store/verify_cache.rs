//! Remembers which tokens argon2 has already accepted, so a key checked again and again costs a
//! database read instead of tens of milliseconds of hashing.
//!
//! Only positive results are kept, keyed by the SHA-256 of the whole token (never the token), and
//! each remembers the SHA-256 of the PHC string it matched: a hit counts only while the row still
//! holds that same hash, which [`crate::Store::verify`] reads from the database first. Whether the
//! key is revoked, expired or deleted is never cached.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::secret::Fingerprint;

/// Enough for every key a busy service presents; 10,000 entries take about 1 MB.
pub(crate) const DEFAULT_CAPACITY: usize = 10_000;

/// A bounded map from token fingerprint to the fingerprint of the PHC string it matched. When
/// full, the oldest entry goes first: simple, and a key still in use is simply hashed again once.
pub(crate) struct VerifyCache {
    capacity: usize,
    inner: Mutex<Entries>,
    /// Lookups that skipped argon2, and those that did not, since the cache was made.
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Entries {
    matched: HashMap<Fingerprint, Fingerprint>,
    /// The keys of `matched`, oldest first; always the same set.
    order: VecDeque<Fingerprint>,
}

impl VerifyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Entries::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map holds no invariant a panic elsewhere could break halfway.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True when argon2 accepted `token` against exactly this PHC string before.
    pub(crate) fn accepted(&self, token: &Fingerprint, phc: &Fingerprint) -> bool {
        let hit = self.entries().matched.get(token) == Some(phc);
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// (hits, misses) since the cache was made.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Records that argon2 accepted `token` against `phc`.
    pub(crate) fn remember(&self, token: Fingerprint, phc: Fingerprint) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries();
        if entries.matched.insert(token, phc).is_none() {
            entries.order.push_back(token);
        }
        while entries.matched.len() > self.capacity {
            match entries.order.pop_front() {
                Some(oldest) => {
                    entries.matched.remove(&oldest);
                }
                None => break,
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let entries = self.entries();
        debug_assert_eq!(entries.matched.len(), entries.order.len());
        entries.matched.len()
    }
}

impl super::Store {
    /// How often `verify` found a token in the verify cache (skipping argon2) and how often
    /// not, as `(hits, misses)`, since this store (or its last `with_verify_cache_capacity`)
    /// was made. Shared by clones. Checks that end before the hash (malformed, unknown id) count
    /// as neither.
    pub fn verify_cache_stats(&self) -> (u64, u64) {
        self.verified.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::fingerprint;

    #[test]
    fn stays_within_capacity_and_forgets_the_oldest_first() {
        let cache = VerifyCache::new(3);
        for n in 0..10u8 {
            cache.remember([n; 32], [0; 32]);
        }
        assert_eq!(cache.len(), 3);
        assert!(!cache.accepted(&[6; 32], &[0; 32]));
        assert!(cache.accepted(&[9; 32], &[0; 32]));
        assert_eq!(cache.stats(), (1, 1));
    }

    #[test]
    fn a_hit_needs_the_same_stored_hash() {
        let cache = VerifyCache::new(3);
        cache.remember(fingerprint("token"), fingerprint("phc one"));
        assert!(cache.accepted(&fingerprint("token"), &fingerprint("phc one")));
        assert!(!cache.accepted(&fingerprint("token"), &fingerprint("phc two")));
        // Remembering a token again replaces its hash without growing the cache.
        cache.remember(fingerprint("token"), fingerprint("phc two"));
        assert_eq!(cache.len(), 1);
        assert!(cache.accepted(&fingerprint("token"), &fingerprint("phc two")));
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = VerifyCache::new(0);
        cache.remember([1; 32], [1; 32]);
        assert_eq!(cache.len(), 0);
    }
}
