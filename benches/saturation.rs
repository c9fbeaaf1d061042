//! Saturation with the default queue (16384): one producer, then two producer threads, each
//! creating spans as fast as it can, in the same run. Prints the spans delivered per second
//! (exported, counting the final flush in the time) for each, checks that every span is
//! accounted for, and prints the process's peak resident memory. A plain program (not
//! criterion, whose own bookkeeping would dominate the memory figure).
//!
//! For each run it also prints the exporter thread's on-CPU time and the time it waited for
//! a core (`/proc/self/task/*/schedstat`, Linux only): whether a slow run is an exporter that
//! is starved, or one that spends more per span.
//!
//! Run: `cargo bench -p jaeger-layer-benches --bench saturation`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use jaeger_layer::{JaegerLayer, Stats};
use tracing_subscriber::prelude::*;

/// Spans per run, split between its producers.
const SPANS: u64 = 2_000_000;
/// Runs of each configuration, alternated; the medians are printed at the end.
const ROUNDS: usize = 3;

/// A field of `/proc/self/status` in KiB: `VmHWM` (peak resident memory) or `VmRSS`.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Resets the process's peak resident memory to what is resident now (Linux
/// `/proc/self/clear_refs`, "5"), so that each run's peak is its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// On-CPU and run-queue nanoseconds so far of this process's threads whose name starts with
/// `prefix` (the first two fields of `/proc/self/task/*/schedstat`); zeros elsewhere.
fn thread_times_ns(prefix: &str) -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return total };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let mut f = stat.split_whitespace().map(|x| x.parse::<u64>().unwrap_or(0));
        total.0 += f.next().unwrap_or(0);
        total.1 += f.next().unwrap_or(0);
    }
    total
}

/// The calling thread's on-CPU nanoseconds so far (`/proc/thread-self/schedstat`).
fn own_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0)
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

/// What one saturated run measured.
struct Run {
    /// Spans exported per second, from the first span to the end of the final flush.
    delivered_per_s: f64,
    /// Spans created per second by all producers together.
    created_per_s: f64,
    stats: Stats,
    /// The exporter thread's on-CPU and run-queue time during the run.
    exporter_ns: (u64, u64),
    /// The producers' on-CPU time.
    producers_cpu_ns: u64,
    /// Resident memory before the run, and its peak during it (KiB).
    rss_before_kib: u64,
    peak_rss_kib: u64,
}

/// `producers` threads create `SPANS` spans between them as fast as they can, through a new
/// layer with the default queue; then one flush.
fn saturate(producers: u64) -> Run {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = JaegerLayer::builder()
        .service_name("saturation")
        .agent_endpoint(sink.local_addr().unwrap().to_string())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let per_producer = SPANS / producers;
    reset_peak_rss();
    let rss_before_kib = status_kib("VmRSS");
    let exporter_before = thread_times_ns("jaeger-layer-ex");
    let start = Instant::now();
    let producers_cpu_ns = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..producers)
            .map(|_| {
                let dispatch = dispatch.clone();
                scope.spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for i in 0..per_producer {
                            let span =
                                tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
                            let _g = span.enter();
                        }
                    });
                    own_cpu_ns()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    let produced = start.elapsed();
    guard.flush(Duration::from_secs(30)).unwrap();
    let total = start.elapsed();
    let exporter_after = thread_times_ns("jaeger-layer-ex");
    let s = guard.stats();
    let lost = s.spans_dropped_queue_full + s.spans_dropped_too_large + s.spans_failed;
    assert_eq!(s.spans_finished, per_producer * producers);
    assert_eq!(s.spans_finished, s.spans_exported + lost, "created = delivered + counted drops: {s:?}");
    drop(guard);
    Run {
        delivered_per_s: s.spans_exported as f64 / total.as_secs_f64(),
        created_per_s: s.spans_finished as f64 / produced.as_secs_f64(),
        stats: s,
        exporter_ns: (exporter_after.0 - exporter_before.0, exporter_after.1 - exporter_before.1),
        producers_cpu_ns,
        rss_before_kib,
        peak_rss_kib: status_kib("VmHWM"),
    }
}

/// The median (NaN of nothing).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    // `saturation 2` (or 1) runs only that configuration, for a profiler; `cargo bench`
    // passes `--bench`, which is ignored.
    let only: Option<u64> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    if only.is_none() {
        paced(1_000_000.0, 2_000_000);
        paced(1_500_000.0, 3_000_000);
    }
    let mut delivered = [Vec::new(), Vec::new()];
    let mut peak_rss_kib = 0;
    for _ in 0..ROUNDS {
        for producers in [1, 2].into_iter().filter(|p| only.is_none_or(|o| o == *p)) {
            let r = saturate(producers);
            let s = &r.stats;
            let lost = s.spans_finished - s.spans_exported;
            println!(
                "{producers} producer(s): delivered {:.2} M spans/s (created {:.2} M/s; exported {} + dropped {}, \
                 {:.1}% delivered); exporter {:.0} ms on CPU ({:.0} ns per exported span), {:.0} ms waiting \
                 for a core; producers {:.0} ms on CPU ({:.0} ns per span); peak RSS {} KiB ({} KiB before)",
                r.delivered_per_s / 1e6,
                r.created_per_s / 1e6,
                s.spans_exported,
                lost,
                100.0 * s.spans_exported as f64 / s.spans_finished as f64,
                r.exporter_ns.0 as f64 / 1e6,
                r.exporter_ns.0 as f64 / s.spans_exported.max(1) as f64,
                r.exporter_ns.1 as f64 / 1e6,
                r.producers_cpu_ns as f64 / 1e6,
                r.producers_cpu_ns as f64 / s.spans_finished as f64,
                r.peak_rss_kib,
                r.rss_before_kib,
            );
            peak_rss_kib = peak_rss_kib.max(r.peak_rss_kib);
            delivered[producers as usize - 1].push(r.delivered_per_s);
        }
    }
    let [one, two] = delivered.map(median);
    println!(
        "median of {ROUNDS}: delivered {:.2} M spans/s with 1 producer, {:.2} M spans/s with 2 ({:.2}×); \
         peak RSS of a saturated run {peak_rss_kib} KiB",
        one / 1e6,
        two / 1e6,
        two / one,
    );
}
