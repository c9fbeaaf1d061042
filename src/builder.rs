//! `JaegerLayer::builder()`: every setting, validated in `build()`.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::export::batch::WireFormat;
use crate::export::{spawn, ExporterGuard, Shared, WorkerConfig};
use crate::layer::{Clock, Inner, JaegerLayer};
use crate::propagation::Propagator;
use crate::sampler::Sampler;
use crate::span_data::{Process, Tag, TagValue};
use crate::stats::Counters;
use crate::transport::{Transport, UdpTransport};

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
    max_packet_size: usize,
    flush_interval: Duration,
    trace_id_128bit: bool,
    max_tag_value_length: usize,
    metadata_tags: bool,
    max_logs_per_span: usize,
    agent_reresolve_interval: Option<Duration>,
    propagator: Propagator,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            service_name: None,
            agent_endpoint: "localhost:6831".to_owned(),
            sampler: Sampler::always(),
            process_tags: Vec::new(),
            queue_capacity: 4096,
            max_packet_size: 65_000,
            flush_interval: Duration::from_secs(1),
            trace_id_128bit: true,
            max_tag_value_length: 256,
            metadata_tags: true,
            max_logs_per_span: 0,
            agent_reresolve_interval: Some(Duration::from_secs(30)),
            propagator: Propagator::jaeger(),
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
    /// it is full, finished spans are dropped and counted. Defaults to 4096.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
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

    /// The longest string tag value kept, in bytes; longer values are cut on a character
    /// boundary. Defaults to 256 (Jaeger's clients' default).
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

    /// Builds the layer and starts the exporter thread.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a missing service name or a setting out of range,
    /// [`Error::Spawn`] if the exporter thread cannot start. An agent host that does not
    /// resolve yet is not an error: sends fail and are counted until it does.
    pub fn build(self) -> Result<(JaegerLayer, ExporterGuard), Error> {
        let service_name = match self.service_name {
            Some(s) if !s.trim().is_empty() => s,
            Some(s) => return Err(Error::invalid("service_name", format!("{s:?}"), "must not be empty")),
            None => return Err(Error::invalid("service_name", "(unset)", "a service name is required")),
        };
        if !(MIN_PACKET_SIZE..=MAX_UDP_PAYLOAD).contains(&self.max_packet_size) {
            return Err(Error::invalid(
                "max_packet_size",
                self.max_packet_size,
                format!("must be between {MIN_PACKET_SIZE} and {MAX_UDP_PAYLOAD} bytes"),
            ));
        }
        validate_endpoint(&self.agent_endpoint)?;
        if self.queue_capacity == 0 {
            return Err(Error::invalid("queue_capacity", 0, "must be at least 1"));
        }
        if self.flush_interval.is_zero() {
            return Err(Error::invalid("flush_interval", "0s", "must be positive"));
        }
        let counters = Arc::new(Counters::default());
        let sampler = self.sampler.start(&service_name, counters.clone())?;
        let transport = UdpTransport::new(self.agent_endpoint, self.agent_reresolve_interval);
        let ip = transport.local_ip();
        let process = Process { service_name, tags: process_tags(self.process_tags, ip) };
        let shared = Arc::new(Shared::new(self.queue_capacity, counters));
        let handle = spawn(
            shared.clone(),
            WorkerConfig {
                format: WireFormat::AgentCompact,
                process,
                max_packet_size: self.max_packet_size,
                max_spans_per_batch: usize::MAX,
                flush_interval: self.flush_interval,
                transport: Box::new(transport) as Box<dyn Transport>,
            },
        )?;
        let inner = Inner {
            shared: shared.clone(),
            sampler,
            clock: Clock::new(),
            trace_id_128bit: self.trace_id_128bit,
            max_tag_value_length: self.max_tag_value_length,
            metadata_tags: self.metadata_tags,
            max_logs_per_span: self.max_logs_per_span,
            propagator: self.propagator,
        };
        Ok((JaegerLayer::from_inner(Arc::new(inner)), ExporterGuard::new(shared, handle)))
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
