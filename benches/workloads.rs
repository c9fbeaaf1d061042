//! Per-span cost of workloads beyond `benches/layer.rs`'s single root span, each group a
//! ladder measured in one run (as tracing-opentelemetry's `benches/trace.rs` does) so that
//! ratios can be quoted within the group:
//!
//! - `tree_root_10_children`: a root span with 10 child spans, one 2-field event in each
//!   child. One criterion iteration is one tree, and the time returned is divided by the 11
//!   spans of a tree, so **the reported time is per span** (events included). Rungs: the floor
//!   (`registry()` + a no-op layer), our layer unsampled, sampled with the exporter keeping up
//!   (flushed between timed bursts, untimed), and sampled saturated (never flushed, default
//!   queue: spans the exporter cannot take are dropped and counted; the drop count is printed).
//! - `instrumented_async_fn`: an `#[instrument]`-ed `async fn` with three `.await`s on a tokio
//!   current-thread runtime (built once per rung, outside the timing). One iteration is one
//!   call, i.e. one span entered and exited four times; a burst of 1000 calls is timed inside
//!   one `block_on`. Rungs: floor, unsampled, sampled (keeping up).
//! - `propagation`: inside a sampled span, inject its context into a `HashMap` as Jaeger's
//!   `uber-trace-id` header, then extract it as the parent of a new span. One iteration is one
//!   inject + extract pair. There is no floor: without our layer nothing is injected. The
//!   `span_only` rung creates the same two spans without propagating, so the difference is
//!   the inject + extract cost.
//!
//! Run: `cargo bench -p jaeger-layer-benches --bench workloads`. Quote ratios against the
//! floor, never absolute numbers.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::UdpSocket;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jaeger_layer::{ExporterGuard, JaegerSpanExt, Sampler};
use tracing::Dispatch;

mod support;
use support::{assert_kept_up, floor, ours, timed_bursts};

/// Spans (or span-equivalents) per timed burst; the exporter is flushed between bursts.
const BURST: u64 = 1000;
const CHILDREN: u64 = 10;
const SPANS_PER_TREE: u32 = 1 + CHILDREN as u32;
/// Whole trees per burst, so that a burst stays within `BURST` spans.
const TREES_PER_BURST: u64 = BURST / SPANS_PER_TREE as u64;

// === b) a root span and 10 children ===

/// Workload b): a root span with 10 children, each child holding one 2-field event.
#[inline]
fn tree(i: u64) {
    let root = tracing::info_span!("request", id = i as i64);
    let _r = root.enter();
    for k in 0..CHILDREN {
        let child = tracing::info_span!("step");
        let _c = child.enter();
        tracing::info!(k = k as i64, v = "x", "step");
    }
}

/// Times `iters` trees in bursts, flushing (untimed) between bursts when `flush` is given;
/// returns the time per span times `iters`, so criterion reports the time per span.
fn tree_bursts(dispatch: &Dispatch, flush: Option<&ExporterGuard>, iters: u64) -> Duration {
    timed_bursts(dispatch, flush, iters, TREES_PER_BURST, |_, n| (0..n).for_each(tree)) / SPANS_PER_TREE
}

fn tree_group(c: &mut Criterion, sink: &UdpSocket) {
    let mut group = c.benchmark_group("tree_root_10_children");
    group.bench_function("floor_registry_noop_layer", |b| {
        let dispatch = floor();
        b.iter_custom(|iters| tree_bursts(&dispatch, None, iters))
    });
    group.bench_function("jaeger_unsampled", |b| {
        let (dispatch, guard) = ours(Sampler::never(), sink);
        b.iter_custom(|iters| tree_bursts(&dispatch, Some(&guard), iters))
    });
    group.bench_function("jaeger_sampled", |b| {
        let (dispatch, guard) = ours(Sampler::always(), sink);
        b.iter_custom(|iters| tree_bursts(&dispatch, Some(&guard), iters));
        assert_kept_up(&guard);
    });
    // Built once for the whole rung (criterion calls the closure once per sample): the queue
    // stays in its steady saturated state across samples and the drop count is printed once.
    let (dispatch, guard) = ours(Sampler::always(), sink);
    group.bench_function("jaeger_sampled_saturated", |b| {
        b.iter_custom(|iters| tree_bursts(&dispatch, None, iters))
    });
    let s = guard.stats();
    println!(
        "jaeger_sampled_saturated: {} spans started, {} exported, {} dropped (queue full), {} queued",
        s.spans_started_sampled, s.spans_exported, s.spans_dropped_queue_full, s.spans_queued
    );
    group.finish();
}

