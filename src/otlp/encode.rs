//! A protobuf encoder for the OTLP trace messages the exporter sends, written straight from a
//! [`FinishedSpan`] into a reused buffer: no message structs are built, nothing is allocated
//! per span. Field numbers and wire types are those of opentelemetry-proto v1.x
//! (`opentelemetry/proto/trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`); the tests decode every request with the
//! `opentelemetry-proto` crate's generated types.
//!
//! The mapping follows Jaeger's own OTLP→Jaeger translation (opentelemetry-collector-contrib
//! `pkg/translator/jaeger/traces_to_jaegerproto.go`), so that a span shows in Jaeger UI as it
//! does when sent over Thrift:
//!
//! | Thrift (what `thrift::writer` writes) | OTLP |
//! |---|---|
//! | trace id (64 or 128 bits) | 16 bytes, big-endian, a 64-bit id in the low half |
//! | `parentSpanId` and its implied CHILD_OF reference | `parent_span_id` |
//! | other references | links; CHILD_OF ones carry `opentracing.ref_type=child_of` |
//! | flags | `flags`: the sampled bit (W3C trace-flags bit 0); debug has no OTLP form |
//! | `span.kind` tag | `kind` (no tag: `SPAN_KIND_UNSPECIFIED`, as Jaeger reads a Thrift span without one) |
//! | `error=true` tag | `status.code = ERROR`, message from `otel.status_message`/`otel.status_description` |
//! | `otel.status_code=OK` tag | `status.code = OK` |
//! | other tags, typed | attributes: string, int, bool, double, bytes |
//! | logs | events; the name is the `message` field (tracing's event message), else `event` |
//! | the `dropped Span logs` record | kept as an event, and `dropped_events_count` |
//! | process `hostname` | resource `host.name` (Jaeger v2 renames it the same way on Thrift ingest) |
//! | service name, other process tags | resource `service.name`, attributes, and `telemetry.sdk.*` |
//! | — | `trace_state` (W3C `tracestate` of the span's trace), scope `jaeger-layer` and version |

use crate::span::callsite::CallsiteCache;
use crate::span::data::{FinishedSpan, Process, RefType, SpanRef, TagValue, FLAG_SAMPLED};
use crate::span::id::TraceId;
use crate::span::mapping::{implied_parent_ref, metadata_tags, SpanTags, TagRef};

// Wire types (protobuf encoding spec).
const VARINT: u32 = 0;
const I64: u32 = 1;
const LEN: u32 = 2;
const I32: u32 = 5;

/// The instrumentation scope every span is reported under.
pub(crate) const SCOPE_NAME: &str = env!("CARGO_PKG_NAME");
/// The scope's version.
pub(crate) const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

#[inline]
pub(crate) fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits (at least one).
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    varint(buf, u64::from((field << 3) | wire));
}

#[inline]
fn key_len(field: u32) -> usize {
    varint_len(u64::from(field << 3))
}

#[inline]
fn bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(buf, field, LEN);
    varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

#[inline]
fn bytes_field_len(field: u32, n: usize) -> usize {
    key_len(field) + varint_len(n as u64) + n
}

#[inline]
fn fixed64_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, I64);
    buf.extend_from_slice(&v.to_le_bytes());
}

#[inline]
fn varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, VARINT);
    varint(buf, v);
}

/// Writes field `field` as an embedded message whose body `body` writes. One byte is
/// reserved for the length; a longer length moves the body once.
#[inline]
pub(crate) fn nested(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    nested_reserving(buf, field, 1, body);
}

/// [`nested`] with `reserve` bytes (1 to 3) kept for the length: when the body's length
/// takes that many, nothing moves. A span takes 2 (128 to 16383 bytes).
#[inline]
fn nested_reserving(buf: &mut Vec<u8>, field: u32, reserve: usize, body: impl FnOnce(&mut Vec<u8>)) {
    key(buf, field, LEN);
    let at = buf.len();
    buf.resize(at + reserve, 0);
    body(buf);
    let len = buf.len() - at - reserve;
    let n = varint_len(len as u64);
    if n != reserve {
        if n > reserve {
            buf.resize(buf.len() + n - reserve, 0);
        }
        buf.copy_within(at + reserve..at + reserve + len, at + n);
        buf.truncate(at + n + len);
    }
    // The length's varint, written in place (no varint is longer than 10 bytes).
    let mut v = len as u64;
    for b in &mut buf[at..at + n] {
        *b = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
    }
    buf[at + n - 1] &= 0x7f;
}

