//! Each tool, set up with its defaults (settings changed are listed in README.md), and the
//! two workloads written in its own API.
//!
//! a) a root span with 3 fields (i64, &str, bool): create, enter, exit, close.
//! b) a root span (the same 3 fields) and 10 children with 1 field each; in each child an
//!    event with 2 fields (i64, &str). 11 spans.

use std::borrow::Cow;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::Dispatch;
use tracing_subscriber::layer::{Layer, SubscriberExt};

/// Spans per unit of workload b.
pub const SPANS_B: u64 = 11;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    A,
    B,
}

impl Workload {
    pub fn spans_per_unit(self) -> u64 {
        match self {
            Workload::A => 1,
            Workload::B => SPANS_B,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Workload::A => "a",
            Workload::B => "b",
        }
    }
}

/// The `--tools` names, in the report's order.
pub const TOOLS: [&str; 7] = [
    "floor",
    "jaeger-layer",
    "jaeger-layer-otlp",
    "tracing-opentelemetry",
    "tracing-opentelemetry-otlp",
    "fastrace",
    "rustracing",
];

/// How the report names a tool: with its transport where a stack has two.
pub fn label(name: &str) -> &str {
    match name {
        "jaeger-layer" => "jaeger-layer (UDP)",
        "jaeger-layer-otlp" => "jaeger-layer (OTLP)",
        "tracing-opentelemetry" => "tracing-opentelemetry 0.24 + Jaeger (UDP)",
        "tracing-opentelemetry-otlp" => "tracing-opentelemetry 0.34 + OTLP",
        other => other,
    }
}

/// One tool, ready to run workloads on any thread.
pub trait Tool: Send + Sync {
    /// Runs `f` with the tool's context set on this thread (the tracing dispatcher).
    fn with_context(&self, f: &mut dyn FnMut());
    fn run(&self, w: Workload, i: u64);
    /// Asks the exporter to send what it holds (untimed).
    fn flush(&self);
    /// Whether anything reaches the sink (false for the floor).
    fn exports(&self) -> bool {
        true
    }
    /// Whether spans can wait for the producing thread's next span before they are sent.
    fn holds_until_next_send(&self) -> bool {
        false
    }
    /// Spans lost before the socket and how they are counted, given the spans `created` so
    /// far (cumulative); `None` for the floor.
    fn drops(&self, created: u64) -> Option<(u64, String)>;
    /// `drops` at the end of a run (nothing is created after it): a tool that reports its
    /// count only when it shuts down is shut down here.
    fn final_drops(&self, created: u64) -> Option<(u64, String)> {
        self.drops(created)
    }
}

/// `agent`: the sink's UDP agent address; `otlp`: its OTLP/HTTP listener.
pub fn make(name: &str, agent: SocketAddr, otlp: SocketAddr) -> Box<dyn Tool> {
    match name {
        "floor" => Box::new(Tracing {
            dispatch: Dispatch::new(tracing_subscriber::registry().with(Noop)),
            kind: Kind::Floor,
        }),
        "jaeger-layer" => Box::new(ours(agent)),
        "jaeger-layer-otlp" => Box::new(ours_otlp(otlp)),
        "tracing-opentelemetry" => Box::new(otel(agent)),
        "tracing-opentelemetry-otlp" => Box::new(otel_otlp(otlp)),
        "fastrace" => Box::new(Fastrace::new(agent)),
        "rustracing" => Box::new(Rustracing::new(agent)),
        other => panic!("unknown tool {other}"),
    }
}

// === tracing-based tools: the floor, us, tracing-opentelemetry (0.24 and 0.34) ===

struct Noop;
impl<S: tracing::Subscriber> Layer<S> for Noop {}

enum Kind {
    Floor,
    Ours(jaeger_layer::ExporterGuard),
    Otel { provider: opentelemetry_sdk::trace::TracerProvider, _rt: tokio::runtime::Runtime },
    OtelOtlp(opentelemetry_sdk_033::trace::SdkTracerProvider),
}

struct Tracing {
    dispatch: Dispatch,
    kind: Kind,
}

#[inline]
fn tracing_a(i: u64) {
    let span = tracing::info_span!("checkout", order = i as i64, user = "ada", paid = true);
    let _g = span.enter();
    black_box(&span);
}

