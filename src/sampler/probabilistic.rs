//! The probabilistic sampler: a fixed share of traces, chosen from the trace id (jaeger-client-go
//! `sampler.go`, `ProbabilisticSampler`).

use crate::error::BuildError;
use crate::span::id::{self, TraceId};

/// Go's `maxRandomNumber`: trace ids are compared on their low 63 bits.
const MAX_RANDOM_NUMBER: u64 = 0x7fff_ffff_ffff_ffff;

/// Samples trace ids whose low 63 bits are at most `boundary`.
///
/// Immutable and `Copy`: a new rate means a new value, so readers never see a torn rate/boundary
/// pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Probabilistic {
    rate: f64,
    boundary: u64,
}

impl Probabilistic {
    /// A sampler for `rate`, which must be in `[0, 1]` (Go's `NewProbabilisticSampler` check).
    pub(crate) fn new(rate: f64) -> Result<Self, BuildError> {
        if !(0.0..=1.0).contains(&rate) {
            // NaN fails `contains` too.
            return Err(BuildError::invalid("sampling rate", rate, "must be between 0.0 and 1.0"));
        }
        Ok(Self::unchecked(rate))
    }

    /// A sampler for `rate` clamped into `[0, 1]`, as Go's internal `init` does for remote
    /// per-operation rates (`sampler.go`; 1.1 -> 1.0). NaN becomes 0.
    pub(crate) fn clamped(rate: f64) -> Self {
        let rate = if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
        Self::unchecked(rate)
    }

    fn unchecked(rate: f64) -> Self {
        // -0.0 passes the range check; report it as 0.
        let rate = if rate == 0.0 { 0.0 } else { rate };
        // `u64(f64(maxRandomNumber) * rate)`: f64(2^63 - 1) rounds to exactly 2^63 and the
        // conversion truncates: e.g. 0.25 -> 0x2000_0000_0000_0000, 0.001 -> 0x20c4_9ba5_e353_f8.
        let boundary = (MAX_RANDOM_NUMBER as f64 * rate) as u64;
        Probabilistic { rate, boundary }
    }

    /// The sampling rate (the `sampler.param` tag).
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// Whether the trace is sampled: `boundary >= low & 0x7fff_ffff_ffff_ffff`
    /// (jaeger-client-go `sampler.go`, `ProbabilisticSampler.IsSampled`).
    #[inline]
    pub(crate) fn sample(&self, trace_id: TraceId) -> bool {
        self.boundary >= trace_id.low & MAX_RANDOM_NUMBER
    }

    /// The boundary when some ids are rejected, `None` at rate 1.0 (every id is sampled).
    pub(crate) fn rejecting_boundary(&self) -> Option<u64> {
        (self.boundary < MAX_RANDOM_NUMBER).then_some(self.boundary)
    }
}

