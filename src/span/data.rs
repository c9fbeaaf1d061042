//! The owned values a sampled span is made of on its way to the exporter: tags, logs,
//! references and the `FinishedSpan` the encoder writes. A `FinishedSpan` travels inside a
//! pooled `Record` (`span::record`), and the queue moves `Box<Record>`s. These types sit
//! below both the wire encoder and the export machinery, so the wire code never imports the
//! exporter.

use std::borrow::Cow;

use crate::span::id::TraceId;

/// Sampling-state flag: the trace is sampled (jaeger-client-go `span_context.go`).
pub(crate) const FLAG_SAMPLED: u8 = 0x01;
/// Sampling-state flag: debug (forced) sampling.
pub(crate) const FLAG_DEBUG: u8 = 0x02;

/// A tag or log-field value, typed as Jaeger's `TagType` (jaeger-idl `thrift/jaeger.thrift`).
#[derive(Clone, Debug, PartialEq)]
pub enum TagValue {
    /// `STRING` (0).
    String(Cow<'static, str>),
    /// `DOUBLE` (1).
    Double(f64),
    /// `BOOL` (2).
    Bool(bool),
    /// `LONG` (3).
    Long(i64),
    /// `BINARY` (4).
    Binary(Vec<u8>),
}

impl TagValue {
    /// The Thrift `TagType` number of this value.
    pub fn thrift_type(&self) -> i32 {
        match self {
            TagValue::String(_) => 0,
            TagValue::Double(_) => 1,
            TagValue::Bool(_) => 2,
            TagValue::Long(_) => 3,
            TagValue::Binary(_) => 4,
        }
    }

    /// The value's byte length when it is a string or binary, else 0 (used to name the
    /// largest field of a span that is too large to send).
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            TagValue::String(s) => s.len(),
            TagValue::Binary(b) => b.len(),
            _ => 0,
        }
    }
}

impl From<&'static str> for TagValue {
    fn from(v: &'static str) -> Self {
        TagValue::String(Cow::Borrowed(v))
    }
}
impl From<String> for TagValue {
    fn from(v: String) -> Self {
        TagValue::String(Cow::Owned(v))
    }
}
impl From<i64> for TagValue {
    fn from(v: i64) -> Self {
        TagValue::Long(v)
    }
}
impl From<f64> for TagValue {
    fn from(v: f64) -> Self {
        TagValue::Double(v)
    }
}
impl From<bool> for TagValue {
    fn from(v: bool) -> Self {
        TagValue::Bool(v)
    }
}

/// A key/value pair: a span tag, a process tag or a log field.
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    /// The key. Field names from `tracing` are `&'static str`, so most keys never allocate.
    pub key: Cow<'static, str>,
    /// The typed value.
    pub value: TagValue,
}

impl Tag {
    /// A tag from a key and anything convertible to a [`TagValue`].
    pub fn new(key: impl Into<Cow<'static, str>>, value: impl Into<TagValue>) -> Self {
        Tag { key: key.into(), value: value.into() }
    }
}

/// A timestamped log (a `tracing` event inside a sampled span).
#[derive(Clone, Debug, PartialEq)]
pub struct Log {
    /// Microseconds since the Unix epoch.
    pub timestamp_us: i64,
    /// The event's fields.
    pub fields: Vec<Tag>,
}

/// The kind of a span reference (Thrift `SpanRefType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefType {
    /// `CHILD_OF` (0).
    ChildOf,
    /// `FOLLOWS_FROM` (1).
    FollowsFrom,
}

/// A reference from one span to another (Thrift `SpanRef`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanRef {
    /// CHILD_OF or FOLLOWS_FROM.
    pub ref_type: RefType,
    /// The referenced span's trace id.
    pub trace_id: TraceId,
    /// The referenced span's id.
    pub span_id: u64,
}

/// A closed, sampled span as the encoder writes it: the `span` field of the pooled `Record`
/// whose box is moved through the queue to the exporter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FinishedSpan {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: u64,
    /// 0 for a root span.
    pub(crate) parent_id: u64,
    /// The whole sampling-state byte (sampled, debug, firehose).
    pub(crate) flags: u8,
    pub(crate) operation: Cow<'static, str>,
    pub(crate) references: Vec<SpanRef>,
    /// Microseconds since the Unix epoch.
    pub(crate) start_us: i64,
    /// Microseconds.
    pub(crate) duration_us: i64,
    /// User tags (fields), in recording order.
    pub(crate) tags: Vec<Tag>,
    pub(crate) logs: Vec<Log>,
    /// `sampler.type` / `sampler.param` of the span that took the sampling decision; written
    /// first, before `tags` (jaeger-client-go `tracer.go`). Like `metadata` and `error`, turned into tags by
    /// the encoder (`thrift::writer`), in the order it documents.
    pub(crate) sampler: Option<(&'static str, TagValue)>,
    /// The span's `tracing` metadata, from which `code.filepath`, `code.lineno`,
    /// `code.namespace` and `level` are written after `tags` (None when switched off). Kept
    /// as a reference so the application thread builds none of these tags.
    pub(crate) metadata: Option<&'static tracing_core::Metadata<'static>>,
    /// Write `error=true` after the other tags (unless `tags` has an `error` key already).
    pub(crate) error: bool,
    /// The W3C `tracestate` of the span's trace (carried from an extracted context); OTLP
    /// has a field for it, Thrift does not.
    pub(crate) trace_state: Option<String>,
    /// How many logs `max_logs_per_span` dropped (OTLP `dropped_events_count`; Thrift says it
    /// in the `dropped Span logs` record only).
    pub(crate) dropped_logs: u64,
}

