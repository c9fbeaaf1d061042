//! End-to-end exporter throughput: one exporter thread draining the queue, encoding and
//! writing datagrams to a real loopback UDP socket, for workload a) (root span, 3 fields).
//!
//! Each iteration queues 2 000 finished spans while the exporter sleeps (its early wake-up
//! is switched off with a hidden builder knob), then times `flush()`: drain + encode + send,
//! on one thread. A sink thread decodes every datagram and counts its spans, so a loss or a
//! malformed batch on the way would show.
//! `root_span_3_fields_to_otlp_http` does the same over OTLP/HTTP to a loopback endpoint that
//! answers 200 (and decodes every body with `opentelemetry-proto` in its check round).
//! After each rung, 200 more rounds read the on-CPU time of the exporter's threads around
//! the flushes (`/proc/self/task/*/schedstat`) and print ns per span: what one such thread
//! sustains when kept busy, which the wall-clock figure understates on a shared VM where
//! waking an idle vCPU can take longer than the flush itself.
//! Run: `cargo bench -p jaeger-layer-benches --bench exporter`; criterion prints spans/s
//! (elements/s).

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jaeger_layer::receiver::decode_datagram;
use jaeger_layer::{Builder, ExporterGuard, JaegerLayer, Sampler, Stats};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

mod support;
use support::OtlpSink;

/// Spans per timed flush: what the exporter takes per early wake-up (1024) twice over, so
/// that its records all go back to the recycling pool (2048) as they do in steady state.
const SPANS: u64 = 2_000;
/// Spans per producer thread per iteration in the saturated bench.
const SATURATING_SPANS: u64 = 50_000;

/// Queues `SPANS` spans of workload a) under `dispatch` (the exporter asleep).
fn queue(dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..SPANS {
            let span = tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
            let _g = span.enter();
        }
    })
}

/// `iters` rounds of queuing (untimed) and a timed `flush()`: drain, encode and send on the
/// exporter thread alone.
fn timed_flushes(dispatch: &Dispatch, guard: &ExporterGuard, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        queue(dispatch);
        let start = Instant::now();
        guard.flush(Duration::from_secs(60)).unwrap();
        total += start.elapsed();
    }
    total
}

/// A layer sampling every span, its endpoint set by `endpoint`, with room for an iteration
/// and no early wake-up while queuing: the exporter sleeps until `flush()`, which then times
/// it alone. Returns the dispatch of a registry with the layer, and the guard.
/// On-CPU nanoseconds so far of this process's threads whose name starts with `prefix`
/// (Linux `/proc/self/task/*/schedstat`, first field); `None` elsewhere.
fn thread_cpu_ns(prefix: &str) -> Option<u64> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(prefix) {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
            *total.get_or_insert(0) += ns;
        }
    }
    total
}

/// The exporter's own cost, robust where wall-clock time is not (shared VMs, where waking
/// an idle vCPU can take longer than a flush): `ROUNDS` untimed rounds of queue + flush,
/// reading the on-CPU time of each named thread around the flushes. Prints ns per span
/// and the spans/s one such thread sustains when it is kept busy.
fn print_thread_cpu(dispatch: &Dispatch, guard: &ExporterGuard, threads: &[(&str, &str)]) {
    const ROUNDS: u64 = 200;
    let mut spent = vec![0u64; threads.len()];
    for _ in 0..ROUNDS {
        queue(dispatch);
        let before: Vec<_> = threads.iter().map(|(p, _)| thread_cpu_ns(p)).collect();
        guard.flush(Duration::from_secs(60)).unwrap();
        for (i, (p, _)) in threads.iter().enumerate() {
            if let (Some(a), Some(b)) = (before[i], thread_cpu_ns(p)) {
                spent[i] += b - a;
            }
        }
    }
    for ((_, name), ns) in threads.iter().zip(spent) {
        let per_span = ns as f64 / (ROUNDS * SPANS) as f64;
        println!(
            "{name}: {per_span:.0} ns on CPU per span ({:.2} M spans/s per thread kept busy)",
            1e3 / per_span.max(f64::MIN_POSITIVE)
        );
    }
}

fn sleeping_exporter(endpoint: impl FnOnce(Builder) -> Builder) -> (Dispatch, ExporterGuard) {
    let builder = JaegerLayer::builder()
        .service_name("bench")
        .sampler(Sampler::always())
        .queue_capacity(2 * SPANS as usize)
        .__wake_threshold(usize::MAX)
        .flush_interval(Duration::from_secs(3600));
    let (layer, guard) = endpoint(builder).build().unwrap();
    (Dispatch::new(tracing_subscriber::registry().with(layer)), guard)
}

/// Benches [`timed_flushes`] as `exporter/NAME`, then checks that no span was dropped or
/// failed; returns the stats.
fn bench_flushes(c: &mut Criterion, name: &str, dispatch: &Dispatch, guard: &ExporterGuard) -> Stats {
    let mut group = c.benchmark_group("exporter");
    group.throughput(Throughput::Elements(SPANS));
    group.sample_size(20);
    group.bench_function(name, |b| b.iter_custom(|iters| timed_flushes(dispatch, guard, iters)));
    group.finish();
    let s = guard.stats();
    assert_eq!(s.spans_dropped_queue_full + s.spans_failed + s.spans_dropped_too_large, 0, "{s:?}");
    s
}