/// An attribute value (`AnyValue`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Any<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
}

impl<'a> Any<'a> {
    #[inline]
    pub(crate) fn of(tag: TagRef<'a>) -> Any<'a> {
        match tag {
            TagRef::Str(s) => Any::Str(s),
            TagRef::Long(v) => Any::Int(v),
            TagRef::Value(v) => Any::of_value(v),
        }
    }

    #[inline]
    pub(crate) fn of_value(v: &'a TagValue) -> Any<'a> {
        match v {
            TagValue::String(s) => Any::Str(s),
            TagValue::Double(d) => Any::Double(*d),
            TagValue::Bool(b) => Any::Bool(*b),
            TagValue::Long(l) => Any::Int(*l),
            TagValue::Binary(b) => Any::Bytes(b),
        }
    }

    /// The encoded length of the `AnyValue` message body (its one oneof field).
    #[inline]
    fn len(self) -> usize {
        match self {
            Any::Str(s) => bytes_field_len(1, s.len()),
            Any::Bool(_) => 2,
            Any::Int(v) => 1 + varint_len(v as u64),
            Any::Double(_) => 9,
            Any::Bytes(b) => bytes_field_len(7, b.len()),
        }
    }

    /// Writes the `AnyValue` body. A set oneof field is written even when it holds its
    /// default value (`false`, `0`, `""`): that is what tells the value's type.
    #[inline]
    fn write(self, buf: &mut Vec<u8>) {
        match self {
            Any::Str(s) => bytes_field(buf, 1, s.as_bytes()),
            Any::Bool(b) => varint_field(buf, 2, u64::from(b)),
            Any::Int(v) => varint_field(buf, 3, v as u64),
            Any::Double(d) => fixed64_field(buf, 4, d.to_bits()),
            Any::Bytes(b) => bytes_field(buf, 7, b),
        }
    }
}

/// Writes a `KeyValue` as field `field`; its length is computed, not measured.
#[inline]
pub(crate) fn key_value(buf: &mut Vec<u8>, field: u32, k: &str, v: Any<'_>) {
    let value_len = v.len();
    let body = bytes_field_len(1, k.len()) + 1 + varint_len(value_len as u64) + value_len;
    key(buf, field, LEN);
    varint(buf, body as u64);
    bytes_field(buf, 1, k.as_bytes());
    key(buf, 2, LEN);
    varint(buf, value_len as u64);
    v.write(buf);
}

/// The 16 bytes of a trace id: big-endian, the high half first, so a 64-bit id has 8
/// leading zero bytes (as Jaeger v2 pads a Thrift `traceIdHigh = 0`).
#[inline]
pub(crate) fn trace_id_bytes(id: TraceId) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&id.high.to_be_bytes());
    out[8..].copy_from_slice(&id.low.to_be_bytes());
    out
}

/// `Span.SpanKind` of a `span.kind` tag value (the four OpenTracing kinds the layer writes).
#[inline]
pub(crate) fn kind_number(kind: &str) -> Option<u64> {
    match kind {
        "server" => Some(2),
        "client" => Some(3),
        "producer" => Some(4),
        "consumer" => Some(5),
        "internal" => Some(1),
        _ => None,
    }
}

/// `Status.StatusCode`: UNSET, OK, ERROR.
const STATUS_OK: u64 = 1;
const STATUS_ERROR: u64 = 2;

/// The attribute key and value that mark a link as a CHILD_OF reference (opentracing
/// semantic conventions, read by contrib `traces_to_jaegerproto.go`).
const REF_TYPE_KEY: &str = "opentracing.ref_type";
const REF_TYPE_CHILD_OF: &str = "child_of";

/// Nanoseconds since the epoch of a microsecond timestamp (0 for what precedes the epoch).
#[inline]
pub(crate) fn nanos(us: i64) -> u64 {
    u64::try_from(us).unwrap_or(0).saturating_mul(1000)
}

/// What the tags of a span say besides its attributes.
pub(crate) struct Mapped<'a> {
    /// `Span.SpanKind`, from a `span.kind` tag.
    pub(crate) kind: Option<u64>,
    /// `Status` code and message, from `error`, `otel.status_code` and
    /// `otel.status_message`/`otel.status_description`; `None` is UNSET.
    pub(crate) status: Option<(u64, &'a str)>,
}

