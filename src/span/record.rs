//! The record of a sampled span: one box, taken from a recycling pool (or allocated) when the
//! span starts, filled in place while it lives, moved by pointer through the queue, and given
//! back to the pool by the exporter thread with its buffers' capacity kept.
//!
//! This keeps a sampled span's steady-state cost to the registry's own allocation of its
//! extension: the tag vector, the string values and the log vectors are written into buffers
//! that were cleared on the exporter thread, and nothing the application thread allocated is
//! freed on another thread (which costs the allocator a lock).

use std::borrow::Cow;

use crossbeam_queue::ArrayQueue;

use crate::span::data::{FinishedSpan, Tag, TagValue};
use crate::span::id::TraceId;
use crate::span::logs::SpanLogs;

// What a pooled record may keep, so the pool's memory stays small and bounded: with these
// limits a cleared record holds at most about 6.5 KB (its own 0.4 KB, 32 tag slots, 16 log
// slots, 8 strings of 256 bytes, 4 field vectors of 8 slots); anything larger is freed.
// A typical record (a few tags, a few short strings) keeps well under 1 KB.

/// Cleared strings kept per record (a span with more string values allocates the rest).
const MAX_SPARE_STRINGS: usize = 8;
/// Strings with more capacity than this are freed rather than kept (the default
/// `max_tag_value_length` is 256).
const MAX_SPARE_STRING_CAPACITY: usize = 256;
/// Cleared log-field vectors kept per record, and the most slots each may have.
const MAX_SPARE_FIELDS: usize = 4;
const MAX_SPARE_FIELDS_CAPACITY: usize = 8;
/// Tag, log and reference vectors with more slots than this are freed rather than kept, so
/// one huge span does not pin its memory in the pool.
const MAX_SPARE_VEC_CAPACITY: usize = 32;
const MAX_SPARE_LOGS_CAPACITY: usize = 16;

/// A sampled span being recorded, then finished.
#[derive(Debug)]
pub(crate) struct Record {
    /// What the exporter encodes. Its ids and times are written at close.
    pub(crate) span: FinishedSpan,
    /// The logs while the span is open (bounded by `max_logs_per_span`); moved into
    /// `span.logs`, in time order, by the exporter.
    pub(crate) logs: SpanLogs,
    /// Cleared strings for string values.
    pub(crate) strings: Vec<String>,
    /// Cleared vectors for log fields.
    pub(crate) fields: Vec<Vec<Tag>>,
}

impl Record {
    fn new() -> Self {
        Record {
            span: FinishedSpan {
                trace_id: TraceId::default(),
                span_id: 0,
                parent_id: 0,
                flags: 0,
                operation: Cow::Borrowed(""),
                references: Vec::new(),
                start_us: 0,
                duration_us: 0,
                tags: Vec::new(),
                logs: Vec::new(),
                sampler: None,
                metadata: None,
                error: false,
                trace_state: None,
                dropped_logs: 0,
            },
            logs: SpanLogs::default(),
            strings: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Empties the record for its next span, keeping the buffers that are not too large.
    fn clear(&mut self) {
        let Record { span, logs, strings, fields } = self;
        for tag in span.tags.drain(..) {
            keep_string(strings, tag.value);
        }
        let mut kept_logs = std::mem::take(&mut span.logs);
        for log in kept_logs.drain(..) {
            let mut f = log.fields;
            for tag in f.drain(..) {
                keep_string(strings, tag.value);
            }
            if fields.len() < MAX_SPARE_FIELDS && f.capacity() <= MAX_SPARE_FIELDS_CAPACITY {
                fields.push(f);
            }
        }
        logs.reset(if kept_logs.capacity() <= MAX_SPARE_LOGS_CAPACITY { kept_logs } else { Vec::new() });
        if span.tags.capacity() > MAX_SPARE_VEC_CAPACITY {
            span.tags = Vec::new();
        }
        span.references.clear();
        if span.references.capacity() > MAX_SPARE_VEC_CAPACITY {
            span.references = Vec::new();
        }
        span.operation = Cow::Borrowed("");
        span.trace_state = None;
        span.dropped_logs = 0;
        span.sampler = None;
        span.metadata = None;
        span.error = false;
    }
}

/// Keeps an owned string value's buffer for reuse.
fn keep_string(strings: &mut Vec<String>, value: TagValue) {
    if let TagValue::String(Cow::Owned(mut s)) = value {
        if strings.len() < MAX_SPARE_STRINGS && s.capacity() <= MAX_SPARE_STRING_CAPACITY {
            s.clear();
            strings.push(s);
        }
    }
}

/// Records given back by the exporter, for the next sampled spans. Bounded (2048 records
/// with the default queue, so at most ~13 MB in the worst case and typically ~1 MB): when it
/// is empty a record is allocated, when it is full a returned record is freed.
#[derive(Debug)]
pub(crate) struct Pool {
    free: ArrayQueue<Box<Record>>,
}

impl Pool {
    pub(crate) fn new(capacity: usize) -> Self {
        Pool { free: ArrayQueue::new(capacity.max(1)) }
    }

    /// A cleared record (hot path: one pop, or one allocation when the pool is empty).
    #[inline]
    pub(crate) fn take(&self) -> Box<Record> {
        self.free.pop().unwrap_or_else(|| Box::new(Record::new()))
    }

    /// Clears a record and keeps it (exporter thread).
    pub(crate) fn give(&self, mut record: Box<Record>) {
        if self.free.is_full() {
            return; // Freed as it is: no point clearing what nobody will reuse.
        }
        record.clear();
        let _ = self.free.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::data::Log;

    #[test]
    fn a_given_back_record_comes_back_cleared_with_its_buffers() {
        let pool = Pool::new(2);
        let mut r = pool.take();
        r.span.operation = Cow::Owned("op".into());
        r.span.tags.push(Tag::new("s", String::from("value")));
        r.span.tags.push(Tag::new("n", 1i64));
        r.span.logs.push(Log { timestamp_us: 1, fields: vec![Tag::new("m", String::from("hello"))] });
        r.span.error = true;
        let tags_ptr = r.span.tags.as_ptr();
        pool.give(r);

        let r = pool.take();
        assert!(r.span.tags.is_empty() && r.span.logs.is_empty() && r.span.references.is_empty());
        assert_eq!(r.span.operation, "");
        assert!(!r.span.error && r.span.sampler.is_none());
        assert_eq!(r.span.tags.as_ptr(), tags_ptr, "the tag vector is reused");
        assert_eq!(r.strings.len(), 2, "both string buffers are kept");
        assert!(r.strings.iter().all(|s| s.is_empty() && s.capacity() >= 5));
        assert_eq!(r.fields.len(), 1);
        assert!(r.logs.logs.is_empty() && r.logs.logs.capacity() >= 1);
    }

    #[test]
    fn a_record_is_small() {
        // The bound on the pool's memory above assumes this.
        assert!(std::mem::size_of::<Record>() <= 400, "{}", std::mem::size_of::<Record>());
    }

    #[test]
    fn huge_buffers_are_not_kept_and_a_full_pool_frees() {
        let pool = Pool::new(1);
        let mut r = pool.take();
        for i in 0..100 {
            r.span.tags.push(Tag::new("k", i as i64));
        }
        r.span.tags.push(Tag::new("big", "x".repeat(10_000)));
        pool.give(r);
        pool.give(Box::new(Record::new())); // the pool is full: freed
        let r = pool.take();
        assert_eq!(r.span.tags.capacity(), 0);
        assert!(r.strings.is_empty());
        // Empty again: a fresh record.
        assert_eq!(pool.take().span.tags.capacity(), 0);
    }
}
