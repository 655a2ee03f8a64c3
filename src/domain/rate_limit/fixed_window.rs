//! [`FixedWindow`]: the in-process [`RateLimiter`] (semantics in the
//! module docs of [`crate::domain::rate_limit`]).
//!
//! It keeps one entry per client with an open or recently expired window, in
//! [`FixedWindow::DEFAULT_SHARDS`] mutex-protected hash maps (SipHash with a
//! random key, so clients cannot force collisions). An entry is
//! [`FixedWindow::ENTRY_BYTES`] (32) bytes plus the hash table's control byte
//! and spare capacity (load factor ≤ 7/8, power-of-two buckets), i.e. roughly
//! 37–74 bytes per client in the table.
//!
//! Expired windows are evicted without a background thread: each shard sweeps
//! itself on the first call at least one `window` after its previous sweep, so
//! while a shard sees traffic an entry lives at most about two windows after
//! its window opened, and each sweep's O(entries) cost is covered by the
//! inserts it removes (the call that sweeps pays it: ~1M/32 entries per shard
//! at most a few hundred microseconds). A shard whose table has become mostly
//! empty is shrunk. [`FixedWindow::sweep`] sweeps every shard on demand (e.g.
//! from a periodic task), and [`FixedWindow::len`] counts the entries.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::limiter::{Decision, RateLimiter};
use super::quota::Quota;
use crate::domain::Pending;
use crate::domain::client_ip::ClientKey;
use crate::domain::clock::{Clock, SystemClock};

/// One client's window, packed to 12 bytes (alignment 4) so that a stored
/// `(ClientKey, Window)` is 32 bytes instead of 40.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// Window start in nanoseconds since the limiter's epoch, as [lo, hi].
    start: [u32; 2],
    /// Requests allowed in this window.
    count: u32,
}

impl Window {
    fn new(start: u64) -> Self {
        Window {
            start: [start as u32, (start >> 32) as u32],
            count: 0,
        }
    }

    fn start(&self) -> u64 {
        u64::from(self.start[0]) | (u64::from(self.start[1]) << 32)
    }
}

struct ShardState {
    map: HashMap<ClientKey, Window>,
    /// Time (epoch nanos) at or after which the next call sweeps this shard.
    next_sweep: u64,
}

impl ShardState {
    /// Drops expired windows and shrinks a mostly empty table.
    fn sweep(&mut self, now: u64, window: u64) {
        self.map
            .retain(|_, w| now.saturating_sub(w.start()) < window);
        let len = self.map.len();
        if self.map.capacity() > 4 * len.max(16) {
            self.map.shrink_to(2 * len);
        }
        self.next_sweep = now.saturating_add(window);
    }
}

/// Cache-line aligned so neighbouring shard locks do not false-share.
#[repr(align(64))]
struct Shard(Mutex<ShardState>);

impl Shard {
    fn lock(&self) -> MutexGuard<'_, ShardState> {
        // The critical sections cannot leave a shard half-updated, so a
        // panic elsewhere while holding the lock does not invalidate it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// In-process fixed-window limiter (see the module docs), sharded by key.
pub struct FixedWindow<C: Clock = SystemClock> {
    quota: Quota,
    window_nanos: u64,
    clock: C,
    epoch: Instant,
    shard_hasher: RandomState,
    shards: Box<[Shard]>,
}

impl<C: Clock> FixedWindow<C> {
    /// Number of shards used by [`new`](Self::new).
    pub const DEFAULT_SHARDS: usize = 32;

    /// Bytes per stored client entry, `size_of::<(ClientKey, Window)>()`,
    /// excluding hash-table overhead (see the module docs).
    pub const ENTRY_BYTES: usize = size_of::<(ClientKey, Window)>();

    /// A limiter enforcing `quota`, reading time from `clock`.
    pub fn new(quota: Quota, clock: C) -> Self {
        Self::with_shards(quota, clock, Self::DEFAULT_SHARDS)
    }

