//! Every finished span is exported or counted, at every instant, on every transport.
//!
//! A property test drives a layer with random sequences of spans, flushes and peer
//! behaviours (an agent that listens or is absent; a collector that accepts, fails, is slow,
//! hangs past the timeout or closes the connection) while another thread reads the counters
//! as fast as it can. After every step, and at every read of that thread, the identity of
//! `Stats` holds and no counter but `spans_queued` ever went down; at the end, after the
//! shutdown, nothing is left on its way.

mod support;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use jaeger_layer::receiver::Receiver;
use jaeger_layer::{Builder, JaegerLayer, Stats, StatsHandle};
use proptest::prelude::*;
#[cfg(feature = "otlp")]
use support::collector::OTLP_MODES;
use support::collector::{Collector, Mode, HANG, MODES, SLOW};
use tracing::{info_span, Dispatch};
use tracing_subscriber::prelude::*;

/// The client's timeout for one collector request, retries included: longer than `SLOW`,
/// shorter than `HANG`.
const TIMEOUT: Duration = Duration::from_millis(150);

#[derive(Clone, Debug)]
enum Step {
    Spans(usize),
    Flush,
    Peer(Mode),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1usize..120).prop_map(Step::Spans),
        2 => Just(Step::Flush),
        2 => (0..MODES.len()).prop_map(|i| Step::Peer(MODES[i])),
    ]
}

/// The counters a user may rely on to only grow.
fn monotonic(s: &Stats) -> [u64; 12] {
    [
        s.spans_finished,
        s.spans_exported,
        s.spans_dropped_queue_full,
        s.spans_dropped_too_large,
        s.spans_failed,
        s.spans_abandoned,
        s.spans_dropped_closed,
        s.packets_sent,
        s.packets_failed,
        s.spans_started_sampled,
        s.traces_started_sampled,
        s.exporter_panics,
    ]
}

fn check(prev: &Stats, now: &Stats) -> Result<(), String> {
    if !now.is_consistent() {
        return Err(format!("identity broken: {now:#?}"));
    }
    for (i, (a, b)) in monotonic(prev).iter().zip(monotonic(now)).enumerate() {
        if b < *a {
            return Err(format!("counter #{i} went down {a} -> {b}: {prev:#?} then {now:#?}"));
        }
    }
    Ok(())
}

/// Reads the counters in a loop until told to stop; the first violation is its result.
fn watcher(stats: StatsHandle, stop: Arc<AtomicBool>) -> thread::JoinHandle<Result<usize, String>> {
    thread::spawn(move || {
        let mut prev = stats.stats();
        let mut reads = 0;
        loop {
            let now = stats.stats();
            check(&prev, &now)?;
            prev = now;
            reads += 1;
            if stop.load(SeqCst) {
                return Ok(reads);
            }
        }
    })
}

enum Peer {
    Agent(Option<Receiver>),
    Collector(Collector),
    /// An OTLP/HTTP endpoint; `Step::Peer(i)` picks `OTLP_MODES[i % len]`.
    #[cfg(feature = "otlp")]
    Otlp(Collector),
}

