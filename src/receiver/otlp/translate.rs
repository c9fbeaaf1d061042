//! OTLP trace data into the receiver's Jaeger model, the way Jaeger shows an OTLP span: the
//! translator Jaeger v2's query path uses, opentelemetry-collector-contrib
//! `pkg/translator/jaeger/traces_to_jaegerproto.go` (`ProtoFromTraces`).
//!
//! - One [`ReceivedBatch`] per `ResourceSpans`: resource `service.name` is the service
//!   name (`OTLPResourceNoServiceName` when the resource has no attributes at all; empty
//!   when it has others but no string `service.name`), every other resource attribute a
//!   process tag.
//! - Span tags, in this order: `otel.scope.name`, `otel.scope.version` (when non-empty),
//!   the span's attributes, `span.kind` (`internal` included; none for UNSPECIFIED),
//!   `otel.status_code` (`OK`/`ERROR`), `error=true` (ERROR only), `otel.status_description`
//!   (a non-empty status message), `w3c.tracestate` (a non-empty trace_state).
//! - Attributes keep their type (string, int, bool, double, bytes); arrays and key-value
//!   lists become a string tag holding JSON (keys sorted, bytes as base64, empty as null,
//!   as pdata's `Value.AsString`); an empty value becomes an empty string.
//! - The parent is the first reference (CHILD_OF), and `parent_id`; each link a FOLLOWS_FROM
//!   reference, CHILD_OF when its attribute `opentracing.ref_type` is `child_of`; a link to
//!   the parent changes the parent reference's type instead of adding one.
//! - Events become logs: field `event` = the event's name (unless empty or an attribute
//!   `event` exists), then the attributes.
//! - The 16-byte trace id is split big-endian into high and low, ids are big-endian;
//!   `flags & 0x01` (W3C sampled) is the sampled flag; nanoseconds become microseconds.
//!
//! Ids of the wrong length, and all-zero trace or span ids (invalid by `trace.proto`), are
//! decode errors.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use prost::Message as _;
use serde_json::Value as Json;

use super::proto::{self, AnyValue, Value};
use crate::receiver::{DecodeError, ReceivedBatch, ReceivedProcess, ReceivedSpan};
use crate::span::data::{Log, RefType, SpanRef, Tag, TagValue};
use crate::span::id::TraceId;

type Result<T> = std::result::Result<T, DecodeError>;

/// The service name Jaeger gives a resource without attributes (contrib
/// `traces_to_jaegerproto.go`, `noServiceName`).
pub(crate) const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

fn err(message: String) -> DecodeError {
    DecodeError::new(format!("OTLP: {message}"))
}

/// Decodes a binary protobuf `ExportTraceServiceRequest` and translates it.
pub(crate) fn decode_otlp(body: &[u8]) -> Result<Vec<ReceivedBatch>> {
    let request = proto::ExportTraceServiceRequest::decode(body)
        .map_err(|e| err(format!("not an ExportTraceServiceRequest: {e}")))?;
    translate(&request)
}

pub(crate) fn translate(request: &proto::ExportTraceServiceRequest) -> Result<Vec<ReceivedBatch>> {
    let mut batches = Vec::new();
    for rs in &request.resource_spans {
        let attributes = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        // As `resourceSpansToJaegerProto`: nothing at all in it, no batch.
        if attributes.is_empty() && rs.scope_spans.is_empty() {
            continue;
        }
        let process = process(attributes);
        let mut spans = Vec::new();
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                spans.push(translate_span(span, ss.scope.as_ref(), &process.service_name)?);
            }
        }
        batches.push(ReceivedBatch { process, spans, seq_no: None, stats: None, message_seqid: None });
    }
    Ok(batches)
}

fn process(attributes: &[proto::KeyValue]) -> ReceivedProcess {
    if attributes.is_empty() {
        return ReceivedProcess { service_name: NO_SERVICE_NAME.to_owned(), tags: Vec::new() };
    }
    let mut service_name = String::new();
    let mut tags = Vec::new();
    for kv in attributes {
        if kv.key == "service.name" {
            // pdata's `Str()` of a value that is not a string is "".
            if let Some(AnyValue { value: Some(Value::StringValue(s)) }) = &kv.value {
                service_name.clone_from(s);
            }
        } else {
            tags.push(tag(kv));
        }
    }
    ReceivedProcess { service_name, tags }
}

