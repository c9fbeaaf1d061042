//! Per-operation ("adaptive") sampling from a remote strategy (jaeger-client-go `sampler.go`).
//!
//! Each operation gets a guaranteed-throughput sampler: its own probabilistic rate, plus a
//! lower-bound rate limiter that lets a few traces through even when the rate says no. The
//! operation map is read through an `ArcSwap`: a known operation is one atomic load and one
//! hash lookup, with no lock. A never-seen operation takes a slow path once: it copies the
//! map with the new entry and swaps it in (RCU), which is fine because names are bounded by
//! `max_operations` and new ones are rare after warm-up.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::probabilistic::Probabilistic;
use super::rate_limiting::{LimiterClock, RateLimitingSampler};
use super::strategy::PerOperationStrategy;
use super::{SamplerParam, SamplingDecision, TYPE_LOWERBOUND};
use crate::span::id::TraceId;

// === impl GuaranteedThroughput ===

/// Go's `GuaranteedThroughputProbabilisticSampler` (jaeger-client-go `sampler.go`).
///
/// The limiter sits behind an `Arc` so that a strategy update can build a new operation map
/// while keeping every limiter balance (and readers of the old map share it meanwhile).
#[derive(Clone, Debug)]
struct GuaranteedThroughput {
    probabilistic: Probabilistic,
    lower_bound: Arc<RateLimitingSampler>,
}

impl GuaranteedThroughput {
    fn new(lower_bound: f64, probabilistic: Probabilistic, clock: &LimiterClock) -> Self {
        let lower_bound = Arc::new(RateLimitingSampler::new(lower_bound, clock.clone()));
        GuaranteedThroughput { probabilistic, lower_bound }
    }

    fn decide(&self, trace_id: TraceId) -> SamplingDecision {
        if self.probabilistic.sample(trace_id) {
            // The limiter is charged for every sampled trace, so that it only tops up the
            // traffic the rate leaves uncovered; its answer does not matter here.
            let _ = self.lower_bound.sample();
            return SamplingDecision::probabilistic(true, &self.probabilistic);
        }
        SamplingDecision {
            sampled: self.lower_bound.sample(),
            sampler_type: TYPE_LOWERBOUND,
            // Go reports the probabilistic rate here, not the lower bound (`sampler.go`).
            param: SamplerParam::Double(self.probabilistic.rate()),
        }
    }
}

// === impl PerOperationSampler ===

type OperationMap = HashMap<Box<str>, GuaranteedThroughput>;

/// Go's `PerOperationSampler` (jaeger-client-go `sampler.go`).
#[derive(Debug)]
pub(crate) struct PerOperationSampler {
    operations: ArcSwap<OperationMap>,
    /// For operations beyond `max_operations`; its rate also seeds new operations.
    default: Probabilistic,
    /// Traces per second guaranteed to each operation (already validated: finite, >= 0).
    lower_bound: f64,
    max_operations: usize,
    clock: LimiterClock,
    /// The highest boundary below 2^63 among the operations' rates and the default rate:
    /// an id above it is rejected by the probabilistic part of every operation that can
    /// reject at all (see [`PerOperationSampler::rejecting_boundary`]).
    rejecting_boundary: Option<u64>,
}

/// The highest rejecting boundary of `default` and the samplers of `operations`.
fn highest_rejecting_boundary(operations: &OperationMap, default: &Probabilistic) -> Option<u64> {
    operations
        .values()
        .map(|s| &s.probabilistic)
        .chain([default])
        .filter_map(|p| p.rejecting_boundary())
        .max()
}

impl PerOperationSampler {
    /// A sampler for a fresh strategy. `strategy.lower_bound` must be valid.
    pub(crate) fn new(strategy: &PerOperationStrategy, max_operations: usize, clock: LimiterClock) -> Self {
        let empty = OperationMap::new();
        let operations = Self::operations_for(strategy, &empty, max_operations, &clock);
        let default = Probabilistic::clamped(strategy.default_sampling_probability);
        PerOperationSampler {
            rejecting_boundary: highest_rejecting_boundary(&operations, &default),
            operations: ArcSwap::from_pointee(operations),
            default,
            lower_bound: strategy.lower_bound,
            max_operations,
            clock,
        }
    }