/// Hands every tag of `s` (the Thrift view: sampler, metadata and error tags included) that
/// is an OTLP attribute to `attribute`, and returns the kind and the status the others say.
#[cfg(any(test, feature = "__bench"))]
#[inline]
pub(crate) fn attributes<'a>(s: &'a FinishedSpan, attribute: impl FnMut(&'a str, Any<'a>)) -> Mapped<'a> {
    attributes_to(s, &mut Each(attribute))
}

/// Where [`attributes_to`] puts the attributes of a span.
pub(crate) trait Attributes<'a> {
    /// Takes one attribute.
    fn attribute(&mut self, k: &'a str, v: Any<'a>);
    /// Takes the metadata attributes (`code.*`, `level`: the same for every span of a
    /// callsite) of `meta`, one by one unless the sink has them from a cache.
    #[inline]
    fn metadata(&mut self, meta: &'static tracing_core::Metadata<'static>) {
        metadata_tags(meta, |k, v| self.attribute(k, Any::of(v)));
    }
}

/// A closure as an [`Attributes`] sink.
#[cfg(any(test, feature = "__bench"))]
pub(crate) struct Each<F>(pub(crate) F);

#[cfg(any(test, feature = "__bench"))]
impl<'a, F: FnMut(&'a str, Any<'a>)> Attributes<'a> for Each<F> {
    #[inline]
    fn attribute(&mut self, k: &'a str, v: Any<'a>) {
        (self.0)(k, v);
    }
}

/// [`attributes`] into a sink that may write the metadata attributes its own way.
#[inline]
pub(crate) fn attributes_to<'a>(s: &'a FinishedSpan, sink: &mut impl Attributes<'a>) -> Mapped<'a> {
    let mut kind = None;
    let mut error = false;
    let mut ok = false;
    let mut message: Option<(&str, &str)> = None;
    let mut on_tag = |k: &'a str, v: TagRef<'a>| {
        match (k, v) {
            ("span.kind", TagRef::Value(TagValue::String(kv))) if kind_number(kv).is_some() => {
                kind = kind_number(kv);
                return;
            }
            ("error", TagRef::Value(TagValue::Bool(true))) => {
                error = true;
                return;
            }
            ("otel.status_code", TagRef::Value(TagValue::String(code))) => {
                if code.eq_ignore_ascii_case("ok") {
                    ok = true;
                    return;
                }
                if code.eq_ignore_ascii_case("error") {
                    error = true;
                    return;
                }
            }
            ("otel.status_message" | "otel.status_description", TagRef::Value(TagValue::String(m)))
                if message.is_none() =>
            {
                message = Some((k, m));
                return;
            }
            _ => {}
        }
        sink.attribute(k, Any::of(v));
    };
    let tags = SpanTags::of(s);
    tags.for_each_own(&mut on_tag);
    if let Some(meta) = s.metadata {
        sink.metadata(meta);
    }
    // The mapping's own `error=true` (after the metadata tags) is the status.
    error |= tags.writes_error();
    // A status message only goes with an error (opentelemetry-specification `trace/api.md`,
    // "Set Status"); otherwise it stays an attribute.
    if let (Some((k, m)), false) = (message, error) {
        sink.attribute(k, Any::Str(m));
    }
    let status = if error {
        Some((STATUS_ERROR, message.map_or("", |(_, m)| m)))
    } else if ok {
        Some((STATUS_OK, ""))
    } else {
        None
    };
    Mapped { kind, status }
}

/// The references of `s` that are links: all but the CHILD_OF reference to its parent,
/// which `parent_span_id` says already.
#[inline]
pub(crate) fn links(s: &FinishedSpan) -> impl Iterator<Item = &SpanRef> {
    let implied = implied_parent_ref(s);
    s.references.iter().filter(move |r| {
        implied || r.ref_type != RefType::ChildOf || r.span_id != s.parent_id || r.trace_id != s.trace_id
    })
}

/// Where the name of the event a log becomes is: its `message` field (a `tracing` event's
/// message), else its `event` field (Jaeger's name for it).
#[inline]
pub(crate) fn event_name_at(log: &crate::span::data::Log) -> Option<usize> {
    let named =
        |key: &str| log.fields.iter().position(|f| f.key == key && matches!(f.value, TagValue::String(_)));
    named("message").or_else(|| named("event"))
}