impl FinishedSpan {
    /// What takes the most room in this span, for the "too large" report: the operation name,
    /// all tags or all logs, whichever is largest; within tags or logs, the one tag or log
    /// field that is at least half of them, else their count. Sizes are estimates of the
    /// encoded bytes (keys, values, a few bytes of framing), close enough to name the culprit.
    pub(crate) fn largest_part(&self) -> SpanPart<'_> {
        let tags: usize = self.tags.iter().map(approx_len).sum();
        let logs: usize =
            self.logs.iter().map(|l| LOG_FRAMING + l.fields.iter().map(approx_len).sum::<usize>()).sum();
        let operation = self.operation.len();
        if operation >= tags && operation >= logs {
            return SpanPart::Operation(operation);
        }
        let (fields, total) = if tags >= logs {
            (self.tags.iter().collect::<Vec<_>>(), tags)
        } else {
            (self.logs.iter().flat_map(|l| l.fields.iter()).collect(), logs)
        };
        let largest =
            fields.iter().copied().max_by_key(|t| approx_len(t)).filter(|t| approx_len(t) * 2 >= total);
        match (largest, tags >= logs) {
            (Some(t), true) => SpanPart::Tag(&t.key, t.value.payload_len()),
            (Some(t), false) => SpanPart::LogField(&t.key, t.value.payload_len()),
            (None, true) => SpanPart::Tags(self.tags.len(), total),
            (None, false) => SpanPart::Logs(self.logs.len(), total),
        }
    }
}

/// Framing bytes counted per tag (field header, type, list entry) by [`FinishedSpan::largest_part`].
const TAG_FRAMING: usize = 4;
/// Framing bytes counted per log (timestamp, list headers).
const LOG_FRAMING: usize = 12;

/// A tag's estimated encoded size.
fn approx_len(t: &Tag) -> usize {
    let value = match &t.value {
        TagValue::String(_) | TagValue::Binary(_) => t.value.payload_len(),
        TagValue::Double(_) | TagValue::Long(_) => 8,
        TagValue::Bool(_) => 1,
    };
    t.key.len() + value + TAG_FRAMING
}

/// The largest part of a span (see [`FinishedSpan::largest_part`]); `Display` names it for the
/// user, e.g. `tag "payload" (a 70000-byte value)` or `its 5000 logs (about 90000 bytes)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanPart<'a> {
    /// The operation name, of this many bytes.
    Operation(usize),
    /// One tag: its key and the bytes of its value.
    Tag(&'a str, usize),
    /// One log field: its key and the bytes of its value.
    LogField(&'a str, usize),
    /// Many tags, none dominant: their count and estimated bytes.
    Tags(usize, usize),
    /// Many logs, none dominant: their count and estimated bytes.
    Logs(usize, usize),
}

impl std::fmt::Display for SpanPart<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpanPart::Operation(n) => write!(f, "the operation name ({n} bytes): shorten it"),
            SpanPart::Tag(key, n) => write!(f, "tag {key:?} (a {n}-byte value): shorten it"),
            SpanPart::LogField(key, n) => write!(f, "log field {key:?} (a {n}-byte value): shorten it"),
            SpanPart::Tags(count, n) => write!(f, "its {count} tags (about {n} bytes): record fewer"),
            SpanPart::Logs(count, n) => {
                write!(f, "its {count} logs (about {n} bytes): record fewer or set max_logs_per_span")
            }
        }
    }
}

/// The reporting process (Thrift `Process`): service name and process tags.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Process {
    pub(crate) service_name: String,
    pub(crate) tags: Vec<Tag>,
}

/// The cumulative loss counters carried in every UDP batch (Thrift `ClientStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientStats {
    pub(crate) full_queue_dropped_spans: i64,
    pub(crate) too_large_dropped_spans: i64,
    pub(crate) failed_to_emit_spans: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(operation: &str, tags: Vec<Tag>, logs: Vec<Log>) -> FinishedSpan {
        FinishedSpan {
            trace_id: TraceId::new(0, 1),
            span_id: 1,
            parent_id: 0,
            flags: FLAG_SAMPLED,
            operation: Cow::Owned(operation.to_owned()),
            references: Vec::new(),
            start_us: 0,
            duration_us: 0,
            tags,
            logs,
            sampler: None,
            metadata: None,
            error: false,
            trace_state: None,
            dropped_logs: 0,
        }
    }

    fn log(fields: Vec<Tag>) -> Log {
        Log { timestamp_us: 0, fields }
    }

    #[test]
    fn largest_part_names_the_real_culprit() {
        let small = || vec![Tag::new("a", "s"), Tag::new("n", 1i64)];
        let cases = [
            // One big tag among small ones.
            (
                span("op", vec![Tag::new("payload", "z".repeat(5000)), Tag::new("a", "s")], vec![]),
                "tag \"payload\" (a 5000-byte value)",
            ),
            // One big log field, in any log.
            (
                span(
                    "op",
                    small(),
                    vec![log(vec![Tag::new("level", "INFO")]), log(vec![Tag::new("big", "b".repeat(999))])],
                ),
                "log field \"big\" (a 999-byte value)",
            ),
            // Many small logs: not the largest field ("level", 4 bytes) but their number.
            (
                span("op", small(), (0..2000).map(|_| log(vec![Tag::new("level", "INFO")])).collect()),
                "its 2000 logs (about",
            ),
            (
                span("op", (0..3000).map(|i| Tag::new("k", i as i64)).collect(), vec![]),
                "its 3000 tags (about",
            ),
            (span(&"o".repeat(4000), small(), vec![]), "the operation name (4000 bytes)"),
            (span("", vec![], vec![]), "the operation name (0 bytes)"),
        ];
        for (s, want) in cases {
            let got = s.largest_part().to_string();
            assert!(got.starts_with(want), "got {got:?}, want {want:?}");
        }
    }
}
