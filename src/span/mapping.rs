//! The tracing → Jaeger mapping, in one place: the layer records through these visitors and
//! the encoders write what [`SpanTags`] and [`implied_parent_ref`] add. It reads like the
//! README's table:
//!
//! | tracing | Jaeger | here |
//! |---|---|---|
//! | span name, or an `otel.name` field | `operationName` | [`OperationNameVisitor`], [`SpanFieldEffects`] |
//! | integer, float, bool, string, bytes fields | `LONG`, `DOUBLE`, `BOOL`, `STRING`, `BINARY` tags, cut at `max_tag_value_length` | [`TagVisitor`] |
//! | `?debug`, `%display`, `&dyn Error` fields | `STRING` tags (an error also sets `error=true`) | [`TagVisitor`] |
//! | `otel.kind`, `otel.status_code = "Error"` / `"Ok"` | `span.kind`, `error=true` / `otel.status_code=OK` | [`SpanFieldEffects`] |
//! | `sampling.priority` on a root | forces the sampling decision | [`PriorityVisitor`] |
//! | events | logs with their fields and `level`; ERROR sets `error=true` | [`LogVisitor`] |
//! | the sampler's decision, span metadata, `error` | `sampler.type`/`.param`, `code.*`/`level`, `error=true` tags | [`SpanTags`] |
//! | parent | `parentSpanId` and a `CHILD_OF` reference | [`implied_parent_ref`] |
//!
//! Value types follow jaeger-client-go `jaeger_tag.go` (every integer width as `LONG`, a `u64`
//! above `i64::MAX` as `STRING` here since Go's bit-cast would show it negative); strings are
//! cut on a character boundary. Log fields are cut too, unlike in jaeger-client-go, so that
//! one huge event field cannot make its whole span too large to send.

use std::borrow::Cow;
use std::fmt;

use tracing_core::field::{Field, Visit};

use crate::span::data::{FinishedSpan, RefType, Tag, TagValue};
use crate::span::record::Record;

/// Field that renames the span's operation (tracing-opentelemetry users write it).
pub(crate) const OTEL_NAME: &str = "otel.name";
/// Field whose value becomes the `span.kind` tag.
pub(crate) const OTEL_KIND: &str = "otel.kind";
/// Field whose value `Error` marks the span `error=true`.
pub(crate) const OTEL_STATUS_CODE: &str = "otel.status_code";
/// OpenTracing's sampling-priority tag: ≥ 1 forces sampled + debug, 0 forces not sampled.
pub(crate) const SAMPLING_PRIORITY: &str = "sampling.priority";