fn exporter(c: &mut Criterion) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let _ = sink.set_read_timeout(Some(Duration::from_millis(200)));
    // Room for a whole iteration's datagrams (capped by net.core.rmem_max).
    let _ = socket2::SockRef::from(&sink).set_recv_buffer_size(32 << 20);
    let endpoint = sink.local_addr().unwrap().to_string();
    let datagrams = Arc::new(AtomicU64::new(0));
    // While timing, the sink only counts datagrams (decoding would take a core from the
    // exporter on 2 cores); for the final, untimed check it decodes each one and counts spans.
    let decode = Arc::new(AtomicBool::new(false));
    let decoded_spans = Arc::new(AtomicU64::new(0));
    let decode_errors = Arc::new(AtomicU64::new(0));
    {
        let (counted, decode, decoded_spans, decode_errors) =
            (datagrams.clone(), decode.clone(), decoded_spans.clone(), decode_errors.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            loop {
                if let Ok(n) = sink.recv(&mut buf) {
                    counted.fetch_add(1, Ordering::Relaxed);
                    if decode.load(Ordering::Acquire) {
                        match decode_datagram(&buf[..n]) {
                            Ok(batch) => decoded_spans.fetch_add(batch.spans.len() as u64, Ordering::Relaxed),
                            Err(_) => decode_errors.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }
            }
        });
    }
    let (dispatch, guard) = sleeping_exporter(|b| b.agent_endpoint(endpoint));
    let s = bench_flushes(c, "root_span_3_fields_to_udp", &dispatch, &guard);
    print_thread_cpu(&dispatch, &guard, &[("jaeger-layer-ex", "udp exporter thread")]);
    // Let the sink read what is still in flight, then check nothing was lost on the way.
    let deadline = Instant::now() + Duration::from_secs(5);
    while datagrams.load(Ordering::Relaxed) < s.packets_sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "exported {} spans in {} datagrams; the sink received {} datagrams",
        s.spans_exported,
        s.packets_sent,
        datagrams.load(Ordering::Relaxed)
    );
    // One more round, untimed, decoded at the sink: every span arrives, well formed.
    decode.store(true, Ordering::Release);
    let before = guard.stats().packets_sent;
    queue(&dispatch);
    guard.flush(Duration::from_secs(60)).unwrap();
    let sent = guard.stats().packets_sent;
    let deadline = Instant::now() + Duration::from_secs(10);
    while decoded_spans.load(Ordering::Relaxed) < SPANS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let decoded = decoded_spans.load(Ordering::Relaxed);
    println!(
        "check round: {SPANS} spans in {} datagrams, the sink decoded {decoded} spans ({} decode errors)",
        sent - before,
        decode_errors.load(Ordering::Relaxed)
    );
    assert_eq!((decoded, decode_errors.load(Ordering::Relaxed)), (SPANS, 0));
}

/// The same as `exporter`, over OTLP/HTTP to a loopback endpoint (`OtlpSink`): drain,
/// encode, POST and wait for each answer, on one exporter thread. The UDP rung before it is
/// the baseline of the same run.
fn exporter_otlp(c: &mut Criterion) {
    let sink = OtlpSink::start();
    let (dispatch, guard) = sleeping_exporter(|b| b.otlp_endpoint(format!("http://{}", sink.addr)));
    bench_flushes(c, "root_span_3_fields_to_otlp_http", &dispatch, &guard);
    print_thread_cpu(
        &dispatch,
        &guard,
        &[("jaeger-layer-ex", "otlp exporter thread"), ("jaeger-layer-ot", "otlp sender thread")],
    );
    // One more round, untimed, decoded at the sink: every span arrives, well formed. The
    // flush returns after the last answer, which comes after its body was decoded.
    sink.decode.store(true, Ordering::Release);
    queue(&dispatch);
    guard.flush(Duration::from_secs(60)).unwrap();
    let decoded = sink.decoded_spans.load(Ordering::Relaxed);
    let errors = sink.decode_errors.load(Ordering::Relaxed);
    println!(
        "otlp check round: {SPANS} spans, the sink decoded {decoded} ({errors} decode errors); {} requests in all",
        guard.stats().packets_sent
    );
    assert_eq!((decoded, errors), (SPANS, 0));
}

/// Saturation: two producer threads create spans as fast as they can through the default
/// queue (16384). Reports ns per span, and checks and prints the accounting (created =
/// delivered + counted drops). Peak memory: `benches/saturation.rs`.
fn saturated(c: &mut Criterion) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let endpoint = sink.local_addr().unwrap().to_string();
    let (layer, guard) =
        JaegerLayer::builder().service_name("bench").agent_endpoint(endpoint).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let mut group = c.benchmark_group("saturated");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2 * SATURATING_SPANS));
    group.bench_function("two_producers_default_queue", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::thread::scope(|scope| {
                    for _ in 0..2 {
                        let dispatch = dispatch.clone();
                        scope.spawn(move || {
                            tracing::dispatcher::with_default(&dispatch, || {
                                for i in 0..SATURATING_SPANS {
                                    let span = tracing::info_span!(
                                        "checkout",
                                        order = i as i64,
                                        user = "ada",
                                        paid = true
                                    );
                                    let _g = span.enter();
                                }
                            })
                        });
                    }
                });
            }
            start.elapsed()
        })
    });
    group.finish();
    guard.flush(Duration::from_secs(30)).unwrap();
    let s = guard.stats();
    let lost = s.spans_dropped_queue_full + s.spans_dropped_too_large + s.spans_failed;
    assert_eq!(s.spans_finished, s.spans_exported + lost, "{s:?}");
    println!(
        "saturated: created {} = exported {} + dropped {} ({:.1}% delivered)",
        s.spans_finished,
        s.spans_exported,
        lost,
        100.0 * s.spans_exported as f64 / s.spans_finished.max(1) as f64,
    );
    drop(sink);
}

criterion_group!(benches, exporter, exporter_otlp, saturated);
criterion_main!(benches);
