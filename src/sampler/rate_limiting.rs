//! Jaeger's credit rate limiter and the rate-limiting sampler built on it (jaeger-client-go
//! `utils/rate_limiter.go`, `sampler.go`).
//!
//! The limiter is lock-free: the balance and the last refill time are separate atomics. A
//! caller that finds the balance short first *claims* the time elapsed since the last refill
//! by moving `last_tick` forward with a compare-and-swap, so every interval of time is turned
//! into credits by exactly one caller; credits are then added and spent with a CAS loop on the
//! balance, which never goes below zero nor above the maximum. Concurrent callers therefore
//! never get more credits than the sequential Go limiter would hand out over the same time.

use std::sync::atomic::{AtomicU64, Ordering::AcqRel, Ordering::Acquire, Ordering::Release};
use std::time::Instant;

#[cfg(test)]
use std::sync::{atomic::Ordering::SeqCst, Arc};

use crate::error::BuildError;

// === impl LimiterClock ===

/// Where the limiter reads the time. Only read when the balance runs short (the refill is
/// lazy, as in jaeger-client-go's `utils/rate_limiter.go`), so the common path does not even look at it.
#[derive(Clone, Debug)]
pub(crate) enum LimiterClock {
    /// The monotonic clock, as nanoseconds since the given origin.
    Monotonic(Instant),
    /// A hand-driven clock in nanoseconds, for deterministic tests.
    #[cfg(test)]
    Manual(Arc<AtomicU64>),
}

impl LimiterClock {
    pub(crate) fn monotonic() -> Self {
        LimiterClock::Monotonic(Instant::now())
    }

    /// A manual clock and the handle that moves it (see [`advance`]).
    #[cfg(test)]
    pub(crate) fn manual() -> (Self, Arc<AtomicU64>) {
        let nanos = Arc::new(AtomicU64::new(1_000_000_000));
        (LimiterClock::Manual(nanos.clone()), nanos)
    }

    fn now_nanos(&self) -> u64 {
        match self {
            // u64 nanoseconds last 584 years.
            LimiterClock::Monotonic(origin) => origin.elapsed().as_nanos() as u64,
            #[cfg(test)]
            LimiterClock::Manual(nanos) => nanos.load(SeqCst),
        }
    }
}

/// Moves a manual clock forward.
#[cfg(test)]
pub(crate) fn advance(nanos: &AtomicU64, seconds: f64) {
    nanos.fetch_add((seconds * 1e9).round() as u64, SeqCst);
}

// === impl RateLimiter ===

/// Jaeger's leaky-bucket credit limiter (`utils/rate_limiter.go`).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Credits available, as `f64` bits.
    balance: AtomicU64,
    /// LimiterClock reading of the last refill, in nanoseconds.
    last_tick: AtomicU64,
    /// `f64` bits; written only by `update` (the sampler's poller thread).
    credits_per_second: AtomicU64,
    /// `f64` bits; written only by `update`.
    max_balance: AtomicU64,
    clock: LimiterClock,
}

fn load_f64(a: &AtomicU64) -> f64 {
    f64::from_bits(a.load(Acquire))
}

impl RateLimiter {
    /// A limiter that starts full: `balance = max_balance` (`utils/rate_limiter.go`).
    pub(crate) fn new(credits_per_second: f64, max_balance: f64, clock: LimiterClock) -> Self {
        let now = clock.now_nanos();
        RateLimiter {
            balance: AtomicU64::new(max_balance.to_bits()),
            last_tick: AtomicU64::new(now),
            credits_per_second: AtomicU64::new(credits_per_second.to_bits()),
            max_balance: AtomicU64::new(max_balance.to_bits()),
            clock,
        }
    }

    /// Spends `cost` credits if the balance allows it, refilling first only when it does not.
    pub(crate) fn check_credit(&self, cost: f64) -> bool {
        let mut balance = load_f64(&self.balance);
        // Fast path: enough credits, no clock read.
        while balance >= cost {
            match self.cas_balance(balance, balance - cost) {
                Ok(()) => return true,
                Err(current) => balance = current,
            }
        }
        // Short: add the credits earned since the last refill (claimed by us alone), capped.
        let earned = self.claim_elapsed_seconds() * load_f64(&self.credits_per_second);
        let max = load_f64(&self.max_balance);
        loop {
            let refilled = (balance + earned).min(max);
            let (next, granted) = if refilled >= cost { (refilled - cost, true) } else { (refilled, false) };
            match self.cas_balance(balance, next) {
                Ok(()) => return granted,
                Err(current) => balance = current,
            }
        }
    }

