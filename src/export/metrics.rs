//! (feature `metrics`) The layer's [`Stats`] through the `metrics` facade, under the names the
//! Jaeger clients use with Prometheus (jaeger-client-go `metrics.go` through jaeger-lib's
//! Prometheus factory: namespace `jaeger_tracer`, counters with a `_total` suffix, tags as
//! labels).
//!
//! [`Stats`] holds cumulative totals; [`publish`] turns the difference between two snapshots
//! into counter increments, so that whoever calls it periodically (the exporter thread, say)
//! needs no state but the previous snapshot. Describing the metrics is separate
//! ([`describe`]), to be done once.

use crate::export::stats::Stats;

/// A `Stats` field (or sum of fields).
type Get = fn(&Stats) -> u64;
/// Label pairs of one series.
type Labels = &'static [(&'static str, &'static str)];

/// Every counter: name, labels, and the [`Stats`] field(s) it follows.
const COUNTERS: &[(&str, Labels, Get)] = &[
    ("jaeger_tracer_reporter_spans_total", &[("result", "ok")], |s| s.spans_exported),
    // Go counts too-large spans as `err` with emit failures (`transport_udp.go`, `reporter.go`).
    ("jaeger_tracer_reporter_spans_total", &[("result", "err")], |s| {
        s.spans_failed + s.spans_dropped_too_large
    }),
    // Go has no shutdown that gives up; spans abandoned by one, or finished after the exporter
    // stopped, are dropped like those at a full queue.
    ("jaeger_tracer_reporter_spans_total", &[("result", "dropped")], |s| {
        s.spans_dropped_queue_full + s.spans_abandoned + s.spans_dropped_closed
    }),
    ("jaeger_tracer_traces_total", &[("state", "started"), ("sampled", "y")], |s| s.traces_started_sampled),
    ("jaeger_tracer_traces_total", &[("state", "started"), ("sampled", "n")], |s| s.traces_started_unsampled),
    ("jaeger_tracer_traces_total", &[("state", "joined"), ("sampled", "y")], |s| s.traces_joined_sampled),
    ("jaeger_tracer_traces_total", &[("state", "joined"), ("sampled", "n")], |s| s.traces_joined_unsampled),
    ("jaeger_tracer_started_spans_total", &[("sampled", "y")], |s| s.spans_started_sampled),
    ("jaeger_tracer_started_spans_total", &[("sampled", "n")], |s| s.spans_started_unsampled),
    // Only sampled spans are counted when they finish; Go's `sampled=n` row has no source here.
    ("jaeger_tracer_finished_spans_total", &[("sampled", "y")], |s| s.spans_finished),
    ("jaeger_tracer_sampler_queries_total", &[("result", "ok")], |s| s.sampler_queries_ok),
    ("jaeger_tracer_sampler_queries_total", &[("result", "err")], |s| s.sampler_queries_err),
    ("jaeger_tracer_sampler_updates_total", &[("result", "ok")], |s| s.sampler_updates_ok),
    ("jaeger_tracer_sampler_updates_total", &[("result", "err")], |s| s.sampler_updates_err),
    ("jaeger_tracer_span_context_decoding_errors_total", &[], |s| s.span_context_decoding_errors),
    ("jaeger_tracer_baggage_updates_total", &[("result", "ok")], |s| s.baggage_updates_ok),
    ("jaeger_tracer_baggage_updates_total", &[("result", "err")], |s| s.baggage_updates_err),
    ("jaeger_tracer_baggage_truncations_total", &[], |s| s.baggage_truncations),
];

const QUEUE_LENGTH: &str = "jaeger_tracer_reporter_queue_length";

/// Adds `stats − previous` to each counter and sets the queue-length gauge to the spans not yet
/// sent. A counter that went down (a `previous` from another layer) adds nothing.
pub(crate) fn publish(stats: &Stats, previous: &Stats) {
    for (name, labels, get) in COUNTERS {
        let delta = get(stats).saturating_sub(get(previous));
        if delta > 0 {
            metrics::counter!(*name, labels_of(labels)).increment(delta);
        }
    }
    // Precision loss above 2^53 queued spans is not a concern.
    metrics::gauge!(QUEUE_LENGTH).set(stats.spans_queued as f64);
}

/// Registers help texts with the installed recorder; call once.
pub(crate) fn describe() {
    use metrics::{describe_counter, describe_gauge, Unit};
    describe_counter!(
        "jaeger_tracer_reporter_spans_total",
        Unit::Count,
        "Spans sent (ok), lost (err) or dropped at a full queue (dropped)"
    );
    describe_counter!(
        "jaeger_tracer_traces_total",
        Unit::Count,
        "Traces started here or joined from a remote parent, by sampling decision"
    );
    describe_counter!(
        "jaeger_tracer_started_spans_total",
        Unit::Count,
        "Spans started, by sampling decision"
    );
    describe_counter!("jaeger_tracer_finished_spans_total", Unit::Count, "Sampled spans finished");
    describe_counter!("jaeger_tracer_sampler_queries_total", Unit::Count, "Remote sampling strategy fetches");
    describe_counter!(
        "jaeger_tracer_sampler_updates_total",
        Unit::Count,
        "Remote sampling strategies applied or rejected"
    );
    describe_counter!(
        "jaeger_tracer_span_context_decoding_errors_total",
        Unit::Count,
        "Incoming span contexts that could not be decoded"
    );
    describe_counter!("jaeger_tracer_baggage_updates_total", Unit::Count, "Baggage items set or refused");
    describe_counter!("jaeger_tracer_baggage_truncations_total", Unit::Count, "Baggage values truncated");
    describe_gauge!(QUEUE_LENGTH, Unit::Count, "Finished spans not yet sent");
}

