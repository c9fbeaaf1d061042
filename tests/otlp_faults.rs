//! OTLP/HTTP faults through the layer: an endpoint that refuses (400, 500), throttles (429
//! with `Retry-After`), is unavailable (503), is slow, hangs, closes the connection, answers
//! 200 with a body that is not protobuf, or reports a partial success. Each case checks the
//! exact counters against what the fake endpoint decoded, the `Stats` identity, and that the
//! application thread never waits for the exporter.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use jaeger_layer::{ExporterGuard, FlushError, JaegerLayer, Stats};
use support::collector::{Collector, Mode};
use support::WAIT;
use tracing::{info_span, Dispatch};
use tracing_subscriber::prelude::*;

/// A timeout the "retried until the timeout" cases use up: short, so the file stays fast.
const TIMEOUT: Duration = Duration::from_millis(300);
/// A timeout the "fails at once" cases must not come near.
const LONG: Duration = Duration::from_secs(10);
/// Finishing a few dozen spans takes microseconds; an application thread that waited for
/// the exporter's request would take the rest of `TIMEOUT`.
const FAST: Duration = Duration::from_millis(100);

fn layer(collector: &Collector, timeout: Duration) -> (Dispatch, ExporterGuard) {
    let (layer, guard) = JaegerLayer::builder()
        .service_name("otlp-faults")
        .otlp_endpoint(collector.otlp_endpoint())
        .otlp_timeout(timeout)
        // Only explicit flushes move spans.
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    (Dispatch::new(tracing_subscriber::registry().with(layer)), guard)
}

/// Finishes `n` spans (one event each) on this thread and says how long that took.
fn spans(dispatch: &Dispatch, n: usize) -> Duration {
    let start = Instant::now();
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..n {
            info_span!("op", i).in_scope(|| tracing::info!("event"));
        }
    });
    start.elapsed()
}

/// Flushes from another thread and, once the endpoint holds the exporter's request (it is
/// hanging, retrying, ...), finishes `n` more spans here: returns the flush's result and how
/// long those spans took.
fn spans_during_export(
    guard: &ExporterGuard,
    collector: &Collector,
    dispatch: &Dispatch,
    n: usize,
) -> (Result<(), FlushError>, Duration) {
    let before = collector.requests();
    thread::scope(|scope| {
        let flusher = scope.spawn(|| guard.flush(WAIT));
        assert!(collector.wait_requests(before + 1, WAIT) > before, "the flush sent a request");
        let took = spans(dispatch, n);
        (flusher.join().unwrap(), took)
    })
}

/// Flushes, then checks what holds after every fault: the identity, nothing on its way, no
/// more exported than the endpoint took, and every request the endpoint read was valid OTLP.
fn settle(guard: &ExporterGuard, collector: &Collector) -> Stats {
    guard.flush(WAIT).expect("flush");
    let s = guard.stats();
    assert!(s.is_consistent(), "{s:#?}");
    assert!(s.is_settled(), "{s:#?}");
    assert!(s.spans_exported <= collector.accepted_spans(), "{s:#?} vs {}", collector.accepted_spans());
    assert_eq!(collector.protocol_errors(), 0, "the endpoint could not decode a request");
    assert_eq!((s.exporter_panics, s.spans_dropped_queue_full, s.spans_dropped_too_large), (0, 0, 0));
    s
}

/// `(exported, failed, packets_sent, packets_failed)`.
fn outcome(s: &Stats) -> (u64, u64, u64, u64) {
    (s.spans_exported, s.spans_failed, s.packets_sent, s.packets_failed)
}

#[test]
fn a_400_fails_the_spans_at_once_without_a_retry() {
    let collector = Collector::start_otlp(Mode::BadRequest);
    let (dispatch, guard) = layer(&collector, LONG);
    assert!(spans(&dispatch, 7) < FAST);
    let start = Instant::now();
    let s = settle(&guard, &collector);
    assert!(start.elapsed() < LONG / 4, "no retry, no backoff: {:?}", start.elapsed());
    assert_eq!(outcome(&s), (0, 7, 0, 1), "{s:#?}");
    assert_eq!(collector.requests(), 1, "a 400 is not retried");
    assert_eq!(collector.received_spans(), 7, "the one request carried every span");
    assert_eq!(collector.accepted_spans(), 0);
}