fn translate_span(
    span: &proto::Span,
    scope: Option<&proto::InstrumentationScope>,
    service_name: &str,
) -> Result<ReceivedSpan> {
    let trace_id = trace_id(&span.trace_id, "Span.trace_id")?;
    let span_id = span_id(&span.span_id, "Span.span_id")?;
    let parent_id = match span.parent_span_id.as_slice() {
        [] => 0,
        bytes => id8(bytes, "Span.parent_span_id")?,
    };

    let mut tags = Vec::new();
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            tags.push(Tag::new("otel.scope.name", scope.name.clone()));
        }
        if !scope.version.is_empty() {
            tags.push(Tag::new("otel.scope.version", scope.version.clone()));
        }
    }
    tags.extend(span.attributes.iter().map(tag));
    let kind = match span.kind {
        1 => Some("internal"),
        2 => Some("server"),
        3 => Some("client"),
        4 => Some("producer"),
        5 => Some("consumer"),
        _ => None,
    };
    if let Some(kind) = kind {
        tags.push(Tag::new("span.kind", kind));
    }
    let (code, message) = span.status.as_ref().map_or((0, ""), |s| (s.code, s.message.as_str()));
    match code {
        1 => tags.push(Tag::new("otel.status_code", "OK")),
        2 => {
            tags.push(Tag::new("otel.status_code", "ERROR"));
            tags.push(Tag::new("error", true));
        }
        _ => {}
    }
    if !message.is_empty() {
        tags.push(Tag::new("otel.status_description", message.to_owned()));
    }
    if !span.trace_state.is_empty() {
        tags.push(Tag::new("w3c.tracestate", span.trace_state.clone()));
    }

    let mut references = Vec::new();
    if parent_id != 0 {
        references.push(SpanRef { ref_type: RefType::ChildOf, trace_id, span_id: parent_id });
    }
    for link in &span.links {
        let r = SpanRef {
            ref_type: link_ref_type(link),
            trace_id: self::trace_id(&link.trace_id, "Link.trace_id")?,
            span_id: self::span_id(&link.span_id, "Link.span_id")?,
        };
        // `makeJaegerProtoReferences`: a link to the parent sets the parent reference's type.
        if parent_id != 0 && r.trace_id == trace_id && r.span_id == parent_id {
            references[0].ref_type = r.ref_type;
        } else {
            references.push(r);
        }
    }

    let logs = span
        .events
        .iter()
        .map(|e| {
            let mut fields = Vec::with_capacity(e.attributes.len() + 1);
            if !e.name.is_empty() && !e.attributes.iter().any(|a| a.key == "event") {
                fields.push(Tag::new("event", e.name.clone()));
            }
            fields.extend(e.attributes.iter().map(tag));
            Log { timestamp_us: micros(e.time_unix_nano), fields }
        })
        .collect();

    let start_time_us = micros(span.start_time_unix_nano);
    let duration_ns = i128::from(span.end_time_unix_nano) - i128::from(span.start_time_unix_nano);
    Ok(ReceivedSpan {
        trace_id,
        span_id,
        parent_id,
        operation_name: span.name.clone(),
        references,
        flags: (span.flags & 0x01) as i32,
        start_time_us,
        duration_us: i64::try_from(duration_ns / 1000).unwrap_or(i64::MIN),
        tags,
        logs,
        service_name: service_name.to_owned(),
    })
}

fn link_ref_type(link: &proto::Link) -> RefType {
    let child_of = link.attributes.iter().any(|a| {
        a.key == "opentracing.ref_type"
            && matches!(&a.value, Some(AnyValue { value: Some(Value::StringValue(v)) }) if v == "child_of")
    });
    if child_of {
        RefType::ChildOf
    } else {
        RefType::FollowsFrom
    }
}

/// Nanoseconds since the epoch (a `fixed64`, so up to 2^64 - 1) as microseconds; always
/// fits an i64.
fn micros(ns: u64) -> i64 {
    (ns / 1000) as i64
}

fn trace_id(bytes: &[u8], what: &str) -> Result<TraceId> {
    let Ok(b) = <[u8; 16]>::try_from(bytes) else {
        return Err(err(format!("{what} has {} bytes, expected 16", bytes.len())));
    };
    let id = u128::from_be_bytes(b);
    if id == 0 {
        return Err(err(format!("{what} is all zeros")));
    }
    Ok(TraceId::new((id >> 64) as u64, id as u64))
}

fn span_id(bytes: &[u8], what: &str) -> Result<u64> {
    match id8(bytes, what)? {
        0 => Err(err(format!("{what} is all zeros"))),
        id => Ok(id),
    }
}

fn id8(bytes: &[u8], what: &str) -> Result<u64> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| err(format!("{what} has {} bytes, expected 8", bytes.len())))
}

fn tag(kv: &proto::KeyValue) -> Tag {
    let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => TagValue::String(Cow::Owned(s.clone())),
        Some(Value::BoolValue(b)) => TagValue::Bool(*b),
        Some(Value::IntValue(i)) => TagValue::Long(*i),
        Some(Value::DoubleValue(d)) => TagValue::Double(*d),
        Some(Value::BytesValue(b)) => TagValue::Binary(b.clone()),
        Some(v @ (Value::ArrayValue(_) | Value::KvlistValue(_))) => {
            TagValue::String(Cow::Owned(json(Some(v)).to_string()))
        }
        // An empty value, or the profiles-only string table index: Jaeger's zero KeyValue,
        // an empty string.
        None | Some(Value::StringValueStrindex(_)) => TagValue::String(Cow::Borrowed("")),
    };
    Tag { key: Cow::Owned(kv.key.clone()), value }
}

/// An attribute value as pdata's `Value.AsRaw` marshals it to JSON: keys sorted (the last
/// of duplicate keys wins), bytes as standard base64, empty as null, whole doubles without
/// a fraction (Go's `encoding/json`), non-finite doubles as null.
fn json(v: Option<&Value>) -> Json {
    match v {
        None | Some(Value::StringValueStrindex(_)) => Json::Null,
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(Value::BoolValue(b)) => Json::Bool(*b),
        Some(Value::IntValue(i)) => Json::from(*i),
        Some(Value::DoubleValue(d)) if d.fract() == 0.0 && d.abs() < 1e15 => Json::from(*d as i64),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Some(Value::BytesValue(b)) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Some(Value::ArrayValue(a)) => Json::Array(a.values.iter().map(|v| json(v.value.as_ref())).collect()),
        Some(Value::KvlistValue(l)) => {
            let sorted: BTreeMap<&str, Json> = l
                .values
                .iter()
                .map(|kv| (kv.key.as_str(), json(kv.value.as_ref().and_then(|v| v.value.as_ref()))))
                .collect();
            // Inserted in key order, so the object is sorted whether or not serde_json
            // preserves insertion order.
            Json::Object(sorted.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        }
    }
}

#[cfg(test)]
mod tests;
