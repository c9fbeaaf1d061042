//! `jaeger_layer::testing` on real spans: through the layer, the exporter thread and UDP to
//! a `TestAgent`, and OTLP/HTTP requests posted to it. Each test installs its subscriber for
//! its own thread only.

use std::collections::HashMap;
use std::time::Duration;

use jaeger_layer::testing::{render_tree, TestAgent};
use jaeger_layer::{JaegerSpanExt, TagValue};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(10);

fn dispatch(agent: &TestAgent, service: &str) -> (Dispatch, jaeger_layer::ExporterGuard) {
    let (layer, guard) = agent.layer_builder(service).build().expect("build layer");
    (Dispatch::new(tracing_subscriber::registry().with(layer)), guard)
}

#[tracing::instrument]
fn checkout(order_id: u64) {
    for item in ["book", "lamp"] {
        reserve(item);
    }
    let parent = tracing::Span::current();
    let d = tracing::dispatcher::get_default(Clone::clone);
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&d, || {
            let _s = tracing::info_span!(parent: &parent, "fraud_check").entered();
            tracing::error!("score too high");
        })
    })
    .join()
    .unwrap();
}

#[tracing::instrument]
fn reserve(item: &str) {
    tracing::info!("reserved");
}

#[test]
fn tree_and_lookups_match_what_the_code_did() {
    let agent = TestAgent::start();
    assert_eq!(agent.endpoint(), agent.receiver().local_addr().to_string());
    let (d, guard) = dispatch(&agent, "shop");
    tracing::dispatcher::with_default(&d, || checkout(7));
    guard.flush(WAIT).unwrap();

    let spans = agent.wait_for(4, WAIT);
    assert_eq!(spans.len(), 4);
    spans.assert_tree(
        "
        checkout
          reserve
          reserve
          fraud_check
        ",
    );
    let root = spans.root().expect("one root");
    assert_eq!(root.operation_name, "checkout");
    assert_eq!(spans.tag("checkout", "order_id"), Some(&TagValue::Long(7)));
    let kids: Vec<&str> = spans.children_of(root).iter().map(|s| s.operation_name.as_str()).collect();
    assert_eq!(kids, ["reserve", "reserve", "fraud_check"]);
    let reserves = spans.all_named("reserve");
    assert_eq!(reserves[0].tag("item"), Some(&TagValue::from("book")));
    assert_eq!(reserves[1].tag("item"), Some(&TagValue::from("lamp")));
    let fraud = spans.by_name("fraud_check").unwrap();
    assert_eq!(spans.parent_of(fraud).unwrap().span_id, root.span_id);
    assert_eq!(spans.trace_ids(), [root.trace_id]);
    assert!(format!("{spans:?}").contains("checkout\n  reserve\n"));
}

#[test]
fn render_tree_draws_the_real_trace() {
    let agent = TestAgent::start();
    let (d, guard) = dispatch(&agent, "shop");
    tracing::dispatcher::with_default(&d, || checkout(8));
    guard.flush(WAIT).unwrap();
    let spans = agent.wait_for(4, WAIT);

    let out = render_tree(&spans);
    assert_eq!(out, spans.render());
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(&format!("trace {}: 4 spans, 1 service (shop), ", spans[0].trace_id)),
        "{out}"
    );
    let span_lines: Vec<&str> = lines.iter().copied().filter(|l| l.ends_with('|')).collect();
    assert_eq!(span_lines.len(), 4, "{out}");
    assert!(span_lines[0].starts_with("checkout (shop) "));
    // The root covers the whole trace; every other bar is narrower and inside it.
    let bar = |l: &str| l[l.find('|').unwrap() + 1..l.len() - 1].to_owned();
    assert_eq!(bar(span_lines[0]), "█".repeat(40), "{out}");
    for l in &span_lines[1..] {
        assert_eq!(bar(l).chars().count(), 40);
        assert!(bar(l).contains('█'));
    }
    let fraud = span_lines.iter().find(|l| l.contains("fraud_check")).unwrap();
    assert!(fraud.starts_with("  fraud_check (shop) [error]"), "an ERROR event marks the span: {out}");
    assert!(out.contains("log +") && out.contains("message=\"score too high\""), "{out}");
    assert!(out.contains("item=\"lamp\""), "{out}");
    assert!(!out.contains('\x1b'), "no colour: {out:?}");
}

#[test]
fn wait_for_works_without_a_flush() {
    // The preset flush interval (50 ms) moves the spans; the guard is neither flushed nor dropped.
    let agent = TestAgent::start();
    let (d, _guard) = dispatch(&agent, "lazy");
    tracing::dispatcher::with_default(&d, || tracing::info_span!("only").in_scope(|| {}));
    let spans = agent.wait_for(1, WAIT);
    spans.assert_tree("only");
    assert_eq!(spans[0].service_name, "lazy");
}

#[test]
fn wait_for_reports_what_arrived_when_it_times_out() {
    let agent = TestAgent::start();
    let (d, guard) = dispatch(&agent, "short");
    tracing::dispatcher::with_default(&d, || tracing::info_span!("lonely").in_scope(|| {}));
    guard.flush(WAIT).unwrap();
    agent.wait_for(1, WAIT);
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        agent.wait_for(2, Duration::from_millis(50))
    }))
    .unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(message.contains("expected at least 2 spans within 50ms, received 1"), "{message}");
    assert!(message.contains("lonely (short)"), "the message shows the received trace: {message}");
}