#[inline]
fn tracing_b(i: u64) {
    let root = tracing::info_span!("request", order = i as i64, user = "ada", paid = true);
    let _r = root.enter();
    for j in 0..10i64 {
        let child = tracing::info_span!("step", j);
        let _c = child.enter();
        tracing::info!(attempt = j, outcome = "ok");
    }
}

impl Tool for Tracing {
    fn with_context(&self, f: &mut dyn FnMut()) {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }
    fn run(&self, w: Workload, i: u64) {
        match w {
            Workload::A => tracing_a(i),
            Workload::B => tracing_b(i),
        }
    }
    fn flush(&self) {
        match &self.kind {
            Kind::Floor => {}
            Kind::Ours(guard) => {
                let _ = guard.flush(Duration::from_secs(5));
            }
            Kind::Otel { provider, .. } => {
                // force_flush is refused while the processor's channel is full: retry, bounded.
                for _ in 0..200 {
                    if provider.force_flush().iter().all(|r| r.is_ok()) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Kind::OtelOtlp(provider) => {
                // Refused only while its control channel (64 messages) is full: retry, bounded.
                for _ in 0..200 {
                    if provider.force_flush().is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
    fn exports(&self) -> bool {
        !matches!(self.kind, Kind::Floor)
    }
    fn drops(&self, _created: u64) -> Option<(u64, String)> {
        match &self.kind {
            Kind::Floor => None,
            Kind::Ours(guard) => {
                let s = guard.stats();
                let n = s.spans_dropped_queue_full + s.spans_dropped_too_large + s.spans_failed;
                Some((
                    n,
                    format!(
                        "queue_full={} too_large={} failed={}",
                        s.spans_dropped_queue_full, s.spans_dropped_too_large, s.spans_failed
                    ),
                ))
            }
            Kind::Otel { .. } => {
                let full = OTEL_CHANNEL_FULL.load(Ordering::Relaxed);
                let other = OTEL_OTHER_ERRORS.load(Ordering::Relaxed);
                let first = OTEL_FIRST_ERROR.lock().unwrap().clone().unwrap_or_default();
                let mut text = format!("channel_full={full} other_errors={other}");
                if !first.is_empty() {
                    text.push_str(&format!(" (first: {first})"));
                }
                Some((full, text))
            }
            // The SDK tells its count only at shutdown (`final_drops`). Before the end, the
            // harness asks only after a flushed warm-up of ~1000 spans, under the 2048-span
            // queue, which drops nothing.
            Kind::OtelOtlp(_) => Some((0, "counted at shutdown only".into())),
        }
    }
    fn final_drops(&self, created: u64) -> Option<(u64, String)> {
        let Kind::OtelOtlp(provider) = &self.kind else { return self.drops(created) };
        // `shutdown` logs "BatchSpanProcessor.SpansDropped" with the processor's lifetime
        // count (if not 0); this thread is outside the tool's dispatcher, so the event goes to
        // the global `OtelLogs` subscriber.
        let shutdown = provider.shutdown();
        let logs = OTEL_LOGS.lock().unwrap();
        let mut text = format!(
            "queue_full={} (SDK log at shutdown) export_errors={} other_warnings={}",
            logs.dropped, logs.export_errors, logs.other
        );
        if let Err(e) = shutdown {
            text.push_str(&format!(" shutdown: {e}"));
        }
        if let Some(first) = &logs.first {
            text.push_str(&format!(" (first: {first})"));
        }
        Some((logs.dropped, text))
    }
}

fn ours(agent: SocketAddr) -> Tracing {
    // Defaults (queue 16384, flush every 1 s, 65000-byte packets); only the endpoint is set.
    let (layer, guard) = jaeger_layer::JaegerLayer::builder()
        .service_name("compare")
        .agent_endpoint(agent.to_string())
        .build()
        .expect("jaeger-layer builds");
    Tracing { dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)), kind: Kind::Ours(guard) }
}

/// jaeger-layer over OTLP/HTTP (feature `otlp`) to the sink's endpoint, otherwise as
/// [`ours`].
fn ours_otlp(otlp: SocketAddr) -> Tracing {
    let (layer, guard) = jaeger_layer::JaegerLayer::builder()
        .service_name("compare")
        .otlp_endpoint(format!("http://{otlp}"))
        .build()
        .expect("jaeger-layer builds");
    Tracing { dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)), kind: Kind::Ours(guard) }
}

static OTEL_CHANNEL_FULL: AtomicU64 = AtomicU64::new(0);
static OTEL_OTHER_ERRORS: AtomicU64 = AtomicU64::new(0);
static OTEL_FIRST_ERROR: Mutex<Option<String>> = Mutex::new(None);

#[allow(deprecated)] // opentelemetry-jaeger is deprecated upstream; 0.22 is its last release
fn otel(agent: SocketAddr) -> Tracing {
    use opentelemetry::trace::TracerProvider as _;
    // The SDK reports every span it drops through the global error handler; the default one
    // prints a line per drop to stderr. Count instead (the drop count "as the tool counts it").
    opentelemetry::global::set_error_handler(|e| {
        if let opentelemetry::global::Error::Trace(opentelemetry::trace::TraceError::Other(inner)) = &e {
            if let Some(opentelemetry_sdk::runtime::TrySendError::ChannelFull) = inner.downcast_ref() {
                OTEL_CHANNEL_FULL.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        OTEL_OTHER_ERRORS.fetch_add(1, Ordering::Relaxed);
        OTEL_FIRST_ERROR.lock().unwrap().get_or_insert_with(|| e.to_string());
    })
    .expect("error handler");
    // What `#[tokio::main]` gives: a multi-thread runtime, one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let provider = {
        let _enter = rt.enter();
        let mut pipeline = opentelemetry_jaeger::new_agent_pipeline()
            .with_endpoint(agent.to_string())
            .with_service_name("compare");
        if std::env::var_os("COMPARE_OTEL_NO_SPLIT").is_none() {
            // Without it a default batch (512 spans) over 65000 bytes is not sent at all.
            pipeline = pipeline.with_auto_split_batch(true);
        }
        pipeline.build_batch(opentelemetry_sdk::runtime::Tokio).expect("otel jaeger pipeline")
    };
    let tracer = provider.tracer("compare");
    let layer = tracing_opentelemetry::layer().with_tracer(tracer);
    Tracing {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        kind: Kind::Otel { provider, _rt: rt },
    }
}

/// What the 0.3x SDK's internal logs said (feature `internal-logs`, events through `tracing`
/// with target `opentelemetry*`). The global error handler is gone since opentelemetry 0.28.
#[derive(Default)]
struct OtelLogCounts {
    /// `dropped_span_count` of "BatchSpanProcessor.SpansDropped", logged at shutdown.
    dropped: u64,
    /// "BatchSpanProcessor.ExportError": a batch that failed (its size is not logged).
    export_errors: u64,
    /// Other warnings and errors.
    other: u64,
    first: Option<String>,
}

static OTEL_LOGS: Mutex<OtelLogCounts> =
    Mutex::new(OtelLogCounts { dropped: 0, export_errors: 0, other: 0, first: None });

/// The child's global subscriber when it runs tracing-opentelemetry 0.34: it sees the SDK's
/// internal logs from every thread that is not inside the tool's own dispatcher (the batch
/// processor's thread, and the harness's thread when it shuts the provider down). It keeps
/// the default `Interest::always`, so it adds no per-callsite `enabled` check to the timed
/// thread (which has its own dispatcher, and never reaches this one).
struct OtelLogs;

impl<S: tracing::Subscriber> Layer<S> for OtelLogs {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with("opentelemetry") || *meta.level() > tracing::Level::WARN {
            return;
        }
        let mut fields = OtelLogFields::default();
        event.record(&mut fields);
        let mut logs = OTEL_LOGS.lock().unwrap();
        match meta.name() {
            "BatchSpanProcessor.SpansDropped" => logs.dropped = fields.dropped.unwrap_or(0),
            // The first drop is logged as it happens, and counted at shutdown.
            "BatchSpanProcessor.SpanDroppingStarted" => {}
            name => {
                if name == "BatchSpanProcessor.ExportError" {
                    logs.export_errors += 1;
                } else {
                    logs.other += 1;
                }
                logs.first.get_or_insert_with(|| format!("{name}: {}", fields.text));
            }
        }
    }
}

#[derive(Default)]
struct OtelLogFields {
    dropped: Option<u64>,
    text: String,
}

impl tracing::field::Visit for OtelLogFields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "dropped_span_count" {
            self.dropped = Some(value);
        }
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "error" | "message") && self.text.is_empty() {
            self.text = format!("{value:?}");
        }
    }
}

