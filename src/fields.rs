//! `tracing` field values → typed Jaeger tags (facts §6), and the field names we give a
//! meaning to (`otel.name`, `otel.kind`, `otel.status_code`, `sampling.priority`).

use std::borrow::Cow;
use std::fmt;

use tracing_core::field::{Field, Visit};

use crate::span_data::{Tag, TagValue};

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

/// `s` in a spare buffer (see [`crate::record`]) when there is one.
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

/// `value`'s `Debug` text, in a spare buffer when there is one.
fn debug_in(spare: &mut Vec<String>, value: &dyn fmt::Debug) -> String {
    use std::fmt::Write;
    let mut buf = spare.pop().unwrap_or_default();
    let _ = write!(buf, "{value:?}");
    buf
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
            self.push(field, TagValue::Double(value));
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.push(field, TagValue::Long(value));
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.push(field, u64_value(value));
        }
        fn record_bool(&mut self, field: &Field, value: bool) {
            self.push(field, TagValue::Bool(value));
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

/// Records span fields as tags. `max_len` bounds string values.
pub(crate) struct TagVisitor<'a> {
    pub(crate) tags: &'a mut Vec<Tag>,
    /// Cleared strings to write string values into.
    pub(crate) spare: &'a mut Vec<String>,
    pub(crate) effects: &'a mut SpanFieldEffects,
    pub(crate) max_len: usize,
}

impl TagVisitor<'_> {
    fn push(&mut self, field: &Field, value: TagValue) {
        self.tags.push(Tag { key: Cow::Borrowed(field.name()), value });
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
                if value.eq_ignore_ascii_case("error") {
                    self.effects.error = true;
                }
            }
            _ => {
                let value = truncate(value, self.max_len);
                self.push(field, TagValue::String(Cow::Owned(value)));
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
            self.push(field, TagValue::String(Cow::Owned(value)));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.effects.error = true;
        self.string(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let value = debug_in(self.spare, value);
        self.string(field, value);
    }
}

/// Records an event's fields as log fields (not truncated, as Jaeger's clients do not
/// truncate logs); notes whether an error value was logged.
pub(crate) struct LogVisitor<'a> {
    pub(crate) fields: &'a mut Vec<Tag>,
    /// Cleared strings to write string values into.
    pub(crate) spare: &'a mut Vec<String>,
    pub(crate) error: bool,
}

impl LogVisitor<'_> {
    fn push(&mut self, field: &Field, value: TagValue) {
        self.fields.push(Tag { key: Cow::Borrowed(field.name()), value });
    }
}

impl Visit for LogVisitor<'_> {
    typed_records!();
    fn record_str(&mut self, field: &Field, value: &str) {
        let value = owned_in(self.spare, value);
        self.push(field, TagValue::String(Cow::Owned(value)));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.error = true;
        // Jaeger's Go client logs errors under `error.object` (facts §6).
        let key = if field.name() == "error" { "error.object" } else { field.name() };
        self.fields.push(Tag::new(key, value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let value = debug_in(self.spare, value);
        self.push(field, TagValue::String(Cow::Owned(value)));
    }
}

/// Reads an integer `sampling.priority` field, if the span has one.
pub(crate) struct PriorityVisitor(pub(crate) Option<i64>);

impl Visit for PriorityVisitor {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == SAMPLING_PRIORITY {
            self.0 = Some(value);
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == SAMPLING_PRIORITY {
            self.0 = Some(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
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
        assert_eq!(debug_in(&mut spare, &1.5), "1.5", "no spare left: a new string");
        let mut spare = vec![String::with_capacity(8)];
        assert_eq!(debug_in(&mut spare, &"q"), "\"q\"");
        assert!(spare.is_empty());
    }
}
