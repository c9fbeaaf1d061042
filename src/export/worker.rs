//! The exporter thread: drains the queue (pooled `Box<Record>`s) into the batcher, gives each
//! record back to the pool, and flushes on an interval, on request and at shutdown. It never
//! traces itself into our layer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::batch::{Batcher, WireFormat};
use super::Shared;
use crate::error::BuildError;
use crate::export::stats::add;
use crate::export::stats::Counters;
#[cfg(feature = "otlp")]
use crate::otlp::{batch::OtlpBatcher, pipeline::Pipeline, OtlpSend};
use crate::span::data::{FinishedSpan, Process};
use crate::span::record::Record;
use crate::transport::Transport;

/// Everything the worker needs, moved into its thread.
pub(crate) struct WorkerConfig {
    pub(crate) output: Output,
    pub(crate) process: Process,
    pub(crate) flush_interval: Duration,
    /// Print each span's context on stderr (Jaeger's logging reporter).
    pub(crate) log_spans: bool,
    /// The span-log limit, applied here when a record's logs are put in time order.
    pub(crate) max_logs_per_span: usize,
}

/// Where the exporter sends, and in what form.
pub(crate) enum Output {
    /// Jaeger Thrift: `emitBatch` datagrams to the agent, or batches to the collector.
    Thrift {
        format: WireFormat,
        max_packet_size: usize,
        /// 0 means no limit on the count.
        max_spans_per_batch: usize,
        transport: Box<dyn Transport>,
    },
    /// OTLP/HTTP `ExportTraceServiceRequest`s.
    #[cfg(feature = "otlp")]
    Otlp { max_request_size: usize, max_spans_per_request: usize, transport: Box<dyn OtlpSend> },
}

/// The batcher and transport of an [`Output`], as the worker runs them.
enum Sink {
    Thrift(Batcher, Box<dyn Transport>),
    /// The transport runs on the OTLP sender thread, one request in flight while the
    /// next is encoded (`otlp::pipeline`).
    #[cfg(feature = "otlp")]
    Otlp(OtlpBatcher, Pipeline),
}

impl Sink {
    fn new(output: Output, process: Process, counters: &Arc<Counters>) -> Sink {
        match output {
            Output::Thrift { format, max_packet_size, max_spans_per_batch, transport } => Sink::Thrift(
                Batcher::new(format, process, max_packet_size, max_spans_per_batch, counters.clone()),
                transport,
            ),
            #[cfg(feature = "otlp")]
            Output::Otlp { max_request_size, max_spans_per_request, transport } => Sink::Otlp(
                OtlpBatcher::new(&process, max_request_size, max_spans_per_request, counters.clone()),
                Pipeline::start(transport, counters.clone()),
            ),
        }
    }

    fn push(&mut self, span: &FinishedSpan) {
        match self {
            Sink::Thrift(batcher, transport) => batcher.push(span, &mut |payload| transport.send(payload)),
            #[cfg(feature = "otlp")]
            Sink::Otlp(batcher, pipeline) => batcher.push(span, pipeline),
        }
    }

    /// Sends the open batch, and returns once it was sent (for OTLP: once the sender has
    /// settled every request it was handed).
    fn flush(&mut self) {
        match self {
            Sink::Thrift(batcher, transport) => batcher.flush(&mut |payload| transport.send(payload)),
            #[cfg(feature = "otlp")]
            Sink::Otlp(batcher, pipeline) => {
                batcher.flush(pipeline);
                pipeline.wait_idle();
            }
        }
    }
}

/// Spawns the named exporter thread. Failing to spawn is an error, not a panic.
pub(crate) fn spawn(shared: Arc<Shared>, config: WorkerConfig) -> Result<thread::JoinHandle<()>, BuildError> {
    let worker_shared = Arc::clone(&shared);
    let handle = thread::Builder::new()
        .name("jaeger-layer-exporter".into())
        .spawn(move || {
            let exit = Exit(&worker_shared);
            run(&worker_shared, config);
            drop(exit);
        })
        .map_err(BuildError::spawn)?;
    // The thread checks for pending requests and a full queue before it parks, so a wake-up
    // sent before this `set` is not lost.
    // (Under the loom models the handshake wakes loom threads; this real one is never run.)
    #[cfg(not(jaeger_loom))]
    shared.hs.set_worker(handle.thread().clone());
    Ok(handle)
}

/// How many spans the worker takes off the queue before it processes them.
const CHUNK: usize = 256;

