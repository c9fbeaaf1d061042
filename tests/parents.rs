//! Span contexts from application code: `JaegerSpanExt::context`, `set_parent` in the
//! patterns users write (inside `#[instrument]`, after entering), freezing, baggage, and
//! what an unsampled span still propagates.

mod support;

use jaeger_layer::{Baggage, JaegerSpanExt, Sampler, SpanContext, TagValue, TraceId};
use support::{by_name, render, Harness};
use tracing::{info_span, instrument, Span};

fn remote(flags: u8) -> SpanContext {
    SpanContext::new(TraceId::new(0xaaaa, 0xbbbb), 0xcccc, 0, flags)
}

#[instrument(skip(parent))]
fn handler(parent: SpanContext) -> Result<(), jaeger_layer::SetParentError> {
    // The pattern users write: the span was created and entered by `#[instrument]`.
    Span::current().set_parent(parent)?;
    inner_work();
    Ok(())
}

#[instrument]
fn inner_work() {}

#[test]
fn set_parent_inside_instrument_joins_the_remote_trace() {
    let h = Harness::new();
    h.run(|| handler(remote(1)).unwrap());
    let spans = h.spans(2);
    assert_eq!(render(&spans), "handler\n  inner_work\n");
    let (handler, inner) = (by_name(&spans, "handler"), by_name(&spans, "inner_work"));
    assert_eq!(handler.trace_id, TraceId::new(0xaaaa, 0xbbbb));
    assert_eq!(handler.parent_id, 0xcccc);
    assert_eq!(handler.references[0].span_id, 0xcccc, "CHILD_OF the remote parent");
    assert_eq!(inner.trace_id, handler.trace_id);
    assert_eq!(inner.parent_id, handler.span_id);
    assert!(handler.tag("sampler.type").is_none(), "the decision was upstream's, not ours");
    let s = h.guard.stats();
    assert_eq!((s.traces_started_sampled, s.traces_joined_sampled), (0, 1));
}

#[test]
fn upstream_unsampled_wins_over_a_local_yes() {
    let h = Harness::new(); // local sampler: always
    h.run(|| handler(remote(0)).unwrap());
    h.guard.flush(support::WAIT).unwrap();
    let s = h.guard.stats();
    assert_eq!(s.spans_finished, 0, "{s:#?}");
    assert_eq!(s.traces_joined_unsampled, 1);
    // The handler moved from "started a sampled trace" to "joined an unsampled one".
    assert_eq!((s.traces_started_sampled, s.spans_started_sampled, s.spans_started_unsampled), (0, 0, 2));
}

#[test]
fn upstream_sampled_wins_over_a_local_no() {
    let h = Harness::with(|b| b.sampler(Sampler::never()));
    h.run(|| handler(remote(1)).unwrap());
    let spans = h.spans(2);
    assert_eq!(render(&spans), "handler\n  inner_work\n");
    assert_eq!(by_name(&spans, "handler").trace_id, TraceId::new(0xaaaa, 0xbbbb));
}

#[test]
fn set_parent_after_the_context_was_observed_is_refused() {
    let h = Harness::new();
    h.run(|| {
        // A child was created: the trace would split.
        let span = info_span!("with_child");
        span.in_scope(|| info_span!("child").in_scope(|| {}));
        assert!(span.set_parent(remote(1)).is_err());
        // The context was read (e.g. to inject it).
        let read = info_span!("read");
        let _ = read.context().unwrap();
        let err = read.set_parent(remote(1)).unwrap_err();
        assert!(err.to_string().contains("already observed"));
        // Untouched spans accept it.
        let fresh = info_span!("fresh");
        fresh.set_parent(remote(1)).unwrap();
    });
    let spans = h.spans(4);
    assert_ne!(by_name(&spans, "with_child").trace_id, TraceId::new(0xaaaa, 0xbbbb));
    assert_eq!(by_name(&spans, "fresh").trace_id, TraceId::new(0xaaaa, 0xbbbb));
}

#[test]
fn the_context_of_an_unsampled_span_is_consistent_and_propagates_the_decision() {
    let h = Harness::with(|b| b.sampler(Sampler::never()));
    h.run(|| {
        let root = info_span!("root");
        let child = root.in_scope(|| info_span!("child"));
        // The child's context is read first: it is built from the root's, lazily.
        let c = child.context().expect("an unsampled span still has a context");
        let r = root.context().unwrap();
        assert!(!c.is_sampled() && !r.is_sampled());
        assert_eq!(c.trace_id(), r.trace_id());
        assert_eq!(c.parent_id(), r.span_id());
        assert_eq!(r.parent_id(), 0);
        assert_eq!(r.span_id(), r.trace_id().low);
        assert_ne!(c.span_id(), r.span_id());
        // Asking again gives the same answer.
        assert_eq!(child.context().unwrap(), c);
        // A grandchild created now follows its parent's context.
        let g = child.in_scope(|| info_span!("grandchild")).context().unwrap();
        assert_eq!((g.trace_id(), g.parent_id()), (c.trace_id(), c.span_id()));
    });
    h.guard.flush(support::WAIT).unwrap();
    assert_eq!(h.guard.stats().spans_finished, 0);
}

#[test]
fn disabled_spans_and_absent_layers_are_inert() {
    let span = info_span!("no subscriber");
    assert!(span.context().is_none());
    assert!(span.set_parent(remote(1)).is_ok());
    span.set_baggage_item("k", "v");
    assert_eq!(span.baggage_item("k"), None);
    // A subscriber without our layer.
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        let span = info_span!("other subscriber");
        assert!(span.context().is_none());
    });
}