    /// The sampler after a new strategy of the same kind: listed operations keep their
    /// limiter (pro-rated if the lower bound changed), new ones are added, unlisted ones are
    /// dropped, and the default sampler is replaced only if its rate changed (as Go's
    /// `PerOperationSampler` update does).
    ///
    /// Operations added on the fly to `self` while this runs are not carried over; they are
    /// simply added again, with a full limiter, the next time they are seen.
    pub(crate) fn updated(&self, strategy: &PerOperationStrategy) -> Self {
        let current = self.operations.load();
        let operations = Self::operations_for(strategy, &current, self.max_operations, &self.clock);
        let default = if self.default.rate() == strategy.default_sampling_probability {
            self.default
        } else {
            Probabilistic::clamped(strategy.default_sampling_probability)
        };
        PerOperationSampler {
            rejecting_boundary: highest_rejecting_boundary(&operations, &default),
            operations: ArcSwap::from_pointee(operations),
            default,
            lower_bound: strategy.lower_bound,
            max_operations: self.max_operations,
            clock: self.clock.clone(),
        }
    }

    fn operations_for(
        strategy: &PerOperationStrategy,
        current: &OperationMap,
        max_operations: usize,
        clock: &LimiterClock,
    ) -> OperationMap {
        let mut map = OperationMap::with_capacity(strategy.operations.len().min(max_operations));
        for (name, rate) in &strategy.operations {
            // Go keeps every listed operation; we also cap the list at `max_operations` so
            // that a server cannot make us allocate without bound. Later duplicates win.
            if map.len() >= max_operations && !map.contains_key(name.as_str()) {
                continue;
            }
            // Per-operation rates are clamped, not rejected (Go's `sampler.go`: 1.1 -> 1.0).
            let probabilistic = Probabilistic::clamped(*rate);
            let sampler = match current.get(name.as_str()) {
                Some(old) => {
                    old.lower_bound.update(strategy.lower_bound);
                    GuaranteedThroughput { probabilistic, lower_bound: Arc::clone(&old.lower_bound) }
                }
                None => GuaranteedThroughput::new(strategy.lower_bound, probabilistic, clock),
            };
            map.insert(name.as_str().into(), sampler);
        }
        map
    }

    /// The decision for a new trace whose root span is `operation`.
    pub(crate) fn decide(&self, trace_id: TraceId, operation: &str) -> SamplingDecision {
        let operations = self.operations.load();
        if let Some(sampler) = operations.get(operation) {
            return sampler.decide(trace_id);
        }
        if operations.len() >= self.max_operations {
            return SamplingDecision::probabilistic(self.default.sample(trace_id), &self.default);
        }
        drop(operations);
        match self.add_operation(operation) {
            Some(sampler) => sampler.decide(trace_id),
            None => SamplingDecision::probabilistic(self.default.sample(trace_id), &self.default),
        }
    }

    /// A boundary above which every id is rejected by the probabilistic part of whichever
    /// operation a root was decided for (operations added later get the default rate, which
    /// is included), or `None` if every rate is 1.0. A root is left unsampled only when that
    /// part rejected its id (the lower bound then said no too) or when `sampling.priority`
    /// forbade it: either way an id above this boundary is one for which the decision holds.
    pub(crate) fn rejecting_boundary(&self) -> Option<u64> {
        self.rejecting_boundary
    }

    /// Slow path: adds `operation` with the default rate unless the map is full by now.
    #[cold]
    fn add_operation(&self, operation: &str) -> Option<GuaranteedThroughput> {
        let mut found = None;
        self.operations.rcu(|current| {
            if let Some(sampler) = current.get(operation) {
                // Another thread added it meanwhile.
                found = Some(sampler.clone());
                return Arc::clone(current);
            }
            if current.len() >= self.max_operations {
                found = None;
                return Arc::clone(current);
            }
            let sampler = GuaranteedThroughput::new(self.lower_bound, self.default, &self.clock);
            found = Some(sampler.clone());
            let mut next = OperationMap::clone(current);
            next.insert(operation.into(), sampler);
            Arc::new(next)
        });
        found
    }

