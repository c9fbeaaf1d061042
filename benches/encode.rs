//! Exporter-thread throughput: spans/s through the encode-and-batch step (the `Batcher`
//! with `thrift::writer`), no socket. The headline workload is a root span with 3 fields,
//! sampler and metadata tags (~260 bytes compact); the target is >= 1.5 M spans/s on one
//! thread.
//!
//! Run: `cargo bench -p jaeger-layer-benches --bench encode`. The old `thrift`-crate encoder
//! is test-only now; the in-run old/new comparison is `cargo test --release --features
//! receiver --lib bench_encode -- --ignored --nocapture`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jaeger_layer::__bench::Workload;

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

criterion_group!(benches, encode);
criterion_main!(benches);