    /// Like [`new`](Self::new) with `shards` shards (rounded up to a power of
    /// two, at least 1).
    pub fn with_shards(quota: Quota, clock: C, shards: usize) -> Self {
        let window_nanos = quota.window_nanos();
        let shards = shards.max(1).next_power_of_two();
        let epoch = clock.now();
        FixedWindow {
            quota,
            window_nanos,
            clock,
            epoch,
            shard_hasher: RandomState::new(),
            shards: (0..shards)
                .map(|_| {
                    Shard(Mutex::new(ShardState {
                        map: HashMap::new(),
                        next_sweep: window_nanos,
                    }))
                })
                .collect(),
        }
    }

    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Number of stored client entries (open or not-yet-swept windows).
    /// Locks each shard in turn, so it is approximate under concurrent use.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Evicts every expired window now, in all shards.
    pub fn sweep(&self) {
        for shard in self.shards.iter() {
            let mut state = shard.lock();
            let now = self.now_nanos();
            state.sweep(now, self.window_nanos);
        }
    }

    fn now_nanos(&self) -> u64 {
        let since = self.clock.now().saturating_duration_since(self.epoch);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &ClientKey) -> &Shard {
        let hash = self.shard_hasher.hash_one(key);
        // High bits: the shard maps use their own hasher, but stay independent
        // of the low bits anyway.
        let index = (hash >> 32) as usize & (self.shards.len() - 1);
        &self.shards[index]
    }
}

impl<C: Clock> RateLimiter for FixedWindow<C> {
    fn check(&self, key: ClientKey) -> Pending<'_, Decision> {
        Box::pin(std::future::ready(self.check_now(key)))
    }
}

impl<C: Clock> FixedWindow<C> {
    /// [`RateLimiter::check`], at once: the decision needs no waiting.
    pub fn check_now(&self, key: ClientKey) -> Decision {
        let limit = self.quota.limit();
        let window = self.window_nanos;
        let mut state = self.shard(&key).lock();
        // Read the clock under the lock so time never goes backwards within
        // a shard, whatever the scheduling between threads.
        let now = self.now_nanos();
        if now >= state.next_sweep {
            state.sweep(now, window);
        }
        let entry = state.map.entry(key).or_insert_with(|| Window::new(now));
        if now.saturating_sub(entry.start()) >= window {
            *entry = Window::new(now);
        }
        let allowed = entry.count < limit;
        if allowed {
            entry.count += 1;
        }
        let elapsed = now.saturating_sub(entry.start());
        let remaining = limit - entry.count;
        drop(state);
        Decision {
            allowed,
            limit,
            remaining,
            reset_after: Duration::from_nanos(window - elapsed),
            window: self.quota.window(),
        }
    }
}

