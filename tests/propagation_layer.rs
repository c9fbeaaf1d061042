//! Propagation through the layer: inject from one span, extract into another, in every
//! format, and what happens with bad headers.

mod support;

use std::collections::HashMap;

use jaeger_layer::{
    ExtractErrorKind, HttpHeaders, JaegerSpanExt, Propagator, SetParentFromError, TagValue, TraceId,
};
use support::{by_name, render, Harness};
use tracing::{info_span, instrument, Span};

#[instrument(skip(headers))]
fn server(headers: &HashMap<String, String>) -> Option<String> {
    let result = Span::current().set_parent_from(&HttpHeaders(headers));
    info_span!("db_query").in_scope(|| {});
    Span::current().baggage_item("tenant").or_else(|| result.err().map(|e| e.to_string()))
}

fn client_then_server(
    propagator: Propagator,
) -> (Vec<jaeger_layer::receiver::ReceivedSpan>, HashMap<String, String>) {
    let h = Harness::with(|b| b.propagator(propagator));
    let headers = h.run(|| {
        let client = info_span!("client_call");
        client.set_baggage_item("tenant", "acme corp/eu");
        // HTTP headers in a HashMap: baggage values go out URL-encoded.
        let mut headers = HashMap::new();
        client.inject(&mut HttpHeaders(&mut headers));
        client.in_scope(|| {}); // the client span closes after the call in real code
        let tenant = server(&headers);
        assert_eq!(tenant.as_deref(), Some("acme corp/eu"), "baggage crossed the boundary");
        headers
    });
    (h.spans(3), headers)
}

#[test]
fn jaeger_w3c_and_b3_carry_one_trace_across_the_boundary() {
    for (name, propagator, header) in [
        ("jaeger", Propagator::jaeger(), "uber-trace-id"),
        ("w3c", Propagator::w3c(), "traceparent"),
        ("b3", Propagator::b3(), "x-b3-traceid"),
        ("b3 single", Propagator::b3_single(), "b3"),
        ("composite", Propagator::composite([Propagator::w3c(), Propagator::jaeger()]), "traceparent"),
    ] {
        let (spans, headers) = client_then_server(propagator);
        assert!(headers.contains_key(header), "{name}: {headers:?}");
        assert_eq!(render(&spans), "client_call\n  server\n    db_query\n", "{name}");
        let (client, server) = (by_name(&spans, "client_call"), by_name(&spans, "server"));
        assert_eq!(server.trace_id, client.trace_id, "{name}");
        assert_eq!(server.parent_id, client.span_id, "{name}");
        assert_eq!(by_name(&spans, "db_query").trace_id, client.trace_id, "{name}");
    }
}

#[test]
fn jaeger_headers_have_the_documented_form() {
    let (spans, headers) = client_then_server(Propagator::jaeger());
    let client = by_name(&spans, "client_call");
    let expected = format!("{}:{:016x}:0000000000000000:1", client.trace_id, client.span_id);
    assert_eq!(headers["uber-trace-id"], expected);
    assert_eq!(headers["uberctx-tenant"], "acme%20corp%2Feu");
}

#[test]
fn a_malformed_header_leaves_a_counted_new_root() {
    let h = Harness::new();
    let err = h.run(|| {
        let headers = HashMap::from([("uber-trace-id".to_owned(), "not:a:trace".to_owned())]);
        let span = info_span!("handler");
        let err = span.set_parent_from(&headers).unwrap_err();
        span.in_scope(|| {});
        err
    });
    match &err {
        SetParentFromError::Extract(e) => assert_eq!(e.kind(), ExtractErrorKind::Corrupt),
        other => panic!("{other:?}"),
    }
    let spans = h.spans(1);
    assert_eq!(spans[0].parent_id, 0, "the span stayed a root of its own trace");
    assert_eq!(h.guard.stats().span_context_decoding_errors, 1);
}

#[test]
fn no_header_is_not_an_error() {
    let h = Harness::new();
    h.run(|| {
        let span = info_span!("handler");
        span.set_parent_from(&HashMap::new()).unwrap();
        span.in_scope(|| {});
    });
    assert_eq!(h.spans(1)[0].parent_id, 0);
    assert_eq!(h.guard.stats().span_context_decoding_errors, 0);
}

#[test]
fn an_unsampled_client_propagates_its_decision() {
    let h = Harness::with(|b| b.sampler(jaeger_layer::Sampler::never()));
    let headers = h.run(|| {
        let mut headers = HashMap::new();
        info_span!("client").in_scope(|| Span::current().inject(&mut headers));
        headers
    });
    let value = &headers["uber-trace-id"];
    assert!(value.ends_with(":0"), "flags 0: not sampled: {value}");
    // Downstream, a service that samples everything still follows the upstream "no".
    let downstream = Harness::new();
    downstream.run(|| server(&headers));
    downstream.guard.flush(support::WAIT).unwrap();
    assert_eq!(downstream.guard.stats().spans_finished, 0);
    let parsed: jaeger_layer::SpanContext = value.parse().unwrap();
    assert_ne!(parsed.trace_id(), TraceId::default());
}

#[test]
fn an_empty_baggage_value_removes_the_item() {
    // jaeger-client-go: `SetBaggageItem(k, "")` deletes `k` (`span_context.go`
    // WithBaggageItem) and a sampled span still logs the update (`baggage_setter.go`).
    let h = Harness::new();
    let (headers, child_sees) = h.run(|| {
        let span = info_span!("client");
        span.set_baggage_item("tenant", "acme");
        span.set_baggage_item("user", "ada");
        span.set_baggage_item("tenant", "");
        span.set_baggage_item("never-set", "");
        assert_eq!(span.baggage_item("tenant"), None);
        let mut headers = HashMap::new();
        span.inject(&mut headers);
        let child_sees = span.in_scope(|| info_span!("child").baggage_item("tenant"));
        (headers, child_sees)
    });
    assert_eq!(child_sees, None);
    assert!(!headers.contains_key("uberctx-tenant"), "{headers:?}");
    assert_eq!(headers.get("uberctx-user").map(String::as_str), Some("ada"));
    let spans = h.spans(2);
    let logs: Vec<Vec<(String, TagValue)>> = by_name(&spans, "client")
        .logs
        .iter()
        .map(|l| l.fields.iter().map(|f| (f.key.to_string(), f.value.clone())).collect())
        .collect();
    let s = |v: &str| TagValue::String(v.to_owned().into());
    assert_eq!(logs.len(), 4, "{logs:?}");
    assert_eq!(
        logs[2],
        [
            ("event".into(), s("baggage")),
            ("key".into(), s("tenant")),
            ("value".into(), s("")),
            ("override".into(), TagValue::Bool(true)),
        ]
    );
    assert_eq!(
        logs[3],
        [("event".into(), s("baggage")), ("key".into(), s("never-set")), ("value".into(), s(""))]
    );
}
