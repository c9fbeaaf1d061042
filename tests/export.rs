//! The exporter: packet limits, counting every loss, flush and shutdown.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use jaeger_layer::receiver::Receiver;
use jaeger_layer::{JaegerLayer, Stats};
use support::{Harness, WAIT};
use tracing::info_span;
use tracing_subscriber::prelude::*;

fn assert_accounted(s: &Stats) {
    assert!(s.is_consistent(), "{s:#?}");
    assert_eq!(s.spans_finished, s.spans_exported + s.lost() + s.spans_queued, "{s:#?}");
}

#[test]
fn small_packets_split_batches_without_losing_spans() {
    let h = Harness::with(|b| b.max_packet_size(1000));
    h.run(|| {
        for i in 0..300i64 {
            info_span!("span", i, payload = "x".repeat((i as usize * 7) % 200).as_str()).in_scope(|| {});
        }
    });
    let spans = h.spans(300);
    let mut seen: Vec<i64> = spans
        .iter()
        .map(|s| match s.tag("i") {
            Some(jaeger_layer::TagValue::Long(i)) => *i,
            other => panic!("bad tag {other:?}"),
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..300).collect::<Vec<_>>(), "no span lost or duplicated");
    let sizes = h.receiver.datagram_sizes();
    assert!(sizes.len() > 10, "300 spans cannot fit in a few 1000-byte packets");
    assert!(sizes.iter().all(|&n| n <= 1000), "{sizes:?}");
    let batches = h.receiver.batches();
    let seqs: Vec<i64> = batches.iter().map(|b| b.seq_no.unwrap()).collect();
    assert_eq!(seqs, (1..=batches.len() as i64).collect::<Vec<_>>());
    assert!(batches.iter().all(|b| b.stats.is_some()));
    let s = h.guard.stats();
    assert_eq!(s.spans_exported, 300);
    assert_eq!(s.packets_sent, batches.len() as u64);
    assert_accounted(&s);
}

#[test]
fn a_span_too_large_for_a_packet_is_dropped_and_counted() {
    let h = Harness::with(|b| b.max_packet_size(512).max_tag_value_length(10_000));
    h.run(|| {
        info_span!("before").in_scope(|| {});
        info_span!("huge", blob = "y".repeat(2000).as_str()).in_scope(|| {});
        info_span!("after").in_scope(|| {});
    });
    let spans = h.spans(2);
    let names: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    assert_eq!(names, ["before", "after"]);
    let s = h.guard.stats();
    assert_eq!(s.spans_dropped_too_large, 1);
    assert_eq!(s.spans_exported, 2);
    assert_accounted(&s);
    // The loss is reported to Jaeger too, in the batch's ClientStats.
    let last = h.receiver.batches().last().cloned().unwrap();
    assert_eq!(last.stats.unwrap().too_large_dropped_spans, 1);
}

#[test]
fn queue_overflow_is_counted_exactly() {
    let h = Harness::with(|b| b.queue_capacity(8));
    let n = 2000u64;
    h.run(|| {
        for i in 0..n {
            info_span!("burst", i).in_scope(|| {});
        }
    });
    h.guard.flush(WAIT).unwrap();
    let s = h.guard.stats();
    assert_eq!(s.spans_finished, n);
    assert_eq!(s.spans_queued, 0);
    assert_accounted(&s);
    let received = h.receiver.wait_for_spans(s.spans_exported as usize, WAIT);
    assert_eq!(received.len() as u64, s.spans_exported, "every span counted as exported arrived");
    // The drop count reaches Jaeger in ClientStats once a later batch goes out.
    if s.spans_dropped_queue_full > 0 {
        h.run(|| info_span!("after").in_scope(|| {}));
        h.guard.flush(WAIT).unwrap();
        h.receiver.wait_for_spans(received.len() + 1, WAIT);
        let last = h.receiver.batches().last().cloned().unwrap();
        assert_eq!(last.stats.unwrap().full_queue_dropped_spans as u64, s.spans_dropped_queue_full);
    }
}

