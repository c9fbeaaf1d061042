//! `JaegerLayer::builder()`: every setting, validated in `build()`.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::export::batch::WireFormat;
use crate::export::{spawn, ExporterGuard, Shared, WorkerConfig};
use crate::layer::{Inner, JaegerLayer};
use crate::propagation::Propagator;
use crate::sampler::{ActiveSampler, Sampler};
use crate::span_data::{Process, Tag, TagValue};
use crate::stats::Counters;
use crate::transport::{Auth, HttpConfig, HttpTransport, Transport, UdpTransport};

/// The largest UDP payload over IPv4 (65535 − 8 UDP header − 20 IP header).
const MAX_UDP_PAYLOAD: usize = 65_507;
/// Below this not even one small span fits next to the envelope and process.
const MIN_PACKET_SIZE: usize = 256;

/// Configures and builds a [`JaegerLayer`] and its [`ExporterGuard`].
///
/// ```no_run
/// # fn main() -> Result<(), jaeger_layer::Error> {
/// use std::time::Duration;
/// let (layer, guard) = jaeger_layer::JaegerLayer::builder()
///     .service_name("checkout")
///     .agent_endpoint("127.0.0.1:6831")
///     .process_tag("region", "eu-west-1")
///     .max_packet_size(9216)
///     .flush_interval(Duration::from_millis(500))
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    service_name: Option<String>,
    agent_endpoint: String,
    sampler: Sampler,
    process_tags: Vec<Tag>,
    queue_capacity: usize,
    /// Benchmarks only (`__wake_threshold`): queue length at which producers wake the worker.
    wake_threshold: Option<usize>,
    max_packet_size: usize,
    flush_interval: Duration,
    trace_id_128bit: bool,
    max_tag_value_length: usize,
    metadata_tags: bool,
    max_logs_per_span: usize,
    agent_reresolve_interval: Option<Duration>,
    propagator: Propagator,
    agent_protocol: AgentProtocol,
    collector: Option<CollectorSettings>,
    enabled: bool,
    log_spans: bool,
}

/// The Thrift protocol spoken to the agent over UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AgentProtocol {
    /// Thrift compact, the agent's port 6831 (what Jaeger's clients send).
    #[default]
    Compact,
    /// Thrift binary, the agent's port 6832.
    Binary,
}

/// The HTTP collector settings, gathered by the `collector_*` setters.
#[derive(Debug, Clone)]
struct CollectorSettings {
    endpoint: Option<String>,
    auth: Option<Auth>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    batch_size: usize,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        CollectorSettings {
            endpoint: None,
            auth: None,
            headers: Vec::new(),
            timeout: crate::transport::DEFAULT_HTTP_TIMEOUT,
            batch_size: DEFAULT_COLLECTOR_BATCH_SIZE,
        }
    }
}

/// Spans per POST to the collector: Go's `HTTPBatchSize` (facts §2).
const DEFAULT_COLLECTOR_BATCH_SIZE: usize = 100;
/// The largest collector request body; a batch is split before it grows past this.
const COLLECTOR_MAX_BODY: usize = 4 << 20;

impl Default for Builder {
    fn default() -> Self {
        Builder {
            service_name: None,
            agent_endpoint: "localhost:6831".to_owned(),
            sampler: Sampler::always(),
            process_tags: Vec::new(),
            queue_capacity: 16384,
            wake_threshold: None,
            max_packet_size: 65_000,
            flush_interval: Duration::from_secs(1),
            trace_id_128bit: true,
            max_tag_value_length: 256,
            metadata_tags: true,
            max_logs_per_span: 0,
            agent_reresolve_interval: Some(Duration::from_secs(30)),
            propagator: Propagator::jaeger(),
            agent_protocol: AgentProtocol::Compact,
            collector: None,
            enabled: true,
            log_spans: false,
        }
    }
}

impl JaegerLayer {
    /// A builder with the defaults listed on each setter.
    pub fn builder() -> Builder {
        Builder::default()
    }
}