#[test]
fn baggage_is_inherited_and_logged_on_sampled_spans() {
    let h = Harness::new();
    h.run(|| {
        let root = info_span!("root");
        root.set_baggage_item("user", "ada");
        root.set_baggage_item("user", "grace");
        root.in_scope(|| {
            let child = info_span!("child");
            assert_eq!(child.baggage_item("user").as_deref(), Some("grace"));
            child.set_baggage_item("tenant", "t1");
            assert_eq!(child.baggage_item("tenant").as_deref(), Some("t1"));
            child.in_scope(|| {});
        });
        assert_eq!(root.baggage_item("tenant"), None, "baggage flows down, not up");
        let long = "x".repeat(3000);
        root.set_baggage_item("big", &long);
        assert_eq!(root.baggage_item("big").map(|v| v.len()), Some(2048));
    });
    let spans = h.spans(2);
    let root = by_name(&spans, "root");
    let logs: Vec<Vec<(String, TagValue)>> = root
        .logs
        .iter()
        .map(|l| l.fields.iter().map(|f| (f.key.to_string(), f.value.clone())).collect())
        .collect();
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[0][0], ("event".into(), TagValue::String("baggage".into())));
    assert_eq!(logs[0][2], ("value".into(), TagValue::String("ada".into())));
    assert!(logs[1].contains(&("override".into(), TagValue::Bool(true))));
    assert!(logs[2].contains(&("truncated".into(), TagValue::Bool(true))));
    // Logged like every log field: cut at `max_tag_value_length` (256 by default).
    assert_eq!(logs[2][2], ("value".into(), TagValue::String("x".repeat(256).into())));
    assert!(by_name(&spans, "child").logs.len() == 1, "children do not inherit baggage logs");
    let s = h.guard.stats();
    assert_eq!((s.baggage_updates_ok, s.baggage_truncations), (4, 1));
}

#[test]
fn remote_baggage_and_debug_id_start_a_debug_trace() {
    let h = Harness::with(|b| b.sampler(Sampler::never()));
    h.run(|| {
        let span = info_span!("debugged");
        let only_debug =
            SpanContext::default().with_debug_id("req-17").with_baggage(Baggage::from_iter([("k", "v")]));
        span.set_parent(only_debug).unwrap();
        assert_eq!(span.baggage_item("k").as_deref(), Some("v"));
        span.in_scope(|| info_span!("child").in_scope(|| {}));
    });
    let spans = h.spans(2);
    let root = by_name(&spans, "debugged");
    assert_eq!(root.flags, 3, "sampled + debug");
    assert_eq!(root.parent_id, 0, "a new trace, not a child of the debug-id container");
    assert_eq!(root.tag("jaeger-debug-id"), Some(&TagValue::String("req-17".into())));
    assert_eq!(by_name(&spans, "child").flags, 3);
}

#[test]
fn sampling_priority_forces_the_decision() {
    let h = Harness::with(|b| b.sampler(Sampler::never()));
    h.run(|| {
        info_span!("forced", sampling.priority = 1i64).in_scope(|| info_span!("kid").in_scope(|| {}));
    });
    let spans = h.spans(2);
    assert!(spans.iter().all(|s| s.flags == 3));
    // The sampler said no: no sampler tags on the forced root.
    assert!(by_name(&spans, "forced").tag("sampler.type").is_none());
    // The sampler is still consulted: when it says yes too, the root keeps its tags.
    let h = Harness::new();
    h.run(|| info_span!("forced_and_sampled", sampling.priority = 1i64).in_scope(|| {}));
    let s = &h.spans(1)[0];
    assert_eq!(s.flags, 3);
    assert_eq!(s.tag("sampler.type"), Some(&TagValue::String("const".into())));
    assert_eq!(s.tag("sampler.param"), Some(&TagValue::Bool(true)));
    assert_eq!(s.tag("sampling.priority"), Some(&TagValue::Long(1)));
    // Only a u16 value counts, as in jaeger-client-go; others leave the decision to the sampler.
    let h = Harness::with(|b| b.sampler(Sampler::never()));
    h.run(|| {
        info_span!("out_of_range", sampling.priority = 70_000i64).in_scope(|| {});
        info_span!("negative", sampling.priority = -1i64).in_scope(|| {});
    });
    h.guard.flush(support::WAIT).unwrap();
    assert_eq!(h.guard.stats().traces_started_unsampled, 2);
    let h = Harness::new();
    h.run(|| info_span!("suppressed", sampling.priority = 0i64).in_scope(|| {}));
    h.guard.flush(support::WAIT).unwrap();
    assert_eq!(h.guard.stats().spans_finished, 0);
}

#[test]
fn children_inherit_the_decision_across_threads() {
    let h = Harness::with(|b| b.sampler(Sampler::never()));
    h.run(|| {
        let root = info_span!("root");
        let d = h.dispatch.clone();
        let r = root.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d, || {
                let child = info_span!(parent: &r, "remote_child");
                assert!(!child.context().unwrap().is_sampled());
            })
        })
        .join()
        .unwrap();
    });
    h.guard.flush(support::WAIT).unwrap();
    let s = h.guard.stats();
    assert_eq!((s.spans_started_unsampled, s.spans_finished), (2, 0));
}