/// Runs when the exporter thread ends, normally or by a panic (a bug): producers stop
/// queueing, and whoever waits is told it is gone. After a panic, what the thread held and
/// what is still queued is counted as abandoned, and it is said once on stderr.
struct Exit<'a>(&'a Shared);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        let shared = self.0;
        shared.close();
        if thread::panicking() {
            add(&shared.counters.exporter_panics, 1);
            let held = shared.counters.abandon_held();
            let queued = shared.discard_queued(&shared.counters.spans_abandoned);
            eprintln!(
                "jaeger-layer: the exporter thread panicked (a bug in jaeger-layer, please report \
                 it); {} spans it held or had queued are counted in Stats::spans_abandoned, later \
                 ones in Stats::spans_dropped_closed, and flush/shutdown now return Closed.",
                held + queued
            );
        }
        shared.hs.exited();
    }
}

fn run(shared: &Shared, config: WorkerConfig) {
    // Anything this thread (or the transport) emits through `tracing` must not come back
    // into the layer: it would re-enter it and could deadlock or loop.
    let _mute = crate::export::mute_this_thread();
    let WorkerConfig { output, process, flush_interval, log_spans, max_logs_per_span } = config;
    let mut sink = Sink::new(output, process, &shared.counters);
    let mut last_flush = Instant::now();
    #[cfg(feature = "metrics")]
    let mut published = {
        crate::export::metrics::describe();
        crate::export::stats::Stats::default()
    };
    let mut chunk: Chunk = Vec::with_capacity(CHUNK);
    let mut flushed_gen = 0;
    loop {
        let elapsed = last_flush.elapsed();
        if elapsed < flush_interval
            && shared.queue.len() < shared.wake_threshold
            && !shared.hs.pending(flushed_gen)
        {
            shared.hs.park(flush_interval - elapsed);
        }
        shared.wake_pending.store(false, Ordering::Release);
        shared.clock.recalibrate();
        // Read the requests before draining: every span pushed before `flush()` was called
        // is then visible to the pops below (see `handshake`).
        let req = shared.hs.requests();
        // After a timed-out shutdown gave up on this thread, stop at once: what it held and
        // what is queued was counted as abandoned.
        if shared.counters.held.is_abandoned() {
            return;
        }
        // At most one queue's worth: what was queued when the request was read is covered
        // (FIFO, and the queue never holds more), and producers that never pause cannot keep
        // the worker from answering a flush or sending its open batch.
        let mut export = |mut record: Box<Record>| {
            // The log ring is put in time order here, not on the application thread.
            record.span.dropped_logs = record.logs.lost();
            record.span.logs = record.logs.finish(max_logs_per_span);
            let span = &record.span;
            // The implied tags (sampler, metadata, error) and CHILD_OF reference are written
            // by the encoder straight from the span's fields.
            if log_spans {
                eprintln!(
                    "jaeger-layer: Reporting span {}:{:016x}:{:016x}:{:x} {}",
                    span.trace_id, span.span_id, span.parent_id, span.flags, span.operation
                );
            }
            sink.push(span);
            shared.pool.give(record);
        };
        if !drain(shared, &mut chunk, &mut export) {
            return;
        }
        if req.stop {
            // Producers stop queueing; what they pushed in the meantime is sent too.
            shared.close();
            if !drain(shared, &mut chunk, &mut export) {
                return;
            }
        }
        if req.flush != flushed_gen || req.stop || last_flush.elapsed() >= flush_interval {
            sink.flush();
            last_flush = Instant::now();
            #[cfg(feature = "metrics")]
            {
                let now = shared.counters.snapshot();
                crate::export::metrics::publish(&now, &published);
                published = now;
            }
        }
        if req.flush != flushed_gen {
            flushed_gen = req.flush;
            shared.hs.flushed(req.flush);
        }
        if req.stop {
            return;
        }
    }
}

/// Records taken off the queue, by pointer: they go back to the pool as the boxes they are.
#[allow(clippy::vec_box)]
type Chunk = Vec<Box<Record>>;

/// Takes at most one queue's worth of spans off the queue, in chunks, claims each chunk and
/// hands its records to `export`. `false` once a timed-out shutdown abandoned the exporter:
/// what it took then is counted as abandoned here, and it must stop.
#[allow(clippy::vec_box)]
fn drain(shared: &Shared, chunk: &mut Chunk, export: &mut dyn FnMut(Box<Record>)) -> bool {
    let mut left = shared.queue.capacity();
    while left > 0 {
        while chunk.len() < CHUNK.min(left) {
            let Some(record) = shared.queue.pop() else { break };
            chunk.push(record);
        }
        let n = chunk.len();
        if n == 0 {
            break;
        }
        left -= n;
        shared.live_states.fetch_sub(n, Ordering::AcqRel);
        if !shared.counters.held.take(n as u64) {
            add(&shared.counters.spans_abandoned, n as u64);
            chunk.clear();
            return false;
        }
        chunk.drain(..).for_each(&mut *export);
        if n < CHUNK {
            break;
        }
    }
    true
}
