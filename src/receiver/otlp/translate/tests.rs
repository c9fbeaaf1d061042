use prost::Message as _;

use super::*;
use crate::receiver::otlp::proto::*;
use crate::receiver::otlp::tests::{body, kv, request, s, span, TRACE};

fn decode_one(req: &ExportTraceServiceRequest) -> ReceivedBatch {
    let mut batches = decode_otlp(&req.encode_to_vec()).unwrap();
    assert_eq!(batches.len(), 1);
    batches.remove(0)
}

#[test]
fn resource_becomes_the_process_and_ids_split_big_endian() {
    let mut req = request("svc", vec![span("op", 0x0102_0304_0506_0708, 0, 1_500, 250)]);
    let resource = req.resource_spans[0].resource.as_mut().unwrap();
    resource.attributes.insert(0, kv("host.name", s("box")));
    resource.attributes.push(kv("pid", Value::IntValue(42)));
    let batch = decode_one(&req);
    assert_eq!(batch.process.service_name, "svc");
    assert_eq!(batch.process.tags, [Tag::new("host.name", "box"), Tag::new("pid", 42i64)]);
    assert_eq!((batch.seq_no, batch.stats, batch.message_seqid), (None, None, None));
    let span = &batch.spans[0];
    assert_eq!(span.trace_id, TraceId::new(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10));
    assert_eq!(span.span_id, 0x0102_0304_0506_0708);
    assert_eq!((span.parent_id, span.references.as_slice()), (0, &[][..]));
    assert_eq!((span.start_time_us, span.duration_us), (1_500, 250));
    assert_eq!(span.flags, 1, "bit 0 is sampled; the is-remote bits are not flags");
    assert_eq!(span.service_name, "svc");
    assert_eq!(span.operation_name, "op");
    assert!(span.tags.is_empty() && span.logs.is_empty());
}

#[test]
fn a_resource_without_attributes_has_jaegers_placeholder_name() {
    let mut req = request("svc", vec![span("op", 1, 0, 0, 1)]);
    req.resource_spans[0].resource = None;
    assert_eq!(decode_one(&req).process.service_name, NO_SERVICE_NAME);
    req.resource_spans[0].resource =
        Some(Resource { attributes: vec![kv("service.name", Value::IntValue(1))] });
    assert_eq!(decode_one(&req).process.service_name, "", "not a string: pdata's Str() is empty");
    // Nothing in a ResourceSpans at all: no batch.
    req.resource_spans.push(ResourceSpans::default());
    assert_eq!(decode_otlp(&req.encode_to_vec()).unwrap().len(), 1);
    assert!(decode_otlp(&[]).unwrap().is_empty(), "an empty request is valid");
}

#[test]
fn tags_in_jaegers_order_scope_attributes_kind_status_tracestate() {
    let mut sp = span("op", 1, 0, 0, 1);
    sp.attributes = vec![
        kv("str", s("v")),
        kv("int", Value::IntValue(-7)),
        kv("bool", Value::BoolValue(true)),
        kv("double", Value::DoubleValue(0.5)),
        kv("bytes", Value::BytesValue(vec![0, 255])),
        KeyValue { key: "empty".into(), value: None, key_strindex: 0 },
    ];
    sp.kind = 2;
    sp.status = Some(Status { code: 2, message: "boom".into() });
    sp.trace_state = "vendor=x".into();
    let mut req = request("svc", vec![sp]);
    req.resource_spans[0].scope_spans[0].scope =
        Some(InstrumentationScope { name: "lib".into(), version: "1.2".into() });
    let span = &decode_one(&req).spans[0];
    assert_eq!(
        span.tags,
        [
            Tag::new("otel.scope.name", "lib"),
            Tag::new("otel.scope.version", "1.2"),
            Tag::new("str", "v"),
            Tag::new("int", -7i64),
            Tag::new("bool", true),
            Tag::new("double", 0.5),
            Tag { key: "bytes".into(), value: TagValue::Binary(vec![0, 255]) },
            Tag::new("empty", ""),
            Tag::new("span.kind", "server"),
            Tag::new("otel.status_code", "ERROR"),
            Tag::new("error", true),
            Tag::new("otel.status_description", "boom"),
            Tag::new("w3c.tracestate", "vendor=x"),
        ]
    );
}