    /// Changes the rate and the maximum balance, pro-rating the balance so that a strategy
    /// change does not release a burst (`utils/rate_limiter.go`, `Update`). Called from one thread at a time.
    pub(crate) fn update(&self, credits_per_second: f64, max_balance: f64) {
        // Refill at the old rate and cap at the old maximum, as Go's `updateBalance`.
        let earned = self.claim_elapsed_seconds() * load_f64(&self.credits_per_second);
        let old_max = load_f64(&self.max_balance);
        // New limits first: a concurrent refill then caps at the new maximum, and the
        // pro-rated balance below can never exceed it either.
        self.credits_per_second.store(credits_per_second.to_bits(), Release);
        self.max_balance.store(max_balance.to_bits(), Release);
        let mut balance = load_f64(&self.balance);
        loop {
            let refilled = (balance + earned).min(old_max);
            let next = if old_max > 0.0 { refilled * max_balance / old_max } else { max_balance };
            match self.cas_balance(balance, next) {
                Ok(()) => return,
                Err(current) => balance = current,
            }
        }
    }

    /// The current rate in credits per second.
    pub(crate) fn credits_per_second(&self) -> f64 {
        load_f64(&self.credits_per_second)
    }

    fn cas_balance(&self, current: f64, next: f64) -> Result<(), f64> {
        self.balance
            .compare_exchange_weak(current.to_bits(), next.to_bits(), AcqRel, Acquire)
            .map(drop)
            .map_err(f64::from_bits)
    }

    /// Moves `last_tick` to now and returns the seconds in between; 0 if another caller got
    /// there first (each interval is claimed once).
    fn claim_elapsed_seconds(&self) -> f64 {
        let now = self.clock.now_nanos();
        let mut last = self.last_tick.load(Acquire);
        while now > last {
            match self.last_tick.compare_exchange_weak(last, now, AcqRel, Acquire) {
                Ok(_) => return (now - last) as f64 / 1e9,
                Err(current) => last = current,
            }
        }
        0.0
    }

    #[cfg(test)]
    pub(crate) fn balance(&self) -> f64 {
        load_f64(&self.balance)
    }
}

// === impl RateLimitingSampler ===

/// Samples at most `max_traces_per_second` traces per second, with bursts up to
/// `max(rate, 1)` (jaeger-client-go `sampler.go`, `RateLimitingSampler`).
#[derive(Debug)]
pub(crate) struct RateLimitingSampler {
    limiter: RateLimiter,
}

/// Checks a traces-per-second value: finite and not negative.
pub(crate) fn check_rate(what: &str, rate: f64) -> Result<f64, BuildError> {
    if rate.is_finite() && rate >= 0.0 {
        Ok(rate)
    } else {
        Err(BuildError::invalid(what, rate, "must be a finite number of traces per second, 0 or more"))
    }
}

impl RateLimitingSampler {
    /// `rate` must have passed [`check_rate`].
    pub(crate) fn new(max_traces_per_second: f64, clock: LimiterClock) -> Self {
        let max_balance = max_traces_per_second.max(1.0);
        RateLimitingSampler { limiter: RateLimiter::new(max_traces_per_second, max_balance, clock) }
    }

    /// One decision costs one credit.
    #[inline]
    pub(crate) fn sample(&self) -> bool {
        self.limiter.check_credit(1.0)
    }

    /// The configured rate (the `sampler.param` tag).
    pub(crate) fn max_traces_per_second(&self) -> f64 {
        self.limiter.credits_per_second()
    }

    /// A new rate; a no-op when unchanged, else the limiter is pro-rated (as Go's `Update`).
    pub(crate) fn update(&self, max_traces_per_second: f64) {
        if self.max_traces_per_second() != max_traces_per_second {
            self.limiter.update(max_traces_per_second, max_traces_per_second.max(1.0));
        }
    }

    #[cfg(test)]
    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn take(limiter: &RateLimiter, n: usize) -> Vec<bool> {
        (0..n).map(|_| limiter.check_credit(1.0)).collect()
    }

    #[test]
    fn starts_full_and_refills_with_time() {
        let (clock, t) = LimiterClock::manual();
        let l = RateLimiter::new(2.0, 2.0, clock);
        assert_eq!(take(&l, 3), [true, true, false]);
        advance(&t, 0.25); // 0.5 credit
        assert!(!l.check_credit(1.0));
        assert_eq!(l.balance(), 0.5);
        advance(&t, 0.25); // +0.5 -> 1.0
        assert_eq!(take(&l, 2), [true, false]);
        advance(&t, 100.0); // capped at the maximum balance
        assert_eq!(take(&l, 3), [true, true, false]);
    }

    #[test]
    fn refill_is_lazy_as_in_go() {
        // Spending from a non-empty balance does not move last_tick, so the next refill
        // counts from the previous one: at t=10 Go grants 1 (old balance) + 2 (refill).
        let (clock, t) = LimiterClock::manual();
        let l = RateLimiter::new(1.0, 2.0, clock);
        assert!(l.check_credit(1.0)); // balance 1
        advance(&t, 10.0);
        assert_eq!(take(&l, 4), [true, true, true, false]);
    }