    #[cfg(test)]
    pub(crate) fn operation_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.operations.load().keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    }

    /// The rate and lower-bound limiter balance of one operation.
    #[cfg(test)]
    pub(crate) fn operation(&self, name: &str) -> Option<(f64, f64, f64)> {
        self.operations.load().get(name).map(|s| {
            let limiter = &s.lower_bound;
            (s.probabilistic.rate(), limiter.max_traces_per_second(), limiter.limiter().balance())
        })
    }

    #[cfg(test)]
    pub(crate) fn default_rate(&self) -> f64 {
        self.default.rate()
    }
}

#[cfg(test)]
mod tests {
    use super::super::rate_limiting::advance;
    use super::super::{TYPE_LOWERBOUND, TYPE_PROBABILISTIC};
    use super::*;

    /// Low ids that the probabilistic sampler accepts / rejects at any rate < 1.
    const YES: TraceId = TraceId::new(0, 0);
    const NO: TraceId = TraceId::new(0, 0x7fff_ffff_ffff_ffff);

    fn strategy(default: f64, lower_bound: f64, ops: &[(&str, f64)]) -> PerOperationStrategy {
        PerOperationStrategy {
            default_sampling_probability: default,
            lower_bound,
            operations: ops.iter().map(|(n, r)| (n.to_string(), *r)).collect(),
        }
    }

    #[test]
    fn listed_operations_use_their_rate_and_the_lower_bound() {
        let (clock, t) = LimiterClock::manual();
        let s = PerOperationSampler::new(&strategy(0.001, 2.0, &[("GET /x", 0.5)]), 10, clock);
        let d = s.decide(YES, "GET /x");
        assert!(d.sampled);
        assert_eq!((d.sampler_type, d.param), (TYPE_PROBABILISTIC, SamplerParam::Double(0.5)));
        // That sampled trace spent one of the two lower-bound credits; one is left.
        let d = s.decide(NO, "GET /x");
        assert!(d.sampled, "the lower bound lets it through");
        assert_eq!((d.sampler_type, d.param), (TYPE_LOWERBOUND, SamplerParam::Double(0.5)));
        let d = s.decide(NO, "GET /x");
        assert!(!d.sampled);
        assert_eq!(d.sampler_type, TYPE_LOWERBOUND);
        advance(&t, 0.5);
        assert!(s.decide(NO, "GET /x").sampled, "refilled at 2 per second");
    }

    #[test]
    fn new_operations_are_added_up_to_the_cap_then_use_the_default() {
        let (clock, _t) = LimiterClock::manual();
        let s = PerOperationSampler::new(&strategy(0.25, 1.0, &[("a", 1.0)]), 3, clock);
        let d = s.decide(NO, "b");
        // New operation: default rate, lower bound of 1 credit, so it is sampled once.
        assert!(d.sampled);
        assert_eq!((d.sampler_type, d.param), (TYPE_LOWERBOUND, SamplerParam::Double(0.25)));
        assert!(!s.decide(NO, "b").sampled);
        assert!(s.decide(NO, "c").sampled);
        assert_eq!(s.operation_names(), ["a", "b", "c"]);
        // Full: "d" is not added and gets the default probabilistic sampler, no lower bound.
        for _ in 0..3 {
            let d = s.decide(NO, "d");
            assert!(!d.sampled);
            assert_eq!((d.sampler_type, d.param), (TYPE_PROBABILISTIC, SamplerParam::Double(0.25)));
        }
        let d = s.decide(YES, "d");
        assert!(d.sampled);
        assert_eq!(d.sampler_type, TYPE_PROBABILISTIC);
        assert_eq!(s.operation_names(), ["a", "b", "c"]);
    }