fn run_case(mut peer: Peer, queue: usize, steps: &[Step]) -> Result<(), TestCaseError> {
    let builder: Builder = JaegerLayer::builder()
        .service_name("accounting")
        .queue_capacity(queue)
        .flush_interval(Duration::from_secs(3600));
    let builder = match &peer {
        Peer::Agent(Some(r)) => builder.agent_endpoint(r.local_addr().to_string()),
        Peer::Agent(None) => {
            // A port nobody listens on: the kernel refuses some datagrams.
            let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            builder.agent_endpoint(format!("127.0.0.1:{port}"))
        }
        Peer::Collector(c) => {
            builder.collector_endpoint(c.endpoint()).collector_timeout(TIMEOUT).collector_batch_size(40)
        }
        #[cfg(feature = "otlp")]
        Peer::Otlp(c) => builder.otlp_endpoint(c.otlp_endpoint()).otlp_timeout(TIMEOUT).otlp_batch_size(40),
    };
    let (layer, guard) = builder.build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let stats = guard.stats_handle();
    let stop = Arc::new(AtomicBool::new(false));
    let watch = watcher(stats.clone(), stop.clone());
    let mut prev = stats.stats();
    let mut finished = 0u64;
    #[cfg(feature = "otlp")]
    let mut switches = 0usize;
    for step in steps {
        match step {
            Step::Spans(n) => tracing::dispatcher::with_default(&dispatch, || {
                for i in 0..*n {
                    info_span!("op", i).in_scope(|| tracing::info!("event"));
                }
                finished += *n as u64;
            }),
            Step::Flush => {
                // A flush may time out while a collector hangs; it must never lose a span.
                let _ = guard.flush(Duration::from_secs(5));
            }
            Step::Peer(mode) => match &mut peer {
                Peer::Collector(c) => c.set(*mode),
                #[cfg(feature = "otlp")]
                Peer::Otlp(c) => {
                    // The mode's index, and every other switch the next five, pick one of the
                    // OTLP modes: each of them is reachable, and a case replays exactly.
                    let i = MODES.iter().position(|m| m == mode).unwrap_or(0);
                    switches += 1;
                    c.set(OTLP_MODES[(i + MODES.len() * (switches % 2)) % OTLP_MODES.len()]);
                }
                Peer::Agent(r) => {
                    // An agent can only go away (its port then refuses datagrams).
                    if *mode == Mode::Close {
                        r.take();
                    }
                }
            },
        }
        let now = stats.stats();
        check(&prev, &now).map_err(TestCaseError::fail)?;
        prop_assert_eq!(now.spans_finished, finished);
        prev = now;
    }
    // Shut down within a bound the hanging collector cannot stretch.
    let _ = guard.shutdown(Duration::from_secs(2));
    stop.store(true, SeqCst);
    let reads = watch.join().unwrap().map_err(TestCaseError::fail)?;
    prop_assert!(reads > 0);
    let end = stats.stats();
    check(&prev, &end).map_err(TestCaseError::fail)?;
    prop_assert!(end.is_settled(), "something is still on its way after shutdown: {:#?}", end);
    prop_assert_eq!(end.spans_finished, finished);
    if let Peer::Collector(c) = &peer {
        // "Exported" means the collector answered 202 to it.
        prop_assert!(end.spans_exported <= c.accepted_spans(), "{:#?} vs {}", end, c.accepted_spans());
    }
    #[cfg(feature = "otlp")]
    if let Peer::Otlp(c) = &peer {
        // "Exported" means the endpoint answered 2xx to it and did not reject it.
        prop_assert!(end.spans_exported <= c.accepted_spans(), "{:#?} vs {}", end, c.accepted_spans());
    }
    if let Peer::Agent(Some(r)) = &peer {
        // Nothing is lost on loopback to a listening agent: what was sent arrived.
        let got = r.wait_for_spans(end.spans_exported as usize, support::WAIT).len() as u64;
        prop_assert_eq!(got, end.spans_exported);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn udp_every_span_is_exported_or_counted_at_every_read(
        listening in any::<bool>(),
        small_queue in any::<bool>(),
        steps in prop::collection::vec(step(), 1..10),
    ) {
        let agent = listening.then(|| Receiver::bind("127.0.0.1:0").unwrap());
        run_case(Peer::Agent(agent), if small_queue { 16 } else { 4096 }, &steps)?;
    }

    #[test]
    fn http_every_span_is_exported_or_counted_at_every_read(
        first in 0..MODES.len(),
        small_queue in any::<bool>(),
        steps in prop::collection::vec(step(), 1..10),
    ) {
        let collector = Collector::start(MODES[first]);
        run_case(Peer::Collector(collector), if small_queue { 16 } else { 4096 }, &steps)?;
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn otlp_every_span_is_exported_or_counted_at_every_read(
        first in 0..OTLP_MODES.len(),
        small_queue in any::<bool>(),
        steps in prop::collection::vec(step(), 1..10),
    ) {
        let endpoint = Collector::start_otlp(OTLP_MODES[first]);
        run_case(Peer::Otlp(endpoint), if small_queue { 16 } else { 4096 }, &steps)?;
    }
}

/// The case the property test generalises, as it was reported: 5000 spans to a collector
/// that answers every POST with 500, the counters read while it retries, then a shutdown.
#[test]
fn a_failing_collector_keeps_the_identity_while_retrying_and_shutdown_counts_the_rest() {
    let collector = Collector::start(Mode::Fail);
    let (layer, guard) = JaegerLayer::builder()
        .service_name("accounting")
        .collector_endpoint(collector.endpoint())
        .collector_timeout(TIMEOUT)
        .flush_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let stats = guard.stats_handle();
    let stop = Arc::new(AtomicBool::new(false));
    let watch = watcher(stats.clone(), stop.clone());
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..5000 {
            info_span!("op", i).in_scope(|| {});
        }
    });
    let mid = stats.stats();
    assert_eq!(mid.spans_finished, 5000);
    assert!(mid.is_consistent(), "{mid:#?}");
    // The exporter is still busy failing: the shutdown gives up and says what it abandoned.
    let _ = guard.shutdown(Duration::from_millis(300));
    stop.store(true, SeqCst);
    assert!(watch.join().unwrap().unwrap() > 0);
    let end = stats.stats();
    assert!(end.is_settled(), "{end:#?}");
    assert_eq!(end.spans_exported, 0);
    assert_eq!(end.spans_failed + end.spans_abandoned + end.spans_dropped_queue_full, 5000, "{end:#?}");
    assert!(end.spans_abandoned > 0, "a 300 ms shutdown cannot fail 5000 spans in batches of 100: {end:#?}");
    let _ = (SLOW, HANG);
}