fn otel_otlp(otlp: SocketAddr) -> Tracing {
    use opentelemetry_033::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(OtelLogs))
        .expect("the child's only global subscriber");
    // Defaults: protobuf over HTTP (`http-proto`), no compression, 10 s timeout, reqwest's
    // blocking client; an explicit endpoint is used as given, so it names the path.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("http://{otlp}/v1/traces"))
        .build()
        .expect("OTLP span exporter");
    // `with_batch_exporter`: the default BatchSpanProcessor, on its own thread (queue 2048,
    // batch 512, scheduled delay 5 s).
    let provider = opentelemetry_sdk_033::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(opentelemetry_sdk_033::Resource::builder().with_service_name("compare").build())
        .build();
    let tracer = provider.tracer("compare");
    let layer = tracing_opentelemetry_034::layer().with_tracer(tracer);
    Tracing {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        kind: Kind::OtelOtlp(provider),
    }
}

// === fastrace ===

struct Fastrace;

static LOG_ERRORS: AtomicU64 = AtomicU64::new(0);
static LOG_FIRST: Mutex<Option<String>> = Mutex::new(None);

/// fastrace-jaeger reports failures with `log::error!`: count them.
struct CountingLogger;
impl log::Log for CountingLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if r.level() <= log::Level::Warn {
            LOG_ERRORS.fetch_add(1, Ordering::Relaxed);
            LOG_FIRST.lock().unwrap().get_or_insert_with(|| r.args().to_string());
        }
    }
    fn flush(&self) {}
}

