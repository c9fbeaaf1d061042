//! What the per-span benches share: the floor's no-op layer, our layer on a loopback sink,
//! and the timed-bursts loop (timed work, then an untimed flush so the exporter keeps up).

#![allow(dead_code)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use jaeger_layer::{ExporterGuard, JaegerLayer, Sampler};
use tracing::Dispatch;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::prelude::*;
use tracing_subscriber::Registry;

/// Flushes between bursts wait at most this long.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The floor's layer: does nothing.
pub struct NoopLayer;
impl<S: tracing::Subscriber> Layer<S> for NoopLayer {}

/// The floor: `registry()` + a no-op layer.
pub fn floor() -> Dispatch {
    Dispatch::new(Registry::default().with(NoopLayer))
}

/// Our layer with `sampler`, exporting to `sink` (defaults otherwise).
pub fn ours(sampler: Sampler, sink: &UdpSocket) -> (Dispatch, ExporterGuard) {
    let (layer, guard) = JaegerLayer::builder()
        .service_name("bench")
        .agent_endpoint(sink.local_addr().unwrap().to_string())
        .sampler(sampler)
        .build()
        .unwrap();
    (Dispatch::new(Registry::default().with(layer)), guard)
}

/// Panics if any span was dropped at the queue: the keep-up rungs must not overflow it.
pub fn assert_kept_up(guard: &ExporterGuard) {
    let s = guard.stats();
    assert_eq!(s.spans_dropped_queue_full, 0, "the exporter must keep up in this bench");
}

/// Runs `iters` units of work under `dispatch` in bursts of at most `per_burst`, timing only
/// `burst(start index, count)`; flushes (untimed) between bursts when `flush` is given.
pub fn timed_bursts(
    dispatch: &Dispatch,
    flush: Option<&ExporterGuard>,
    iters: u64,
    per_burst: u64,
    mut burst: impl FnMut(u64, u64),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    tracing::dispatcher::with_default(dispatch, || {
        while done < iters {
            let n = per_burst.min(iters - done);
            let start = Instant::now();
            burst(done, n);
            total += start.elapsed();
            done += n;
            if let Some(g) = flush {
                let _ = g.flush(FLUSH_TIMEOUT);
            }
        }
    });
    total
}
