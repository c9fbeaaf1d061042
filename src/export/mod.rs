//! From `on_close` to the socket: the bounded queue the layer pushes into, the exporter
//! thread that drains it, and the guard that flushes it.

pub(crate) mod batch;
#[cfg(feature = "__bench")]
pub mod bench;
pub(crate) mod claim;
mod guard;
pub(crate) mod handshake;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod stats;
pub(crate) mod sync;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::export::stats::{add, incr, Counters, Stats};
use crate::span::record::{Pool, Record};
use handshake::Handshake;

pub use guard::{ExporterGuard, StatsHandle};
pub(crate) use worker::{spawn, Output, WorkerConfig};

/// State shared by the producers (the layer, on application threads), the exporter thread
/// and the guard.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Finished spans, by pointer.
    pub(crate) queue: ArrayQueue<Box<Record>>,
    /// Records the exporter has sent, cleared, for the next sampled spans.
    pub(crate) pool: Pool,
    /// Spans that have a `SpanState` (or a record on its way to the exporter). At 0, no span
    /// anywhere has state, so `on_close` and `on_event` have nothing to look up. Incremented
    /// before a state is inserted; released when the state closes without a record, when a
    /// push is refused, or by the exporter for the records it takes (once per drain).
    pub(crate) live_states: AtomicUsize,
    pub(crate) counters: Arc<Counters>,
    /// Span and log timestamps; recalibrated by the exporter thread.
    pub(crate) clock: crate::span::clock::SpanClock,
    /// Flush and shutdown requests, and the exporter thread to wake.
    pub(crate) hs: Handshake,
    /// A producer already asked the worker to wake up and it has not drained yet: later
    /// producers skip the `unpark` (each one would be a futex syscall).
    wake_pending: AtomicBool,
    /// Queue length above which a producer wakes the worker before its flush interval.
    wake_threshold: usize,
    /// The exporter takes no more spans (it stopped, was abandoned, or died): producers
    /// count what they finish as `spans_dropped_closed` instead of queueing it.
    closed: AtomicBool,
    /// Whether the first queue-full drop was already reported on stderr.
    warned_full: AtomicBool,
    /// Whether the first span finished after the exporter stopped was reported on stderr.
    warned_closed: AtomicBool,
}

/// The most records the pool keeps (see [`crate::span::record`] for the bytes per record).
const MAX_POOLED_RECORDS: usize = 2048;

/// Queue length at which a producer wakes the worker: a quarter of the queue, at most 1024
/// spans. Early enough that a burst does not overflow while the worker wakes (the rest of a
/// large queue absorbs the worker being descheduled), late enough that a steady trickle
/// costs no wake-ups at all (one `unpark` per 1024 spans at most under load).
fn wake_threshold(capacity: usize) -> usize {
    (capacity / 4).clamp(1, 1024)
}

impl Shared {
    /// `wake_threshold`: `None` for the default, [`wake_threshold`].
    pub(crate) fn new(capacity: usize, wake_threshold: Option<usize>, counters: Arc<Counters>) -> Self {
        let wake = wake_threshold.unwrap_or_else(|| self::wake_threshold(capacity));
        Shared {
            queue: ArrayQueue::new(capacity),
            // Twice what the worker drains at its early wake-up: enough to cover the records
            // in flight between two drains of a steady producer (at most 2048 records).
            pool: Pool::new((2 * wake).min(MAX_POOLED_RECORDS)),
            live_states: AtomicUsize::new(0),
            counters,
            clock: crate::span::clock::SpanClock::new(),
            hs: Handshake::default(),
            wake_pending: AtomicBool::new(false),
            wake_threshold: wake,
            closed: AtomicBool::new(false),
            warned_full: AtomicBool::new(false),
            warned_closed: AtomicBool::new(false),
        }
    }

    /// The counters. Once the exporter is gone, spans still in the queue (pushed in the
    /// instant it stopped) are taken out and counted as `spans_dropped_closed` first, so no
    /// span stays "queued" for ever.
    pub(crate) fn stats(&self) -> Stats {
        if self.closed.load(Ordering::Acquire) && self.hs.has_exited() {
            self.discard_queued(&self.counters.spans_dropped_closed);
        }
        self.counters.snapshot()
    }

    /// Stops producers from queueing: from now on they count what they finish as dropped.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Takes every span out of the queue and counts it in `counter`; returns how many.
    pub(crate) fn discard_queued(&self, counter: &std::sync::atomic::AtomicU64) -> u64 {
        let mut n = 0;
        while let Some(record) = self.queue.pop() {
            drop(record);
            n += 1;
        }
        if n > 0 {
            self.live_states.fetch_sub(n, Ordering::AcqRel);
            add(counter, n as u64);
        }
        n as u64
    }

    /// Hands a finished span to the exporter. Never blocks: a full queue drops the span and
    /// counts it, and so does a stopped exporter. Called on application threads (hot path).
    #[inline]
    pub(crate) fn push(&self, span: Box<Record>) {
        // Counted before it can reach any other counter (see `Counters::snapshot`).
        incr(&self.counters.spans_finished);
        if self.closed.load(Ordering::Relaxed) {
            self.drop_closed(span);
            return;
        }
        if self.queue.push(span).is_err() {
            self.live_states.fetch_sub(1, Ordering::AcqRel);
            incr(&self.counters.spans_dropped_queue_full);
            if !self.warned_full.swap(true, Ordering::Relaxed) {
                // Once, on stderr: going through `tracing` here could recurse into the layer.
                eprintln!(
                    "jaeger-layer: the span queue is full ({} spans); spans are being dropped and \
                     counted in Stats::spans_dropped_queue_full. Raise queue_capacity or sample less.",
                    self.queue.capacity()
                );
            }
            self.wake();
            return;
        }
        if self.queue.len() >= self.wake_threshold {
            self.wake();
        }
    }

    #[cold]
    fn drop_closed(&self, span: Box<Record>) {
        drop(span);
        self.live_states.fetch_sub(1, Ordering::AcqRel);
        incr(&self.counters.spans_dropped_closed);
        if !self.warned_closed.swap(true, Ordering::Relaxed) {
            eprintln!(
                "jaeger-layer: a span finished after the exporter had stopped, so it is dropped \
                 (counted in Stats::spans_dropped_closed). The ExporterGuard was dropped or shut \
                 down: keep it alive for as long as you trace (`let _guard = ...`, not `let _ = ...`)."
            );
        }
    }

    /// Wakes the worker unless a wake-up is already pending.
    fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.unpark();
        }
    }

    fn unpark(&self) {
        self.hs.unpark();
    }
}

/// Mutes `tracing` on the calling thread (the exporter, the OTLP sender, the remote
/// sampler's poller) for as long as the guard lives: nothing these threads or the crates they
/// call emit reaches any subscriber, so nothing comes back into the layer.
///
/// `Dispatch::none()` and not `Dispatch::new(NoSubscriber)`: only `Dispatch::new` registers
/// the dispatcher with tracing-core's callsite registry (`dispatcher.rs`, `Dispatch::new`
/// calls `callsite::register_dispatch`), and a registered `NoSubscriber` answers
/// `Interest::never` for every callsite, which turns the application's `always` into
/// `sometimes` (`callsite.rs`, `rebuild_callsite_interest`): every span and event in the
/// process would then pay a dynamic `enabled` call for as long as the exporter runs.
pub(crate) fn mute_this_thread() -> tracing::dispatcher::DefaultGuard {
    tracing::dispatcher::set_default(&tracing::Dispatch::none())
}

#[cfg(test)]
mod tests;
