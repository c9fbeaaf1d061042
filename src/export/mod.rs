//! From `on_close` to the socket: the bounded queue the layer pushes into, the exporter
//! thread that drains it, and the guard that flushes it.

pub(crate) mod batch;
pub mod bench;
mod guard;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::Thread;

use crossbeam_queue::ArrayQueue;
use once_cell::sync::OnceCell;

use crate::record::{Pool, Record};
use crate::stats::{incr, Counters};

pub use guard::ExporterGuard;
pub(crate) use worker::{spawn, WorkerConfig};

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
    pub(crate) clock: crate::clock::Clock,
    /// The exporter thread, for `unpark`. Set once, right after it is spawned.
    worker: OnceCell<Thread>,
    /// A producer already asked the worker to wake up and it has not drained yet: later
    /// producers skip the `unpark` (each one would be a futex syscall).
    wake_pending: AtomicBool,
    /// Queue length above which a producer wakes the worker before its flush interval.
    wake_threshold: usize,
    pub(crate) shutdown: AtomicBool,
    /// Generation of the latest flush request; the worker publishes the generation it has
    /// completed in `done`.
    flush_requested: AtomicU64,
    done: Mutex<Progress>,
    done_cv: Condvar,
    /// Whether the first queue-full drop was already reported on stderr.
    warned_full: AtomicBool,
}

/// What the worker has completed, guarded by `Shared::done`.
#[derive(Debug, Default)]
struct Progress {
    flushed: u64,
    exited: bool,
}

/// The most records the pool keeps (see [`crate::record`] for the bytes per record).
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
            clock: crate::clock::Clock::new(),
            worker: OnceCell::new(),
            wake_pending: AtomicBool::new(false),
            wake_threshold: wake,
            shutdown: AtomicBool::new(false),
            flush_requested: AtomicU64::new(0),
            done: Mutex::new(Progress::default()),
            done_cv: Condvar::new(),
            warned_full: AtomicBool::new(false),
        }
    }

    /// Hands a finished span to the exporter. Never blocks: a full queue drops the span and
    /// counts it. Called on application threads (hot path).
    #[inline]
    pub(crate) fn push(&self, span: Box<Record>) {
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

    /// Wakes the worker unless a wake-up is already pending.
    fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.unpark();
        }
    }

    fn unpark(&self) {
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }
}
