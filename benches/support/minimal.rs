//! An ablation, not a Jaeger client: the least any layer that exports sampled spans from
//! `tracing` to another thread has to do per span, written as lean as the bench author
//! could, so that the distance from the floor to it is the part of our cost that no design
//! on top of `tracing_subscriber::registry()` avoids, and the distance from it to our layer
//! is what our own choices cost.
//!
//! Per span: a record from a pool (a bounded queue of boxes the consumer gives back), an
//! id from a per-thread xorshift, two clock reads, the fields recorded as typed values
//! (strings copied into the record's one buffer), the record in the span's extensions, and
//! at close the record into a bounded queue (a full queue drops it), which a consumer thread
//! drains between timed bursts. Per event: the event's span looked up, its fields recorded into the record
//! under the extensions' write lock, with a timestamp. No sampling decision, no parent or
//! trace context, no references, no limits, no metadata, no encoding: what a real client
//! adds on top.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use crossbeam_queue::ArrayQueue;
use tracing::field::{Field, Visit};
use tracing::span;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

enum Value {
    I64(i64),
    Bool(bool),
    /// A range of the record's string buffer.
    Str(u32, u32),
}

/// One span's recording.
#[derive(Default)]
struct Rec {
    span_id: u64,
    start_ns: u64,
    end_ns: u64,
    fields: Vec<(&'static str, Value)>,
    /// Each event's timestamp and the number of `fields` entries that are its own.
    events: Vec<(u64, u32)>,
    strings: String,
}

/// The record, while the span lives, in its extensions.
struct Live(Box<Rec>);

struct Queues {
    spans: ArrayQueue<Box<Rec>>,
    pool: ArrayQueue<Box<Rec>>,
    epoch: Instant,
    dropped: AtomicU64,
}

/// The ablation layer.
pub struct MinimalExporter(Arc<Queues>);

impl MinimalExporter {
    /// A layer with a 16384-span queue and a pool of 2048 records, like our defaults, and
    /// the handle that plays its consumer.
    pub fn start() -> (MinimalExporter, Consumer) {
        let q = Arc::new(Queues {
            spans: ArrayQueue::new(16_384),
            pool: ArrayQueue::new(2048),
            epoch: Instant::now(),
            dropped: AtomicU64::new(0),
        });
        for _ in 0..2048 {
            let mut rec = Box::<Rec>::default();
            rec.fields.reserve(8);
            rec.strings.reserve(32);
            let _ = q.pool.push(rec);
        }
        (MinimalExporter(q.clone()), Consumer::spawn(q))
    }

    fn now_ns(&self) -> u64 {
        self.0.epoch.elapsed().as_nanos() as u64
    }
}

/// The ablation's consumer: a thread that, when the bench asks between timed bursts
/// (untimed, as our exporter is flushed between them), reads what an encoder would of each
/// queued record and gives it back to the pool. So records and their buffers cross cores
/// as ours do.
pub struct Consumer {
    ask: mpsc::Sender<()>,
    done: mpsc::Receiver<u64>,
}

impl Consumer {
    fn spawn(q: Arc<Queues>) -> Consumer {
        let (ask, asked) = mpsc::channel::<()>();
        let (answer, done) = mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = 0u64;
            while asked.recv().is_ok() {
                while let Some(mut rec) = q.spans.pop() {
                    seen = seen.wrapping_add(rec.span_id ^ (rec.end_ns - rec.start_ns));
                    seen = seen.wrapping_add(rec.fields.len() as u64 + rec.strings.len() as u64);
                    seen = seen.wrapping_add(rec.events.len() as u64);
                    rec.fields.clear();
                    rec.events.clear();
                    rec.strings.clear();
                    let _ = q.pool.push(rec);
                }
                std::hint::black_box(seen);
                if answer.send(q.dropped.load(Ordering::Relaxed)).is_err() {
                    return;
                }
            }
        });
        Consumer { ask, done }
    }

    /// Has every queued record taken and given back; returns the spans dropped so far.
    pub fn drain(&self) -> u64 {
        self.ask.send(()).unwrap();
        self.done.recv().unwrap()
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0x9E37_79B9_7F4A_7C15) };
}

fn next_id() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    })
}

struct Recorder<'a>(&'a mut Rec);

impl Visit for Recorder<'_> {
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.0.fields.push((f.name(), Value::I64(v)));
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.0.fields.push((f.name(), Value::Bool(v)));
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        let at = self.0.strings.len() as u32;
        self.0.strings.push_str(v);
        self.0.fields.push((f.name(), Value::Str(at, v.len() as u32)));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        use std::fmt::Write;
        let at = self.0.strings.len() as u32;
        let _ = write!(self.0.strings, "{v:?}");
        let len = self.0.strings.len() as u32 - at;
        self.0.fields.push((f.name(), Value::Str(at, len)));
    }
}

impl<S> Layer<S> for MinimalExporter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut rec = self.0.pool.pop().unwrap_or_default();
        rec.span_id = next_id();
        rec.start_ns = self.now_ns();
        attrs.record(&mut Recorder(&mut rec));
        span.extensions_mut().insert(Live(rec));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else { return };
        let at = self.now_ns();
        let mut ext = span.extensions_mut();
        let Some(Live(rec)) = ext.get_mut::<Live>() else { return };
        let before = rec.fields.len();
        event.record(&mut Recorder(rec));
        let n = (rec.fields.len() - before) as u32;
        rec.events.push((at, n));
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(Live(mut rec)) = span.extensions_mut().remove::<Live>() else { return };
        rec.end_ns = self.now_ns();
        if let Err(rec) = self.0.spans.push(rec) {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            let _ = self.0.pool.push(rec);
        }
    }
}