    #[test]
    fn a_short_balance_is_left_refilled_not_spent() {
        let (clock, t) = LimiterClock::manual();
        let l = RateLimiter::new(1.0, 1.0, clock);
        assert!(l.check_credit(1.0));
        advance(&t, 0.4);
        assert!(!l.check_credit(1.0));
        advance(&t, 0.4);
        assert!(!l.check_credit(1.0));
        assert!((l.balance() - 0.8).abs() < 1e-9);
        advance(&t, 0.2);
        assert!(l.check_credit(1.0));
    }

    #[test]
    fn rate_below_one_has_a_balance_of_one() {
        let (clock, t) = LimiterClock::manual();
        let s = RateLimitingSampler::new(0.5, clock);
        assert_eq!(s.max_traces_per_second(), 0.5);
        assert!(s.sample(), "starts full with one credit");
        assert!(!s.sample());
        advance(&t, 1.9);
        assert!(!s.sample());
        advance(&t, 0.1);
        assert!(s.sample(), "two seconds give one credit");
        advance(&t, 60.0);
        assert_eq!(take(s.limiter(), 2), [true, false], "never more than one banked");
    }

    #[test]
    fn rate_zero_grants_the_initial_credit_only() {
        let (clock, t) = LimiterClock::manual();
        let s = RateLimitingSampler::new(0.0, clock);
        assert!(s.sample());
        advance(&t, 3600.0);
        assert!(!s.sample());
    }

    #[test]
    fn update_pro_rates_the_balance() {
        let (clock, t) = LimiterClock::manual();
        let s = RateLimitingSampler::new(10.0, clock);
        assert_eq!(take(s.limiter(), 5), [true; 5]); // balance 5 of 10
        s.update(20.0); // 5 * 20 / 10
        assert_eq!(s.limiter().balance(), 10.0);
        assert_eq!(s.max_traces_per_second(), 20.0);
        s.update(5.0); // 10 * 5 / 20
        assert_eq!(s.limiter().balance(), 2.5);
        // The refill before pro-rating uses the old rate and the old cap.
        advance(&t, 0.1); // +0.5 at 5/s -> 3.0
        s.update(10.0); // 3 * 10 / 5
        assert_eq!(s.limiter().balance(), 6.0);
        advance(&t, 0.5); // +5 at 10/s -> 11 capped at 10
        s.update(1.0);
        assert_eq!(s.limiter().balance(), 1.0);
        // From now on the new rate applies.
        assert_eq!(take(s.limiter(), 2), [true, false]);
        advance(&t, 1.0);
        assert_eq!(take(s.limiter(), 2), [true, false]);
    }

    #[test]
    fn update_with_the_same_rate_is_a_no_op() {
        let (clock, t) = LimiterClock::manual();
        let s = RateLimitingSampler::new(4.0, clock);
        assert!(s.sample());
        advance(&t, 0.125); // would add 0.5 if the update refilled
        s.update(4.0);
        assert_eq!(s.limiter().balance(), 3.0);
    }

    #[test]
    fn rates_are_checked() {
        for bad in [-1.0, -0.001, f64::NAN, f64::INFINITY] {
            assert!(check_rate("r", bad).is_err(), "{bad}");
        }
        assert_eq!(check_rate("r", 0.0).unwrap(), 0.0);
        assert_eq!(check_rate("r", 1e6).unwrap(), 1e6);
    }

    #[test]
    fn concurrent_callers_never_exceed_the_balance() {
        let (clock, _t) = LimiterClock::manual();
        let l = Arc::new(RateLimiter::new(1000.0, 1000.0, clock));
        let granted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (l, granted) = (l.clone(), granted.clone());
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        if l.check_credit(1.0) {
                            granted.fetch_add(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Frozen clock: exactly the initial balance, no more, no less.
        assert_eq!(granted.load(SeqCst), 1000);
        assert_eq!(l.balance(), 0.0);
    }

    #[test]
    fn concurrent_callers_with_a_moving_clock_get_what_time_allows() {
        let (clock, t) = LimiterClock::manual();
        let l = Arc::new(RateLimiter::new(100.0, 100.0, clock));
        let granted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (l, granted) = (l.clone(), granted.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        if l.check_credit(1.0) {
                            granted.fetch_add(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        // 200 steps of 10 ms: at most 100 (initial) + 200 * 1 credits can ever be granted.
        for _ in 0..200 {
            advance(&t, 0.01);
            std::thread::yield_now();
        }
        for th in threads {
            th.join().unwrap();
        }
        // Whatever is left can be taken now; the total is then exactly what time allowed,
        // minus what the cap threw away.
        let rest = take(&l, 400).into_iter().filter(|&g| g).count();
        let total = granted.load(SeqCst) + rest;
        assert!(total <= 300, "granted {total} > 300");
        assert!(total >= 100, "granted {total}");
        assert!(l.balance() < 1.0);
    }
}
