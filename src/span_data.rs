//! The owned records that flow from the layer to the exporter: tags, logs, references and
//! the finished span. They sit below both the wire encoder and the export machinery, so the
//! wire code never imports the exporter (STYLE.md layout).

use std::borrow::Cow;

use crate::id::TraceId;

/// Sampling-state flag: the trace is sampled (facts §4.9).
pub(crate) const FLAG_SAMPLED: u8 = 0x01;
/// Sampling-state flag: debug (forced) sampling.
pub(crate) const FLAG_DEBUG: u8 = 0x02;
/// Sampling-state flag: firehose (backend skips indexing).
#[allow(dead_code)]
pub(crate) const FLAG_FIREHOSE: u8 = 0x08;

/// A tag or log-field value, typed as Jaeger's `TagType` (facts §1.2).
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
    pub fn type_id(&self) -> i32 {
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

/// A closed, sampled span: the one owned record moved through the queue to the exporter.
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
    /// first, before `tags` (facts §4.8). Like `metadata` and `error`, turned into tags by
    /// the encoder (`thrift::writer`), in the order it documents.
    pub(crate) sampler: Option<(&'static str, TagValue)>,
    /// The span's `tracing` metadata, from which `code.filepath`, `code.lineno`,
    /// `code.namespace` and `level` are written after `tags` (None when switched off). Kept
    /// as a reference so the application thread builds none of these tags.
    pub(crate) metadata: Option<&'static tracing_core::Metadata<'static>>,
    /// Write `error=true` after the other tags (unless `tags` has an `error` key already).
    pub(crate) error: bool,
}

impl FinishedSpan {
    /// The key of the tag or log field with the longest value, for the "too large" report.
    pub(crate) fn largest_field(&self) -> Option<(&str, usize)> {
        self.tags
            .iter()
            .chain(self.logs.iter().flat_map(|l| l.fields.iter()))
            .map(|t| (t.key.as_ref(), t.value.payload_len()))
            .max_by_key(|(_, len)| *len)
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
