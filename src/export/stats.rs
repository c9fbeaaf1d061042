//! Cumulative counters: what was started, sampled, sent, and every way a span was lost.
//!
//! The counters are plain relaxed atomics; the ones touched on every span sit on their own
//! cache lines so that producer threads do not false-share with the exporter.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crossbeam_utils::CachePadded;

use crate::export::claim::Claim;

/// A snapshot of the layer's cumulative counters, from [`ExporterGuard::stats`].
///
/// Names follow Jaeger's client metrics (jaeger-client-go `metrics.go`). Every sampled span
/// that finished is in exactly one place: sent (`spans_exported`), lost for a counted reason
/// (the `spans_dropped_*`, `spans_failed` and `spans_abandoned` counters, summed by
/// [`lost`](Stats::lost)), or still on its way (`spans_queued`). The identity holds in every
/// snapshot, also while the exporter is busy or retrying, and every counter but
/// `spans_queued` only grows from one snapshot to the next:
///
/// ```
/// # let s = jaeger_layer::Stats::default();
/// assert!(s.is_consistent());
/// assert_eq!(s.spans_finished, s.spans_exported + s.lost() + s.spans_queued);
/// // After a successful flush with no producer running, nothing is on its way:
/// assert!(s.is_settled());
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
    /// Spans abandoned by a shutdown that timed out (still queued, or in a request that had
    /// not finished), or still queued when the exporter thread died.
    pub spans_abandoned: u64,
    /// Spans that finished after the exporter had stopped: its guard was dropped or shut
    /// down (e.g. `let (layer, _) = builder.build()?` drops it at once), or it died.
    pub spans_dropped_closed: u64,
    /// Spans finished but not yet accounted for: in the queue, in the exporter's open batch,
    /// or in a request (or its retries) under way.
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
    /// Times the exporter thread died (a bug: it is reported on stderr; the spans it held are
    /// in `spans_abandoned`, later ones in `spans_dropped_closed`).
    pub exporter_panics: u64,
}

impl Stats {
    /// Every finished span that is lost, for one of the counted reasons: queue full, too
    /// large, failed to send, abandoned at shutdown, or finished after the exporter stopped.
    pub fn lost(&self) -> u64 {
        self.spans_dropped_queue_full
            + self.spans_dropped_too_large
            + self.spans_failed
            + self.spans_abandoned
            + self.spans_dropped_closed
    }

    /// Whether the counters account for every finished span:
    /// `spans_finished == spans_exported + lost() + spans_queued`. Always true of a snapshot
    /// from this crate; `false` would be a bug worth reporting.
    pub fn is_consistent(&self) -> bool {
        self.spans_exported.checked_add(self.lost()).and_then(|n| n.checked_add(self.spans_queued))
            == Some(self.spans_finished)
    }

    /// Whether every finished span reached its end (exported or counted as lost): nothing is
    /// queued or in flight. True after a successful [`flush`](crate::ExporterGuard::flush)
    /// while no span finishes concurrently.
    pub fn is_settled(&self) -> bool {
        self.is_consistent() && self.spans_queued == 0
    }
}

/// The live counters shared by the layer, the exporter and the guard.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    // Touched by application threads on every span: exactly one of these four per span
    // started (`spans_started_*` are derived from them), so the hot path pays one atomic
    // addition at creation, and one more at close for a sampled span (`spans_finished`).
    pub(crate) traces_started_sampled: CachePadded<AtomicU64>,
    pub(crate) traces_started_unsampled: CachePadded<AtomicU64>,
    pub(crate) children_started_sampled: CachePadded<AtomicU64>,
    pub(crate) children_started_unsampled: CachePadded<AtomicU64>,
    /// Sampled spans that closed: counted before they are pushed, so before they can reach
    /// any of the counters below.
    pub(crate) spans_finished: CachePadded<AtomicU64>,
    // Touched rarely.
    pub(crate) traces_joined_sampled: AtomicU64,
    pub(crate) traces_joined_unsampled: AtomicU64,
    pub(crate) spans_dropped_queue_full: AtomicU64,
    pub(crate) spans_dropped_closed: AtomicU64,
    pub(crate) span_context_decoding_errors: AtomicU64,
    pub(crate) baggage_updates_ok: AtomicU64,
    pub(crate) baggage_updates_err: AtomicU64,
    pub(crate) baggage_truncations: AtomicU64,
    pub(crate) sampler_queries_ok: AtomicU64,
    pub(crate) sampler_queries_err: AtomicU64,
    pub(crate) sampler_updates_ok: AtomicU64,
    pub(crate) sampler_updates_err: AtomicU64,
    // Written by the exporter thread (and, once it is gone or abandoned, by the guard).
    pub(crate) spans_exported: CachePadded<AtomicU64>,
    pub(crate) spans_dropped_too_large: AtomicU64,
    pub(crate) spans_failed: AtomicU64,
    pub(crate) spans_abandoned: AtomicU64,
    pub(crate) packets_sent: AtomicU64,
    pub(crate) packets_failed: AtomicU64,
    pub(crate) exporter_panics: AtomicU64,
    /// The spans the exporter took off the queue and has not yet counted anywhere.
    pub(crate) held: Claim,
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
///
/// Release, so that a snapshot that reads a span in a final counter (with Acquire) also
/// reads it in `spans_finished`, which was incremented before (free on x86, where every
/// atomic addition is a full barrier).
#[inline]
pub(crate) fn incr(c: &AtomicU64) {
    c.fetch_add(1, Release);
}

