//! Saturation with two producer threads and the default queue (16384): every span accounted
//! for, and the process's peak resident memory. A plain program (not criterion, whose own
//! bookkeeping would dominate the memory figure).
//!
//! Run: `cargo bench -p jaeger-layer-benches --bench saturation`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use jaeger_layer::JaegerLayer;
use tracing_subscriber::prelude::*;

const PER_PRODUCER: u64 = 1_000_000;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// One producer paced at `rate` spans/s (busy-waiting between bursts of 100): below the
/// exporter's throughput nothing may be dropped.
fn paced(rate: f64, total: u64) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("paced")
        .agent_endpoint(sink.local_addr().unwrap().to_string())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..total {
            if i % 100 == 0 {
                let due = Duration::from_secs_f64(i as f64 / rate);
                while start.elapsed() < due {
                    std::hint::spin_loop();
                }
            }
            let span = tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
            let _g = span.enter();
        }
    });
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    guard.flush(Duration::from_secs(30)).unwrap();
    let s = guard.stats();
    println!(
        "paced producer at {:.2} M spans/s: exported {} of {}, dropped {} (queue full)",
        achieved / 1e6,
        s.spans_exported,
        s.spans_finished,
        s.spans_dropped_queue_full
    );
}

fn main() {
    paced(1_000_000.0, 2_000_000);
    paced(1_500_000.0, 3_000_000);
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("saturation")
        .agent_endpoint(sink.local_addr().unwrap().to_string())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let before = peak_rss_kib();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..PER_PRODUCER {
                        let span =
                            tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
                        let _g = span.enter();
                    }
                })
            });
        }
    });
    let elapsed = start.elapsed();
    guard.flush(Duration::from_secs(30)).unwrap();
    let s = guard.stats();
    let lost = s.spans_dropped_queue_full + s.spans_dropped_too_large + s.spans_failed;
    assert_eq!(s.spans_finished, 2 * PER_PRODUCER);
    assert_eq!(s.spans_finished, s.spans_exported + lost, "created = delivered + counted drops: {s:?}");
    println!(
        "2 producers × {PER_PRODUCER} spans in {:.2} s ({:.0} ns/span per producer): exported {} + dropped {} \
         ({:.1}% delivered); peak RSS {} KiB (before the run {} KiB)",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / PER_PRODUCER as f64,
        s.spans_exported,
        lost,
        100.0 * s.spans_exported as f64 / s.spans_finished as f64,
        peak_rss_kib(),
        before
    );
}