// === d) an instrumented async fn ===

/// Workload d): one span, entered and exited around each of its three suspension points.
#[tracing::instrument(level = "info")]
async fn handler(i: u64) -> u64 {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
    black_box(i)
}

/// Times `iters` calls of `handler` in bursts of `BURST` calls, each burst one `block_on`;
/// flushes (untimed) between bursts when `flush` is given.
fn async_bursts(
    rt: &tokio::runtime::Runtime,
    dispatch: &Dispatch,
    flush: Option<&ExporterGuard>,
    iters: u64,
) -> Duration {
    // `block_on` of a current-thread runtime polls on this thread, so the thread's default
    // dispatcher is the one the spans see.
    timed_bursts(dispatch, flush, iters, BURST, |_, n| {
        rt.block_on(async {
            for i in 0..n {
                black_box(handler(i).await);
            }
        })
    })
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

fn async_group(c: &mut Criterion, sink: &UdpSocket) {
    let mut group = c.benchmark_group("instrumented_async_fn");
    group.bench_function("floor_registry_noop_layer", |b| {
        let rt = current_thread();
        let dispatch = floor();
        b.iter_custom(|iters| async_bursts(&rt, &dispatch, None, iters))
    });
    group.bench_function("jaeger_unsampled", |b| {
        let rt = current_thread();
        let (dispatch, guard) = ours(Sampler::never(), sink);
        b.iter_custom(|iters| async_bursts(&rt, &dispatch, Some(&guard), iters))
    });
    group.bench_function("jaeger_sampled", |b| {
        let rt = current_thread();
        let (dispatch, guard) = ours(Sampler::always(), sink);
        b.iter_custom(|iters| async_bursts(&rt, &dispatch, Some(&guard), iters));
        assert_kept_up(&guard);
    });
    group.finish();
}

// === e) inject + extract ===

/// Workload e): a client span injects its context into `headers`, a new root span takes
/// the extracted context as its parent. Without `propagate`, only the two spans.
#[inline]
fn client_server(i: u64, headers: &mut HashMap<String, String>, propagate: bool) {
    let client = tracing::info_span!("call", id = i as i64);
    let _c = client.enter();
    if propagate {
        headers.clear();
        client.inject(headers);
    }
    let server = tracing::info_span!(parent: None, "handle");
    if propagate {
        server.set_parent_from(headers).expect("a header we just injected parses");
    }
    let _s = server.enter();
    black_box(&server);
}

fn propagation_bursts(dispatch: &Dispatch, guard: &ExporterGuard, propagate: bool, iters: u64) -> Duration {
    let mut headers = HashMap::new();
    // Two spans per pair.
    timed_bursts(dispatch, Some(guard), iters, BURST / 2, |_, n| {
        (0..n).for_each(|i| client_server(i, &mut headers, propagate))
    })
}

/// Checks, untimed, that the propagated pair really ends up in one trace.
fn check_propagation(dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        let mut headers = HashMap::new();
        let client = tracing::info_span!("call");
        client.inject(&mut headers);
        assert!(headers.contains_key("uber-trace-id"), "injected: {headers:?}");
        let server = tracing::info_span!(parent: None, "handle");
        server.set_parent_from(&headers).unwrap();
        let (c, s) = (client.context().unwrap(), server.context().unwrap());
        assert_eq!((s.trace_id(), s.parent_id()), (c.trace_id(), c.span_id()));
    });
}

fn propagation_group(c: &mut Criterion, sink: &UdpSocket) {
    // No floor: without our layer, inject writes nothing and extract has no span to parent.
    let mut group = c.benchmark_group("propagation");
    group.bench_function("jaeger_sampled_span_only", |b| {
        let (dispatch, guard) = ours(Sampler::always(), sink);
        b.iter_custom(|iters| propagation_bursts(&dispatch, &guard, false, iters));
        assert_kept_up(&guard);
    });
    group.bench_function("jaeger_sampled_inject_extract", |b| {
        let (dispatch, guard) = ours(Sampler::always(), sink);
        check_propagation(&dispatch);
        b.iter_custom(|iters| propagation_bursts(&dispatch, &guard, true, iters));
        assert_kept_up(&guard);
    });
    group.finish();
}

fn workloads(c: &mut Criterion) {
    // The bench does not read what it is sent; the socket only gives the exporter an address.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    tree_group(c, &sink);
    async_group(c, &sink);
    propagation_group(c, &sink);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = workloads
}
criterion_main!(benches);
