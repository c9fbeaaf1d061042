//! The layer over OTLP/HTTP end to end: `Builder::otlp_endpoint` to the loopback OTLP
//! receiver of `testing::TestAgent`, and to the Python `opentelemetry-proto` decoder.

use std::time::Duration;

use jaeger_layer::testing::TestAgent;
use jaeger_layer::TagValue;
use tracing::info_span;
use tracing_subscriber::prelude::*;

#[test]
fn spans_sent_over_otlp_arrive_with_their_tree_tags_status_and_logs() {
    let agent = TestAgent::start();
    let (layer, guard) = agent.otlp_layer_builder("otlp-svc").build().unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let root = info_span!("root", order = 7u64, otel.kind = "server");
        root.in_scope(|| {
            let child = info_span!("child", otel.status_code = "Error", otel.status_message = "boom");
            child.in_scope(|| tracing::info!(n = 1, "working"));
        });
    });
    guard.flush(Duration::from_secs(10)).unwrap();
    let spans = agent.wait_for(2, Duration::from_secs(10));
    let root = spans.by_name("root").expect("root");
    let child = spans.by_name("child").expect("child");
    assert_eq!(root.service_name, "otlp-svc");
    assert_eq!(child.parent_id, root.span_id);
    assert_eq!(child.trace_id, root.trace_id);
    assert_eq!(root.tag("order"), Some(&TagValue::Long(7)));
    assert_eq!(root.tag("span.kind"), Some(&TagValue::String("server".into())));
    assert_eq!(child.tag("error"), Some(&TagValue::Bool(true)));
    assert_eq!(child.tag("otel.status_description"), Some(&TagValue::String("boom".into())));
    assert_eq!(child.logs.len(), 1);
    let s = guard.stats();
    assert_eq!((s.spans_exported, s.packets_sent), (2, 1), "{s:#?}");
    guard.shutdown(Duration::from_secs(10)).unwrap();
}

#[test]
fn a_dead_otlp_endpoint_counts_every_span_as_failed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (layer, guard) = jaeger_layer::JaegerLayer::builder()
        .service_name("svc")
        .otlp_endpoint(format!("http://127.0.0.1:{port}"))
        .otlp_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..5 {
            info_span!("lost").in_scope(|| {});
        }
    });
    guard.flush(Duration::from_secs(10)).unwrap();
    let s = guard.stats();
    assert_eq!((s.spans_failed, s.spans_exported), (5, 0), "{s:#?}");
    assert!(s.is_settled(), "{s:#?}");
}
