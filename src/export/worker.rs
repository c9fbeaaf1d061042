//! The exporter thread: drains the queue into the batcher, flushes on an interval, on
//! request and at shutdown. It never traces itself into our layer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::batch::{Batcher, WireFormat};
use super::Shared;
use crate::error::Error;
use crate::span_data::Process;
use crate::stats::add;
use crate::transport::Transport;

/// Everything the worker needs, moved into its thread.
pub(crate) struct WorkerConfig {
    pub(crate) format: WireFormat,
    pub(crate) process: Process,
    pub(crate) max_packet_size: usize,
    pub(crate) max_spans_per_batch: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) transport: Box<dyn Transport>,
    /// Print each span's context on stderr (Jaeger's logging reporter).
    pub(crate) log_spans: bool,
    /// The span-log limit, applied here when a record's logs are put in time order.
    pub(crate) max_logs_per_span: usize,
}

/// Spawns the named exporter thread. Failing to spawn is an error, not a panic.
pub(crate) fn spawn(shared: Arc<Shared>, config: WorkerConfig) -> Result<thread::JoinHandle<()>, Error> {
    let worker_shared = Arc::clone(&shared);
    let handle = thread::Builder::new()
        .name("jaeger-layer-exporter".into())
        .spawn(move || run(&worker_shared, config))
        .map_err(Error::Spawn)?;
    // The thread parks before it looks at anything, so a wake-up sent before this `set`
    // is not lost: the worker also drains on its first interval tick.
    let _ = shared.worker.set(handle.thread().clone());
    Ok(handle)
}

fn run(shared: &Shared, config: WorkerConfig) {
    // Anything this thread (or the transport) emits through `tracing` must not come back
    // into the layer: it would re-enter it and could deadlock or loop.
    let _mute = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
    let WorkerConfig {
        format,
        process,
        max_packet_size,
        max_spans_per_batch,
        flush_interval,
        mut transport,
        log_spans,
        max_logs_per_span,
    } = config;
    let mut batcher =
        Batcher::new(format, process, max_packet_size, max_spans_per_batch, shared.counters.clone());
    let mut send = |payload: &[u8]| transport.send(payload);
    let mut last_flush = Instant::now();
    #[cfg(feature = "metrics")]
    let mut published = {
        crate::metrics::describe();
        crate::stats::Stats::default()
    };
    let mut flushed_gen = 0;
    loop {
        let elapsed = last_flush.elapsed();
        if elapsed < flush_interval && shared.queue.len() < shared.wake_threshold {
            let requested = shared.flush_requested.load(Ordering::Acquire);
            if requested == flushed_gen && !shared.shutdown.load(Ordering::Acquire) {
                thread::park_timeout(flush_interval - elapsed);
            }
        }
        shared.wake_pending.store(false, Ordering::Release);
        shared.clock.recalibrate();
        // Read the request before draining: every span pushed before `flush()` was called is
        // then visible to the pops below (push → request is ordered by the caller).
        let requested = shared.flush_requested.load(Ordering::Acquire);
        let stopping = shared.shutdown.load(Ordering::Acquire);
        // At most one queue's worth: what was queued when the request was read is covered
        // (FIFO, and the queue never holds more), and producers that never pause cannot keep
        // the worker from answering a flush or sending its open batch.
        let mut taken = 0;
        for _ in 0..shared.queue.capacity() {
            let Some(mut record) = shared.queue.pop() else { break };
            taken += 1;
            // The log ring is put in time order here, not on the application thread.
            record.span.logs = record.logs.finish(max_logs_per_span);
            let span = &record.span;
            // The implied tags (sampler, metadata, error) and CHILD_OF reference are written
            // by the encoder straight from the span's fields: nothing is built here.
            if log_spans {
                eprintln!(
                    "jaeger-layer: Reporting span {}:{:016x}:{:016x}:{:x} {}",
                    span.trace_id, span.span_id, span.parent_id, span.flags, span.operation
                );
            }
            batcher.push(span, &mut send);
            shared.pool.give(record);
        }
        if taken > 0 {
            add(&shared.counters.spans_taken, taken as u64);
            shared.live_states.fetch_sub(taken, Ordering::AcqRel);
        }
        if requested != flushed_gen || stopping || last_flush.elapsed() >= flush_interval {
            batcher.flush(&mut send);
            last_flush = Instant::now();
            #[cfg(feature = "metrics")]
            {
                let now = shared.counters.snapshot(&shared.queue);
                crate::metrics::publish(&now, &published);
                published = now;
            }
        }
        if requested != flushed_gen {
            flushed_gen = requested;
            let mut done = shared.done.lock().unwrap_or_else(|e| e.into_inner());
            done.flushed = requested;
            shared.done_cv.notify_all();
        }
        if stopping {
            let mut done = shared.done.lock().unwrap_or_else(|e| e.into_inner());
            done.exited = true;
            shared.done_cv.notify_all();
            return;
        }
    }
}
