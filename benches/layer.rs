//! Per-span cost, as a ladder measured in one run (as tracing-opentelemetry's `benches/trace.rs`
//! does): no subscriber, the floor
//! (`registry()` + a no-op layer), the least a layer with per-span state costs, our layer
//! unsampled, our layer sampled (exporter keeping up: flushed between timed bursts, untimed),
//! to the UDP agent and over OTLP/HTTP; and an ablation, the least a layer exporting every
//! span to another thread does (`support/minimal.rs`). The group `event_in_span` measures
//! the cost of one event in a sampled span, as the difference of two rungs.
//!
//! Run: `cargo bench -p jaeger-layer-benches --bench layer`. Quote ratios against the floor,
//! never absolute numbers.

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jaeger_layer::{ExporterGuard, Sampler};
use tracing::Dispatch;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::prelude::*;
use tracing_subscriber::Registry;

mod support;
use support::minimal::{Consumer, MinimalExporter};
use support::{ours, ours_otlp, timed_bursts, timed_bursts_then, NoopLayer, OtlpSink};

/// The least a layer with per-span state does: put a small value in each new span's
/// extensions and take it out at close (two span look-ups, two extension locks, the
/// extension's box; no clock read). Not a Jaeger client: the registry's own cost of per-span state, which
/// every such layer (ours, tracing-opentelemetry) pays on top of the floor.
struct StatefulLayer;
struct Started(u64);
impl<S> Layer<S> for StatefulLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(black_box(1)));
        }
    }
    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            black_box(span.extensions_mut().remove::<Started>().map(|s| s.0));
        }
    }
}

const BURST: u64 = 1000;

/// Workload a): a root span with 3 fields, created, entered, exited, closed.
#[inline]
fn root_span_3_fields(i: u64) {
    let span = tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
    let _g = span.enter();
    black_box(&span);
}

/// Times `iters` spans in bursts, flushing (untimed) between bursts so the queue never
/// overflows: the cost measured is the application thread's, with the exporter keeping up.
fn bursts(dispatch: &Dispatch, guard: Option<&ExporterGuard>, iters: u64) -> Duration {
    timed_bursts(dispatch, guard, iters, BURST, |_, n| (0..n).for_each(root_span_3_fields))
}

/// As [`bursts`] for the ablation layer: its consumer drains (untimed) between bursts.
fn minimal_bursts(dispatch: &Dispatch, consumer: &Consumer, iters: u64, unit: fn(u64)) -> Duration {
    timed_bursts_then(
        dispatch,
        iters,
        BURST,
        |_, n| (0..n).for_each(unit),
        || assert_eq!(consumer.drain(), 0, "the ablation must keep up too"),
    )
}

