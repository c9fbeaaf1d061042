//! Cumulative counters: what was started, sampled, sent, and every way a span was lost.
//!
//! The counters are plain relaxed atomics; the ones touched on every span sit on their own
//! cache lines so that producer threads do not false-share with the exporter.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

/// A snapshot of the layer's cumulative counters, from [`ExporterGuard::stats`].
///
/// Names follow Jaeger's client metrics (facts §8). Every sampled span that finished is in
/// exactly one of `spans_exported`, `spans_dropped_queue_full`, `spans_dropped_too_large`,
/// `spans_failed` or `spans_queued`:
///
/// ```
/// # let s = jaeger_layer::Stats::default();
/// assert_eq!(
///     s.spans_finished,
///     s.spans_exported + s.spans_dropped_queue_full + s.spans_dropped_too_large
///         + s.spans_failed + s.spans_queued
/// );
/// ```
///
/// [`ExporterGuard::stats`]: crate::ExporterGuard::stats
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// New traces started here with a positive sampling decision (`traces{state=started,sampled=y}`).
    pub traces_started_sampled: u64,
    /// New traces started here and not sampled (`traces{state=started,sampled=n}`).
    pub traces_started_unsampled: u64,
    /// Traces joined from a remote parent, sampled (`traces{state=joined,sampled=y}`).
    pub traces_joined_sampled: u64,
    /// Traces joined from a remote parent, not sampled (`traces{state=joined,sampled=n}`).
    pub traces_joined_unsampled: u64,
    /// Spans created with a positive sampling decision (`started_spans{sampled=y}`).
    pub spans_started_sampled: u64,
    /// Spans created unsampled (`started_spans{sampled=n}`).
    pub spans_started_unsampled: u64,
    /// Sampled spans that closed and were handed to the exporter queue (or dropped at it).
    pub spans_finished: u64,
    /// Spans the exporter sent (`reporter_spans{result=ok}`). Over UDP this means "written to
    /// the socket": a datagram to a port nobody listens on may still vanish (see the README).
    pub spans_exported: u64,
    /// Spans dropped because the queue was full (`reporter_spans{result=dropped}`).
    pub spans_dropped_queue_full: u64,
    /// Spans dropped because one alone does not fit in a packet.
    pub spans_dropped_too_large: u64,
    /// Spans lost to a transport error, e.g. nobody listening (`reporter_spans{result=err}`
    /// minus the too-large ones).
    pub spans_failed: u64,
    /// Spans finished but not yet sent: in the queue or in the exporter's open batch.
    pub spans_queued: u64,
    /// Datagrams or requests sent successfully.
    pub packets_sent: u64,
    /// Datagrams or requests that failed.
    pub packets_failed: u64,
    /// Remote sampling strategy fetches that succeeded (`sampler_queries{result=ok}`).
    pub sampler_queries_ok: u64,
    /// Remote sampling strategy fetches that failed (`sampler_queries{result=err}`).
    pub sampler_queries_err: u64,
    /// Strategies applied (`sampler_updates{result=ok}`).
    pub sampler_updates_ok: u64,
    /// Strategies rejected as invalid (`sampler_updates{result=err}`).
    pub sampler_updates_err: u64,
    /// Incoming span contexts that could not be decoded (`span_context_decoding_errors`).
    pub span_context_decoding_errors: u64,
    /// Baggage items set (`baggage_updates{result=ok}`).
    pub baggage_updates_ok: u64,
    /// Baggage items refused (`baggage_updates{result=err}`).
    pub baggage_updates_err: u64,
    /// Baggage values truncated (`baggage_truncations`).
    pub baggage_truncations: u64,
}

/// The live counters shared by the layer, the exporter and the guard.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    // Touched by application threads on every span: exactly one of these four per span
    // started (`spans_started_*` are derived from them), so the hot path pays one atomic
    // addition. Finished spans are not counted there: see `spans_taken`.
    pub(crate) traces_started_sampled: CachePadded<AtomicU64>,
    pub(crate) traces_started_unsampled: CachePadded<AtomicU64>,
    pub(crate) children_started_sampled: CachePadded<AtomicU64>,
    pub(crate) children_started_unsampled: CachePadded<AtomicU64>,
    // Touched rarely.
    pub(crate) traces_joined_sampled: AtomicU64,
    pub(crate) traces_joined_unsampled: AtomicU64,
    pub(crate) spans_dropped_queue_full: AtomicU64,
    pub(crate) span_context_decoding_errors: AtomicU64,
    pub(crate) baggage_updates_ok: AtomicU64,
    pub(crate) baggage_updates_err: AtomicU64,
    pub(crate) baggage_truncations: AtomicU64,
    pub(crate) sampler_queries_ok: AtomicU64,
    pub(crate) sampler_queries_err: AtomicU64,
    pub(crate) sampler_updates_ok: AtomicU64,
    pub(crate) sampler_updates_err: AtomicU64,
    // Written by the exporter thread only.
    /// Finished spans the exporter took off the queue. `Stats::spans_finished` is this plus
    /// the queue's length plus the spans dropped at a full queue: every finished sampled
    /// span is in exactly one of those places.
    pub(crate) spans_taken: AtomicU64,
    pub(crate) spans_exported: CachePadded<AtomicU64>,
    pub(crate) spans_dropped_too_large: AtomicU64,
    pub(crate) spans_failed: AtomicU64,
    /// Spans taken off the queue and held in the exporter's open batch.
    pub(crate) spans_in_batch: AtomicU64,
    pub(crate) packets_sent: AtomicU64,
    pub(crate) packets_failed: AtomicU64,
}