impl Builder {
    /// The service name: the Jaeger `Process.serviceName`. Required.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The agent's UDP `host:port` (compact Thrift). Defaults to `localhost:6831`.
    pub fn agent_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.agent_endpoint = endpoint.into();
        self
    }

    /// How root spans are sampled. Defaults to [`Sampler::always`].
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Adds a process tag (reported once per batch, shown on every span in Jaeger UI).
    /// User tags come first, then `jaeger.version`, `hostname`, `ip` and `client-uuid`.
    pub fn process_tag(mut self, key: impl Into<String>, value: impl Into<TagValue>) -> Self {
        self.process_tags.push(Tag { key: key.into().into(), value: value.into() });
        self
    }

    /// Capacity of the queue between the application threads and the exporter thread; when
    /// it is full, finished spans are dropped and counted. Defaults to 16384 (a slot is one pointer; the records themselves are allocated per span).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Not part of the supported API (benchmarks): the queue length at which a producer wakes
    /// the exporter before its flush interval. Defaults to a quarter of the queue, at most
    /// 1024. `benches/exporter.rs` raises it so that spans queue up while the exporter sleeps
    /// and `flush()` times the exporter alone.
    #[doc(hidden)]
    pub fn __wake_threshold(mut self, spans: usize) -> Self {
        self.wake_threshold = Some(spans.max(1));
        self
    }

    /// The largest datagram sent, in bytes; batches are split to fit exactly and a span too
    /// large to fit alone is dropped and counted.
    ///
    /// 65000 (Jaeger's default) works on loopback and within one host; macOS limits
    /// datagrams to 9216 bytes by default; a path through a 1500-byte MTU without
    /// fragmentation needs about 1472. Must be between 256 and 65507. Defaults to 65000.
    pub fn max_packet_size(mut self, bytes: usize) -> Self {
        self.max_packet_size = bytes;
        self
    }

    /// How often the exporter sends what it has even if no batch is full. Defaults to 1 s.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Whether new trace ids have 128 bits (W3C-compatible) or 64. Defaults to `true`.
    pub fn trace_id_128bit(mut self, wide: bool) -> Self {
        self.trace_id_128bit = wide;
        self
    }

    /// The longest tag or log field value kept, in bytes: strings and `Debug`/`Display`
    /// renderings are cut on a character boundary, byte slices (`BINARY`) at the byte. Log
    /// fields are cut too, unlike in jaeger-client-go, so that one huge event field cannot
    /// make its whole span too large to send. Defaults to 256 (Jaeger's clients' default).
    pub fn max_tag_value_length(mut self, bytes: usize) -> Self {
        self.max_tag_value_length = bytes;
        self
    }

    /// Whether spans carry `code.filepath`, `code.lineno`, `code.namespace` and `level` tags
    /// from their `tracing` metadata. Defaults to `true`.
    pub fn metadata_tags(mut self, enabled: bool) -> Self {
        self.metadata_tags = enabled;
        self
    }

    /// The most logs (events) a span keeps; 0 keeps all. Over the limit, the oldest
    /// ⌊(n−1)/2⌋ logs and the newest stay and one `event="dropped Span logs"` log with a
    /// `dropped_log_count` replaces the rest, as Jaeger's clients do. Without a limit a span
    /// with very many events may not fit in a datagram and is dropped as too large (and
    /// counted). Defaults to 0, as Jaeger's clients.
    pub fn max_logs_per_span(mut self, n: usize) -> Self {
        self.max_logs_per_span = n;
        self
    }

    /// How often the agent's host name is resolved again, so that a moved agent is followed;
    /// `None` resolves once. Defaults to 30 s.
    pub fn agent_reresolve_interval(mut self, interval: Option<Duration>) -> Self {
        self.agent_reresolve_interval = interval;
        self
    }

    /// How [`JaegerSpanExt::inject`](crate::JaegerSpanExt::inject) and
    /// [`extract`](crate::JaegerSpanExt::extract) encode the context in headers: Jaeger's
    /// `uber-trace-id`, W3C `traceparent`, B3, or a composite. Defaults to
    /// [`Propagator::jaeger`].
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.propagator = propagator;
        self
    }

    /// The Thrift protocol for UDP datagrams to the agent: compact (port 6831) or binary
    /// (port 6832; set [`agent_endpoint`](Self::agent_endpoint) to match). Defaults to
    /// [`AgentProtocol::Compact`].
    pub fn agent_protocol(mut self, protocol: AgentProtocol) -> Self {
        self.agent_protocol = protocol;
        self
    }

    /// Sends to a Jaeger collector over HTTP instead of the agent over UDP: one `POST` of a
    /// Thrift-binary `Batch` (`Content-Type: application/x-thrift`) per batch, e.g.
    /// `http://jaeger-collector:14268/api/traces`. Plain `http://` only (no TLS in this
    /// crate). Connection errors and 5xx answers are retried (3 attempts in all) within the
    /// [`collector_timeout`](Self::collector_timeout); spans of a batch that still fails count
    /// as failed. Defaults to none (UDP to the agent).
    pub fn collector_endpoint(mut self, url: impl Into<String>) -> Self {
        self.collector.get_or_insert_with(Default::default).endpoint = Some(url.into());
        self
    }

    /// HTTP Basic authentication for the collector. Defaults to none.
    pub fn collector_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.collector.get_or_insert_with(Default::default).auth =
            Some(Auth::Basic { user: user.into(), password: password.into() });
        self
    }

    /// A bearer token (`Authorization: Bearer ...`) for the collector. Defaults to none.
    pub fn collector_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.collector.get_or_insert_with(Default::default).auth = Some(Auth::Bearer(token.into()));
        self
    }

    /// Adds a header sent with every request to the collector. Defaults to none.
    pub fn collector_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.collector.get_or_insert_with(Default::default).headers.push((name.into(), value.into()));
        self
    }

    /// The most one request to the collector may take, retries included. Defaults to 5 s.
    pub fn collector_timeout(mut self, timeout: Duration) -> Self {
        self.collector.get_or_insert_with(Default::default).timeout = timeout;
        self
    }

    /// The most spans in one request to the collector. Defaults to 100 (Go's).
    pub fn collector_batch_size(mut self, spans: usize) -> Self {
        self.collector.get_or_insert_with(Default::default).batch_size = spans;
        self
    }

    /// `false` builds a layer that records nothing, costs one branch per callback and starts
    /// no thread (`JAEGER_DISABLED=true`). Defaults to `true`.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Also prints every exported span's context on stderr, from the exporter thread
    /// (`JAEGER_REPORTER_LOG_SPANS`, Jaeger's logging reporter). Defaults to `false`.
    pub fn log_spans(mut self, enabled: bool) -> Self {
        self.log_spans = enabled;
        self
    }

    /// A builder configured from the `JAEGER_*` environment variables, as Jaeger's Go client
    /// reads them, plus `JAEGER_AUTH_TOKEN` and `JAEGER_PROPAGATION`; settings applied
    /// afterwards win. See the README's configuration table.
    ///
    /// Differences from Go: with no `JAEGER_SAMPLER_TYPE`, the sampler is remote with an
    /// initial probabilistic rate of 0.001 (Go: 0); a `JAEGER_TAGS` item without `=` or a
    /// `${VAR}` without `:` is an error (Go panics).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), jaeger_layer::Error> {
    /// let (layer, guard) = jaeger_layer::Builder::from_env()?.process_tag("team", "payments").build()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the variable and its value, e.g.
    /// `cannot parse env var JAEGER_AGENT_PORT=abc: ...`.
    pub fn from_env() -> Result<Builder, Error> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any getter (tests never touch the process env).
    pub(crate) fn from_env_with(get: impl Fn(&str) -> Option<String>) -> Result<Builder, Error> {
        let env = crate::env::read_env(get)?;
        let mut b = Builder::default().sampler(env.sampler.clone());
        if let Some(name) = env.service_name.clone() {
            b = b.service_name(name);
        }
        if let Some(disabled) = env.disabled {
            b = b.enabled(!disabled);
        }
        for (k, v) in env.tags.clone().unwrap_or_default() {
            b = b.process_tag(k, v);
        }
        if let Some(wide) = env.trace_id_128bit {
            b = b.trace_id_128bit(wide);
        }
        if let Some(n) = env.reporter_max_queue_size {
            b = b.queue_capacity(n);
        }
        if let Some(d) = env.reporter_flush_interval {
            b = b.flush_interval(d);
        }
        if let Some(log) = env.reporter_log_spans {
            b = b.log_spans(log);
        }
        if let Some(hp) = env.agent_host_port.clone() {
            b = b.agent_endpoint(hp);
        }
        if let Some(every) = env.agent_reresolve_interval() {
            b = b.agent_reresolve_interval(every);
        }
        if let Some(p) = env.propagator.clone() {
            b = b.propagator(p);
        }
        if let Some(http) = env.http_config() {
            let c = b.collector.get_or_insert_with(Default::default);
            c.endpoint = Some(http.endpoint);
            c.auth = http.auth;
        }
        Ok(b)
    }

    /// Builds the layer and starts the exporter thread.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a missing service name or a setting out of range,
    /// [`Error::Spawn`] if the exporter thread cannot start. An agent host that does not
    /// resolve yet is not an error: sends fail and are counted until it does.
    pub fn build(self) -> Result<(JaegerLayer, ExporterGuard), Error> {
        let service_name = match self.service_name.clone() {
            Some(s) if !s.trim().is_empty() => s,
            Some(s) => return Err(Error::invalid("service_name", format!("{s:?}"), "must not be empty")),
            None => return Err(Error::invalid("service_name", "(unset)", "a service name is required")),
        };
        if self.queue_capacity == 0 {
            return Err(Error::invalid("queue_capacity", 0, "must be at least 1"));
        }
        if self.flush_interval.is_zero() {
            return Err(Error::invalid("flush_interval", "0s", "must be positive"));
        }
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared::new(self.queue_capacity, self.wake_threshold, counters.clone()));
        if !self.enabled {
            let inner = self.inner(shared.clone(), Sampler::never().start("", counters)?);
            return Ok((JaegerLayer::from_inner(Arc::new(inner)), ExporterGuard::disabled(shared)));
        }
        let (format, transport, max_packet_size, max_spans, ip) = match &self.collector {
            Some(c) => {
                let endpoint = c.endpoint.clone().ok_or_else(|| {
                    Error::invalid("collector_endpoint", "(unset)", "collector settings need an endpoint")
                })?;
                if c.batch_size == 0 {
                    return Err(Error::invalid("collector_batch_size", 0, "must be at least 1"));
                }
                let config = HttpConfig {
                    auth: c.auth.clone(),
                    headers: c.headers.clone(),
                    timeout: c.timeout,
                    ..HttpConfig::new(endpoint)
                };
                let transport = HttpTransport::new(config)?;
                (
                    WireFormat::CollectorBinary,
                    Box::new(transport) as Box<dyn Transport>,
                    COLLECTOR_MAX_BODY,
                    c.batch_size,
                    None,
                )
            }
            None => {
                if !(MIN_PACKET_SIZE..=MAX_UDP_PAYLOAD).contains(&self.max_packet_size) {
                    return Err(Error::invalid(
                        "max_packet_size",
                        self.max_packet_size,
                        format!("must be between {MIN_PACKET_SIZE} and {MAX_UDP_PAYLOAD} bytes"),
                    ));
                }
                validate_endpoint(&self.agent_endpoint)?;
                let transport = UdpTransport::new(self.agent_endpoint.clone(), self.agent_reresolve_interval);
                let ip = transport.local_ip();
                let format = match self.agent_protocol {
                    AgentProtocol::Compact => WireFormat::AgentCompact,
                    AgentProtocol::Binary => WireFormat::AgentBinary,
                };
                (format, Box::new(transport) as Box<dyn Transport>, self.max_packet_size, 0, ip)
            }
        };
        let sampler = self.sampler.start(&service_name, counters)?;
        let process = Process { service_name, tags: process_tags(self.process_tags.clone(), ip) };
        let handle = spawn(
            shared.clone(),
            WorkerConfig {
                format,
                process,
                max_packet_size,
                max_spans_per_batch: max_spans,
                flush_interval: self.flush_interval,
                transport,
                log_spans: self.log_spans,
                max_logs_per_span: self.max_logs_per_span,
            },
        )?;
        let inner = self.inner(shared.clone(), sampler);
        Ok((JaegerLayer::from_inner(Arc::new(inner)), ExporterGuard::new(shared, handle)))
    }

    fn inner(self, shared: Arc<Shared>, sampler: ActiveSampler) -> Inner {
        Inner {
            enabled: self.enabled,
            shared,
            sampler,
            trace_id_128bit: self.trace_id_128bit,
            max_tag_value_length: self.max_tag_value_length,
            metadata_tags: self.metadata_tags,
            max_logs_per_span: self.max_logs_per_span,
            propagator: self.propagator,
        }
    }
}
/// User tags, then the tags every Jaeger client adds (facts §6).
fn process_tags(mut tags: Vec<Tag>, ip: Option<std::net::IpAddr>) -> Vec<Tag> {
    tags.push(Tag::new("jaeger.version", format!("Rust-jaeger-layer-{}", env!("CARGO_PKG_VERSION"))));
    if let Some(host) = hostname() {
        tags.push(Tag::new("hostname", host));
    }
    if !tags.iter().any(|t| t.key == "ip") {
        if let Some(ip) = ip.filter(|ip| !ip.is_unspecified()) {
            tags.push(Tag::new("ip", ip.to_string()));
        }
    }
    // A random 63-bit number in unpadded lower-case hex, as Go's client-uuid.
    tags.push(Tag::new("client-uuid", format!("{:x}", crate::id::random_u64() >> 1)));
    tags
}

fn hostname() -> Option<String> {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_proc
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// `host:port` with a numeric port; the host is resolved later (and again periodically).
fn validate_endpoint(endpoint: &str) -> Result<(), Error> {
    let port = endpoint.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(_))) if !host.is_empty() => Ok(()),
        _ => Err(Error::invalid("agent_endpoint", endpoint, "expected host:port, e.g. localhost:6831")),
    }
}