    #[test]
    fn the_rejecting_boundary_is_the_highest_rate_below_one() {
        let (clock, _t) = LimiterClock::manual();
        let s =
            PerOperationSampler::new(&strategy(0.1, 1.0, &[("a", 0.5), ("b", 1.0), ("c", 0.25)]), 10, clock);
        assert_eq!(s.rejecting_boundary(), Probabilistic::new(0.5).unwrap().rejecting_boundary());
        let u = s.updated(&strategy(0.9, 1.0, &[("b", 1.0)]));
        assert_eq!(u.rejecting_boundary(), Probabilistic::new(0.9).unwrap().rejecting_boundary());
        let all = u.updated(&strategy(1.0, 1.0, &[("b", 1.0)]));
        assert_eq!(all.rejecting_boundary(), None, "nothing is rejected at rate 1.0");
    }

    #[test]
    fn zero_max_operations_always_uses_the_default() {
        let (clock, _t) = LimiterClock::manual();
        let s = PerOperationSampler::new(&strategy(0.5, 1.0, &[("a", 1.0)]), 0, clock);
        assert!(s.operation_names().is_empty());
        assert_eq!(s.decide(NO, "a").sampler_type, TYPE_PROBABILISTIC);
        assert!(!s.decide(NO, "a").sampled);
    }

    #[test]
    fn update_keeps_updates_adds_drops_and_clamps() {
        let (clock, t) = LimiterClock::manual();
        let s = PerOperationSampler::new(
            &strategy(0.1, 4.0, &[("keep", 0.2), ("drop", 0.3), ("same", 0.4)]),
            10,
            clock,
        );
        for _ in 0..3 {
            assert!(s.decide(NO, "keep").sampled); // balance 4 -> 1
        }
        assert!(s.decide(NO, "same").sampled); // balance 4 -> 3
        assert!(s.decide(NO, "extra").sampled); // added on the fly
        let u = s.updated(&strategy(0.2, 2.0, &[("keep", 1.1), ("same", 0.4), ("new", -0.5)]));
        assert_eq!(u.operation_names(), ["keep", "new", "same"]);
        // Kept: balance pro-rated 1 * 2/4, rate clamped 1.1 -> 1.0.
        assert_eq!(u.operation("keep"), Some((1.0, 2.0, 0.5)));
        assert_eq!(u.operation("same"), Some((0.4, 2.0, 1.5)));
        // New: a full limiter, rate clamped -0.5 -> 0.
        assert_eq!(u.operation("new"), Some((0.0, 2.0, 2.0)));
        assert_eq!(u.default_rate(), 0.2);
        assert!(u.decide(NO, "keep").sampled, "rate 1.0 samples everything");
        // The limiter is shared with the old sampler, so readers of either see one balance.
        assert!(s.decide(NO, "same").sampled);
        assert_eq!(u.operation("same"), Some((0.4, 2.0, 0.5)));
        // Same lower bound and default: nothing is reset.
        advance(&t, 0.25); // would add 0.5 if the limiter were refreshed
        let v = u.updated(&strategy(0.2, 2.0, &[("same", 0.4)]));
        assert_eq!(v.operation("same"), Some((0.4, 2.0, 0.5)));
        assert_eq!(v.default_rate(), 0.2);
    }

    #[test]
    fn update_caps_the_listed_operations() {
        let (clock, _t) = LimiterClock::manual();
        let s = PerOperationSampler::new(&strategy(0.1, 1.0, &[]), 2, clock);
        let u = s.updated(&strategy(0.1, 1.0, &[("a", 0.1), ("b", 0.2), ("a", 0.3), ("c", 0.4)]));
        assert_eq!(u.operation_names(), ["a", "b"]);
        assert_eq!(u.operation("a").map(|o| o.0), Some(0.3), "a later duplicate wins");
    }

    #[test]
    fn concurrent_new_operations_respect_the_cap() {
        let (clock, _t) = LimiterClock::manual();
        let s = Arc::new(PerOperationSampler::new(&strategy(0.5, 1.0, &[]), 50, clock));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for op in 0..100 {
                        s.decide(NO, &format!("op{}", (op * 7 + i * 13) % 100));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.operation_names().len(), 50);
    }
}