/// How a span started, for the started-span counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// It started a trace here.
    Root,
    /// Its parent is a local span.
    Child,
    /// Its parent is a remote context (`set_parent`).
    Joined,
}

/// Adds one to a counter.
#[inline]
pub(crate) fn incr(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Adds `n` to a counter.
#[inline]
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

impl Counters {
    /// A consistent-enough snapshot; `queue` gives the number of spans still in the queue.
    pub(crate) fn snapshot<T>(&self, queue: &ArrayQueue<T>) -> Stats {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let exported = g(&self.spans_exported);
        let too_large = g(&self.spans_dropped_too_large);
        let failed = g(&self.spans_failed);
        let full = g(&self.spans_dropped_queue_full);
        // Like every snapshot taken while spans move, exact once producers and the exporter
        // are quiet (a span taken between the two reads would be counted twice).
        let in_queue = queue.len() as u64;
        let finished = g(&self.spans_taken) + in_queue + full;
        // Counted from where the spans are, not derived from the other counters, so the
        // identity in the type's docs checks the exporter's accounting of every span it took
        // (exact once producers are quiet).
        let queued = in_queue + g(&self.spans_in_batch);
        Stats {
            traces_started_sampled: g(&self.traces_started_sampled),
            traces_started_unsampled: g(&self.traces_started_unsampled),
            traces_joined_sampled: g(&self.traces_joined_sampled),
            traces_joined_unsampled: g(&self.traces_joined_unsampled),
            spans_started_sampled: g(&self.traces_started_sampled)
                + g(&self.traces_joined_sampled)
                + g(&self.children_started_sampled),
            spans_started_unsampled: g(&self.traces_started_unsampled)
                + g(&self.traces_joined_unsampled)
                + g(&self.children_started_unsampled),
            spans_finished: finished,
            spans_exported: exported,
            spans_dropped_queue_full: full,
            spans_dropped_too_large: too_large,
            spans_failed: failed,
            spans_queued: queued,
            packets_sent: g(&self.packets_sent),
            packets_failed: g(&self.packets_failed),
            sampler_queries_ok: g(&self.sampler_queries_ok),
            sampler_queries_err: g(&self.sampler_queries_err),
            sampler_updates_ok: g(&self.sampler_updates_ok),
            sampler_updates_err: g(&self.sampler_updates_err),
            span_context_decoding_errors: g(&self.span_context_decoding_errors),
            baggage_updates_ok: g(&self.baggage_updates_ok),
            baggage_updates_err: g(&self.baggage_updates_err),
            baggage_truncations: g(&self.baggage_truncations),
        }
    }

    /// The counter a span started as `origin`, sampled or not, is counted in.
    pub(crate) fn started(&self, origin: Origin, sampled: bool) -> &AtomicU64 {
        match (origin, sampled) {
            (Origin::Root, true) => &self.traces_started_sampled,
            (Origin::Root, false) => &self.traces_started_unsampled,
            (Origin::Child, true) => &self.children_started_sampled,
            (Origin::Child, false) => &self.children_started_unsampled,
            (Origin::Joined, true) => &self.traces_joined_sampled,
            (Origin::Joined, false) => &self.traces_joined_unsampled,
        }
    }

    /// The sender-side loss counters as Thrift `ClientStats`.
    pub(crate) fn client_stats(&self) -> crate::span_data::ClientStats {
        let g = |c: &AtomicU64| c.load(Relaxed) as i64;
        crate::span_data::ClientStats {
            full_queue_dropped_spans: g(&self.spans_dropped_queue_full),
            too_large_dropped_spans: g(&self.spans_dropped_too_large),
            failed_to_emit_spans: g(&self.spans_failed),
        }
    }
}