#[test]
fn every_kind_and_status() {
    let kind = |v: &'static str| vec![Tag::new("span.kind", v)];
    let cases = [
        (0, 0, vec![]),
        (1, 0, kind("internal")),
        (3, 0, kind("client")),
        (4, 0, kind("producer")),
        (5, 0, kind("consumer")),
        (9, 0, vec![]),
        (0, 1, vec![Tag::new("otel.status_code", "OK")]),
        (0, 7, vec![]),
    ];
    for (kind, code, expected) in cases {
        let mut sp = span("op", 1, 0, 0, 1);
        sp.kind = kind;
        sp.status = Some(Status { code, message: String::new() });
        let tags = decode_one(&request("svc", vec![sp])).spans.remove(0).tags;
        assert_eq!(tags, expected, "kind {kind} code {code}");
    }
}

#[test]
fn arrays_and_maps_are_json_strings() {
    let array = Value::ArrayValue(ArrayValue {
        values: vec![
            AnyValue { value: Some(s("a")) },
            AnyValue { value: Some(Value::IntValue(1)) },
            AnyValue { value: Some(Value::DoubleValue(2.0)) },
            AnyValue { value: Some(Value::DoubleValue(2.5)) },
            AnyValue { value: Some(Value::BoolValue(false)) },
            AnyValue { value: Some(Value::BytesValue(b"hi".to_vec())) },
            AnyValue { value: None },
        ],
    });
    let map = Value::KvlistValue(KeyValueList {
        values: vec![
            kv("z", s("last")),
            kv("a", Value::ArrayValue(ArrayValue::default())),
            kv("z", s("wins")),
        ],
    });
    let mut sp = span("op", 1, 0, 0, 1);
    sp.attributes = vec![kv("arr", array), kv("map", map)];
    let span = &decode_one(&request("svc", vec![sp])).spans[0];
    assert_eq!(span.tag("arr"), Some(&TagValue::from(r#"["a",1,2,2.5,false,"aGk=",null]"#)));
    assert_eq!(span.tag("map"), Some(&TagValue::from(r#"{"a":[],"z":"wins"}"#)));
}

#[test]
fn parent_and_links_become_references() {
    let link = |trace: [u8; 16], id: u64, attrs: Vec<KeyValue>| Link {
        trace_id: trace.to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        attributes: attrs,
        ..Link::default()
    };
    let mut other = TRACE;
    other[0] = 0xff;
    let mut sp = span("op", 2, 1, 0, 1);
    sp.links = vec![
        link(other, 5, vec![]),
        link(TRACE, 6, vec![kv("opentracing.ref_type", s("child_of"))]),
        link(TRACE, 7, vec![kv("opentracing.ref_type", s("follows_from"))]),
    ];
    let span = decode_one(&request("svc", vec![sp.clone()])).spans.remove(0);
    let t = TraceId::new(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10);
    let t_other = TraceId::new(0xff02_0304_0506_0708, 0x090a_0b0c_0d0e_0f10);
    assert_eq!(span.parent_id, 1);
    assert_eq!(
        span.references,
        [
            SpanRef { ref_type: RefType::ChildOf, trace_id: t, span_id: 1 },
            SpanRef { ref_type: RefType::FollowsFrom, trace_id: t_other, span_id: 5 },
            SpanRef { ref_type: RefType::ChildOf, trace_id: t, span_id: 6 },
            SpanRef { ref_type: RefType::FollowsFrom, trace_id: t, span_id: 7 },
        ]
    );
    // A link to the parent retypes the parent reference instead of adding one.
    sp.links = vec![link(TRACE, 1, vec![])];
    let span = decode_one(&request("svc", vec![sp])).spans.remove(0);
    assert_eq!(span.references, [SpanRef { ref_type: RefType::FollowsFrom, trace_id: t, span_id: 1 }]);
}

#[test]
fn events_become_logs_named_by_an_event_field() {
    let mut sp = span("op", 1, 0, 0, 10);
    sp.events = vec![
        Event {
            time_unix_nano: 3_999,
            name: "started".into(),
            attributes: vec![kv("n", Value::IntValue(1))],
        },
        Event { time_unix_nano: 5_000, name: "ignored".into(), attributes: vec![kv("event", s("mine"))] },
        Event { time_unix_nano: 6_000, name: String::new(), attributes: vec![] },
    ];
    let logs = decode_one(&request("svc", vec![sp])).spans.remove(0).logs;
    assert_eq!(
        logs,
        [
            Log { timestamp_us: 3, fields: vec![Tag::new("event", "started"), Tag::new("n", 1i64)] },
            Log { timestamp_us: 5, fields: vec![Tag::new("event", "mine")] },
            Log { timestamp_us: 6, fields: vec![] },
        ]
    );
}

#[test]
fn invalid_ids_are_decode_errors() {
    type Spoil = fn(&mut Span);
    let cases: [(&str, Spoil); 7] = [
        ("Span.trace_id has 8 bytes, expected 16", |s| s.trace_id.truncate(8)),
        ("Span.trace_id has 0 bytes", |s| s.trace_id.clear()),
        ("Span.trace_id is all zeros", |s| s.trace_id = vec![0; 16]),
        ("Span.span_id has 16 bytes, expected 8", |s| s.span_id = vec![1; 16]),
        ("Span.span_id is all zeros", |s| s.span_id = vec![0; 8]),
        ("Span.parent_span_id has 4 bytes", |s| s.parent_span_id = vec![1; 4]),
        ("Link.span_id has 7 bytes", |s| {
            s.links = vec![Link { trace_id: TRACE.to_vec(), span_id: vec![1; 7], ..Link::default() }]
        }),
    ];
    for (expected, spoil) in cases {
        let mut sp = span("op", 1, 0, 0, 1);
        spoil(&mut sp);
        let e = decode_otlp(&body("svc", vec![sp])).unwrap_err();
        assert!(e.to_string().contains(expected), "{e} does not say {expected:?}");
    }
    // An all-zero parent is no parent (as Jaeger reads it).
    let mut sp = span("op", 1, 0, 0, 1);
    sp.parent_span_id = vec![0; 8];
    assert_eq!(decode_otlp(&body("svc", vec![sp])).unwrap()[0].spans[0].parent_id, 0);
}

#[test]
fn malformed_protobuf_is_an_error_and_the_alpha_fields_are_ignored() {
    assert!(decode_otlp(&[0x0a, 0x05, 0x01]).is_err(), "truncated");
    assert!(decode_otlp(b"{\"resourceSpans\": []}").is_err(), "JSON is not protobuf");
    let mut sp = span("op", 1, 0, 0, 1);
    sp.attributes = vec![KeyValue {
        key: "k".into(),
        value: Some(AnyValue { value: Some(Value::StringValueStrindex(3)) }),
        key_strindex: 9,
    }];
    let span = decode_otlp(&body("svc", vec![sp])).unwrap().remove(0).spans.remove(0);
    assert_eq!(span.tags, [Tag::new("k", "")]);
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let mut sp = span("op", 1, 2, 0, 1);
    sp.attributes = vec![kv("a", s("b")), kv("n", Value::IntValue(1))];
    sp.events = vec![Event { time_unix_nano: 1, name: "e".into(), attributes: vec![kv("x", s("y"))] }];
    let valid = body("svc", vec![sp]);
    let mut runner = TestRunner::new(Config { cases: 2_000, failure_persistence: None, ..Config::default() });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..200), |bytes| {
            let _ = decode_otlp(&bytes);
            Ok(())
        })
        .unwrap();
    runner
        .run(&(0..valid.len(), any::<u8>(), 0..valid.len()), |(at, byte, cut)| {
            let mut b = valid.clone();
            b[at] = byte;
            let _ = decode_otlp(&b);
            let _ = decode_otlp(&b[..cut]);
            Ok(())
        })
        .unwrap();
}