/// A random non-zero low trace id half that the probabilistic rule rejects for `boundary`
/// (`boundary < 2^63 - 1`): its low 63 bits are uniform in `boundary + 1 ..= 2^63 - 1`, its
/// top bit (which the rule masks off) is random like every other id's.
///
/// Drawn directly in the rejected range rather than by redrawing until rejected, so that it
/// costs two draws at any rate (redrawing would take 1000 draws on average at rate 0.999).
pub(crate) fn rejected_low(boundary: u64) -> u64 {
    // Never called with a larger boundary; clamped so that no input can overflow.
    let boundary = boundary.min(MAX_RANDOM_NUMBER - 1);
    let count = MAX_RANDOM_NUMBER - boundary;
    // Multiply-shift maps a uniform u64 to `0..count` (bias below 2^-64 * count, negligible).
    let offset = ((u128::from(id::random_u64()) * u128::from(count)) >> 64) as u64;
    let top = id::random_u64() & !MAX_RANDOM_NUMBER;
    top | (boundary + 1 + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boundary for each rate, computed by jaeger-client-go's formula (`sampler.go`,
    /// `ProbabilisticSampler`): `u64(f64(2^63 - 1) * rate)`.
    const BOUNDARIES: [(f64, u64); 8] = [
        (0.0, 0),
        (0.001, 9_223_372_036_854_776),
        (0.01, 92_233_720_368_547_760),
        (0.1, 922_337_203_685_477_632),
        (0.25, 0x2000_0000_0000_0000),
        (0.5, 0x4000_0000_0000_0000),
        (0.9, 0x7333_3333_3333_3400),
        (1.0, 0x8000_0000_0000_0000),
    ];

    fn low(low: u64) -> TraceId {
        TraceId::new(0, low)
    }

    #[test]
    fn boundaries_match_the_go_values() {
        assert_eq!(0x0020_c49b_a5e3_53f8, 9_223_372_036_854_776_u64);
        assert_eq!(0x147_ae14_7ae1_47b0, 92_233_720_368_547_760_u64);
        assert_eq!(0xccc_cccc_cccc_cd00, 922_337_203_685_477_632_u64);
        for (rate, boundary) in BOUNDARIES {
            let s = Probabilistic::new(rate).unwrap();
            assert_eq!(s.boundary, boundary, "rate {rate}");
            assert_eq!(s.rate(), rate);
        }
    }

    #[test]
    fn decision_flips_exactly_at_the_boundary() {
        for (rate, boundary) in BOUNDARIES {
            let s = Probabilistic::new(rate).unwrap();
            assert!(s.sample(low(boundary)), "rate {rate}: the boundary itself is sampled (>=)");
            // The top bit of the low half is masked off, and the high half is ignored.
            assert!(s.sample(TraceId::new(u64::MAX, boundary | 1 << 63)), "rate {rate}");
            if boundary < MAX_RANDOM_NUMBER {
                assert!(!s.sample(low(boundary + 1)), "rate {rate}: boundary + 1 is not sampled");
                assert!(!s.sample(low((boundary + 1) | 1 << 63)), "rate {rate}");
                assert!(!s.sample(low(MAX_RANDOM_NUMBER)), "rate {rate}");
            } else {
                // Rate 1.0: the boundary (2^63) exceeds every masked id.
                assert!(s.sample(low(MAX_RANDOM_NUMBER)));
                assert!(s.sample(low(u64::MAX)));
            }
            if boundary > 0 {
                assert!(s.sample(low(boundary - 1)), "rate {rate}");
            }
        }
    }

    #[test]
    fn rejected_lows_are_rejected_and_spread_over_the_rejected_range() {
        for (rate, boundary) in BOUNDARIES {
            let s = Probabilistic::new(rate).unwrap();
            let Some(b) = s.rejecting_boundary() else {
                assert_eq!(rate, 1.0, "only rate 1.0 rejects nothing");
                continue;
            };
            assert_eq!(b, boundary);
            let lows: Vec<u64> = (0..2000).map(|_| rejected_low(b)).collect();
            assert!(lows.iter().all(|&l| l != 0 && !s.sample(low(l))), "rate {rate}");
            assert!(lows.iter().any(|&l| l >> 63 == 1) && lows.iter().any(|&l| l >> 63 == 0));
            // The lower half of the rejected range is hit as well as the upper one.
            let mid = b + (MAX_RANDOM_NUMBER - b) / 2;
            assert!(lows.iter().any(|&l| l & MAX_RANDOM_NUMBER <= mid), "rate {rate}");
            assert!(lows.iter().any(|&l| l & MAX_RANDOM_NUMBER > mid), "rate {rate}");
        }
        // The narrowest range: one id left above the boundary.
        assert_eq!(rejected_low(MAX_RANDOM_NUMBER - 1) & MAX_RANDOM_NUMBER, MAX_RANDOM_NUMBER);
        // A rate just below 1 still rejects some ids.
        let s = Probabilistic::new(1.0 - f64::EPSILON).unwrap();
        let b = s.rejecting_boundary().unwrap();
        assert!((0..100).all(|_| !s.sample(low(rejected_low(b)))));
    }

    #[test]
    fn rate_zero_samples_only_the_zero_id() {
        let s = Probabilistic::new(0.0).unwrap();
        assert!(s.sample(low(0)));
        assert!(s.sample(low(1 << 63)), "masks to 0");
        assert!(!s.sample(low(1)));
    }

    #[test]
    fn rates_outside_zero_one_are_rejected() {
        for rate in [-0.0001, 1.0001, 2.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = Probabilistic::new(rate).unwrap_err();
            assert!(
                err.kind() == crate::error::BuildErrorKind::InvalidSetting
                    && err.setting() == Some("sampling rate"),
                "{rate}: {err}"
            );
        }
        assert!(Probabilistic::new(-0.0).is_ok());
    }

    #[test]
    fn clamped_rates_follow_go_init() {
        assert_eq!(Probabilistic::clamped(1.1), Probabilistic::new(1.0).unwrap());
        assert_eq!(Probabilistic::clamped(-3.0), Probabilistic::new(0.0).unwrap());
        assert_eq!(Probabilistic::clamped(f64::NAN), Probabilistic::new(0.0).unwrap());
        assert_eq!(Probabilistic::clamped(0.3), Probabilistic::new(0.3).unwrap());
    }
}