#[test]
fn dropping_the_guard_flushes() {
    let receiver = Receiver::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("drop-test")
        .agent_endpoint(receiver.local_addr().to_string())
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..10 {
            info_span!("s").in_scope(|| {});
        }
    });
    drop(guard);
    assert_eq!(receiver.wait_for_spans(10, WAIT).len(), 10);
}

#[test]
fn nobody_listening_counts_failures_and_never_hangs() {
    // A port that was just free: the kernel answers with ICMP port unreachable.
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("nobody")
        .agent_endpoint(format!("127.0.0.1:{port}"))
        .max_packet_size(1000)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let started = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..50i64 {
            info_span!("lost", i).in_scope(|| {});
            if i % 10 == 0 {
                guard.flush(WAIT).unwrap();
            }
        }
    });
    guard.flush(WAIT).unwrap();
    let s = guard.stats();
    assert!(s.spans_failed > 0, "{s:#?}");
    assert!(s.packets_failed > 0);
    assert_accounted(&s);
    guard.shutdown(WAIT).unwrap();
    assert!(started.elapsed() < WAIT);
}

#[test]
fn spans_after_shutdown_or_without_guard_never_panic() {
    let h = Harness::new();
    let Harness { receiver, dispatch, guard } = h;
    guard.shutdown(WAIT).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..20 {
            info_span!("late").in_scope(|| tracing::info!("still fine"));
        }
    });
    drop(receiver);

    let (layer, guard) = JaegerLayer::builder().service_name("no-guard").build().unwrap();
    drop(guard);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        info_span!("orphaned").in_scope(|| {});
    });
}

#[test]
fn many_threads_share_one_layer() {
    let h = Harness::new();
    std::thread::scope(|scope| {
        for t in 0..4i64 {
            let dispatch = h.dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..250i64 {
                        info_span!("worker", t, i).in_scope(|| tracing::info!("tick"));
                    }
                })
            });
        }
    });
    let spans = h.spans(1000);
    assert_eq!(spans.iter().filter(|s| s.logs.len() == 1).count(), 1000);
    let s = h.guard.stats();
    assert_eq!(s.spans_exported, 1000);
    assert_accounted(&s);
}

#[test]
fn invalid_settings_are_typed_errors() {
    let err = |b: jaeger_layer::Builder| b.build().map(|_| ()).unwrap_err().to_string();
    assert!(err(JaegerLayer::builder()).contains("service_name"));
    assert!(err(JaegerLayer::builder().service_name(" ")).contains("service_name"));
    assert!(err(JaegerLayer::builder().service_name("s").max_packet_size(70_000)).contains("max_packet_size"));
    assert!(err(JaegerLayer::builder().service_name("s").max_packet_size(10)).contains("max_packet_size"));
    assert!(err(JaegerLayer::builder().service_name("s").queue_capacity(0)).contains("queue_capacity"));
    assert!(
        err(JaegerLayer::builder().service_name("s").agent_endpoint("localhost")).contains("agent_endpoint")
    );
    assert!(err(JaegerLayer::builder().service_name("s").agent_endpoint("h:port")).contains("agent_endpoint"));
    assert!(err(JaegerLayer::builder().service_name("s").flush_interval(Duration::ZERO))
        .contains("flush_interval"));
}

#[test]
fn a_guard_dropped_at_once_loses_every_span_but_counts_it() {
    let receiver = jaeger_layer::receiver::Receiver::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = jaeger_layer::JaegerLayer::builder()
        .service_name("early-drop")
        .agent_endpoint(receiver.local_addr().to_string())
        .build()
        .unwrap();
    let stats = guard.stats_handle();
    drop(guard); // what `let (layer, _) = builder.build()?` does
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..3 {
            info_span!("lost").in_scope(|| {});
        }
    });
    let s = stats.stats();
    assert_eq!(s.spans_finished, 3, "{s:#?}");
    assert_eq!(s.spans_dropped_closed, 3, "{s:#?}");
    assert!(s.is_settled(), "{s:#?}");
    assert_eq!(s.lost(), 3);
}