impl<C: Clock + fmt::Debug> fmt::Debug for FixedWindow<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedWindow")
            .field("quota", &self.quota)
            .field("clock", &self.clock)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::ManualClock;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;
    use std::sync::Barrier;

    fn key(n: u32) -> ClientKey {
        ClientKey::from_ip(IpAddr::V4(Ipv4Addr::from(0xC000_0200 + n)))
    }

    fn limiter() -> (FixedWindow<ManualClock>, ManualClock) {
        let clock = ManualClock::new();
        let quota = "60/60s".parse().unwrap();
        (FixedWindow::new(quota, clock.clone()), clock)
    }

    fn use_up(limiter: &FixedWindow<ManualClock>, key: ClientKey, n: u32) {
        for i in 0..n {
            assert!(limiter.check_now(key).allowed, "request {} rejected", i + 1);
        }
    }

    #[test]
    fn request_61_in_a_window_is_rejected_with_retry_after_rounded_up() {
        let (limiter, clock) = limiter();
        use_up(&limiter, key(1), 60);
        clock.advance(Duration::from_millis(30_400));
        let d = limiter.check_now(key(1));
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_after, Duration::from_millis(29_600));
        assert_eq!(d.retry_after_secs(), 30);
    }

    #[test]
    fn retry_after_is_1_when_59_2_seconds_have_elapsed() {
        let (limiter, clock) = limiter();
        use_up(&limiter, key(1), 60);
        clock.advance(Duration::from_millis(59_200));
        let d = limiter.check_now(key(1));
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs(), 1);
    }

    #[test]
    fn retry_after_is_60_when_half_a_second_has_elapsed() {
        let (limiter, clock) = limiter();
        use_up(&limiter, key(1), 60);
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.check_now(key(1)).retry_after_secs(), 60);
    }

    #[test]
    fn retry_after_is_60_when_no_time_has_elapsed() {
        let (limiter, _clock) = limiter();
        use_up(&limiter, key(1), 60);
        let d = limiter.check_now(key(1));
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs(), 60);
    }

    #[test]
    fn a_new_window_starts_at_exactly_60_seconds() {
        let (limiter, clock) = limiter();
        // Start off the shard-sweep schedule so the window check itself decides.
        clock.advance(Duration::from_secs(10));
        use_up(&limiter, key(1), 60);
        clock.advance(Duration::from_secs(60) - Duration::from_nanos(1));
        assert!(!limiter.check_now(key(1)).allowed);
        clock.advance(Duration::from_nanos(1));
        let d = limiter.check_now(key(1));
        assert!(d.allowed);
        assert_eq!(d.remaining, 59);
        assert_eq!(d.reset_secs(), 60);
        use_up(&limiter, key(1), 59);
        assert!(!limiter.check_now(key(1)).allowed);
    }

    #[test]
    fn a_retry_after_retry_after_seconds_succeeds() {
        let (limiter, clock) = limiter();
        clock.advance(Duration::from_millis(123));
        use_up(&limiter, key(1), 60);
        for step_ms in [700, 13_000, 29_999, 16_000] {
            clock.advance(Duration::from_millis(step_ms));
            let d = limiter.check_now(key(1));
            assert!(!d.allowed);
            clock.advance(Duration::from_secs(d.retry_after_secs()));
            let after = limiter.check_now(key(1));
            assert!(
                after.allowed,
                "retry after {} s failed",
                d.retry_after_secs()
            );
            // Fill the new window again for the next round.
            use_up(&limiter, key(1), 59);
        }
    }

    #[test]
    fn rejected_requests_do_not_extend_the_window() {
        let (limiter, clock) = limiter();
        use_up(&limiter, key(1), 60);
        for _ in 0..59 {
            clock.advance(Duration::from_secs(1));
            assert!(!limiter.check_now(key(1)).allowed);
        }
        clock.advance(Duration::from_secs(1));
        assert!(limiter.check_now(key(1)).allowed);
    }

    #[test]
    fn the_window_starts_at_each_clients_first_request() {
        let (limiter, clock) = limiter();
        assert!(limiter.check_now(key(1)).allowed);
        clock.advance(Duration::from_secs(30));
        let d = limiter.check_now(key(2));
        assert_eq!(d.reset_secs(), 60);
        assert_eq!(limiter.check_now(key(1)).reset_secs(), 30);
        clock.advance(Duration::from_secs(30));
        assert_eq!(
            limiter.check_now(key(1)).remaining,
            59,
            "key 1 got a new window"
        );
        assert_eq!(limiter.check_now(key(2)).remaining, 58, "key 2 did not");
    }

    #[test]
    fn separate_keys_are_independent() {
        let (limiter, _clock) = limiter();
        use_up(&limiter, key(1), 60);
        assert!(!limiter.check_now(key(1)).allowed);
        let d = limiter.check_now(key(2));
        assert!(d.allowed);
        assert_eq!(d.remaining, 59);
    }

    #[test]
    fn remaining_counts_down_to_zero_and_stays_there() {
        let (limiter, _clock) = limiter();
        for expected in (0..60).rev() {
            assert_eq!(limiter.check_now(key(1)).remaining, expected);
        }
        for _ in 0..5 {
            let d = limiter.check_now(key(1));
            assert!(!d.allowed);
            assert_eq!(d.remaining, 0);
        }
    }

    #[test]
    fn exactly_60_of_200_concurrent_requests_from_one_key_succeed() {
        let (limiter, _clock) = limiter();
        let limiter = Arc::new(limiter);
        let barrier = Arc::new(Barrier::new(200));
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    limiter.check_now(key(1))
                })
            })
            .collect();
        let decisions: Vec<Decision> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 60);
        let mut remaining: Vec<u32> = decisions
            .iter()
            .filter(|d| d.allowed)
            .map(|d| d.remaining)
            .collect();
        remaining.sort_unstable();
        assert_eq!(remaining, (0..60).collect::<Vec<_>>());
    }

    #[test]
    fn concurrent_requests_with_a_real_clock_are_exact_too() {
        let limiter = Arc::new(FixedWindow::new(
            Quota::new(60, Duration::from_secs(3600)).unwrap(),
            SystemClock,
        ));
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..25)
                        .filter(|_| limiter.check_now(key(1)).allowed)
                        .count()
                })
            })
            .collect();
        let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(allowed, 60);
    }

    #[test]
    fn sweep_evicts_expired_windows_and_keeps_open_ones() {
        let (limiter, clock) = limiter();
        for n in 0..1000 {
            limiter.check_now(key(n));
        }
        clock.advance(Duration::from_secs(30));
        for n in 1000..1010 {
            limiter.check_now(key(n));
        }
        assert_eq!(limiter.len(), 1010);
        clock.advance(Duration::from_secs(30));
        limiter.sweep();
        assert_eq!(limiter.len(), 10);
        clock.advance(Duration::from_secs(30));
        limiter.sweep();
        assert!(limiter.is_empty());
    }

    #[test]
    fn expired_windows_are_evicted_by_later_calls_without_an_explicit_sweep() {
        let clock = ManualClock::new();
        let limiter = FixedWindow::with_shards("60/60s".parse().unwrap(), clock.clone(), 4);
        for n in 0..10_000 {
            limiter.check_now(key(n));
        }
        let capacity = |l: &FixedWindow<ManualClock>| -> usize {
            l.shards.iter().map(|s| s.lock().map.capacity()).sum()
        };
        let full_capacity = capacity(&limiter);
        assert!(full_capacity >= 10_000);
        clock.advance(Duration::from_secs(60));
        // Touch every shard with a few new clients.
        for n in 20_000..20_100 {
            limiter.check_now(key(n));
        }
        assert_eq!(limiter.len(), 100);
        assert!(
            capacity(&limiter) < full_capacity / 8,
            "table memory was not released: {} of {full_capacity}",
            capacity(&limiter)
        );
    }

    #[test]
    fn a_live_window_survives_an_automatic_sweep() {
        let (limiter, clock) = limiter();
        clock.advance(Duration::from_secs(59));
        use_up(&limiter, key(1), 60);
        clock.advance(Duration::from_secs(1)); // shard sweeps on this call
        limiter.check_now(key(2));
        limiter.sweep();
        assert!(!limiter.check_now(key(1)).allowed);
    }

    #[test]
    fn entries_are_32_bytes() {
        assert_eq!(FixedWindow::<SystemClock>::ENTRY_BYTES, 32);
        assert_eq!(size_of::<ClientKey>(), 18);
    }

    #[tokio::test]
    async fn the_limiter_can_be_used_as_a_trait_object() {
        let (limiter, _clock) = limiter();
        let shared: Arc<dyn RateLimiter> = Arc::new(limiter);
        assert!(shared.check(key(1)).await.allowed);
    }
}