#[test]
fn assert_tree_failure_shows_both_trees() {
    let agent = TestAgent::start();
    let (d, guard) = dispatch(&agent, "svc");
    tracing::dispatcher::with_default(&d, || {
        tracing::info_span!("outer").in_scope(|| tracing::info_span!("inner").in_scope(|| {}))
    });
    guard.flush(WAIT).unwrap();
    let spans = agent.wait_for(2, WAIT);
    spans.assert_tree("outer\n  inner\n");
    let failure = std::panic::catch_unwind(|| spans.assert_tree("outer\n  other\n")).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(message.contains("--- expected\nouter\n  other\n--- actual\nouter\n  inner\n"), "{message}");
}

#[test]
fn two_services_join_into_one_tree() {
    let agent = TestAgent::start();
    let (client, client_guard) = dispatch(&agent, "client");
    let (server, server_guard) = dispatch(&agent, "server");
    tracing::dispatcher::with_default(&client, || {
        let call = tracing::info_span!("GET /users").entered();
        let mut headers = HashMap::<String, String>::new();
        call.inject(&mut headers);
        tracing::dispatcher::with_default(&server, || {
            let handler = tracing::info_span!("list_users");
            handler.set_parent_from(&headers).unwrap();
            handler.in_scope(|| tracing::info_span!("query").in_scope(|| {}));
        });
    });
    server_guard.flush(WAIT).unwrap();
    client_guard.flush(WAIT).unwrap();

    let spans = agent.wait_for(3, WAIT);
    assert_eq!(spans.trace_ids().len(), 1, "{}", spans.render());
    spans.assert_tree(
        "
        GET /users
          list_users
            query
        ",
    );
    let handler = spans.by_name("list_users").unwrap();
    assert_eq!(handler.service_name, "server");
    assert_eq!(spans.parent_of(handler).unwrap().service_name, "client");
    assert!(spans.render().contains("3 spans, 2 services (client, server)"), "{}", spans.render());
}

// === OTLP ===

/// A minimal protobuf writer for the OTLP messages the next test posts (field numbers from
/// opentelemetry-proto `trace/v1/trace.proto` and `common/v1/common.proto`).
fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    out.push(number << 3 | 2);
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push(len as u8 | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
}

/// A `Span` with a 16-byte trace id, span id, parent (0: none), name, start and end (ns).
fn otlp_span(trace: u128, id: u64, parent: u64, name: &str, start_ns: u64) -> Vec<u8> {
    let mut s = Vec::new();
    field(&mut s, 1, &trace.to_be_bytes());
    field(&mut s, 2, &id.to_be_bytes());
    if parent != 0 {
        field(&mut s, 4, &parent.to_be_bytes());
    }
    field(&mut s, 5, name.as_bytes());
    s.push(7 << 3 | 1); // fixed64 start_time_unix_nano
    s.extend_from_slice(&start_ns.to_le_bytes());
    s.push(8 << 3 | 1); // fixed64 end_time_unix_nano
    s.extend_from_slice(&(start_ns + 1_000).to_le_bytes());
    s
}

/// An `ExportTraceServiceRequest` of one resource (`service.name` = `service`).
fn otlp_request(service: &str, spans: &[Vec<u8>]) -> Vec<u8> {
    let (mut any, mut kv, mut resource) = (Vec::new(), Vec::new(), Vec::new());
    field(&mut any, 1, service.as_bytes());
    field(&mut kv, 1, b"service.name");
    field(&mut kv, 2, &any);
    field(&mut resource, 1, &kv);
    let mut scope_spans = Vec::new();
    for s in spans {
        field(&mut scope_spans, 2, s);
    }
    let mut resource_spans = Vec::new();
    field(&mut resource_spans, 1, &resource);
    field(&mut resource_spans, 2, &scope_spans);
    let mut request = Vec::new();
    field(&mut request, 1, &resource_spans);
    request
}

#[test]
fn the_same_assertions_hold_for_spans_that_came_over_otlp() {
    let agent = TestAgent::start();
    let (d, guard) = dispatch(&agent, "frontend");
    let mut headers = HashMap::<String, String>::new();
    tracing::dispatcher::with_default(&d, || {
        let span = tracing::info_span!("request");
        span.inject(&mut headers);
    });
    guard.flush(WAIT).unwrap();
    let root = agent.wait_for(1, WAIT).by_name("request").unwrap().clone();

    // Another service, instrumented with an OpenTelemetry SDK, continues the trace over OTLP.
    let trace = root.trace_id.to_u128();
    let start = u64::try_from(root.start_time_us).unwrap() * 1_000;
    let body = otlp_request(
        "backend",
        &[
            otlp_span(trace, 0xb1, root.span_id, "handle", start + 10),
            otlp_span(trace, 0xb2, 0xb1, "query", start + 20),
        ],
    );
    let url = format!("{}/v1/traces", agent.otlp_endpoint());
    let response = ureq::post(&url).content_type("application/x-protobuf").send(&body[..]).unwrap();
    assert_eq!(response.status(), 200);

    let spans = agent.wait_for(3, WAIT);
    spans.assert_tree(
        "
        request
          handle
            query
        ",
    );
    let handle = spans.by_name("handle").unwrap();
    assert_eq!(handle.service_name, "backend");
    assert_eq!(spans.parent_of(handle).unwrap().operation_name, "request");
    assert_eq!(spans.children_of(handle)[0].operation_name, "query");
    assert_eq!(spans.trace_ids().len(), 1);
    assert_eq!(agent.otlp_receiver().requests(), 1);
    assert_eq!(agent.otlp_receiver().batches()[0].process.service_name, "backend");
    assert!(render_tree(&spans).contains("query (backend)"));
}
