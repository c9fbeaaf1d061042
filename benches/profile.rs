//! Instruction counts per span on the application thread, for callgrind (stable where
//! wall-clock benches on shared 2-core machines are not). Each case runs `ROUNDS` × 1,000
//! units under its subscriber inside `#[inline(never)] fn measured`, and callgrind counts
//! only inside that function, on the application thread (the exporter thread runs
//! elsewhere and is not counted; the exporter is flushed between rounds, outside it).
//!
//! Run (release, with debug info for the function names):
//! ```text
//! cargo bench -p jaeger-layer-benches --bench profile --no-run
//! valgrind --tool=callgrind --toggle-collect='profile::measured' \
//!     target/release/deps/profile-<hash> sampled_a
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! ```
//! Cases: `floor_a`, `unsampled_a`, `sampled_a` (workload a: a root span with 3 fields),
//! `sampled_a_event` (the same span with one 2-field event: its difference from `sampled_a`
//! is the cost of an event), `floor_a_event`; `minimal_a`, `minimal_a_event`: the ablation
//! layer of `support/minimal.rs` (the least a layer exporting every span does). Prints the units run; Ir / units is the cost.
//! Exporter-thread cases, the encode-and-batch step alone (no socket), toggled on
//! `profile::encoded`: `encode_compact` (Thrift, UDP agent), `encode_otlp`. `bytes_a` (not for
//! callgrind) prints the bytes per span on the wire with and without the metadata tags.

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::Duration;

use jaeger_layer::Sampler;
use tracing::Dispatch;

mod support;
use support::{floor, ours};

const ROUNDS: u64 = 10;
const PER_ROUND: u64 = 1_000;

fn span_a(i: u64) {
    let span = tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
    let _g = span.enter();
    black_box(&span);
}

fn span_a_event(i: u64) {
    let span = tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
    let _g = span.enter();
    tracing::info!(item = i as i64, ok = true, "added to cart");
    black_box(&span);
}

/// What callgrind counts: `n` units of `unit` under `dispatch`.
#[inline(never)]
fn measured(dispatch: &Dispatch, from: u64, n: u64, unit: fn(u64)) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in from..from + n {
            unit(black_box(i));
        }
    });
}

/// What callgrind counts for the exporter cases: `rounds` runs of `run`.
#[inline(never)]
fn encoded(rounds: u64, mut run: impl FnMut() -> usize) -> usize {
    (0..rounds).map(|_| run()).sum()
}

fn metadata() -> &'static tracing::Metadata<'static> {
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        tracing::info_span!("checkout", order = 1i64, user = "ada", paid = true).metadata()
    })
    .expect("the registry enables the span")
}

fn main() {
    // `cargo bench` passes `--bench` (and criterion-style flags): not case names.
    let case = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_else(|| "sampled_a".into());
    if let Some(wire) = case.strip_prefix("encode_") {
        use jaeger_layer::__bench::{OtlpWorkload, Workload};
        let bytes = match wire {
            "compact" => {
                let mut w = Workload::root_spans(PER_ROUND as usize, metadata(), true);
                w.run();
                encoded(ROUNDS, || w.run())
            }
            "otlp" => {
                let mut w = OtlpWorkload::root_spans(PER_ROUND as usize, metadata());
                w.run();
                encoded(ROUNDS, || w.run())
            }
            other => panic!("unknown case encode_{other}"),
        };
        println!(
            "{case}: {} units, {} bytes per span",
            ROUNDS * PER_ROUND,
            bytes as u64 / (ROUNDS * PER_ROUND)
        );
        return;
    }
    if case == "bytes_a" {
        bytes_per_span();
        return;
    }
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut minimal = None;
    let (dispatch, guard) = match case.as_str() {
        "floor_a" | "floor_a_event" => (floor(), None),
        "minimal_a" | "minimal_a_event" => {
            use tracing_subscriber::prelude::*;
            let (layer, consumer) = support::minimal::MinimalExporter::start();
            minimal = Some(consumer);
            (Dispatch::new(tracing_subscriber::Registry::default().with(layer)), None)
        }
        "unsampled_a" => {
            let (d, g) = ours(Sampler::never(), &sink);
            (d, Some(g))
        }
        "sampled_a" | "sampled_a_event" => {
            let (d, g) = ours(Sampler::always(), &sink);
            (d, Some(g))
        }
        other => panic!("unknown case {other}"),
    };
    let unit: fn(u64) = if case.ends_with("_event") { span_a_event } else { span_a };
    // One untimed round first, so pools and caches are warm as in steady state.
    measured_warm(&dispatch, unit);
    let settle = |guard: &Option<jaeger_layer::ExporterGuard>| {
        if let Some(g) = guard {
            let _ = g.flush(Duration::from_secs(10));
        }
        // The ablation layer's records go back to its pool between rounds, as ours do.
        if let Some(c) = &minimal {
            c.drain();
        }
    };
    settle(&guard);
    for r in 0..ROUNDS {
        measured(&dispatch, r * PER_ROUND, PER_ROUND, unit);
        settle(&guard);
    }
    if let Some(g) = &guard {
        let s = g.stats();
        assert_eq!(s.spans_dropped_queue_full, 0, "{s:?}");
    }
    println!("{case}: {} units", ROUNDS * PER_ROUND);
}

/// Not a callgrind case: the bytes per span of workload a) on the wire to the agent, from
/// the datagrams a loopback socket receives, with the metadata tags (`code.*`, `level`) on
/// (the default) and off, and with 64-bit trace ids.
fn bytes_per_span() {
    use jaeger_layer::JaegerLayer;
    use tracing_subscriber::prelude::*;
    type Setting = fn(jaeger_layer::Builder) -> jaeger_layer::Builder;
    let settings: [(&str, Setting); 3] = [
        ("defaults", |b| b),
        ("metadata_tags(false)", |b| b.metadata_tags(false)),
        ("metadata_tags(false), 64-bit trace ids", |b| b.metadata_tags(false).trace_id_128bit(false)),
    ];
    for (name, setting) in settings {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Room for every datagram of the round (they are read after the flush).
        let _ = socket2::SockRef::from(&sink).set_recv_buffer_size(4 << 20);
        let builder = JaegerLayer::builder()
            .service_name("bench")
            .agent_endpoint(sink.local_addr().unwrap().to_string())
            .sampler(Sampler::always());
        let (layer, guard) = setting(builder).build().unwrap();
        let dispatch = Dispatch::new(tracing_subscriber::Registry::default().with(layer));
        tracing::dispatcher::with_default(&dispatch, || (0..PER_ROUND).for_each(span_a));
        guard.flush(Duration::from_secs(10)).unwrap();
        let (mut buf, mut bytes, mut datagrams, mut spans) = (vec![0u8; 65_536], 0, 0, 0u64);
        sink.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        while let Ok(n) = sink.recv(&mut buf) {
            let batch = jaeger_layer::receiver::decode_datagram(&buf[..n]).expect("a well-formed datagram");
            spans += batch.spans.len() as u64;
            bytes += n;
            datagrams += 1;
        }
        println!(
            "{name}: {} bytes per span ({datagrams} datagrams, envelope included)",
            bytes as u64 / spans.max(1)
        );
        assert_eq!(spans, PER_ROUND, "every span arrives");
    }
}

#[inline(never)]
fn measured_warm(dispatch: &Dispatch, unit: fn(u64)) {
    tracing::dispatcher::with_default(dispatch, || (0..PER_ROUND).for_each(unit));
}