#[test]
fn a_429_with_retry_after_is_retried_until_the_endpoint_accepts() {
    let collector = Collector::start_otlp(Mode::Accept);
    collector.script(Mode::TooMany(0), 2, Mode::Accept);
    let (dispatch, guard) = layer(&collector, LONG);
    assert!(spans(&dispatch, 10) < FAST);
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (10, 0, 1, 0), "{s:#?}");
    assert_eq!(collector.requests(), 3, "two 429s, then the 200");
    assert_eq!(collector.received_spans(), 30, "each retry carried the whole request");
    assert_eq!(collector.accepted_spans(), 10);
}

#[test]
fn a_429_whose_retry_after_outlasts_the_timeout_fails_within_the_timeout() {
    let collector = Collector::start_otlp(Mode::TooMany(30));
    let (dispatch, guard) = layer(&collector, TIMEOUT);
    assert!(spans(&dispatch, 5) < FAST);
    let start = Instant::now();
    let s = settle(&guard, &collector);
    assert!(start.elapsed() < TIMEOUT, "it does not wait for a retry it cannot make: {:?}", start.elapsed());
    assert_eq!(outcome(&s), (0, 5, 0, 1), "{s:#?}");
    assert_eq!(collector.requests(), 1);
}

#[test]
fn a_500_fails_at_once() {
    let collector = Collector::start_otlp(Mode::Fail);
    let (dispatch, guard) = layer(&collector, LONG);
    assert!(spans(&dispatch, 4) < FAST);
    let start = Instant::now();
    let s = settle(&guard, &collector);
    assert!(start.elapsed() < LONG / 4, "{:?}", start.elapsed());
    assert_eq!(outcome(&s), (0, 4, 0, 1), "{s:#?}");
    assert_eq!(collector.requests(), 1, "500 is not one of 429, 502, 503, 504");
}

#[test]
fn a_503_is_retried_until_the_timeout_then_failed() {
    let collector = Collector::start_otlp(Mode::Unavailable);
    let (dispatch, guard) = layer(&collector, TIMEOUT);
    spans(&dispatch, 6);
    let start = Instant::now();
    let (flushed, took) = spans_during_export(&guard, &collector, &dispatch, 20);
    assert!(took < FAST, "the application waited for the retries: {took:?}");
    flushed.unwrap();
    assert!(start.elapsed() < TIMEOUT * 4, "{:?}", start.elapsed());
    let first = collector.requests();
    assert!(first >= 2, "retried within the timeout: {first} request(s)");
    let s = settle(&guard, &collector);
    assert_eq!(s.spans_finished, 26);
    assert_eq!((s.spans_exported, s.spans_failed, s.packets_sent), (0, 26, 0), "{s:#?}");
    assert_eq!(s.packets_failed, 2, "the 6 spans, then the 20 finished during their retries: {s:#?}");
    assert!(collector.requests() >= first + 2, "the second request was retried too");
}

#[test]
fn a_slow_answer_within_the_timeout_is_exported() {
    let collector = Collector::start_otlp(Mode::Slow);
    let (dispatch, guard) = layer(&collector, TIMEOUT);
    spans(&dispatch, 9);
    let (flushed, took) = spans_during_export(&guard, &collector, &dispatch, 3);
    flushed.unwrap();
    assert!(took < FAST, "{took:?}");
    let s = settle(&guard, &collector);
    assert_eq!((s.spans_exported, s.spans_failed, s.packets_failed), (12, 0, 0), "{s:#?}");
    assert_eq!(s.packets_sent, collector.requests(), "no request was retried");
    assert_eq!(collector.accepted_spans(), 12);
}

#[test]
fn a_hang_past_the_timeout_fails_and_bounded_flush_and_shutdown_return_in_time() {
    let collector = Collector::start_otlp(Mode::Hang);
    let (dispatch, guard) = layer(&collector, TIMEOUT);
    spans(&dispatch, 5);
    let (flushed, took) = spans_during_export(&guard, &collector, &dispatch, 20);
    assert!(took < FAST, "the application waited for a hanging request: {took:?}");
    flushed.unwrap();
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (0, 25, 0, 2), "{s:#?}");
    assert_eq!(collector.requests(), 2, "a timed-out request is not retried: the timeout is used up");

    // A flush and a shutdown bounded below the hang return within their bounds; the spans
    // of the request under way are abandoned, and counted.
    spans(&dispatch, 4);
    let bound = Duration::from_millis(50);
    let start = Instant::now();
    assert!(matches!(guard.flush(bound), Err(FlushError::Timeout(_))));
    assert!(start.elapsed() < bound + FAST, "flush overran its bound: {:?}", start.elapsed());
    assert!(guard.stats().is_consistent());
    let stats = guard.stats_handle();
    let start = Instant::now();
    assert!(guard.shutdown(bound).is_err(), "the request still hangs");
    assert!(start.elapsed() < bound + FAST, "shutdown overran its bound: {:?}", start.elapsed());
    let end = stats.stats();
    assert!(end.is_settled(), "{end:#?}");
    assert_eq!((end.spans_finished, end.spans_exported), (29, 0), "{end:#?}");
    assert_eq!(end.spans_failed + end.spans_abandoned, 29, "{end:#?}");
    assert_eq!(end.spans_abandoned, 4, "{end:#?}");
}

