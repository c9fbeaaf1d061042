//! A span's logs under a `max_logs_per_span` limit, as jaeger-client-go's `span.go` keeps them:
//! the oldest ⌊(L−1)/2⌋ logs stay, the other slots form a ring of the newest, and at finish
//! the oldest ring slot becomes a `dropped Span logs` record saying how many were dropped.

use crate::span::data::{Log, Tag};

/// Logs of one span, bounded by `max` (0 = unbounded).
#[derive(Debug, Default)]
pub(crate) struct SpanLogs {
    pub(crate) logs: Vec<Log>,
    /// Logs overwritten in the ring.
    dropped: u64,
    /// Next ring slot to overwrite (relative to the ring's start).
    next: usize,
}

impl SpanLogs {
    /// Inlined (the layer's callbacks are generic, so a plain call from them stays a call):
    /// the common case is one `Vec::push`; the ring is the cold part.
    #[inline]
    pub(crate) fn push(&mut self, log: Log, max: usize) {
        if max == 0 || self.logs.len() < max {
            self.logs.push(log);
            return;
        }
        self.overwrite(log, max);
    }

    /// Puts `log` in the ring's next slot, over its oldest log.
    #[cold]
    fn overwrite(&mut self, log: Log, max: usize) {
        let head = (max - 1) / 2;
        let ring = max - head;
        self.logs[head + self.next] = log;
        self.next = (self.next + 1) % ring;
        self.dropped += 1;
    }

    /// How many logs are lost when [`finish`](Self::finish) is called now: those overwritten
    /// in the ring and the one the `dropped Span logs` record replaces (its
    /// `dropped_log_count`).
    pub(crate) fn lost(&self) -> u64 {
        if self.dropped == 0 {
            0
        } else {
            self.dropped + 1
        }
    }

    /// The logs in time order; when some were dropped, the oldest kept ring entry is replaced
    /// by the `dropped Span logs` record (keeping its timestamp), as Go does.
    /// Leaves the logs empty (ready for [`SpanLogs::reset`]).
    pub(crate) fn finish(&mut self, max: usize) -> Vec<Log> {
        let dropped = std::mem::take(&mut self.dropped);
        let next = std::mem::take(&mut self.next);
        let mut logs = std::mem::take(&mut self.logs);
        if dropped == 0 || max == 0 {
            return logs;
        }
        let head = (max - 1) / 2;
        // Put the ring in time order: its oldest entry is at `next`.
        logs[head..].rotate_left(next);
        let oldest = &mut logs[head];
        oldest.fields = vec![
            Tag::new("event", "dropped Span logs"),
            Tag::new("dropped_log_count", (dropped + 1) as i64),
            Tag::new("component", "jaeger-client"),
        ];
        logs
    }

    /// Starts over with `logs` (empty; kept for its capacity).
    pub(crate) fn reset(&mut self, logs: Vec<Log>) {
        debug_assert!(logs.is_empty());
        *self = SpanLogs { logs, dropped: 0, next: 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::data::TagValue;

    fn log(i: i64) -> Log {
        Log { timestamp_us: i, fields: vec![Tag::new("i", i)] }
    }

    fn ids(logs: &[Log]) -> Vec<String> {
        logs.iter()
            .map(|l| match &l.fields[0].value {
                TagValue::Long(i) => i.to_string(),
                TagValue::String(s) => format!("{s}@{}", l.timestamp_us),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn unbounded_and_under_the_limit_keep_everything() {
        let mut l = SpanLogs::default();
        (0..10).for_each(|i| l.push(log(i), 0));
        assert_eq!(l.finish(0).len(), 10);
        let mut l = SpanLogs::default();
        (0..5).for_each(|i| l.push(log(i), 5));
        assert_eq!(ids(&l.finish(5)), ["0", "1", "2", "3", "4"]);
    }

    #[test]
    fn over_the_limit_keeps_the_oldest_and_the_newest() {
        // max 5: head = 2 oldest (0, 1); ring of 3 keeps the newest; the oldest ring entry
        // becomes the drop record: 10 logs, 5 kept, so 5 dropped + the replaced one = 6.
        let mut l = SpanLogs::default();
        (0..10).for_each(|i| l.push(log(i), 5));
        let logs = l.finish(5);
        assert_eq!(ids(&logs), ["0", "1", "dropped Span logs@7", "8", "9"]);
        assert_eq!(logs[2].fields[1].value, TagValue::Long(6));
        assert_eq!(logs[2].fields[2].value, TagValue::String("jaeger-client".into()));
    }

    #[test]
    fn a_limit_of_one_keeps_only_the_drop_record() {
        let mut l = SpanLogs::default();
        (0..4).for_each(|i| l.push(log(i), 1));
        let logs = l.finish(1);
        assert_eq!(ids(&logs), ["dropped Span logs@3"]);
        assert_eq!(logs[0].fields[1].value, TagValue::Long(4));
    }

    #[test]
    fn a_hundred_thousand_events_stay_bounded() {
        let mut l = SpanLogs::default();
        (0..100_000).for_each(|i| l.push(log(i), 100));
        assert_eq!(l.logs.len(), 100);
        let logs = l.finish(100);
        assert_eq!(logs.len(), 100);
        assert!(logs.windows(2).all(|w| w[0].timestamp_us <= w[1].timestamp_us));
        assert_eq!(ids(&logs).last().map(String::as_str), Some("99999"));
    }
}
