//! OTLP/HTTP export, end to end: the layer sends protobuf `ExportTraceServiceRequest`s to
//! `POST {endpoint}/v1/traces`, the way Jaeger v2 and the OpenTelemetry Collector take them.
//!
//! `cargo run --example otlp --features otlp,testing` starts the crate's loopback OTLP
//! receiver (`testing::TestAgent`), exports a small trace to it, prints what arrived and
//! exits non-zero unless it is right. With `OTEL_EXPORTER_OTLP_ENDPOINT` set (e.g.
//! `http://localhost:4318` for a Jaeger v2 all-in-one), it exports there instead and prints
//! the exporter's counters.

use std::time::Duration;

use jaeger_layer::testing::TestAgent;
use jaeger_layer::{JaegerLayer, TagValue};
use tracing::instrument;
use tracing_subscriber::prelude::*;

#[instrument(fields(otel.kind = "server"))]
fn handle(order_id: u64) {
    tracing::info!(order_id, "handling");
    lookup(order_id);
}

#[instrument(fields(otel.status_code = "Error", otel.status_message = "not found"))]
fn lookup(order_id: u64) {
    tracing::warn!("no such order");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let external = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty());
    let agent = TestAgent::start();
    let builder = match &external {
        Some(endpoint) => JaegerLayer::builder().service_name("otlp-example").otlp_endpoint(endpoint.clone()),
        None => agent.otlp_layer_builder("otlp-example"),
    };
    let (layer, guard) = builder.build()?;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || handle(42));
    guard.flush(Duration::from_secs(10))?;
    let stats = guard.stats();
    if let Some(endpoint) = external {
        println!("sent to {endpoint}: {stats:#?}");
        return if stats.spans_exported == 2 { Ok(()) } else { Err("not every span was exported".into()) };
    }
    let spans = agent.wait_for(2, Duration::from_secs(10));
    for s in spans.iter() {
        println!("{} {:016x} parent {:016x} tags {:?}", s.operation_name, s.span_id, s.parent_id, s.tags);
    }
    let (root, child) =
        (spans.by_name("handle").ok_or("no handle span")?, spans.by_name("lookup").ok_or("no lookup span")?);
    let ok = child.parent_id == root.span_id
        && root.tag("span.kind") == Some(&TagValue::String("server".into()))
        && child.tag("error") == Some(&TagValue::Bool(true))
        && stats.spans_exported == 2
        && stats.is_settled();
    guard.shutdown(Duration::from_secs(10))?;
    if ok {
        println!("ok: 2 spans over OTLP/HTTP, parent link, kind and error status as Jaeger shows them");
        Ok(())
    } else {
        Err("the trace received over OTLP is not what was sent".into())
    }
}