#[test]
fn a_connection_that_keeps_closing_is_retried_then_failed() {
    let collector = Collector::start_otlp(Mode::Close);
    let (dispatch, guard) = layer(&collector, TIMEOUT);
    spans(&dispatch, 8);
    let (flushed, took) = spans_during_export(&guard, &collector, &dispatch, 2);
    flushed.unwrap();
    assert!(took < FAST, "{took:?}");
    let first = collector.requests();
    assert!(first >= 2, "a hang-up is retried: {first} request(s)");
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (0, 10, 0, 2), "{s:#?}");
    assert_eq!(collector.accepted_spans(), 0);
}

#[test]
fn a_connection_that_closes_then_recovers_is_exported() {
    let collector = Collector::start_otlp(Mode::Accept);
    collector.script(Mode::Close, 2, Mode::Accept);
    let (dispatch, guard) = layer(&collector, LONG);
    assert!(spans(&dispatch, 11) < FAST);
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (11, 0, 1, 0), "{s:#?}");
    assert_eq!(collector.requests(), 3, "two hang-ups, then the 200");
    assert_eq!(collector.accepted_spans(), 11);
}

/// `transport/otlp.rs` `partial_success`: a 2xx body that is not an
/// `ExportTraceServiceResponse` is a full success (the status is the acceptance).
#[test]
fn a_garbage_200_body_counts_as_exported_and_panics_nothing() {
    let collector = Collector::start_otlp(Mode::Garbage);
    let (dispatch, guard) = layer(&collector, LONG);
    assert!(spans(&dispatch, 6) < FAST);
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (6, 0, 1, 0), "{s:#?}");
    // The exporter is alive and goes on exporting.
    spans(&dispatch, 2);
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (8, 0, 2, 0), "{s:#?}");
    assert_eq!(collector.requests(), 2);
    guard.shutdown(WAIT).unwrap();
}

#[test]
fn a_partial_success_counts_the_rejected_spans_as_failed_and_the_rest_exported() {
    let collector = Collector::start_otlp(Mode::Partial(3));
    let (dispatch, guard) = layer(&collector, LONG);
    assert!(spans(&dispatch, 10) < FAST);
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (7, 3, 1, 0), "{s:#?}");
    assert_eq!(collector.accepted_spans(), 7);
    // More rejected than the request held: capped at its span count.
    collector.set(Mode::Partial(1000));
    spans(&dispatch, 4);
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (7, 7, 2, 0), "{s:#?}");
    assert_eq!(collector.requests(), 2, "a partial success is not retried");
}

#[cfg(feature = "gzip")]
#[test]
fn gzipped_requests_are_decoded_by_the_endpoint() {
    let collector = Collector::start_otlp(Mode::Accept);
    let (layer, guard) = JaegerLayer::builder()
        .service_name("otlp-faults")
        .otlp_endpoint(collector.otlp_endpoint())
        .otlp_compression(jaeger_layer::Compression::Gzip)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    spans(&dispatch, 5);
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (5, 0, 1, 0), "{s:#?}");
    assert_eq!(collector.accepted_spans(), 5);
}

/// `Retry-After: 0` from a server shedding load is a floor, not a licence to retry in a busy
/// loop: the backoff still applies (it used to answer ~460 requests in 300 ms here).
#[test]
fn a_429_with_retry_after_zero_still_backs_off_until_the_timeout() {
    let collector = Collector::start_otlp(Mode::TooMany(0));
    let (dispatch, guard) = layer(&collector, TIMEOUT);
    spans(&dispatch, 5);
    let s = settle(&guard, &collector);
    assert_eq!(outcome(&s), (0, 5, 0, 1), "{s:#?}");
    // Waits of 50..150 ms, then 100..300 ms, ... within 300 ms: at most 5 attempts.
    let requests = collector.requests();
    assert!((2..=5).contains(&requests), "{requests} requests in {TIMEOUT:?}");
}
