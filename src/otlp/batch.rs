//! Groups finished spans into `ExportTraceServiceRequest` bodies that never exceed the
//! request size bound (opentelemetry-proto `docs/specification.md`: a client must not send a
//! request over its limit, and records what it drops).
//!
//! Each span is encoded once, as a `ScopeSpans.spans` field, straight into the open request's
//! span area. The area starts with a gap as long as the longest possible envelope (request,
//! resource spans with the resource, scope spans with the scope); when the request is sent,
//! its envelope is written at the end of the gap, so the body is one contiguous slice and
//! no span is copied.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::encode::{request_len, request_prefix, resource_field, scope_field, span_field};
use super::Export;
use crate::export::stats::{incr, Counters};
use crate::span::callsite::CallsiteCache;
use crate::span::data::{FinishedSpan, Process};

/// How often, at most, a dropped too-large span or a partial rejection is said on stderr.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// Room for the three envelope headers' keys and lengths at their longest.
const ENVELOPE_HEADERS: usize = 3 * (1 + 10);

/// Turns spans into size-bounded OTLP requests and hands each body to a `send` callback.
pub(crate) struct OtlpBatcher {
    /// `ResourceSpans.resource` and `ScopeSpans.scope`, encoded once.
    resource: Vec<u8>,
    scope: Vec<u8>,
    /// The bytes reserved before the spans for the envelope.
    gap: usize,
    /// The gap, then the open request's spans, encoded back to back.
    pending: Vec<u8>,
    pending_count: usize,
    max_request_size: usize,
    max_spans_per_request: usize,
    counters: Arc<Counters>,
    prefix: Vec<u8>,
    /// The metadata attributes of the callsites seen, encoded once.
    callsites: CallsiteCache,
    /// Accounts for the requests sent here, when the delivery does not do it.
    settle: Settle,
    last_too_large_report: Option<Instant>,
}

/// Where a request body goes: the transport (answering with the outcome), or a sender
/// thread that takes it and accounts for its `spans` itself ([`Export::Handed`]).
pub(crate) trait Deliver {
    fn deliver(&mut self, body: &[u8], spans: u64) -> Export;
}

impl<F: FnMut(&[u8]) -> Export> Deliver for F {
    fn deliver(&mut self, body: &[u8], _spans: u64) -> Export {
        self(body)
    }
}

impl fmt::Debug for OtlpBatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpBatcher")
            .field("max_request_size", &self.max_request_size)
            .field("max_spans_per_request", &self.max_spans_per_request)
            .field("pending_spans", &self.pending_count)
            .field("pending_bytes", &(self.pending.len() - self.gap))
            .finish_non_exhaustive()
    }
}

impl OtlpBatcher {
    /// A batcher whose request bodies (before compression) never exceed `max_request_size`
    /// bytes and hold at most `max_spans_per_request` spans (at least 1).
    pub(crate) fn new(
        process: &Process,
        max_request_size: usize,
        max_spans_per_request: usize,
        counters: Arc<Counters>,
    ) -> OtlpBatcher {
        let counters_for_settle = counters.clone();
        let resource = resource_field(process);
        let scope = scope_field();
        let gap = resource.len() + scope.len() + ENVELOPE_HEADERS;
        OtlpBatcher {
            resource,
            scope,
            gap,
            pending: vec![0; gap],
            pending_count: 0,
            max_request_size,
            max_spans_per_request: max_spans_per_request.max(1),
            counters,
            prefix: Vec::with_capacity(gap),
            callsites: CallsiteCache::default(),
            settle: Settle::new(counters_for_settle),
            last_too_large_report: None,
        }
    }

    /// The size of a request holding only the envelope: what every request carries besides
    /// its spans.
    pub(crate) fn envelope_size(&self) -> usize {
        request_len(self.resource.len(), self.scope.len(), 0)
    }

    /// Encodes one span into the open request; sends full requests through `send`.
    pub(crate) fn push(&mut self, span: &FinishedSpan, send: &mut dyn Deliver) {
        let start = self.pending.len();
        span_field(&mut self.pending, span, &mut self.callsites);
        let span_len = self.pending.len() - start;
        if self.body_len(self.pending.len() - self.gap) > self.max_request_size {
            if self.pending_count > 0 {
                // Send the spans before this one; this one opens the next request.
                self.emit(start, send);
                self.pending.drain(self.gap..start);
            }
            if self.body_len(span_len) > self.max_request_size {
                self.pending.truncate(self.gap);
                // One huge span must not pin its buffer for the life of the exporter.
                if self.pending.capacity() > self.max_request_size.saturating_mul(2) {
                    self.pending.shrink_to(self.max_request_size);
                }
                self.drop_too_large(span, span_len);
                return;
            }
        }
        self.pending_count += 1;
        if self.pending_count >= self.max_spans_per_request {
            self.flush(send);
        }
    }