fn ladder(c: &mut Criterion) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A large receive buffer is not needed: the bench does not read what it is sent.
    let mut group = c.benchmark_group("root_span_3_fields");
    group.bench_function("no_subscriber", |b| {
        let dispatch = Dispatch::none();
        b.iter_custom(|iters| bursts(&dispatch, None, iters))
    });
    group.bench_function("floor_registry_noop_layer", |b| {
        let dispatch = Dispatch::new(Registry::default().with(NoopLayer));
        b.iter_custom(|iters| bursts(&dispatch, None, iters))
    });
    group.bench_function("stateful_layer_minimum", |b| {
        let dispatch = Dispatch::new(Registry::default().with(StatefulLayer));
        b.iter_custom(|iters| bursts(&dispatch, None, iters))
    });
    group.bench_function("minimal_exporting_layer", |b| {
        // An ablation (`support/minimal.rs`): the least a layer exporting every span to
        // another thread does. Our sampled rungs against it are what our own choices cost.
        let (layer, consumer) = MinimalExporter::start();
        let dispatch = Dispatch::new(Registry::default().with(layer));
        b.iter_custom(|iters| minimal_bursts(&dispatch, &consumer, iters, root_span_3_fields))
    });
    group.bench_function("jaeger_unsampled", |b| {
        let (dispatch, guard) = ours(Sampler::never(), &sink);
        b.iter_custom(|iters| bursts(&dispatch, Some(&guard), iters))
    });
    group.bench_function("jaeger_unsampled_while_a_sampled_span_lives", |b| {
        // `on_close` skips its span lookup while no span anywhere has state; a long-lived
        // sampled span (here forced by `sampling.priority`) turns that shortcut off.
        let (dispatch, guard) = ours(Sampler::never(), &sink);
        let _pinned = tracing::dispatcher::with_default(
            &dispatch,
            || tracing::info_span!(parent: None, "long_lived", sampling.priority = 1i64),
        );
        b.iter_custom(|iters| bursts(&dispatch, Some(&guard), iters))
    });
    group.bench_function("jaeger_sampled_probabilistic", |b| {
        // Rate 1.0 samples everything: the difference to `jaeger_sampled` (const) is the cost
        // of the probabilistic decision itself.
        let (dispatch, guard) = ours(Sampler::probabilistic(1.0).unwrap(), &sink);
        b.iter_custom(|iters| bursts(&dispatch, Some(&guard), iters));
    });
    group.bench_function("jaeger_sampled", |b| {
        let (dispatch, guard) = ours(Sampler::always(), &sink);
        b.iter_custom(|iters| bursts(&dispatch, Some(&guard), iters));
        let s = guard.stats();
        assert_eq!(s.spans_dropped_queue_full, 0, "the exporter must keep up in this bench");
    });
    group.bench_function("jaeger_sampled_otlp", |b| {
        // The same over OTLP/HTTP: the application thread's work is the same (the exporter
        // thread encodes and sends), so this should match `jaeger_sampled`.
        let sink = OtlpSink::start();
        let (dispatch, guard) = ours_otlp(Sampler::always(), &sink);
        b.iter_custom(|iters| bursts(&dispatch, Some(&guard), iters));
        let s = guard.stats();
        assert_eq!(s.spans_dropped_queue_full + s.spans_failed, 0, "{s:?}");
    });
    group.finish();
}

/// Workload a) with one 2-field event inside the span.
#[inline]
fn root_span_3_fields_one_event(i: u64) {
    let span = tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
    let _g = span.enter();
    tracing::info!(item = i as i64, ok = true, "added to cart");
    black_box(&span);
}

/// The cost of one event in a sampled span: each pair of rungs is the same span without and
/// with an event, so the difference is the event's cost, for the floor, the ablation layer
/// and ours.
fn event(c: &mut Criterion) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut group = c.benchmark_group("event_in_span");
    type Unit = fn(u64);
    let units: [(&str, Unit); 2] =
        [("span", root_span_3_fields), ("span_and_event", root_span_3_fields_one_event)];
    for (name, unit) in units {
        group.bench_function(format!("floor/{name}"), |b| {
            let dispatch = Dispatch::new(Registry::default().with(NoopLayer));
            b.iter_custom(|iters| timed_bursts(&dispatch, None, iters, BURST, |_, n| (0..n).for_each(unit)))
        });
    }
    for (name, unit) in units {
        group.bench_function(format!("minimal_exporting_layer/{name}"), |b| {
            let (layer, consumer) = MinimalExporter::start();
            let dispatch = Dispatch::new(Registry::default().with(layer));
            b.iter_custom(|iters| minimal_bursts(&dispatch, &consumer, iters, unit))
        });
    }
    for (name, unit) in units {
        group.bench_function(format!("jaeger_sampled/{name}"), |b| {
            let (dispatch, guard) = ours(Sampler::always(), &sink);
            b.iter_custom(|iters| {
                timed_bursts(&dispatch, Some(&guard), iters, BURST, |_, n| (0..n).for_each(unit))
            });
            assert_eq!(guard.stats().spans_dropped_queue_full, 0, "the exporter must keep up in this bench");
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = ladder, event
}
criterion_main!(benches);