/// Nanoseconds since the epoch of a span's start and end.
#[inline]
pub(crate) fn start_end(s: &FinishedSpan) -> (u64, u64) {
    let start = nanos(s.start_us);
    (start, nanos(s.start_us.saturating_add(s.duration_us)).max(start))
}

/// Writes a span's attributes as `Span.attributes` fields, those of its callsite from the
/// cache.
struct SpanAttributes<'b> {
    buf: &'b mut Vec<u8>,
    callsites: &'b mut CallsiteCache,
}

impl<'a> Attributes<'a> for SpanAttributes<'_> {
    #[inline]
    fn attribute(&mut self, k: &'a str, v: Any<'a>) {
        key_value(self.buf, 9, k, v);
    }
    #[inline]
    fn metadata(&mut self, meta: &'static tracing_core::Metadata<'static>) {
        self.callsites.write(self.buf, meta, |b| metadata_tags(meta, |k, v| key_value(b, 9, k, Any::of(v))));
    }
}

/// Writes the body of one `Span` message.
pub(crate) fn span(buf: &mut Vec<u8>, s: &FinishedSpan, callsites: &mut CallsiteCache) {
    bytes_field(buf, 1, &trace_id_bytes(s.trace_id));
    bytes_field(buf, 2, &s.span_id.to_be_bytes());
    if let Some(ts) = s.trace_state.as_deref().filter(|t| !t.is_empty()) {
        bytes_field(buf, 3, ts.as_bytes());
    }
    if s.parent_id != 0 {
        bytes_field(buf, 4, &s.parent_id.to_be_bytes());
    }
    bytes_field(buf, 5, s.operation.as_bytes());
    let (start, end) = start_end(s);
    fixed64_field(buf, 7, start);
    fixed64_field(buf, 8, end);
    // The kind and the status come out of the tags, so they are written after the
    // attributes: protobuf readers take fields in any order (protobuf encoding spec, "Field
    // Order").
    let mapped = attributes_to(s, &mut SpanAttributes { buf, callsites });
    if let Some(kind) = mapped.kind {
        varint_field(buf, 6, kind);
    }
    for log in &s.logs {
        nested(buf, 11, |b| event(b, log));
    }
    if s.dropped_logs > 0 {
        varint_field(buf, 12, s.dropped_logs);
    }
    for r in links(s) {
        nested(buf, 13, |b| link(b, r));
    }
    if let Some((code, message)) = mapped.status {
        nested(buf, 15, |b| {
            if !message.is_empty() {
                bytes_field(b, 2, message.as_bytes());
            }
            varint_field(b, 3, code);
        });
    }
    // `flags`, fixed32: bits 0-7 are the W3C trace flags, of which only "sampled" exists in
    // Jaeger's flags byte (its debug bit has no W3C meaning). Whether the parent is remote
    // is not known here, so bits 8 and 9 stay 0 ("unknown").
    key(buf, 16, I32);
    buf.extend_from_slice(&u32::from(s.flags & FLAG_SAMPLED).to_le_bytes());
}

/// Writes a `Span.Event` body from a log: the name is the `message` field (a `tracing`
/// event's message), else the `event` field (Jaeger's name for it); the other fields are
/// attributes.
fn event(buf: &mut Vec<u8>, log: &crate::span::data::Log) {
    fixed64_field(buf, 1, nanos(log.timestamp_us));
    let name_at = event_name_at(log);
    if let Some(TagValue::String(name)) = name_at.map(|i| &log.fields[i].value) {
        bytes_field(buf, 2, name.as_bytes());
    }
    for (i, f) in log.fields.iter().enumerate() {
        if Some(i) != name_at {
            key_value(buf, 3, &f.key, Any::of_value(&f.value));
        }
    }
}

/// Writes a `Span.Link` body from a reference.
fn link(buf: &mut Vec<u8>, r: &SpanRef) {
    bytes_field(buf, 1, &trace_id_bytes(r.trace_id));
    bytes_field(buf, 2, &r.span_id.to_be_bytes());
    if r.ref_type == RefType::ChildOf {
        key_value(buf, 4, REF_TYPE_KEY, Any::Str(REF_TYPE_CHILD_OF));
    }
}

