//! The same requests built the usual way, as the baseline of `benches/encode.rs` (feature
//! `__bench`; unstable, not part of the API): each span is mapped into the
//! `opentelemetry-proto` crate's generated message structs (one `String`/`Vec` per id,
//! name, key and value), and each request is encoded by `prost` into a reused buffer. The
//! mapping is the encoder's own (`encode::attributes`, `links`, `event_name_at`), so the two
//! differ only in how the bytes are made; `tests` checks that both decode to the same
//! requests.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use super::encode::{
    attributes, event_name_at, links, nanos, start_end, trace_id_bytes, varint_len, Any, SCOPE_NAME,
    SCOPE_VERSION,
};
use crate::span::data::{FinishedSpan, Log, Process, SpanRef, TagValue, FLAG_SAMPLED};

fn kv(key: &str, value: Any<'_>) -> KeyValue {
    let value = match value {
        Any::Str(s) => Value::StringValue(s.to_owned()),
        Any::Bool(b) => Value::BoolValue(b),
        Any::Int(i) => Value::IntValue(i),
        Any::Double(d) => Value::DoubleValue(d),
        Any::Bytes(b) => Value::BytesValue(b.to_vec()),
    };
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// `span` as a generated `Span` message.
pub(crate) fn span_message(s: &FinishedSpan) -> Span {
    let mut attrs = Vec::with_capacity(s.tags.len() + 6);
    let mapped = attributes(s, |k, v| attrs.push(kv(k, v)));
    let (start, end) = start_end(s);
    Span {
        trace_id: trace_id_bytes(s.trace_id).to_vec(),
        span_id: s.span_id.to_be_bytes().to_vec(),
        trace_state: s.trace_state.clone().unwrap_or_default(),
        parent_span_id: if s.parent_id != 0 { s.parent_id.to_be_bytes().to_vec() } else { Vec::new() },
        flags: u32::from(s.flags & FLAG_SAMPLED),
        name: s.operation.to_string(),
        kind: mapped.kind.unwrap_or(0) as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs,
        dropped_attributes_count: 0,
        events: s.logs.iter().map(event).collect(),
        dropped_events_count: u32::try_from(s.dropped_logs).unwrap_or(u32::MAX),
        links: links(s).map(link).collect(),
        dropped_links_count: 0,
        status: mapped
            .status
            .map(|(code, message)| Status { message: message.to_owned(), code: code as i32 }),
    }
}

fn event(log: &Log) -> span::Event {
    let name_at = event_name_at(log);
    let name = match name_at.map(|i| &log.fields[i].value) {
        Some(TagValue::String(n)) => n.to_string(),
        _ => String::new(),
    };
    let attributes = (log.fields.iter().enumerate())
        .filter(|(i, _)| Some(*i) != name_at)
        .map(|(_, f)| kv(&f.key, Any::of_value(&f.value)))
        .collect();
    span::Event { time_unix_nano: nanos(log.timestamp_us), name, attributes, dropped_attributes_count: 0 }
}

fn link(r: &SpanRef) -> span::Link {
    let mut attributes = Vec::new();
    if r.ref_type == crate::span::data::RefType::ChildOf {
        attributes.push(kv("opentracing.ref_type", Any::Str("child_of")));
    }
    span::Link {
        trace_id: trace_id_bytes(r.trace_id).to_vec(),
        span_id: r.span_id.to_be_bytes().to_vec(),
        attributes,
        ..Default::default()
    }
}

fn resource(process: &Process) -> Resource {
    let mut attributes = vec![kv("service.name", Any::Str(&process.service_name))];
    for t in &process.tags {
        let k: &str = if t.key == "hostname" { "host.name" } else { &t.key };
        if k != "service.name" {
            attributes.push(kv(k, Any::of_value(&t.value)));
        }
    }
    attributes.push(kv("telemetry.sdk.name", Any::Str(SCOPE_NAME)));
    attributes.push(kv("telemetry.sdk.language", Any::Str("rust")));
    attributes.push(kv("telemetry.sdk.version", Any::Str(SCOPE_VERSION)));
    Resource { attributes, ..Default::default() }
}

/// The prost baseline of `OtlpBatcher`: the same size bound and span count per request.
#[derive(Debug)]
pub(crate) struct ProstBatcher {
    resource: Resource,
    scope: InstrumentationScope,
    /// The open request's spans, and the encoded size of their `ScopeSpans.spans` fields.
    spans: Vec<Span>,
    spans_len: usize,
    max_request_size: usize,
    max_spans_per_request: usize,
    buf: Vec<u8>,
}

impl ProstBatcher {
    /// A batcher whose requests never exceed `max_request_size` bytes nor
    /// `max_spans_per_request` spans.
    pub(crate) fn new(process: &Process, max_request_size: usize, max_spans_per_request: usize) -> Self {
        ProstBatcher {
            resource: resource(process),
            scope: InstrumentationScope {
                name: SCOPE_NAME.into(),
                version: SCOPE_VERSION.into(),
                ..Default::default()
            },
            spans: Vec::new(),
            spans_len: 0,
            max_request_size,
            max_spans_per_request: max_spans_per_request.max(1),
            buf: Vec::new(),
        }
    }

    fn request_len(&self, spans_len: usize) -> usize {
        let resource = self.resource.encoded_len();
        let scope = self.scope.encoded_len();
        let scope_spans = 1 + varint_len(scope as u64) + scope + spans_len;
        let resource_spans =
            1 + varint_len(resource as u64) + resource + 1 + varint_len(scope_spans as u64) + scope_spans;
        1 + varint_len(resource_spans as u64) + resource_spans
    }

    /// Maps one span into the open request; sends full requests through `send`. A span too
    /// large for a request alone is dropped; returns whether `s` was kept.
    pub(crate) fn push(&mut self, s: &FinishedSpan, send: &mut dyn FnMut(&[u8])) -> bool {
        let message = span_message(s);
        let len = message.encoded_len();
        let field = 1 + varint_len(len as u64) + len;
        if self.request_len(self.spans_len + field) > self.max_request_size {
            self.flush(send);
            if self.request_len(field) > self.max_request_size {
                return false;
            }
        }
        self.spans.push(message);
        self.spans_len += field;
        if self.spans.len() >= self.max_spans_per_request {
            self.flush(send);
        }
        true
    }

    /// Encodes and sends the open request, if it has spans.
    pub(crate) fn flush(&mut self, send: &mut dyn FnMut(&[u8])) {
        if self.spans.is_empty() {
            return;
        }
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(self.scope.clone()),
                    spans: std::mem::take(&mut self.spans),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        self.buf.clear();
        request.encode(&mut self.buf).expect("a Vec grows as needed");
        debug_assert_eq!(self.buf.len(), self.request_len(self.spans_len));
        send(&self.buf);
        self.spans_len = 0;
        // Keep the span vector's capacity for the next request.
        let mut request = request;
        if let Some(mut spans) =
            request.resource_spans.pop().and_then(|mut r| r.scope_spans.pop()).map(|s| s.spans)
        {
            spans.clear();
            self.spans = spans;
        }
    }
}
