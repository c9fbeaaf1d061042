//! Differential tests of the OTLP encoder and batcher: every request body is decoded with
//! the `opentelemetry-proto` crate's generated types (prost), never with our own decoder, and
//! compared with what the span should become, written here against those types.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status::StatusCode, Span, Status};
use prost::Message;

use super::batch::OtlpBatcher;
use super::Export;
use crate::export::stats::Counters;
use crate::span::data::{
    FinishedSpan, Log, Process, RefType, SpanRef, Tag, TagValue, FLAG_DEBUG, FLAG_SAMPLED,
};
use crate::span::id::TraceId;
use crate::test_support::fixtures::{real_metadata, Rng, BARE_METADATA};
use crate::thrift::reference::expanded;

fn process() -> Process {
    Process {
        service_name: "svc".into(),
        tags: vec![
            Tag::new("hostname", "box"),
            Tag::new("jaeger.version", "Rust-0.1.0"),
            Tag::new("ip", "10.0.0.1"),
            Tag::new("weight", 3i64),
        ],
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn any(v: &TagValue) -> Value {
    match v {
        TagValue::String(s) => Value::StringValue(s.to_string()),
        TagValue::Double(d) => Value::DoubleValue(*d),
        TagValue::Bool(b) => Value::BoolValue(*b),
        TagValue::Long(l) => Value::IntValue(*l),
        TagValue::Binary(b) => Value::BytesValue(b.clone()),
    }
}

fn id16(t: TraceId) -> Vec<u8> {
    let mut v = t.high.to_be_bytes().to_vec();
    v.extend_from_slice(&t.low.to_be_bytes());
    v
}

/// What `s` must decode to: the Thrift view of the span (`expanded`: sampler, metadata and
/// error tags, the implied CHILD_OF reference) turned into OTLP by the rules of Jaeger's
/// translator, restated here.
fn expected(s: &FinishedSpan) -> Span {
    let e = expanded(s);
    let (mut kind, mut error, mut ok, mut message) = (0, false, false, None::<(String, String)>);
    let mut attributes = Vec::new();
    for t in &e.tags {
        match (&*t.key, &t.value) {
            ("span.kind", TagValue::String(k))
                if ["server", "client", "producer", "consumer", "internal"].contains(&&**k) =>
            {
                kind = match &**k {
                    "internal" => 1,
                    "server" => 2,
                    "client" => 3,
                    "producer" => 4,
                    _ => 5,
                };
                continue;
            }
            ("error", TagValue::Bool(true)) => {
                error = true;
                continue;
            }
            ("otel.status_code", TagValue::String(c)) if c.eq_ignore_ascii_case("ok") => {
                ok = true;
                continue;
            }
            ("otel.status_code", TagValue::String(c)) if c.eq_ignore_ascii_case("error") => {
                error = true;
                continue;
            }
            ("otel.status_message" | "otel.status_description", TagValue::String(m)) if message.is_none() => {
                message = Some((t.key.to_string(), m.to_string()));
                continue;
            }
            _ => attributes.push(kv(&t.key, any(&t.value))),
        }
    }
    if let (Some((k, m)), false) = (&message, error) {
        attributes.push(kv(k, Value::StringValue(m.clone())));
    }
    let status = if error {
        Some(Status { message: message.map(|(_, m)| m).unwrap_or_default(), code: StatusCode::Error as i32 })
    } else if ok {
        Some(Status { message: String::new(), code: StatusCode::Ok as i32 })
    } else {
        None
    };
    let events = e
        .logs
        .iter()
        .map(|l| {
            let name_at = l
                .fields
                .iter()
                .position(|f| f.key == "message" && matches!(f.value, TagValue::String(_)))
                .or_else(|| {
                    l.fields.iter().position(|f| f.key == "event" && matches!(f.value, TagValue::String(_)))
                });
            span::Event {
                time_unix_nano: l.timestamp_us as u64 * 1000,
                name: match name_at.map(|i| &l.fields[i].value) {
                    Some(TagValue::String(n)) => n.to_string(),
                    _ => String::new(),
                },
                attributes: l
                    .fields
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != name_at)
                    .map(|(_, f)| kv(&f.key, any(&f.value)))
                    .collect(),
                dropped_attributes_count: 0,
            }
        })
        .collect();
    // The CHILD_OF reference to the parent is the parent; every other reference a link.
    let mut parent_seen = false;
    let links = e
        .references
        .iter()
        .filter(|r| {
            let is_parent = !parent_seen
                && r.ref_type == RefType::ChildOf
                && r.span_id == s.parent_id
                && r.trace_id == s.trace_id
                && s.parent_id != 0;
            parent_seen |= is_parent;
            !is_parent
        })
        .map(|r| span::Link {
            trace_id: id16(r.trace_id),
            span_id: r.span_id.to_be_bytes().to_vec(),
            attributes: if r.ref_type == RefType::ChildOf {
                vec![kv("opentracing.ref_type", Value::StringValue("child_of".into()))]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .collect();
    let start = s.start_us as u64 * 1000;
    Span {
        trace_id: id16(s.trace_id),
        span_id: s.span_id.to_be_bytes().to_vec(),
        trace_state: s.trace_state.clone().unwrap_or_default(),
        parent_span_id: if s.parent_id == 0 { vec![] } else { s.parent_id.to_be_bytes().to_vec() },
        flags: u32::from(s.flags & FLAG_SAMPLED),
        name: s.operation.to_string(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + s.duration_us as u64 * 1000,
        attributes,
        dropped_attributes_count: 0,
        events,
        dropped_events_count: s.dropped_logs as u32,
        links,
        dropped_links_count: 0,
        status,
    }
}

/// Spans that exercise every mapping rule: 64- and 128-bit ids, every tag type, kinds,
/// statuses with and without messages, the user's own `error` tags, trace state, logs named
/// by `message` or `event` or not at all, dropped logs, CHILD_OF and FOLLOWS_FROM references
/// (one of them to the parent), the implied tags.
fn random_span(i: u64, rng: &mut Rng) -> FinishedSpan {
    let wide = rng.below(2) == 0;
    let parent_id = if rng.below(3) == 0 { 0 } else { rng.next() | 1 };
    let trace_id = TraceId::new(if wide { rng.next() } else { 0 }, rng.next() | 1);
    let mut tags = vec![
        Tag::new("s", "x".repeat(rng.below(300) as usize)),
        Tag::new("d", -1.5e-300 * i as f64),
        Tag::new("b", rng.below(2) == 0),
        Tag::new("l", i64::MIN + i as i64),
        Tag::new("bin", TagValue::Binary(vec![0xff, 0x00, i as u8])),
        Tag::new("empty", ""),
        Tag::new("ü", "✓"),
    ];
    match rng.below(6) {
        0 => tags.push(Tag::new("span.kind", rng.pick(&["server", "client", "producer", "consumer"]))),
        1 => tags.push(Tag::new("span.kind", "weird")),
        _ => {}
    }
    match rng.below(6) {
        0 => tags.push(Tag::new("otel.status_code", "OK")),
        1 => tags.push(Tag::new("error", false)),
        2 => tags.push(Tag::new("error", "yes")),
        3 => tags.push(Tag::new("error", true)),
        _ => {}
    }
    if rng.below(3) == 0 {
        tags.push(Tag::new(rng.pick(&["otel.status_message", "otel.status_description"]), "boom"));
    }
    let mut references: Vec<SpanRef> = (0..rng.below(3))
        .map(|k| SpanRef {
            ref_type: if rng.below(2) == 0 { RefType::ChildOf } else { RefType::FollowsFrom },
            trace_id: TraceId::new(k, rng.next()),
            span_id: rng.next() | 1,
        })
        .collect();
    if parent_id != 0 && rng.below(4) == 0 {
        references.push(SpanRef { ref_type: RefType::ChildOf, trace_id, span_id: parent_id });
    }
    let logs = (0..rng.below(4))
        .map(|k| {
            let mut fields = vec![Tag::new("n", k as i64)];
            match rng.below(3) {
                0 => fields.insert(0, Tag::new("message", format!("hello {k}"))),
                1 => fields.push(Tag::new("event", "dropped Span logs")),
                _ => {}
            }
            fields.push(Tag::new("level", "INFO"));
            Log { timestamp_us: 1_700_000_000_000_000 + k as i64, fields }
        })
        .collect();
    FinishedSpan {
        trace_id,
        span_id: rng.next() | 1,
        parent_id,
        flags: rng.pick(&[FLAG_SAMPLED, FLAG_SAMPLED | FLAG_DEBUG]),
        operation: Cow::Owned(format!("op-{i}-ü")),
        references,
        start_us: 1_700_000_000_000_000 + i as i64,
        duration_us: rng.below(1_000_000) as i64,
        tags,
        logs,
        sampler: match rng.below(3) {
            0 => Some(("probabilistic", TagValue::Double(0.25))),
            1 => Some(("const", TagValue::Bool(true))),
            _ => None,
        },
        metadata: match rng.below(3) {
            0 => Some(real_metadata()),
            1 => Some(&BARE_METADATA),
            _ => None,
        },
        error: rng.below(4) == 0,
        trace_state: if rng.below(3) == 0 { Some(format!("rojo={i:x},congo=t61rcWkgMzE")) } else { None },
        dropped_logs: if rng.below(5) == 0 { rng.below(100) + 2 } else { 0 },
    }
}

/// Pushes `spans` through a batcher with `max` bytes and `per_request` spans per request,
/// flushes, and returns the decoded requests with their body sizes.
fn run(
    spans: &[FinishedSpan],
    max: usize,
    per_request: usize,
) -> (Vec<(usize, ExportTraceServiceRequest)>, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    counters.held.take(spans.len() as u64);
    let mut b = OtlpBatcher::new(&process(), max, per_request, counters.clone());
    let mut out = Vec::new();
    let mut send = |body: &[u8]| {
        let req =
            ExportTraceServiceRequest::decode(body).unwrap_or_else(|e| panic!("opentelemetry-proto: {e}"));
        out.push((body.len(), req));
        Export::Accepted { rejected: 0, message: None }
    };
    for s in spans {
        b.push(s, &mut send);
    }
    b.flush(&mut send);
    (out, counters)
}

fn spans_of(req: &ExportTraceServiceRequest) -> &[Span] {
    assert_eq!(req.resource_spans.len(), 1);
    assert_eq!(req.resource_spans[0].scope_spans.len(), 1);
    &req.resource_spans[0].scope_spans[0].spans
}

#[test]
fn every_request_decodes_with_opentelemetry_proto_to_exactly_the_recorded_spans() {
    let mut rng = Rng(0x5eed);
    for round in 0..40 {
        let n = 1 + rng.below(60) as usize;
        let spans: Vec<_> = (0..n as u64).map(|i| random_span(i + round * 100, &mut rng)).collect();
        let per_request = 1 + rng.below(n as u64 + 5) as usize;
        let (requests, counters) = run(&spans, 4 * 1024 * 1024, per_request);
        let got: Vec<&Span> = requests.iter().flat_map(|(_, r)| spans_of(r)).collect();
        assert_eq!(got.len(), n);
        for (g, s) in got.iter().zip(&spans) {
            assert_eq!(**g, expected(s), "span {s:#?}");
        }
        assert!(requests.iter().all(|(_, r)| spans_of(r).len() <= per_request));
        assert_eq!(requests.len(), n.div_ceil(per_request));
        assert_eq!(counters.snapshot().spans_exported, n as u64);
    }
}

#[test]
fn the_resource_and_scope_carry_the_service_process_tags_and_sdk() {
    let (requests, _) = run(&[random_span(1, &mut Rng(1))], 1 << 20, 10);
    let rs = &requests[0].1.resource_spans[0];
    let attrs = &rs.resource.as_ref().expect("a resource").attributes;
    let version = env!("CARGO_PKG_VERSION");
    let want = vec![
        kv("service.name", Value::StringValue("svc".into())),
        kv("host.name", Value::StringValue("box".into())),
        kv("jaeger.version", Value::StringValue("Rust-0.1.0".into())),
        kv("ip", Value::StringValue("10.0.0.1".into())),
        kv("weight", Value::IntValue(3)),
        kv("telemetry.sdk.name", Value::StringValue("jaeger-layer".into())),
        kv("telemetry.sdk.language", Value::StringValue("rust".into())),
        kv("telemetry.sdk.version", Value::StringValue(version.into())),
    ];
    assert_eq!(attrs, &want);
    let scope = rs.scope_spans[0].scope.as_ref().expect("a scope");
    assert_eq!((&*scope.name, &*scope.version), ("jaeger-layer", version));
}

#[test]
fn requests_never_exceed_the_size_bound_and_too_large_spans_are_counted() {
    let mut rng = Rng(7);
    for max in [600usize, 1_000, 3_000, 20_000] {
        let spans: Vec<_> = (0..80).map(|i| random_span(i, &mut rng)).collect();
        let (requests, counters) = run(&spans, max, 1000);
        let envelope = OtlpBatcher::new(&process(), max, 1, Arc::new(Counters::default())).envelope_size();
        let mut fits = Vec::new();
        for s in &spans {
            let mut one = Vec::new();
            super::encode::span_field(&mut one, s, &mut Default::default());
            if envelope + one.len() <= max {
                fits.push(s);
            }
        }
        assert!(requests.iter().all(|(len, _)| *len <= max), "max {max}");
        let got: Vec<&Span> = requests.iter().flat_map(|(_, r)| spans_of(r)).collect();
        assert_eq!(got.len(), fits.len(), "max {max}");
        for (g, s) in got.iter().zip(&fits) {
            assert_eq!(**g, expected(s));
        }
        let st = counters.snapshot();
        assert_eq!(st.spans_exported, fits.len() as u64);
        assert_eq!(st.spans_dropped_too_large, (spans.len() - fits.len()) as u64);
        assert_eq!(counters.held.count(), 0, "every span ends in one counter");
    }
}

#[test]
fn partial_success_counts_the_rejected_spans_as_failed_and_failures_count_all() {
    let counters = Arc::new(Counters::default());
    counters.held.take(10);
    let mut b = OtlpBatcher::new(&process(), 1 << 20, 5, counters.clone());
    let mut rng = Rng(3);
    let mut answers = vec![
        Export::Accepted { rejected: 2, message: Some("bad span".into()) },
        Export::Failed(io::Error::other("503")),
    ]
    .into_iter();
    let mut send = |_: &[u8]| answers.next().expect("two requests");
    for i in 0..10 {
        b.push(&random_span(i, &mut rng), &mut send);
    }
    let st = counters.snapshot();
    assert_eq!((st.spans_exported, st.spans_failed), (3, 7));
    assert_eq!((st.packets_sent, st.packets_failed), (1, 1));
    assert_eq!(counters.held.count(), 0);
}

#[test]
fn a_rejection_count_above_the_request_is_capped_and_abandoned_spans_are_not_sent() {
    let counters = Arc::new(Counters::default());
    counters.held.take(4);
    let mut b = OtlpBatcher::new(&process(), 1 << 20, 2, counters.clone());
    let mut rng = Rng(4);
    let mut sent = 0;
    let mut send = |_: &[u8]| {
        sent += 1;
        Export::Accepted { rejected: 99, message: None }
    };
    b.push(&random_span(0, &mut rng), &mut send);
    b.push(&random_span(1, &mut rng), &mut send);
    assert_eq!(counters.snapshot().spans_failed, 2);
    // A timed-out shutdown abandons what the exporter holds: nothing more is sent.
    assert_eq!(counters.abandon_held(), 2);
    b.push(&random_span(2, &mut rng), &mut send);
    b.flush(&mut send);
    assert_eq!(sent, 1);
    let st = counters.snapshot();
    assert_eq!((st.spans_failed, st.spans_abandoned, st.spans_exported), (2, 2, 0));
}

#[test]
fn a_span_of_just_over_127_bytes_and_a_huge_one_get_multibyte_lengths() {
    let mut s = random_span(0, &mut Rng(9));
    for len in [0usize, 50, 100, 200, 20_000, 3_000_000] {
        s.tags = vec![Tag::new("pad", "p".repeat(len))];
        let (requests, _) = run(std::slice::from_ref(&s), 4 * 1024 * 1024, 1);
        assert_eq!(spans_of(&requests[0].1)[0], expected(&s));
    }
}

/// The prost baseline of `benches/encode.rs` builds the same requests as the encoder: both
/// decode, with the generated types, to equal messages, over random spans.
#[cfg(feature = "__bench")]
#[test]
fn the_prost_baseline_of_the_bench_decodes_to_the_same_requests() {
    use super::prost_path::ProstBatcher;
    let mut rng = Rng(0x5eed_0f0b);
    let spans: Vec<FinishedSpan> = (0..1100).map(|i| random_span(i, &mut rng)).collect();
    for (size, count) in [(4 << 20, 512), (20_000, 512), (4 << 20, 7)] {
        let mut ours = Vec::new();
        let mut batcher = OtlpBatcher::new(&process(), size, count, Arc::new(Counters::default()));
        let mut send = |b: &[u8]| {
            ours.push(ExportTraceServiceRequest::decode(b).unwrap());
            Export::Accepted { rejected: 0, message: None }
        };
        for s in &spans {
            batcher.push(s, &mut send);
        }
        batcher.flush(&mut send);
        let mut theirs = Vec::new();
        let mut prost = ProstBatcher::new(&process(), size, count);
        let mut send = |b: &[u8]| theirs.push(ExportTraceServiceRequest::decode(b).unwrap());
        for s in &spans {
            prost.push(s, &mut send);
        }
        prost.flush(&mut send);
        assert!(ours.len() > 1, "{size} {count}: several requests");
        assert_eq!(ours, theirs, "{size} {count}");
    }
}
