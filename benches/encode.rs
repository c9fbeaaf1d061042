//! Exporter-thread throughput: spans/s through the encode-and-batch step (the `Batcher`
//! with `thrift::writer`), no socket. The headline workload is a root span with 3 fields,
//! sampler and metadata tags (~260 bytes compact); the target is >= 1.5 M spans/s on one
//! thread.
//!
//! The `otlp` group encodes the same spans into OTLP `ExportTraceServiceRequest`s (512 spans
//! each) twice: with the exporter's own encoder, and with the usual way as the baseline
//! (`opentelemetry-proto` structs, `prost::Message::encode` into a reused buffer), after
//! checking that both ways decode to the same requests.
//!
//! Run: `cargo bench -p jaeger-layer-benches --bench encode`. The old `thrift`-crate encoder
//! is test-only now; the in-run old/new comparison is `cargo test --release --features
//! receiver --lib bench_encode -- --ignored --nocapture`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jaeger_layer::__bench::{OtlpWorkload, Workload};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fn metadata() -> &'static tracing::Metadata<'static> {
    let registry = tracing_subscriber::registry();
    tracing::subscriber::with_default(registry, || {
        tracing::info_span!("checkout", order = 1i64, user = "ada", paid = true).metadata()
    })
    .expect("the registry enables the span")
}

fn encode(c: &mut Criterion) {
    let meta = metadata();
    let mut group = c.benchmark_group("encode");
    for (name, compact) in [("compact", true), ("binary", false)] {
        let mut w = Workload::root_spans(1_000, meta, compact);
        group.throughput(Throughput::Elements(w.len() as u64));
        group.bench_function(format!("root_span_3_fields_sampler_metadata/{name}"), |b| b.iter(|| w.run()));
    }
    group.finish();
}

fn otlp(c: &mut Criterion) {
    let mut w = OtlpWorkload::root_spans(1_000, metadata());
    let (ours, theirs) = w.bodies();
    let decode = |bodies: &[Vec<u8>]| -> Vec<ExportTraceServiceRequest> {
        bodies.iter().map(|b| ExportTraceServiceRequest::decode(&b[..]).expect("decodes")).collect()
    };
    let decoded = decode(&ours);
    assert_eq!(decoded, decode(&theirs), "both ways build the same requests");
    let spans: usize = decoded
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    assert_eq!(spans, w.len());
    println!(
        "otlp: {} spans in {} requests, {} bytes (ours) / {} bytes (prost)",
        w.len(),
        ours.len(),
        ours.iter().map(Vec::len).sum::<usize>(),
        theirs.iter().map(Vec::len).sum::<usize>()
    );
    let mut group = c.benchmark_group("otlp");
    group.throughput(Throughput::Elements(w.len() as u64));
    group.bench_function("root_span_3_fields_sampler_metadata/ours", |b| b.iter(|| w.run()));
    group.bench_function("root_span_3_fields_sampler_metadata/prost", |b| b.iter(|| w.run_prost()));
    group.finish();
}

criterion_group!(benches, encode, otlp);
criterion_main!(benches);