/// Adds `n` to a counter (see [`incr`]).
#[inline]
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Release);
}

impl Counters {
    /// A snapshot in which the identity of [`Stats`] holds exactly, whatever the exporter
    /// and the producers are doing.
    ///
    /// The final counters are read first and `spans_finished` last: a span reaches a final
    /// counter only after it was counted as finished (and the Release/Acquire pair makes that
    /// visible here), so `spans_finished` is at least their sum, and what it has more is
    /// exactly what is still on its way. Each counter only grows.
    pub(crate) fn snapshot(&self) -> Stats {
        let g = |c: &AtomicU64| c.load(Acquire);
        let exported = g(&self.spans_exported);
        let too_large = g(&self.spans_dropped_too_large);
        let failed = g(&self.spans_failed);
        let full = g(&self.spans_dropped_queue_full);
        let abandoned = g(&self.spans_abandoned);
        let closed = g(&self.spans_dropped_closed);
        let finished = g(&self.spans_finished);
        let queued = finished.saturating_sub(exported + too_large + failed + full + abandoned + closed);
        let r = |c: &AtomicU64| c.load(Relaxed);
        Stats {
            traces_started_sampled: r(&self.traces_started_sampled),
            traces_started_unsampled: r(&self.traces_started_unsampled),
            traces_joined_sampled: r(&self.traces_joined_sampled),
            traces_joined_unsampled: r(&self.traces_joined_unsampled),
            spans_started_sampled: r(&self.traces_started_sampled)
                + r(&self.traces_joined_sampled)
                + r(&self.children_started_sampled),
            spans_started_unsampled: r(&self.traces_started_unsampled)
                + r(&self.traces_joined_unsampled)
                + r(&self.children_started_unsampled),
            spans_finished: finished,
            spans_exported: exported,
            spans_dropped_queue_full: full,
            spans_dropped_too_large: too_large,
            spans_failed: failed,
            spans_abandoned: abandoned,
            spans_dropped_closed: closed,
            spans_queued: queued,
            packets_sent: r(&self.packets_sent),
            packets_failed: r(&self.packets_failed),
            sampler_queries_ok: r(&self.sampler_queries_ok),
            sampler_queries_err: r(&self.sampler_queries_err),
            sampler_updates_ok: r(&self.sampler_updates_ok),
            sampler_updates_err: r(&self.sampler_updates_err),
            span_context_decoding_errors: r(&self.span_context_decoding_errors),
            baggage_updates_ok: r(&self.baggage_updates_ok),
            baggage_updates_err: r(&self.baggage_updates_err),
            baggage_truncations: r(&self.baggage_truncations),
            exporter_panics: r(&self.exporter_panics),
        }
    }

    /// The exporter accounts for `n` spans it holds in `counter`, unless a timed-out shutdown
    /// abandoned them first (then they are counted in `spans_abandoned` already).
    pub(crate) fn settle(&self, n: u64, counter: &AtomicU64) {
        if self.held.settle(n) {
            add(counter, n);
        }
    }

    /// Abandons what the exporter holds (see [`Claim`]); returns how many spans that was.
    pub(crate) fn abandon_held(&self) -> u64 {
        let n = self.held.abandon();
        add(&self.spans_abandoned, n);
        n
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
    pub(crate) fn client_stats(&self) -> crate::span::data::ClientStats {
        let g = |c: &AtomicU64| c.load(Relaxed) as i64;
        crate::span::data::ClientStats {
            full_queue_dropped_spans: g(&self.spans_dropped_queue_full),
            too_large_dropped_spans: g(&self.spans_dropped_too_large),
            failed_to_emit_spans: g(&self.spans_failed),
        }
    }
}
