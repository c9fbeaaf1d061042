//! Faults: an agent that appears late or goes away, overload from several threads, a panic.
//! Every case: the application never blocks and the counters say exactly what was lost.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use jaeger_layer::receiver::Receiver;
use jaeger_layer::{ExporterGuard, JaegerLayer, Stats};
use support::WAIT;
use tracing::{info_span, Dispatch};
use tracing_subscriber::prelude::*;

fn accounted(s: &Stats) -> bool {
    s.is_consistent()
}

fn layer_to(
    endpoint: String,
    configure: impl FnOnce(jaeger_layer::Builder) -> jaeger_layer::Builder,
) -> (Dispatch, ExporterGuard) {
    let builder = JaegerLayer::builder()
        .service_name("faults")
        .agent_endpoint(endpoint)
        .flush_interval(Duration::from_secs(3600));
    let (layer, guard) = configure(builder).build().unwrap();
    (Dispatch::new(tracing_subscriber::registry().with(layer)), guard)
}

/// Sends `n` one-span batches, each flushed on its own, so each is its own datagram.
fn send(dispatch: &Dispatch, guard: &ExporterGuard, name: &'static str, n: usize) {
    for _ in 0..n {
        tracing::dispatcher::with_default(dispatch, || info_span!("op", name).in_scope(|| {}));
        guard.flush(WAIT).unwrap();
    }
}

#[test]
fn an_agent_that_appears_later_gets_the_later_spans() {
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (dispatch, guard) = layer_to(format!("127.0.0.1:{port}"), |b| b);
    let started = Instant::now();
    send(&dispatch, &guard, "early", 10);
    let before = guard.stats();
    assert!(before.spans_failed > 0, "nobody listening yet: {before:#?}");
    assert!(accounted(&before));
    // The agent comes up on the same port.
    let agent = Receiver::bind(("127.0.0.1", port)).expect("port still free");
    send(&dispatch, &guard, "late", 5);
    let spans = agent.wait_for_spans(5, WAIT);
    assert_eq!(spans.len(), 5);
    let after = guard.stats();
    assert_eq!(after.spans_exported - before.spans_exported, 5);
    assert!(accounted(&after));
    assert!(started.elapsed() < WAIT, "never blocked");
}

#[test]
fn an_agent_that_goes_away_is_counted_and_never_blocks() {
    let agent = Receiver::bind("127.0.0.1:0").unwrap();
    let (dispatch, guard) = layer_to(agent.local_addr().to_string(), |b| b);
    send(&dispatch, &guard, "while_up", 3);
    assert_eq!(agent.wait_for_spans(3, WAIT).len(), 3);
    drop(agent); // the port closes: the kernel now answers with ICMP port unreachable
    let started = Instant::now();
    send(&dispatch, &guard, "while_down", 10);
    let s = guard.stats();
    assert_eq!(s.spans_finished, 13);
    assert!(s.spans_failed >= 4, "refusals are reported on every other send at least: {s:#?}");
    assert!(accounted(&s));
    assert!(started.elapsed() < WAIT);
}

#[test]
fn overload_from_two_threads_is_counted_exactly() {
    let agent = Receiver::bind("127.0.0.1:0").unwrap();
    let (dispatch, guard) = layer_to(agent.local_addr().to_string(), |b| b.queue_capacity(64));
    let per_thread = 20_000u64;
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..per_thread {
                        info_span!("flood", i).in_scope(|| {});
                    }
                })
            });
        }
    });
    guard.flush(WAIT).unwrap();
    let s = guard.stats();
    assert_eq!(s.spans_finished, 2 * per_thread);
    assert_eq!(s.spans_queued, 0);
    assert!(accounted(&s), "{s:#?}");
    assert_eq!(agent.wait_for_spans(s.spans_exported as usize, WAIT).len() as u64, s.spans_exported);
}

#[test]
fn a_panic_still_flushes_when_the_guard_drops_while_unwinding() {
    let agent = Receiver::bind("127.0.0.1:0").unwrap();
    let endpoint = agent.local_addr().to_string();
    let result = std::panic::catch_unwind(move || {
        let (dispatch, _guard) = layer_to(endpoint, |b| b);
        tracing::dispatcher::with_default(&dispatch, || {
            let _span = info_span!("doomed_request").entered();
            info_span!("finished_step").in_scope(|| {});
            panic!("application bug");
        });
    });
    assert!(result.is_err());
    let spans = agent.wait_for_spans(2, WAIT);
    let mut names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["doomed_request", "finished_step"]);
}