impl Fastrace {
    fn new(agent: SocketAddr) -> Fastrace {
        let _ = log::set_logger(&CountingLogger);
        log::set_max_level(log::LevelFilter::Warn);
        let reporter = fastrace_jaeger::JaegerReporter::new(agent, "compare").expect("fastrace reporter");
        // Default config: report every second, or sooner when a thread's channel fills.
        fastrace::set_reporter(reporter, fastrace::collector::Config::default());
        Fastrace
    }
}

fn fastrace_root(name: &'static str, i: u64) -> fastrace::Span {
    use fastrace::prelude::*;
    // fastrace properties are strings: formatting the i64 is part of its cost.
    Span::root(name, SpanContext::random()).with_properties(|| {
        [
            ("order", Cow::Owned(i.to_string())),
            ("user", Cow::Borrowed("ada")),
            ("paid", Cow::Borrowed("true")),
        ]
    })
}

impl Tool for Fastrace {
    fn with_context(&self, f: &mut dyn FnMut()) {
        f()
    }
    fn run(&self, w: Workload, i: u64) {
        use fastrace::prelude::*;
        match w {
            Workload::A => {
                let root = fastrace_root("checkout", i);
                let _g = root.set_local_parent();
                black_box(&root);
            }
            Workload::B => {
                let root = fastrace_root("request", i);
                let _g = root.set_local_parent();
                for j in 0..10i64 {
                    let _child =
                        LocalSpan::enter_with_local_parent("step").with_property(|| ("j", j.to_string()));
                    LocalSpan::add_event(Event::new("event").with_properties(|| {
                        [("attempt", Cow::Owned(j.to_string())), ("outcome", Cow::Borrowed("ok"))]
                    }));
                }
            }
        }
    }
    fn flush(&self) {
        fastrace::flush();
    }
    fn holds_until_next_send(&self) -> bool {
        true
    }
    fn drops(&self, _created: u64) -> Option<(u64, String)> {
        // Its queue is unbounded (spsc ring + overflow deque): it never drops at the producer.
        // Reporter failures are logged; an oversize single span is skipped without a log.
        let n = LOG_ERRORS.load(Ordering::Relaxed);
        let first = LOG_FIRST.lock().unwrap().clone().unwrap_or_default();
        Some((0, format!("does not count drops; report errors logged={n} {first}").trim_end().to_string()))
    }
}

