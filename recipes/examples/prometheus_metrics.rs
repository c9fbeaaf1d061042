//! The layer's counters on a Prometheus text page (feature `metrics`).
//!
//! `cargo run -p jaeger-layer-recipes --example prometheus_metrics`: installs the
//! `metrics-exporter-prometheus` recorder, exports a burst of spans through a deliberately
//! small queue to a stand-in agent (so that drops show), then prints what a `/metrics` scrape
//! would return.

use std::time::Duration;

use jaeger_layer::receiver::Receiver;
use jaeger_layer::JaegerLayer;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    let agent = Receiver::bind("127.0.0.1:0")?;
    let (layer, guard) = JaegerLayer::builder()
        .service_name("metrics-demo")
        .agent_endpoint(agent.local_addr().to_string())
        .queue_capacity(16)
        .build()?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..10_000u64 {
            tracing::info_span!("request", i).in_scope(|| {});
        }
    });
    guard.flush(Duration::from_secs(5))?;
    let page = handle.render();
    print!("{page}");
    let stats = guard.stats();
    eprintln!("{stats:?}");
    // The page must carry what stats() says: e.g. every exported span.
    let exported = format!("jaeger_tracer_reporter_spans_total{{result=\"ok\"}} {}", stats.spans_exported);
    if !page.lines().any(|l| l == exported) {
        return Err(format!("expected the line {exported:?} on the page").into());
    }
    Ok(())
}
