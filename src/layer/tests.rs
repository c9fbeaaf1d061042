//! Layer-level sampling with deterministic trace ids (the `id::test_seam`): the decision is
//! taken at creation from the trace id exactly as Jaeger's clients take it.

use std::time::Duration;

use tracing_subscriber::prelude::*;

use crate::receiver::Receiver;
use crate::span::id::test_seam;
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
    // rate 0.25 → boundary 2^63 × 0.25 = 0x2000000000000000 (jaeger-client-go `sampler.go`);
    // sampled iff boundary >= id & mask.
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

/// Jaeger's rule (jaeger-client-go `sampler.go`, `ProbabilisticSampler`): sampled iff
/// `boundary >= low & 0x7fff_ffff_ffff_ffff`.
fn rule_samples(rate: f64, id: TraceId) -> bool {
    let boundary = (0x7fff_ffff_ffff_ffff_u64 as f64 * rate) as u64;
    boundary >= id.low & 0x7fff_ffff_ffff_ffff
}

#[test]
fn every_root_shows_a_trace_id_for_which_its_decision_holds() {
    use crate::JaegerSpanExt;
    use std::collections::HashMap;
    for (rate, wide) in [(0.5, false), (0.9, true), (0.5, true), (0.0, false)] {
        let receiver = Receiver::bind("127.0.0.1:0").unwrap();
        let (layer, guard) = JaegerLayer::builder()
            .service_name("ids")
            .agent_endpoint(receiver.local_addr().to_string())
            .trace_id_128bit(wide)
            .sampler(Sampler::probabilistic(rate).unwrap())
            .build()
            .unwrap();
        let (mut sampled, mut unsampled) = (0, 0);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..2000 {
                let root = tracing::info_span!("root");
                // Half are read through `context()`, half through an inject: either way an
                // unsampled root's id is drawn only now.
                let (id, is_sampled) = if i % 2 == 0 {
                    let cx = root.context().unwrap();
                    (cx.trace_id(), cx.is_sampled())
                } else {
                    let mut headers = HashMap::new();
                    root.inject(&mut headers);
                    let cx = crate::extract(&headers).unwrap().expect("injected context");
                    (cx.trace_id(), cx.is_sampled())
                };
                assert_eq!(id.high != 0, wide);
                assert_eq!(rule_samples(rate, id), is_sampled, "rate {rate}: {id} sampled={is_sampled}");
                if is_sampled {
                    sampled += 1;
                } else {
                    unsampled += 1;
                }
            }
        });
        if rate > 0.0 {
            assert!(sampled > 0 && unsampled > 0, "rate {rate}: {sampled} sampled, {unsampled} not");
        }
        guard.flush(WAIT).unwrap();
        assert_eq!(guard.stats().traces_started_sampled, sampled);
        // The exported roots carry the ids they were decided on.
        for span in receiver.wait_for_spans(sampled as usize, WAIT) {
            assert!(rule_samples(rate, span.trace_id), "rate {rate}: exported {}", span.trace_id);
        }
    }
}

/// Serves `body` as JSON to every request, like a Jaeger agent's `/sampling` endpoint.
fn strategy_server(body: &'static str) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn per_operation_strategies_match_the_reported_operation_name() {
    let addr = strategy_server(
        r#"{"strategyType":"PROBABILISTIC","operationSampling":{"defaultSamplingProbability":0,
        "defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[
        {"operation":"GET /x","probabilisticSampling":{"samplingRate":1}}]}}"#,
    );
    let receiver = Receiver::bind("127.0.0.1:0").unwrap();
    let remote = crate::RemoteSampler::new()
        .endpoint(format!("http://{addr}/sampling"))
        .initial_sampler(Sampler::never())
        // Only the listed operation has its own sampler (with a lower-bound credit that
        // would let one trace of any new name through); other names get the default, 0.
        .max_operations(1);
    let (layer, guard) = JaegerLayer::builder()
        .service_name("per-op")
        .agent_endpoint(receiver.local_addr().to_string())
        .sampler(Sampler::remote(remote))
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while guard.stats().sampler_updates_ok == 0 {
        assert!(std::time::Instant::now() < deadline, "no strategy: {:?}", guard.stats());
        std::thread::yield_now();
    }
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("handler", otel.name = "GET /x", n = 1i64).in_scope(|| {});
        tracing::info_span!("handler", otel.name = %"GET /x", n = 2i64).in_scope(|| {});
        tracing::info_span!("handler", n = 3i64).in_scope(|| {});
        // Named after creation: the decision was already taken for `handler`.
        let late = tracing::info_span!("handler", otel.name = tracing::field::Empty, n = 4i64);
        late.record("otel.name", "GET /x");
        late.in_scope(|| {});
        tracing::info_span!("GET /x", n = 5i64).in_scope(|| {});
    });
    guard.flush(WAIT).unwrap();
    let stats = guard.stats();
    assert_eq!((stats.traces_started_sampled, stats.traces_started_unsampled), (3, 2), "{stats:?}");
    let mut spans = receiver.wait_for_spans(3, WAIT);
    spans.sort_by_key(|s| match s.tag("n") {
        Some(TagValue::Long(n)) => *n,
        _ => 0,
    });
    let seen: Vec<_> = spans.iter().map(|s| (s.operation_name.as_str(), s.tag("n").cloned())).collect();
    assert_eq!(
        seen,
        [
            ("GET /x", Some(TagValue::Long(1))),
            ("GET /x", Some(TagValue::Long(2))),
            ("GET /x", Some(TagValue::Long(5)))
        ]
    );
    for s in &spans {
        assert_eq!(s.tag("sampler.type"), Some(&TagValue::String("probabilistic".into())));
        assert_eq!(s.tag("sampler.param"), Some(&TagValue::Double(1.0)));
    }
}