// === rustracing + rustracing_jaeger ===

/// Spans per `report` call: rustracing_jaeger sends one datagram per call and does not split,
/// so the reporting loop (user code in rustracing) batches at most this many.
const RUSTRACING_BATCH: usize = 100;
/// The span channel: rustracing's docs recommend a bounded one (`Tracer::new` is unbounded).
const RUSTRACING_CHANNEL: usize = 16384;

struct Rustracing {
    tracer: rustracing_jaeger::Tracer,
    received: Arc<AtomicU64>,
    report_errors: Arc<AtomicU64>,
    first_error: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    _thread: JoinHandle<()>,
}

impl Rustracing {
    fn new(agent: SocketAddr) -> Rustracing {
        let (tx, rx) = crossbeam_channel::bounded(RUSTRACING_CHANNEL);
        let tracer = rustracing_jaeger::Tracer::with_sender(rustracing::sampler::AllSampler, tx);
        let mut reporter =
            rustracing_jaeger::reporter::JaegerCompactReporter::new("compare").expect("reporter");
        reporter.set_agent_addr(agent);
        let received = Arc::new(AtomicU64::new(0));
        let report_errors = Arc::new(AtomicU64::new(0));
        let first_error = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, report_errors, first_error, stop) =
                (received.clone(), report_errors.clone(), first_error.clone(), stop.clone());
            std::thread::Builder::new()
                .name("rustracing-reporter".into())
                .spawn(move || {
                    let mut batch = Vec::with_capacity(RUSTRACING_BATCH);
                    while !stop.load(Ordering::Relaxed) {
                        match rx.recv_timeout(Duration::from_millis(50)) {
                            Ok(s) => batch.push(s),
                            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                            Err(_) => break,
                        }
                        while batch.len() < RUSTRACING_BATCH {
                            match rx.try_recv() {
                                Ok(s) => batch.push(s),
                                Err(_) => break,
                            }
                        }
                        received.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        if let Err(e) = reporter.report(&batch) {
                            report_errors.fetch_add(batch.len() as u64, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert_with(|| e.to_string());
                        }
                        batch.clear();
                    }
                })
                .expect("reporter thread")
        };
        Rustracing { tracer, received, report_errors, first_error, stop, _thread: thread }
    }
}

impl Drop for Rustracing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Tool for Rustracing {
    fn with_context(&self, f: &mut dyn FnMut()) {
        f()
    }
    fn run(&self, w: Workload, i: u64) {
        use rustracing::log::LogField;
        use rustracing::tag::Tag;
        // OpenTracing has no "current span": enter/exit do not exist; the span is created,
        // tagged, and finished when dropped.
        let root = self
            .tracer
            .span(if w == Workload::A { "checkout" } else { "request" })
            .tag(Tag::new("order", i as i64))
            .tag(Tag::new("user", "ada"))
            .tag(Tag::new("paid", true))
            .start();
        if w == Workload::B {
            for j in 0..10i64 {
                let mut child = root.child("step", |o| o.tag(Tag::new("j", j)).start());
                child.log(|l| {
                    l.field(LogField::new("attempt", j.to_string())).field(LogField::new("outcome", "ok"));
                });
            }
        }
        black_box(&root);
    }
    fn flush(&self) {
        // The reporting loop sends as soon as the channel has spans; nothing to ask.
    }
    fn drops(&self, created: u64) -> Option<(u64, String)> {
        // rustracing ignores a full channel (`try_send` result dropped): the count here is
        // ours, spans the reporting loop received vs. the report errors it saw.
        let received = self.received.load(Ordering::Relaxed);
        let errors = self.report_errors.load(Ordering::Relaxed);
        let full = created.saturating_sub(received);
        let first = self.first_error.lock().unwrap().clone().unwrap_or_default();
        Some((
            full + errors,
            format!("not counted by rustracing; harness: channel_full={full} report_errors={errors} {first}")
                .trim_end()
                .to_string(),
        ))
    }
}
