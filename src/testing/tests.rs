//! `Spans` look-ups and tree assertions on hand-made spans. The same code on spans that went
//! through the layer is tested in `tests/testing.rs`.

use super::*;
use crate::span::id::TraceId;
use crate::test_support::fixtures::received_span as span;

#[test]
fn spans_find_by_name_parent_children_and_roots() {
    let spans = Spans::new(vec![
        span(1, 2, 1, "child", 20, 1),
        span(1, 1, 0, "root", 10, 100),
        span(1, 3, 1, "child", 15, 1),
        span(1, 4, 99, "remote-child", 30, 1),
    ]);
    assert_eq!(spans.by_name("child").unwrap().span_id, 3, "earliest start first");
    assert_eq!(spans.all_named("child").iter().map(|s| s.span_id).collect::<Vec<_>>(), [3, 2]);
    let root = spans.by_name("root").unwrap();
    assert_eq!(spans.children_of(root).len(), 2);
    assert_eq!(spans.parent_of(spans.by_name("child").unwrap()).unwrap().span_id, 1);
    assert!(spans.parent_of(root).is_none());
    assert_eq!(spans.roots().iter().map(|s| s.span_id).collect::<Vec<_>>(), [1, 4]);
    assert!(spans.root().is_none(), "two roots: no single root");
    assert_eq!(spans.trace_ids(), [TraceId::new(0, 1)]);
    assert!(spans.by_name("missing").is_none());
    assert_eq!(spans.tag("root", "anything"), None);
}

#[test]
fn assert_tree_ignores_the_common_indentation() {
    let spans = Spans::new(vec![span(1, 1, 0, "root", 0, 10), span(1, 2, 1, "child", 1, 1)]);
    spans.assert_tree(
        "
        root
          child
        ",
    );
    spans.assert_tree("root\n  child\n");
    let failure = std::panic::catch_unwind(|| spans.assert_tree("root\nchild\n")).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(message.contains("--- expected\nroot\nchild\n--- actual\nroot\n  child\n"), "{message}");
}

// === OTLP ===

/// Posts an OTLP body to the agent, returns the HTTP status.
fn post_otlp(agent: &TestAgent, body: &[u8]) -> u16 {
    let agent_config = ureq::Agent::config_builder().http_status_as_error(false).build();
    ureq::Agent::new_with_config(agent_config)
        .post(format!("{}/v1/traces", agent.otlp_endpoint()))
        .content_type("application/x-protobuf")
        .send(body)
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn spans_over_udp_and_otlp_are_one_collection() {
    use crate::receiver::otlp::tests::{body, span as otlp_span};
    use tracing_subscriber::prelude::*;

    let agent = TestAgent::start();
    assert!(agent.otlp_endpoint().starts_with("http://127.0.0.1:"));
    assert_ne!(agent.otlp_endpoint(), format!("http://{}", agent.endpoint()), "a port of its own");
    let (layer, guard) = agent.layer_builder("udp-service").build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("root").in_scope(|| {});
    });
    guard.flush(Duration::from_secs(5)).unwrap();
    let root = agent.wait_for(1, Duration::from_secs(5)).into_vec().remove(0);

    // An OTLP service continues the trace under the UDP span.
    let mut child = otlp_span("otlp-child", 7, root.span_id, 0, 1);
    let id = root.trace_id.to_u128().to_be_bytes();
    child.trace_id = id.to_vec();
    child.start_time_unix_nano = u64::try_from(root.start_time_us).unwrap() * 1000 + 1000;
    let mut grandchild = otlp_span("otlp-grandchild", 8, 7, 0, 1);
    grandchild.trace_id = id.to_vec();
    grandchild.start_time_unix_nano = child.start_time_unix_nano + 1000;
    assert_eq!(post_otlp(&agent, &body("otlp-service", vec![child, grandchild])), 200);

    let spans = agent.wait_for(3, Duration::from_secs(5));
    spans.assert_tree(
        "
        root
          otlp-child
            otlp-grandchild
        ",
    );
    assert_eq!(spans.by_name("otlp-child").unwrap().service_name, "otlp-service");
    assert_eq!(spans.by_name("root").unwrap().service_name, "udp-service");
    assert_eq!(spans.iter().map(|s| s.operation_name.as_str()).collect::<Vec<_>>()[0], "root", "UDP first");
    assert_eq!(agent.otlp_receiver().spans().len(), 2);
    assert_eq!(agent.receiver().spans().len(), 1);
}

#[test]
fn wait_for_wakes_on_an_otlp_arrival_and_reports_otlp_decode_errors() {
    use crate::receiver::otlp::tests::{body, span as otlp_span};

    let agent = TestAgent::start();
    std::thread::scope(|scope| {
        scope.spawn(|| assert_eq!(post_otlp(&agent, &body("svc", vec![otlp_span("a", 1, 0, 0, 1)])), 200));
        let started = std::time::Instant::now();
        assert_eq!(agent.wait_for(1, Duration::from_secs(30)).len(), 1);
        assert!(started.elapsed() < Duration::from_secs(10));
    });
    assert_eq!(post_otlp(&agent, b"\x0a\x05\x01"), 400);
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        agent.wait_for(2, Duration::from_millis(50))
    }))
    .unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("received 1 (0 undecodable datagrams, 1 undecodable OTLP requests)"),
        "{message}"
    );
}