/// The `ResourceSpans.resource` field (key, length and `Resource`) for `process`:
/// `service.name`, the process tags (`hostname` as `host.name`) and `telemetry.sdk.*`
/// (opentelemetry-specification `resource/semantic_conventions`).
pub(crate) fn resource_field(process: &Process) -> Vec<u8> {
    let mut buf = Vec::new();
    nested(&mut buf, 1, |b| {
        key_value(b, 1, "service.name", Any::Str(&process.service_name));
        for t in &process.tags {
            let k: &str = if t.key == "hostname" { "host.name" } else { &t.key };
            if k == "service.name" {
                continue;
            }
            key_value(b, 1, k, Any::of_value(&t.value));
        }
        key_value(b, 1, "telemetry.sdk.name", Any::Str(SCOPE_NAME));
        key_value(b, 1, "telemetry.sdk.language", Any::Str("rust"));
        key_value(b, 1, "telemetry.sdk.version", Any::Str(SCOPE_VERSION));
    });
    buf
}

/// The `ScopeSpans.scope` field: this crate's name and version.
pub(crate) fn scope_field() -> Vec<u8> {
    let mut buf = Vec::new();
    nested(&mut buf, 1, |b| {
        bytes_field(b, 1, SCOPE_NAME.as_bytes());
        bytes_field(b, 2, SCOPE_VERSION.as_bytes());
    });
    buf
}

/// The bytes before the spans of a request whose spans (each a `ScopeSpans.spans` field)
/// total `spans_len`: `ExportTraceServiceRequest.resource_spans` { resource,
/// `scope_spans` { scope, ... } }.
pub(crate) fn request_prefix(out: &mut Vec<u8>, resource: &[u8], scope: &[u8], spans_len: usize) {
    let scope_spans = scope.len() + spans_len;
    let resource_spans = resource.len() + key_len(2) + varint_len(scope_spans as u64) + scope_spans;
    key(out, 1, LEN);
    varint(out, resource_spans as u64);
    out.extend_from_slice(resource);
    key(out, 2, LEN);
    varint(out, scope_spans as u64);
    out.extend_from_slice(scope);
}

/// The length of [`request_prefix`] plus the spans: the whole request body.
pub(crate) fn request_len(resource: usize, scope: usize, spans_len: usize) -> usize {
    let scope_spans = scope + spans_len;
    let resource_spans = resource + key_len(2) + varint_len(scope_spans as u64) + scope_spans;
    key_len(1) + varint_len(resource_spans as u64) + resource_spans
}

/// Writes one span as a `ScopeSpans.spans` field.
#[inline]
pub(crate) fn span_field(buf: &mut Vec<u8>, s: &FinishedSpan, callsites: &mut CallsiteCache) {
    nested_reserving(buf, 2, 2, |b| span(b, s, callsites));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX >> 1, u64::MAX] {
            let mut b = Vec::new();
            varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn nested_moves_a_long_body_behind_its_length() {
        for n in [0usize, 1, 127, 128, 300, 20_000] {
            let mut b = vec![0xAA];
            nested(&mut b, 3, |b| b.extend(std::iter::repeat_n(7u8, n)));
            let mut want = vec![0xAA, 3 << 3 | 2];
            varint(&mut want, n as u64);
            want.extend(std::iter::repeat_n(7u8, n));
            assert_eq!(b, want, "{n}");
        }
    }

    #[test]
    fn a_cached_callsite_encodes_as_it_does_uncached() {
        use crate::test_support::fixtures::{minimal_span, real_metadata, BARE_METADATA};
        let mut callsites = CallsiteCache::default();
        for meta in [real_metadata(), &BARE_METADATA, real_metadata(), &BARE_METADATA] {
            let mut s = minimal_span();
            s.metadata = Some(meta);
            let mut cached = Vec::new();
            span_field(&mut cached, &s, &mut callsites);
            // The same span, its metadata attributes written one by one.
            let mut plain = Vec::new();
            nested(&mut plain, 2, |b| {
                let mut one_by_one = Vec::new();
                span(&mut one_by_one, &s, &mut CallsiteCache::default());
                b.extend_from_slice(&one_by_one);
            });
            assert_eq!(cached, plain);
            let mut attrs = 0;
            attributes(&s, |k, _| attrs += usize::from(k == "level"));
            assert_eq!(attrs, 1, "the level is an attribute once");
        }
        assert_eq!(callsites.len(), 2);
    }

    #[test]
    fn a_64_bit_trace_id_is_padded_in_the_high_half() {
        assert_eq!(trace_id_bytes(TraceId::new(0, 0x0102)), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        let wide = trace_id_bytes(TraceId::new(u64::MAX, 1));
        assert_eq!(&wide[..8], &[0xff; 8]);
    }
}
