//! Wall-clock microseconds at the cost of one TSC read.
//!
//! `std::time::Instant::now()` / `SystemTime::now()` are each a vDSO `clock_gettime`, and a
//! sampled span needs two of them: a noticeable share of the layer's own time per span.
//! `quanta` reads the calibrated TSC instead, which is cheaper, and falls back to the OS
//! clock where the TSC is unusable. Timestamps are `monotonic + offset`, where the
//! offset to the wall clock is re-measured by the exporter thread on every wake-up, so a wall
//! clock that is stepped (NTP) or a TSC calibration that drifts is followed within one flush
//! interval; a span's duration is the difference of two such readings.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub(crate) struct SpanClock {
    clock: quanta::Clock,
    base: quanta::Instant,
    /// Wall-clock µs minus monotonic µs since `base`.
    offset_us: AtomicI64,
}

impl SpanClock {
    pub(crate) fn new() -> Self {
        let clock = quanta::Clock::new();
        let base = clock.now();
        let c = SpanClock { clock, base, offset_us: AtomicI64::new(0) };
        c.recalibrate();
        c
    }

    #[inline]
    fn monotonic_us(&self) -> i64 {
        // Seconds and micros separately: `as_nanos() / 1000` is a 128-bit division.
        let d = self.clock.now().duration_since(self.base);
        (d.as_secs() * 1_000_000 + u64::from(d.subsec_micros())) as i64
    }

    /// Microseconds since the Unix epoch.
    #[inline]
    pub(crate) fn now_us(&self) -> i64 {
        self.monotonic_us() + self.offset_us.load(Relaxed)
    }

    /// Re-measures the offset to the wall clock (exporter thread, off the hot path).
    pub(crate) fn recalibrate(&self) {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        self.offset_us.store(wall - self.monotonic_us(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_wall_clock_and_never_goes_back() {
        let c = SpanClock::new();
        let wall = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64;
        let (before, t, after) = (wall(), c.now_us(), wall());
        assert!(t >= before - 1000 && t <= after + 1000, "{before} <= {t} <= {after}");
        let mut last = c.now_us();
        for _ in 0..10_000 {
            let now = c.now_us();
            assert!(now >= last);
            last = now;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        let elapsed = c.now_us() - t;
        assert!((19_000..2_000_000).contains(&elapsed), "{elapsed}");
    }
}
