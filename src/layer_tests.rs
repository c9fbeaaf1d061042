//! Layer-level sampling with deterministic trace ids (the `id::test_seam`): the decision is
//! taken at creation from the trace id exactly as Jaeger's clients take it.

use std::time::Duration;

use tracing_subscriber::prelude::*;

use crate::id::test_seam;
use crate::receiver::Receiver;
use crate::{JaegerLayer, Sampler, TagValue, TraceId};

const WAIT: Duration = Duration::from_secs(10);

/// Runs one root span (with a child) per trace id and returns the low ids that were exported,
/// with the root's sampler tags.
fn sampled_roots(sampler: Sampler, ids: &[TraceId]) -> Vec<(u64, Option<TagValue>, Option<TagValue>)> {
    let receiver = Receiver::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("sampling")
        .agent_endpoint(receiver.local_addr().to_string())
        .sampler(sampler)
        .build()
        .unwrap();
    test_seam::queue(ids.iter().copied());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in ids {
            tracing::info_span!("root").in_scope(|| tracing::info_span!("child").in_scope(|| {}));
        }
    });
    guard.flush(WAIT).unwrap();
    let stats = guard.stats();
    let spans = receiver.wait_for_spans(stats.spans_exported as usize, WAIT);
    assert_eq!(spans.len() as u64, stats.spans_exported);
    assert_eq!(stats.traces_started_sampled + stats.traces_started_unsampled, ids.len() as u64);
    let mut roots: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_id == 0)
        .map(|s| (s.trace_id.low, s.tag("sampler.type").cloned(), s.tag("sampler.param").cloned()))
        .collect();
    // Every sampled root brought its child; no child carries sampler tags.
    for child in spans.iter().filter(|s| s.parent_id != 0) {
        assert!(roots.iter().any(|r| r.0 == child.trace_id.low));
        assert!(child.tag("sampler.type").is_none());
    }
    roots.sort_by_key(|r| r.0);
    roots
}

#[test]
fn probabilistic_decides_at_the_exact_boundary() {
    // rate 0.25 → boundary 0x2000000000000000 (facts §12.2); sampled iff boundary >= id & mask.
    let boundary = 0x2000_0000_0000_0000u64;
    let ids = [
        TraceId::new(7, boundary),                   // == boundary: sampled
        TraceId::new(7, boundary + 1),               // just above: not sampled
        TraceId::new(7, boundary | (1 << 63)),       // top bit masked: sampled
        TraceId::new(7, (boundary + 1) | (1 << 63)), // masked and above: not sampled
        TraceId::new(0, 1),                          // small: sampled
    ];
    let roots = sampled_roots(Sampler::probabilistic(0.25).unwrap(), &ids);
    let lows: Vec<u64> = roots.iter().map(|r| r.0).collect();
    assert_eq!(lows, vec![1, boundary, boundary | (1 << 63)]);
    for r in &roots {
        assert_eq!(r.1, Some(TagValue::String("probabilistic".into())));
        assert_eq!(r.2, Some(TagValue::Double(0.25)));
    }
}

#[test]
fn const_sampler_tags_are_bools() {
    let roots = sampled_roots(Sampler::always(), &[TraceId::new(0, 5)]);
    assert_eq!(roots, vec![(5, Some(TagValue::String("const".into())), Some(TagValue::Bool(true)))]);
    assert!(sampled_roots(Sampler::never(), &[TraceId::new(0, 5)]).is_empty());
}

#[test]
fn rate_limiting_lets_the_initial_balance_through() {
    // Starts full with max(rate, 1) credits: 2 traces out of 10 in a burst at rate 2/s.
    let ids: Vec<TraceId> = (1..=10).map(|i| TraceId::new(0, i)).collect();
    let roots = sampled_roots(Sampler::rate_limiting(2.0).unwrap(), &ids);
    assert_eq!(roots.len(), 2, "{roots:?}");
    assert_eq!(roots[0].1, Some(TagValue::String("ratelimiting".into())));
    assert_eq!(roots[0].2, Some(TagValue::Double(2.0)));
}
