//! Shared builders of OTLP messages for the receiver's unit tests (translation, server,
//! `testing`).

use prost::Message as _;

use super::proto::*;

pub(crate) const TRACE: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

pub(crate) fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }
}

pub(crate) fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

/// A span of trace [`TRACE`] with the given id and parent (0: root), starting at `start_us`.
pub(crate) fn span(name: &str, id: u64, parent: u64, start_us: u64, dur_us: u64) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        parent_span_id: if parent == 0 { Vec::new() } else { parent.to_be_bytes().to_vec() },
        name: name.into(),
        flags: 0x101,
        start_time_unix_nano: start_us * 1000,
        end_time_unix_nano: (start_us + dur_us) * 1000,
        ..Span::default()
    }
}

pub(crate) fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", s(service))] }),
            scope_spans: vec![ScopeSpans { scope: None, spans }],
        }],
    }
}

pub(crate) fn body(service: &str, spans: Vec<Span>) -> Vec<u8> {
    request(service, spans).encode_to_vec()
}