fn labels_of(labels: &[(&'static str, &'static str)]) -> Vec<metrics::Label> {
    labels.iter().map(|&(k, v)| metrics::Label::new(k, v)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    use super::*;

    /// Counters and gauges as `name{k=v,...}` -> value, labels in emission order.
    fn snapshot(f: impl FnOnce()) -> HashMap<String, f64> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (kind, key) = key.into_parts();
                let labels: Vec<String> =
                    key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
                let value = match (kind, value) {
                    (MetricKind::Counter, DebugValue::Counter(n)) => n as f64,
                    (MetricKind::Gauge, DebugValue::Gauge(g)) => g.into_inner(),
                    other => panic!("unexpected metric {other:?}"),
                };
                (format!("{}{{{}}}", key.name(), labels.join(",")), value)
            })
            .collect()
    }

    /// Distinct values for every field, so that a swapped mapping shows.
    fn stats(base: u64) -> Stats {
        Stats {
            traces_started_sampled: base + 1,
            traces_started_unsampled: base + 2,
            traces_joined_sampled: base + 3,
            traces_joined_unsampled: base + 4,
            spans_started_sampled: base + 5,
            spans_started_unsampled: base + 6,
            spans_finished: base + 7,
            spans_exported: base + 8,
            spans_dropped_queue_full: base + 9,
            spans_dropped_too_large: base + 10,
            spans_failed: base + 11,
            spans_queued: base + 12,
            packets_sent: base + 13,
            packets_failed: base + 14,
            sampler_queries_ok: base + 15,
            sampler_queries_err: base + 16,
            sampler_updates_ok: base + 17,
            sampler_updates_err: base + 18,
            span_context_decoding_errors: base + 19,
            baggage_updates_ok: base + 20,
            baggage_updates_err: base + 21,
            baggage_truncations: base + 22,
            spans_abandoned: base + 23,
            spans_dropped_closed: base + 24,
            exporter_panics: base + 25,
        }
    }

    #[test]
    fn successive_snapshots_add_up_to_the_totals_under_jaeger_names() {
        let (first, second) = (stats(0), stats(100));
        let got = snapshot(|| {
            publish(&first, &Stats::default());
            publish(&second, &first);
        });
        let want: HashMap<String, f64> = [
            ("jaeger_tracer_reporter_spans_total{result=ok}", 108.0),
            ("jaeger_tracer_reporter_spans_total{result=err}", 221.0),
            ("jaeger_tracer_reporter_spans_total{result=dropped}", 109.0 + 123.0 + 124.0),
            ("jaeger_tracer_traces_total{state=started,sampled=y}", 101.0),
            ("jaeger_tracer_traces_total{state=started,sampled=n}", 102.0),
            ("jaeger_tracer_traces_total{state=joined,sampled=y}", 103.0),
            ("jaeger_tracer_traces_total{state=joined,sampled=n}", 104.0),
            ("jaeger_tracer_started_spans_total{sampled=y}", 105.0),
            ("jaeger_tracer_started_spans_total{sampled=n}", 106.0),
            ("jaeger_tracer_finished_spans_total{sampled=y}", 107.0),
            ("jaeger_tracer_sampler_queries_total{result=ok}", 115.0),
            ("jaeger_tracer_sampler_queries_total{result=err}", 116.0),
            ("jaeger_tracer_sampler_updates_total{result=ok}", 117.0),
            ("jaeger_tracer_sampler_updates_total{result=err}", 118.0),
            ("jaeger_tracer_span_context_decoding_errors_total{}", 119.0),
            ("jaeger_tracer_baggage_updates_total{result=ok}", 120.0),
            ("jaeger_tracer_baggage_updates_total{result=err}", 121.0),
            ("jaeger_tracer_baggage_truncations_total{}", 122.0),
            ("jaeger_tracer_reporter_queue_length{}", 112.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unchanged_or_decreasing_counters_add_nothing() {
        let s = stats(50);
        let got = snapshot(|| {
            publish(&s, &s);
            publish(&stats(0), &s); // a smaller snapshot, e.g. from another layer
        });
        // Only the gauge is registered; it follows the latest snapshot.
        let want: HashMap<String, f64> = [("jaeger_tracer_reporter_queue_length{}".to_owned(), 12.0)].into();
        assert_eq!(got, want);
    }

    #[test]
    fn describe_registers_units_and_help() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            describe();
            publish(&stats(0), &Stats::default());
        });
        let described = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(_, unit, help, _)| unit.is_some() && help.is_some())
            .count();
        assert_eq!(described, COUNTERS.len() + 1, "every published metric has a description");
    }
}
