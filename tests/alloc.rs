//! Allocation counts on the application thread, with a counting global allocator.
//!
//! Unsampled spans allocate nothing beyond what the registry itself does; a sampled root
//! span with 3 fields (i64, &str, bool) allocates a small fixed number of times.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::UdpSocket;
use std::time::Duration;

use jaeger_layer::{JaegerLayer, Sampler};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// The number of allocations a sampled 3-field root span costs on the application thread
/// while the exporter keeps up: the span's extension box (registry). Its record, tag vector
/// and the `&str` field's buffer come back from the exporter, cleared, for the next span.
const SAMPLED_ALLOCS_PER_SPAN: u64 = 1;
/// The same when no record has come back yet (a burst larger than the recycling pool): the
/// extension box, the record, the tag vector and the `&str` field's copy.
const SAMPLED_ALLOCS_PER_SPAN_COLD: u64 = 4;

struct Counting;

thread_local! {
    // Counts only on the thread that enabled counting (the exporter thread does its own).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counters are thread-local cells that never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNTING.try_with(|c| {
            if c.get() {
                ALLOCS.with(|a| a.set(a.get() + 1));
            }
        });
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNTING.try_with(|c| {
            if c.get() {
                ALLOCS.with(|a| a.set(a.get() + 1));
            }
        });
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Noop;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Noop {}

fn span_3_fields(i: i64) {
    let span = tracing::info_span!("work", n = i, user = "ada", ok = true);
    let _g = span.enter();
}

/// Allocations per span over `n` spans, after a warm-up that fills the registry's pools.
/// With a guard, the exporter is flushed (uncounted) after the warm-up and every 500 spans,
/// so it keeps up; without, nothing is exported while counting.
fn allocs_per_span(dispatch: &Dispatch, n: u64, guard: Option<&jaeger_layer::ExporterGuard>) -> f64 {
    let flush = || {
        if let Some(g) = guard {
            g.flush(Duration::from_secs(10)).unwrap();
        }
    };
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..1000 {
            span_3_fields(i);
        }
        flush();
        ALLOCS.with(|a| a.set(0));
        for i in 0..n as i64 {
            COUNTING.with(|c| c.set(true));
            span_3_fields(i);
            COUNTING.with(|c| c.set(false));
            if i % 500 == 499 {
                flush();
            }
        }
        ALLOCS.with(|a| a.get()) as f64 / n as f64
    })
}

fn ours(sampler: Sampler) -> (UdpSocket, Dispatch, jaeger_layer::ExporterGuard) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("alloc")
        .agent_endpoint(sink.local_addr().unwrap().to_string())
        .sampler(sampler)
        .queue_capacity(1 << 16)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    // The sink first: bindings drop in reverse order, so the guard flushes while it is open.
    (sink, Dispatch::new(tracing_subscriber::registry().with(layer)), guard)
}

#[test]
fn spans_allocate_nothing_unsampled_and_a_fixed_count_sampled() {
    let floor = allocs_per_span(&Dispatch::new(tracing_subscriber::registry().with(Noop)), 10_000, None);
    let (_s1, unsampled, _g1) = ours(Sampler::never());
    let unsampled = allocs_per_span(&unsampled, 10_000, None);
    let (_s2, sampled, g2) = ours(Sampler::always());
    let sampled = allocs_per_span(&sampled, 10_000, Some(&g2));
    let (_s3, cold, _g3) = ours(Sampler::always());
    // 1000 warm-up spans + 20 stay under the exporter's wake-up threshold (1024): nothing is
    // given back while counting.
    let cold = allocs_per_span(&cold, 20, None);
    println!("allocations per span: floor {floor}, unsampled {unsampled}, sampled {sampled}, cold {cold}");
    assert_eq!(unsampled, floor, "an unsampled span allocates nothing beyond the registry");
    assert_eq!(sampled, floor + SAMPLED_ALLOCS_PER_SPAN as f64);
    assert_eq!(cold, floor + SAMPLED_ALLOCS_PER_SPAN_COLD as f64);
    assert_eq!(g2.stats().spans_exported, 11_000, "every sampled span was sent");
}