/// Cuts `s` to at most `max` bytes on a char boundary (Go cuts bytes and may split UTF-8).
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// `s` cut to at most `max` bytes on a char boundary.
fn truncated_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` in a spare buffer (see [`crate::span::record`]) when there is one.
#[inline]
fn owned_in(spare: &mut Vec<String>, s: &str) -> String {
    match spare.pop() {
        Some(mut buf) => {
            buf.push_str(s);
            buf
        }
        None => s.to_owned(),
    }
}

/// `value`'s `Debug` text cut at `max` bytes on a char boundary, in a spare buffer when
/// there is one. What lies beyond `max` is formatted but never stored, so a huge value does
/// not allocate its whole rendering.
fn debug_in(spare: &mut Vec<String>, value: &dyn fmt::Debug, max: usize) -> String {
    use std::fmt::Write;
    let mut buf = spare.pop().unwrap_or_default();
    let _ = write!(Capped { buf: &mut buf, max, full: false }, "{value:?}");
    buf
}

/// `value`'s `Display` text cut at `max` bytes on a char boundary.
fn display_capped(value: &dyn fmt::Display, max: usize) -> String {
    use std::fmt::Write;
    let mut buf = String::new();
    let _ = write!(Capped { buf: &mut buf, max, full: false }, "{value}");
    buf
}

/// A writer that keeps the first `max` bytes written (cut on a char boundary) and silently
/// discards the rest. It never reports an error: a `Debug` impl that unwraps its `write!`
/// results must not panic inside the layer.
struct Capped<'a> {
    buf: &'a mut String,
    max: usize,
    full: bool,
}

impl fmt::Write for Capped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.full {
            return Ok(());
        }
        let room = self.max.saturating_sub(self.buf.len());
        if s.len() <= room {
            self.buf.push_str(s);
        } else {
            // Pieces end on char boundaries, so the kept text is the whole rendering's prefix.
            self.buf.push_str(truncated_str(s, room));
            self.full = true;
        }
        Ok(())
    }
}

/// Bytes cut at `max`: a `BINARY` value (jaeger-client-go `jaeger_tag.go` truncates byte
/// slices at `MaxTagValueLength` like strings).
fn binary(value: &[u8], max: usize) -> TagValue {
    TagValue::Binary(value[..value.len().min(max)].to_vec())
}

/// An `i128`/`u128` as a `LONG` when it fits in 64 signed bits (jaeger-client-go
/// `jaeger_tag.go` maps every integer width to `LONG`), else its decimal `STRING`.
fn wide_int_value(value: i128) -> TagValue {
    match i64::try_from(value) {
        Ok(v) => TagValue::Long(v),
        Err(_) => TagValue::String(Cow::Owned(value.to_string())),
    }
}

/// A `u64` as a tag value: `LONG` is signed on the wire, so above `i64::MAX` the number
/// would turn negative; it becomes a `STRING` instead.
fn u64_value(value: u64) -> TagValue {
    match i64::try_from(value) {
        Ok(v) => TagValue::Long(v),
        Err(_) => TagValue::String(Cow::Owned(value.to_string())),
    }
}

/// The `Visit` methods whose value maps to one typed tag, the same for span tags and log
/// fields; the visitor provides `push(field, value)`.
macro_rules! typed_records {
    () => {
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.push(field, || TagValue::Double(value));
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.push(field, || TagValue::Long(value));
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.push(field, || u64_value(value));
        }
        fn record_bool(&mut self, field: &Field, value: bool) {
            self.push(field, || TagValue::Bool(value));
        }
        fn record_i128(&mut self, field: &Field, value: i128) {
            self.push(field, || wide_int_value(value));
        }
        fn record_u128(&mut self, field: &Field, value: u128) {
            match i128::try_from(value) {
                Ok(v) => self.push(field, || wide_int_value(v)),
                Err(_) => self.push(field, || TagValue::String(Cow::Owned(value.to_string()))),
            }
        }
        fn record_bytes(&mut self, field: &Field, value: &[u8]) {
            let max_len = self.max_len;
            self.push(field, || binary(value, max_len));
        }
    };
}

/// What a span's fields say beyond their tags.
#[derive(Debug, Default)]
pub(crate) struct SpanFieldEffects {
    /// `otel.name` value: the operation name to use instead of the span name.
    pub(crate) operation: Option<String>,
    /// An error value or an `otel.status_code = Error` was recorded.
    pub(crate) error: bool,
}

/// Records span fields as tags. `max_len` bounds string and byte values.
pub(crate) struct TagVisitor<'a> {
    pub(crate) tags: &'a mut Vec<Tag>,
    /// Cleared strings to write string values into.
    pub(crate) spare: &'a mut Vec<String>,
    pub(crate) effects: &'a mut SpanFieldEffects,
    pub(crate) max_len: usize,
}

impl TagVisitor<'_> {
    /// The value comes as a closure, built after the key: passed by value, it was built on
    /// the stack and copied byte by byte into the tag (about a dozen more instructions
    /// per field in callgrind).
    #[inline(always)]
    fn push(&mut self, field: &Field, value: impl FnOnce() -> TagValue) {
        let key = Cow::Borrowed(field.name());
        self.tags.push(Tag { key, value: value() });
    }

    fn string(&mut self, field: &Field, value: String) {
        match field.name() {
            OTEL_NAME => self.effects.operation = Some(value),
            OTEL_KIND => {
                let kind = value.to_ascii_lowercase();
                // Only the four OpenTracing kinds exist in Jaeger; "internal" means no tag.
                if matches!(kind.as_str(), "client" | "server" | "producer" | "consumer") {
                    self.tags.push(Tag::new("span.kind", kind));
                }
            }
            OTEL_STATUS_CODE => {
                // `Error` marks the span failed (an `error=true` tag); `Ok` stays as the tag
                // `otel.status_code=OK`, which is how Jaeger v2 shows an OK status and how
                // it reads one back (contrib `jaegerthrift_to_traces.go`); `Unset` says nothing.
                if value.eq_ignore_ascii_case("error") {
                    self.effects.error = true;
                } else if value.eq_ignore_ascii_case("ok") {
                    self.tags.push(Tag::new(OTEL_STATUS_CODE, "OK"));
                }
            }
            _ => {
                let value = truncate(value, self.max_len);
                self.push(field, || TagValue::String(Cow::Owned(value)));
            }
        }
    }
}

impl Visit for TagVisitor<'_> {
    typed_records!();

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == OTEL_NAME || field.name() == OTEL_KIND || field.name() == OTEL_STATUS_CODE {
            self.string(field, value.to_owned());
        } else {
            let value = owned_in(self.spare, truncated_str(value, self.max_len));
            self.push(field, || TagValue::String(Cow::Owned(value)));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.effects.error = true;
        self.string(field, display_capped(value, self.max_len_of(field)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let value = debug_in(self.spare, value, self.max_len_of(field));
        self.string(field, value);
    }
}

impl TagVisitor<'_> {
    /// The operation name and the other `otel.*` values are read whole; tag values are cut.
    fn max_len_of(&self, field: &Field) -> usize {
        match field.name() {
            OTEL_NAME | OTEL_KIND | OTEL_STATUS_CODE => usize::MAX,
            _ => self.max_len,
        }
    }
}

/// Records an event's fields as log fields, cut at `max_len` bytes like tags.
///
/// jaeger-client-go does not truncate log fields; we do, because one oversized field (a
/// 10 MB request body logged by mistake) would otherwise make its whole span too large for
/// any datagram, and the span would be dropped with everything else it recorded.
pub(crate) struct LogVisitor<'a> {
    pub(crate) fields: &'a mut Vec<Tag>,
    /// Cleared strings to write string values into.
    pub(crate) spare: &'a mut Vec<String>,
    pub(crate) error: bool,
    /// `max_tag_value_length`: string, rendered and byte values are cut at this many bytes.
    pub(crate) max_len: usize,
}

impl LogVisitor<'_> {
    /// As [`TagVisitor`]'s: the value is built after the key.
    #[inline(always)]
    fn push(&mut self, field: &Field, value: impl FnOnce() -> TagValue) {
        let key = Cow::Borrowed(field.name());
        self.fields.push(Tag { key, value: value() });
    }
}

impl Visit for LogVisitor<'_> {
    typed_records!();
    fn record_str(&mut self, field: &Field, value: &str) {
        let value = owned_in(self.spare, truncated_str(value, self.max_len));
        self.push(field, || TagValue::String(Cow::Owned(value)));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.error = true;
        // Errors are logged under `error.object`, as opentracing-go's `log.Error` (`log/field.go`)
        // names them for jaeger-client-go.
        let key = if field.name() == "error" { "error.object" } else { field.name() };
        self.fields.push(Tag::new(key, display_capped(value, self.max_len)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let value = debug_in(self.spare, value, self.max_len);
        self.push(field, || TagValue::String(Cow::Owned(value)));
    }
}

/// Reads an integer `sampling.priority` field, if the span has one.
///
/// jaeger-client-go (`span.go`, `setSamplingPriority`) honours only a `uint16` value and
/// ignores the tag otherwise; `tracing` has no 16-bit integers, so a value in `0..=65535`
/// counts and any other (negative, larger) is ignored, leaving the decision to the sampler.
pub(crate) struct PriorityVisitor(pub(crate) Option<u16>);

impl Visit for PriorityVisitor {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == SAMPLING_PRIORITY {
            self.0 = u16::try_from(value).ok();
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == SAMPLING_PRIORITY {
            self.0 = u16::try_from(value).ok();
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

/// Calls `f` with the value of an `otel.name` field, the name the span will be reported
/// under, so that the sampler can decide for that name (once, at creation).
///
/// A `&str` value is passed as it is; a `%display` or `?debug` one is rendered into a stack
/// buffer (a heap string only for names longer than 256 bytes), so an unsampled root does not
/// allocate for it.
pub(crate) struct OperationNameVisitor<F: FnMut(&str)>(pub(crate) F);

impl<F: FnMut(&str)> Visit for OperationNameVisitor<F> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == OTEL_NAME {
            (self.0)(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        if field.name() != OTEL_NAME {
            return;
        }
        let mut stack = StackStr { buf: [0; 256], len: 0 };
        if write!(stack, "{value:?}").is_ok() {
            (self.0)(stack.as_str());
        } else {
            (self.0)(&format!("{value:?}"));
        }
    }
}

/// A fixed-size string buffer; a write that does not fit fails.
struct StackStr {
    buf: [u8; 256],
    len: usize,
}

impl StackStr {
    fn as_str(&self) -> &str {
        // Only whole `str`s are ever copied in, so this is always UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

// === events and the span's close ===

/// Records an event as a log's fields: its own fields (cut at `max_len`), then `level`
/// (e.g. "INFO"). Returns whether the event marks its span as failed: an ERROR event, or an
/// error field.
// Always inlined: it is most of an event's cost, and a call here showed up in callgrind.
#[inline(always)]
pub(crate) fn record_event(
    event: &tracing_core::Event<'_>,
    fields: &mut Vec<Tag>,
    spare: &mut Vec<String>,
    max_len: usize,
) -> bool {
    let meta = event.metadata();
    fields.reserve(meta.fields().len() + 1);
    let mut visitor = LogVisitor { fields, spare, error: false, max_len };
    event.record(&mut visitor);
    let error = visitor.error || *meta.level() == tracing_core::Level::ERROR;
    fields.push(Tag::new("level", meta.level().as_str()));
    error
}

/// The tag a trace started by an incoming `jaeger-debug-id` carries on its root
/// (jaeger-client-go `tracer.go`, the debug-id container).
pub(crate) fn debug_id_tag(debug_id: String) -> Tag {
    Tag::new("jaeger-debug-id", debug_id)
}

// === the span on the wire: what the mapping adds to what was recorded ===

/// A tag value as the mapping produces it for the encoders: borrowed from the span or its
/// metadata, never built into a `Tag` (the exporter encodes millions of spans a second).
#[derive(Clone, Copy, Debug)]
pub(crate) enum TagRef<'a> {
    Str(&'a str),
    Long(i64),
    Value(&'a TagValue),
}

/// A finished span's tags in wire order: `sampler.type` and `sampler.param` on the span
/// whose sampler said yes (jaeger-client-go `sampler.go`: only there, first), the recorded
/// tags, the metadata tags `code.filepath`, `code.lineno` (LONG), `code.namespace` and
/// `level` (each when known, as tracing-opentelemetry names them), and `error=true` (BOOL)
/// when an ERROR event, an `otel.status_code = "Error"` or an error field marked the span
/// and the user did not set `error` themselves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanTags<'a> {
    span: &'a FinishedSpan,
    write_error: bool,
}

impl<'a> SpanTags<'a> {
    pub(crate) fn of(span: &'a FinishedSpan) -> Self {
        let write_error = span.error && !span.tags.iter().any(|t| t.key == "error");
        SpanTags { span, write_error }
    }

    /// How many tags [`for_each`](Self::for_each) yields.
    pub(crate) fn count(&self) -> usize {
        let s = self.span;
        let sampler = if s.sampler.is_some() { 2 } else { 0 };
        let meta = s.metadata.map_or(0, |m| {
            1 + usize::from(m.file().is_some())
                + usize::from(m.line().is_some())
                + usize::from(m.module_path().is_some())
        });
        sampler + s.tags.len() + meta + usize::from(self.write_error)
    }

    /// The tags before the metadata ones: the sampler's and the recorded ones. An encoder
    /// writes these, then [`metadata_tags`] (the same for every span of a callsite, so
    /// it may copy them from a per-callsite cache), then `error=true` (BOOL) if
    /// [`writes_error`](Self::writes_error): that is the wire order.
    #[inline]
    pub(crate) fn for_each_own(&self, mut f: impl FnMut(&'a str, TagRef<'a>)) {
        let s = self.span;
        if let Some((sampler_type, param)) = &s.sampler {
            f("sampler.type", TagRef::Str(sampler_type));
            f("sampler.param", TagRef::Value(param));
        }
        for t in &s.tags {
            f(&t.key, TagRef::Value(&t.value));
        }
    }

    /// Whether the mapping adds `error=true`, after the metadata tags.
    #[inline]
    pub(crate) fn writes_error(&self) -> bool {
        self.write_error
    }
}

/// The tags a span's callsite gives it: `code.filepath`, `code.lineno` (LONG),
/// `code.namespace` and `level`, each when known (as tracing-opentelemetry names them).
#[inline]
pub(crate) fn metadata_tags<'a>(
    meta: &'static tracing_core::Metadata<'static>,
    mut f: impl FnMut(&'a str, TagRef<'a>),
) {
    if let Some(file) = meta.file() {
        f("code.filepath", TagRef::Str(file));
    }
    if let Some(line) = meta.line() {
        f("code.lineno", TagRef::Long(i64::from(line)));
    }
    if let Some(module) = meta.module_path() {
        f("code.namespace", TagRef::Str(module));
    }
    f("level", TagRef::Str(meta.level().as_str()));
}

/// Whether the span's parent is also written as a CHILD_OF reference, before its own
/// references: Jaeger names the parent twice, in `parentSpanId` and as a reference
/// (jaeger-client-go `jaeger_thrift_span.go`, `buildReferences`), unless a CHILD_OF reference
/// was recorded already. The application thread does not allocate for it.
#[inline]
pub(crate) fn implied_parent_ref(s: &FinishedSpan) -> bool {
    s.parent_id != 0 && !s.references.iter().any(|r| r.ref_type == RefType::ChildOf)
}

// === impl Record: recorded fields into the span ===

impl Record {
    /// Adds recorded tags; a key recorded again replaces its earlier value.
    pub(crate) fn merge(&mut self, tags: Vec<Tag>, effects: SpanFieldEffects) {
        for tag in tags {
            match self.span.tags.iter_mut().find(|t| t.key == tag.key) {
                Some(old) => *old = tag,
                None => self.span.tags.push(tag),
            }
        }
        if let Some(op) = effects.operation {
            self.span.operation = Cow::Owned(op);
        }
        self.span.error |= effects.error;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo".to_owned(), 2), "h");
        assert_eq!(truncate("héllo".to_owned(), 3), "hé");
        assert_eq!(truncate("abc".to_owned(), 10), "abc");
        assert_eq!(truncated_str("€€", 4), "€");
    }

    #[test]
    fn spare_buffers_are_written_into_and_used_up() {
        let mut spare = vec![String::with_capacity(32)];
        let ptr = spare[0].as_ptr();
        let a = owned_in(&mut spare, "abc");
        assert_eq!((a.as_str(), a.as_ptr()), ("abc", ptr));
        assert_eq!(debug_in(&mut spare, &1.5, 256), "1.5", "no spare left: a new string");
        let mut spare = vec![String::with_capacity(8)];
        assert_eq!(debug_in(&mut spare, &"q", 256), "\"q\"");
        assert!(spare.is_empty());
    }

    #[test]
    fn renderings_are_cut_while_written() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Big {
            name: &'static str,
            data: Vec<u8>,
        }
        let big = Big { name: "é€x", data: vec![7; 100_000] };
        let whole = format!("{big:?}");
        for max in [0, 1, 5, 12, 13, 14, 15, 16, 100, 1000] {
            let cut = debug_in(&mut Vec::new(), &big, max);
            assert_eq!(cut, truncated_str(&whole, max), "max {max}");
            assert!(cut.capacity() < 4 * max + 64, "max {max}: the rest was not stored");
        }
        assert_eq!(display_capped(&"ab€", 4), "ab");
        assert_eq!(binary(&[1, 2, 3], 2), TagValue::Binary(vec![1, 2]));
        assert_eq!(wide_int_value(-1), TagValue::Long(-1));
        assert_eq!(wide_int_value(i128::from(i64::MAX) + 1), TagValue::String("9223372036854775808".into()));
    }

    /// A span callsite with the given field names, for visiting single values.
    macro_rules! fields {
        ($($name:expr),+) => {{
            static CALLSITE: tracing_core::callsite::DefaultCallsite =
                tracing_core::callsite::DefaultCallsite::new(&META);
            static META: tracing_core::Metadata<'static> = tracing_core::metadata! {
                name: "m",
                target: "t",
                level: tracing_core::Level::INFO,
                fields: &[$($name),+],
                callsite: &CALLSITE,
                kind: tracing_core::metadata::Kind::SPAN,
            };
            META.fields()
        }};
    }

    #[test]
    fn otel_name_is_read_in_every_form() {
        use tracing_core::field::Value;
        let fields = fields!(OTEL_NAME, "other");
        let name_of = |value: &dyn Value| {
            let mut found = None;
            let field = fields.field(OTEL_NAME).unwrap();
            value.record(&field, &mut OperationNameVisitor(|n: &str| found = Some(n.to_owned())));
            let other = fields.field("other").unwrap();
            value.record(&other, &mut OperationNameVisitor(|_: &str| panic!("not otel.name")));
            found
        };
        assert_eq!(name_of(&"GET /x").as_deref(), Some("GET /x"));
        assert_eq!(name_of(&tracing_core::field::display("GET /y")).as_deref(), Some("GET /y"));
        let long = "p".repeat(300);
        assert_eq!(name_of(&tracing_core::field::display(&long)), Some(long), "longer than the stack buffer");
    }

    #[test]
    fn sampling_priority_counts_only_in_the_u16_range() {
        use tracing_core::field::Value;
        let field = fields!(SAMPLING_PRIORITY).field(SAMPLING_PRIORITY).unwrap();
        let read = |v: &dyn Value| {
            let mut p = PriorityVisitor(None);
            v.record(&field, &mut p);
            p.0
        };
        assert_eq!(read(&0i64), Some(0));
        assert_eq!(read(&1u64), Some(1));
        assert_eq!(read(&65_535i64), Some(u16::MAX));
        assert_eq!(read(&65_536i64), None);
        assert_eq!(read(&-1i64), None);
        assert_eq!(read(&u64::MAX), None);
    }
}