    /// Sends the open request, if it has spans.
    pub(crate) fn flush(&mut self, send: &mut dyn Deliver) {
        if self.pending_count > 0 {
            self.emit(self.pending.len(), send);
            self.pending.truncate(self.gap);
        }
    }

    fn body_len(&self, spans_len: usize) -> usize {
        request_len(self.resource.len(), self.scope.len(), spans_len)
    }

    /// Sends the spans encoded up to `end` as one request and counts each of them once.
    fn emit(&mut self, end: usize, send: &mut dyn Deliver) {
        let n = std::mem::take(&mut self.pending_count) as u64;
        let spans_len = end - self.gap;
        self.prefix.clear();
        request_prefix(&mut self.prefix, &self.resource, &self.scope, spans_len);
        let from = self.gap - self.prefix.len();
        self.pending[from..self.gap].copy_from_slice(&self.prefix);
        let body = &self.pending[from..end];
        debug_assert_eq!(body.len(), self.body_len(spans_len), "size accounting is exact");
        if self.counters.held.is_abandoned() {
            // A timed-out shutdown counted these spans as abandoned already.
            return;
        }
        let export = send.deliver(body, n);
        self.settle.outcome(n, export);
    }

    fn drop_too_large(&mut self, span: &FinishedSpan, span_len: usize) {
        let c = &*self.counters;
        c.settle(1, &c.spans_dropped_too_large);
        let now = Instant::now();
        if self.last_too_large_report.is_some_and(|t| now.duration_since(t) < REPORT_INTERVAL) {
            return;
        }
        self.last_too_large_report = Some(now);
        let mut end = span.operation.len().min(64);
        while !span.operation.is_char_boundary(end) {
            end -= 1;
        }
        eprintln!(
            "jaeger-layer: dropped span {:?}: it encodes to {span_len} bytes, {} with the \
             resource and request envelope, over otlp_max_request_size ({} bytes); its largest \
             part is {}, or raise otlp_max_request_size. {} span(s) dropped as too large so far \
             (reported at most every {}s).",
            &span.operation[..end],
            span_len + self.envelope_size(),
            self.max_request_size,
            span.largest_part(),
            c.spans_dropped_too_large.load(Relaxed),
            REPORT_INTERVAL.as_secs()
        );
    }
}

/// Accounts for the spans of one request by what became of it, each in exactly one counter,
/// and says partial rejections on stderr (rate-limited). Used on the thread that learns the
/// outcome: the exporter's, or the OTLP sender's.
pub(crate) struct Settle {
    counters: Arc<Counters>,
    last_rejected_report: Option<Instant>,
    rejected_since_report: u64,
}

impl Settle {
    pub(crate) fn new(counters: Arc<Counters>) -> Settle {
        Settle { counters, last_rejected_report: None, rejected_since_report: 0 }
    }

    /// Settles the `n` spans of a request that ended as `export`.
    pub(crate) fn outcome(&mut self, n: u64, export: Export) {
        let c = &*self.counters;
        match export {
            Export::Accepted { rejected, message } => {
                let rejected = rejected.min(n);
                c.settle(n - rejected, &c.spans_exported);
                c.settle(rejected, &c.spans_failed);
                incr(&c.packets_sent);
                if rejected > 0 {
                    self.report_rejected(rejected, n, message.as_deref());
                }
            }
            Export::Failed(_) => {
                // The transport says why on stderr (rate-limited).
                c.settle(n, &c.spans_failed);
                incr(&c.packets_failed);
            }
            Export::GaveUp | Export::Handed => {}
        }
    }

    fn report_rejected(&mut self, rejected: u64, n: u64, message: Option<&str>) {
        self.rejected_since_report += rejected;
        let now = Instant::now();
        if self.last_rejected_report.is_some_and(|t| now.duration_since(t) < REPORT_INTERVAL) {
            return;
        }
        self.last_rejected_report = Some(now);
        let since = std::mem::take(&mut self.rejected_since_report);
        // stderr, not `tracing`: the exporter must never feed spans back into itself.
        eprintln!(
            "jaeger-layer: the OTLP endpoint rejected {rejected} of {n} spans of a request \
             (partial success: {}); {since} rejected since the last report, counted in \
             Stats::spans_failed (reported at most every {}s).",
            message.filter(|m| !m.is_empty()).unwrap_or("no message"),
            REPORT_INTERVAL.as_secs()
        );
    }
}
