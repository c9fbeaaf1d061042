//! `JaegerLayer::builder()`: every setting, validated in `build()`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::BuildError;
use crate::export::batch::WireFormat;
use crate::export::stats::Counters;
use crate::export::{spawn, ExporterGuard, Output, Shared, WorkerConfig};
use crate::layer::{Inner, JaegerLayer};
use crate::propagation::Propagator;
use crate::sampler::{ActiveSampler, Sampler};
use crate::span::data::{ClientStats, FinishedSpan, Process, Tag, TagValue, FLAG_SAMPLED};
use crate::thrift::writer::{Envelope, Wire};
use crate::transport::{Auth, CaFile, HttpConfig, HttpTransport, TrustRoots, UdpTransport};

use super::limits::*;
use super::otlp::{Compression, OtlpEndpoint, OtlpSettings};

/// The operation name of the small span that must fit next to the process ([`check_room`]).
const TYPICAL_OPERATION: &str = "GET /api/v1/orders/{order_id}";

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
    otlp: Option<OtlpSettings>,
    tls_ca_certificates: Option<CaFile>,
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

/// Spans per POST to the collector: Go's `HTTPBatchSize` (jaeger-client-go `transport/http.go`).
const DEFAULT_COLLECTOR_BATCH_SIZE: usize = 100;

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
            otlp: None,
            tls_ca_certificates: None,
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
    /// The service name: the Jaeger `Process.serviceName`. Required (unless the layer is
    /// [disabled](Self::enabled)). With the process tags it is sent in every batch, so
    /// [`build`](Self::build) refuses a name so long that no span fits next to it. Defaults
    /// to none.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The agent's UDP `host:port` (compact Thrift); the port must be between 1 and 65535, an
    /// IPv6 address in brackets (`[::1]:6831`).
    /// Defaults to `localhost:6831`.
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
    /// User tags come first, then `jaeger.version` (`Rust-<crate version>`, as Jaeger's
    /// clients write `Go-2.30.0`), `hostname`, `ip` and `client-uuid`. Defaults to none;
    /// [`build`](Self::build) refuses tags so large that no span fits next to them.
    pub fn process_tag(mut self, key: impl Into<String>, value: impl Into<TagValue>) -> Self {
        self.process_tags.push(Tag { key: key.into().into(), value: value.into() });
        self
    }

    /// Capacity of the queue between the application threads and the exporter thread; when
    /// it is full, finished spans are dropped and counted. Between 1 and 16777216 (2^24; the
    /// slots, 16 bytes each, are allocated up front, the records themselves per span).
    /// Defaults to 16384.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Not part of the supported API (feature `__bench`, unstable, for this repository's
    /// benches only): the queue length at which a producer wakes the exporter before its
    /// flush interval. Defaults to a quarter of the queue, at most 1024; at most the queue's
    /// capacity. `benches/exporter.rs` raises it so that spans queue up while the exporter
    /// sleeps and `flush()` times the exporter alone.
    #[cfg(feature = "__bench")]
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
    /// fragmentation needs about 1472. Must be between 256 and 65507, and leave room for a
    /// small span next to the process and batch envelope (see [`BuildErrorKind::NoRoomForSpans`](crate::BuildErrorKind::NoRoomForSpans)).
    /// UDP only: a collector request body is at most 4 MiB. Defaults to 65000.
    pub fn max_packet_size(mut self, bytes: usize) -> Self {
        self.max_packet_size = bytes;
        self
    }

    /// How often the exporter sends what it has even if no batch is full. Must be positive;
    /// any longer duration, up to [`Duration::MAX`] (never on a timer, only when a batch is
    /// full, on `flush()` and at shutdown), is fine. Defaults to 1 s.
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
    /// make its whole span too large to send. At most 4194304 (4 MiB: a longer value fits in
    /// no request). Defaults to 256 (Jaeger's clients' default).
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
    /// counted). At most 262144 (more logs fit in no collector request). Defaults to 0, as
    /// Jaeger's clients.
    pub fn max_logs_per_span(mut self, n: usize) -> Self {
        self.max_logs_per_span = n;
        self
    }

    /// How often the agent's host name is resolved again, so that a moved agent is followed;
    /// `None` resolves once; any duration up to [`Duration::MAX`] is fine. Defaults to 30 s.
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
    /// `http://jaeger-collector:14268/api/traces`. `https://` needs the `tls` feature; no
    /// credentials in the URL. Connection errors and 5xx answers are retried (3
    /// attempts in all) within the [`collector_timeout`](Self::collector_timeout); spans of a
    /// batch that still fails count as failed. Defaults to none (UDP to the agent).
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

    /// The most one request to the collector may take, retries included. Must be positive; a
    /// timeout above 100 years (e.g. [`Duration::MAX`]) means no deadline: a collector that
    /// never answers then blocks the exporter for good. Defaults to 5 s.
    pub fn collector_timeout(mut self, timeout: Duration) -> Self {
        self.collector.get_or_insert_with(Default::default).timeout = timeout;
        self
    }

    /// The most spans in one request to the collector, between 1 and 65536 (more small spans
    /// fit in no 4 MiB request body). Defaults to 100 (Go's).
    pub fn collector_batch_size(mut self, spans: usize) -> Self {
        self.collector.get_or_insert_with(Default::default).batch_size = spans;
        self
    }

    /// Sends spans over OTLP/HTTP (protobuf) to `base_url`, the way
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` does: `v1/traces` is appended, so
    /// `otlp_endpoint("http://localhost:4318")` posts to `http://localhost:4318/v1/traces`
    /// (Jaeger v2, the OpenTelemetry Collector). `https://` needs the `tls` feature.
    /// Default: not set (spans go to the UDP agent). Conflicts with
    /// [`collector_endpoint`](Self::collector_endpoint).
    pub fn otlp_endpoint(mut self, base_url: impl Into<String>) -> Self {
        self.otlp.get_or_insert_with(Default::default).endpoint = Some(OtlpEndpoint::Base(base_url.into()));
        self
    }

    /// Like [`otlp_endpoint`](Self::otlp_endpoint), but `url` is the full URL requests are
    /// posted to, used as it is (as `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; a URL without a path
    /// gets `/`).
    pub fn otlp_traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.get_or_insert_with(Default::default).endpoint = Some(OtlpEndpoint::Traces(url.into()));
        self
    }

    /// Adds a header to every OTLP request (e.g. `authorization`). Default: none.
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp.get_or_insert_with(Default::default).headers.push((name.into(), value.into()));
        self
    }

    /// The time one OTLP export may take, retries included. Default: 10 s.
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.get_or_insert_with(Default::default).timeout = timeout;
        self
    }

    /// Compresses OTLP request bodies. Default: [`Compression::None`].
    pub fn otlp_compression(mut self, compression: Compression) -> Self {
        self.otlp.get_or_insert_with(Default::default).compression = compression;
        self
    }

    /// The largest OTLP request body, before compression; a span that does not fit alone is
    /// dropped and counted. Default: 4 MiB; at most 64 MiB.
    pub fn otlp_max_request_size(mut self, bytes: usize) -> Self {
        self.otlp.get_or_insert_with(Default::default).max_request_size = bytes;
        self
    }

    /// The most spans in one OTLP request. Default: 512.
    pub fn otlp_batch_size(mut self, spans: usize) -> Self {
        self.otlp.get_or_insert_with(Default::default).batch_size = spans;
        self
    }

    /// Verifies `https://` servers against the CA certificates in the PEM file at `path`
    /// (one or more `-----BEGIN CERTIFICATE-----` sections; other sections, such as keys, are
    /// skipped) instead of the webpki roots: the Thrift [collector](Self::collector_endpoint),
    /// [OTLP](Self::otlp_endpoint) and the [remote sampler](crate::Sampler::remote) all use
    /// them. This is how to reach a collector whose certificate a private CA signed.
    ///
    /// The certificates *replace* the webpki (Mozilla) roots, as the OpenTelemetry
    /// specification's `OTEL_EXPORTER_OTLP_CERTIFICATE` ("the trusted certificate to use when
    /// verifying a server's TLS credentials") does in its SDKs; to trust public CAs too, put
    /// them in the same file. Only the server is verified: client certificates (mutual TLS)
    /// are not supported. Needs the `tls` feature. Defaults to none (the webpki roots).
    ///
    /// The file is read and parsed by [`build`](Self::build), which fails with
    /// [`BuildErrorKind::TlsCertificates`](crate::BuildErrorKind::TlsCertificates) if it
    /// cannot be read, is not valid PEM or holds no certificate, and, in a build without the
    /// `tls` feature, with [`BuildErrorKind::InvalidSetting`](crate::BuildErrorKind::InvalidSetting)
    /// naming the feature.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), jaeger_layer::Error> {
    /// let (layer, guard) = jaeger_layer::JaegerLayer::builder()
    ///     .service_name("checkout")
    ///     .otlp_endpoint("https://otel-collector.internal:4318")
    ///     .tls_ca_certificates("/etc/ssl/internal-ca.pem")
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls_ca_certificates(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_certificates = Some(CaFile { path: path.into(), origin: crate::transport::tls::SETTING });
        self
    }

    /// `false` builds a layer that records nothing, costs one branch per callback and starts
    /// no thread (`JAEGER_DISABLED=true`). As Jaeger's Go client returns its no-op tracer
    /// before looking at anything else (`config/config.go` `NewTracer`), a disabled builder
    /// builds without checking any other setting, not even the service name. Defaults to
    /// `true`.
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
    /// reads them, plus `JAEGER_AUTH_TOKEN` and `JAEGER_PROPAGATION`, and from the `OTEL_*`
    /// variables of the OpenTelemetry specification listed below; settings applied afterwards
    /// win. See the README's configuration table.
    ///
    /// Differences from Go: with no `JAEGER_SAMPLER_TYPE`, the sampler is remote with an
    /// initial probabilistic rate of 0.001 (Go: 0); a `JAEGER_TAGS` item without `=` or a
    /// `${VAR}` without `:` is an error (Go panics); a value that is not UTF-8 is an error (Go
    /// takes the bytes); `JAEGER_REPORTER_MAX_QUEUE_SIZE` is at most 16777216. With
    /// `JAEGER_DISABLED=true` no service name is needed, but every variable is still parsed.
    ///
    /// # `OTEL_*` variables
    ///
    /// Where an `OTEL_*` and a `JAEGER_*` variable set the same thing, the `OTEL_*` one wins,
    /// except that any one of the three disabling variables disables. An empty value is unset;
    /// enum values ignore case. Where the specification asks for a warning and for a bad value
    /// to be ignored, this is an error, as for the `JAEGER_*` variables. Of each
    /// `OTEL_EXPORTER_OTLP_X` / `OTEL_EXPORTER_OTLP_TRACES_X` pair only the traces one is read
    /// when it is set, as a whole (traces headers replace the generic ones).
    ///
    /// | variable | sets | precedence |
    /// |---|---|---|
    /// | `OTEL_SERVICE_NAME` | [`service_name`](Self::service_name) | over `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, over `JAEGER_SERVICE_NAME` |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | `k=v,...` (percent-decoded keys and values, `+` is a plus): [`process_tag`](Self::process_tag)s; `service.name` is the service name | a key also in `JAEGER_TAGS` takes this value |
    /// | `OTEL_TRACES_EXPORTER` | `otlp`: OTLP/HTTP, to `http://localhost:4318` unless an endpoint variable says otherwise; `none`: [`enabled`](Self::enabled)`(false)` | `otlp` over `JAEGER_ENDPOINT` and `JAEGER_AGENT_*` |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL, `v1/traces` appended: [`otlp_endpoint`](Self::otlp_endpoint); selects OTLP | over `JAEGER_ENDPOINT`, `JAEGER_AGENT_*` |
    /// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | full URL: [`otlp_traces_endpoint`](Self::otlp_traces_endpoint); selects OTLP | over `OTEL_EXPORTER_OTLP_ENDPOINT` |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` | `k=v,...` (values percent-decoded): [`otlp_header`](Self::otlp_header)s | traces over generic, as a whole |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` | integer milliseconds, `0` no limit: [`otlp_timeout`](Self::otlp_timeout) | traces over generic |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION` | `gzip` or `none`: [`otlp_compression`](Self::otlp_compression) | traces over generic |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` | must be `http/protobuf` (`grpc`, `http/json`: error) | traces over generic |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` | path of a PEM file of CA certificates: [`tls_ca_certificates`](Self::tls_ca_certificates) (also for the remote sampler); read by `build()`; needs the `tls` feature | traces over generic |
    /// | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | [`sampler`](Self::sampler): `always_on`, `always_off`, `traceidratio` (arg: rate, default 1), `jaeger_remote` (arg: `endpoint`, `pollingIntervalMs`, `initialSamplingRate`), each also as `parentbased_*` | over `JAEGER_SAMPLER_TYPE`/`_PARAM`; `jaeger_remote` starts from the `JAEGER_SAMPLING_ENDPOINT`, `JAEGER_SAMPLER_*` settings |
    /// | `OTEL_PROPAGATORS` | [`propagator`](Self::propagator): `tracecontext`, `baggage`, `b3` (single header), `b3multi`, `jaeger`, `none` | over `JAEGER_PROPAGATION` |
    /// | `OTEL_SDK_DISABLED` | `true`: [`enabled`](Self::enabled)`(false)` | any of it, `OTEL_TRACES_EXPORTER=none`, `JAEGER_DISABLED=true` disables |
    ///
    /// Sampling: the layer always follows a parent's sampled flag, as Jaeger's clients do, so
    /// `always_on`, `always_off`, `traceidratio` and `jaeger_remote` behave as their
    /// `parentbased_*` forms (the specification's forms without `parentbased_` would ignore
    /// the parent); `traceidratio` applies Jaeger's probabilistic rule to the trace id
    /// (`sampler.type=probabilistic`). The `jaeger_remote` `endpoint` must be Jaeger's HTTP
    /// sampling endpoint (agent or Jaeger v2 port 5778, e.g. `http://jaeger:5778/sampling`),
    /// not the gRPC one of the specification's example: ports 14250 and 5779 are refused.
    /// `OTEL_TRACES_SAMPLER_ARG` is read only with `OTEL_TRACES_SAMPLER`, and only for the
    /// samplers that take one. Without `OTEL_TRACES_SAMPLER` the `JAEGER_*` default (remote)
    /// stays, not the specification's `parentbased_always_on`.
    ///
    /// Propagation: `tracecontext` is [`Propagator::w3c`], which carries W3C `baggage` with
    /// `traceparent`; `baggage` without `tracecontext` is an error, and `tracecontext` alone
    /// propagates baggage too. `none` must stand alone. Duplicates count once.
    ///
    /// Other `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, certificate, ...) are checked
    /// but used only when OTLP is selected. Not supported: `..._CLIENT_KEY`,
    /// `..._CLIENT_CERTIFICATE` (client certificates, mutual TLS), `OTEL_BSP_*`, span limits
    /// and `OTEL_CONFIG_FILE`; they are ignored. `https://` endpoints need the `tls` feature.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), jaeger_layer::Error> {
    /// let (layer, guard) = jaeger_layer::Builder::from_env()?.process_tag("team", "payments").build()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`BuildError`] naming the variable and its value, e.g.
    /// `cannot parse env var JAEGER_AGENT_PORT=abc: ...` (a value that is not UTF-8 is shown
    /// lossily; header values are never shown).
    pub fn from_env() -> Result<Builder, BuildError> {
        Self::from_env_with(|name| std::env::var_os(name))
    }

    /// [`from_env`](Self::from_env) over any getter (tests never touch the process env).
    pub(crate) fn from_env_with(get: impl Fn(&str) -> Option<OsString>) -> Result<Builder, BuildError> {
        let env = crate::config::env::read_env(get)?;
        let otel = env.otel.clone();
        let mut b = Builder::default().sampler(otel.sampler.clone().unwrap_or_else(|| env.sampler.clone()));
        if let Some(name) = otel.service_name.clone().or_else(|| env.service_name.clone()) {
            b = b.service_name(name);
        }
        // Any disabling variable disables (a default `false` elsewhere must not re-enable).
        if env.disabled == Some(true) || otel.disabled {
            b = b.enabled(false);
        }
        let resource = otel.resource.clone().unwrap_or_default();
        for (k, v) in env.tags.clone().unwrap_or_default() {
            if !resource.iter().any(|(key, _)| *key == k) {
                b = b.process_tag(k, v);
            }
        }
        for (k, v) in resource {
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
        if let Some(every) = env.agent_reresolve_interval() {
            b = b.agent_reresolve_interval(every);
        }
        if let Some(p) = otel.propagator.clone().or_else(|| env.propagator.clone()) {
            b = b.propagator(p);
        }
        if let Some(otlp) = otel.otlp {
            // OTLP wins over `JAEGER_ENDPOINT` and the agent variables.
            b.otlp = Some(otlp);
            b.tls_ca_certificates = otel.certificate;
            return Ok(b);
        }
        if let Some(hp) = env.agent_host_port.clone() {
            b = b.agent_endpoint(hp);
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
    /// A disabled builder ([`enabled`](Self::enabled)`(false)`) checks nothing and always
    /// builds.
    ///
    /// # Errors
    /// [`BuildError`] for a missing service name or a setting out of range (showing
    /// the rejected value), [`BuildErrorKind::NoRoomForSpans`](crate::BuildErrorKind::NoRoomForSpans) when the process (service name and
    /// process tags) and the batch envelope leave no room in one packet for a small span
    /// (the operation name `GET /api/v1/orders/{order_id}`, the sampler tags and, unless
    /// switched off, the metadata tags), [`BuildErrorKind::TlsCertificates`](crate::BuildErrorKind::TlsCertificates)
    /// when the [`tls_ca_certificates`](Self::tls_ca_certificates) file cannot be used,
    /// [`BuildErrorKind::Spawn`](crate::BuildErrorKind::Spawn) if the exporter thread cannot start.
    /// An agent host that does not resolve yet is not an error: sends fail and are counted
    /// until it does.
    pub fn build(self) -> Result<(JaegerLayer, ExporterGuard), BuildError> {
        if !self.enabled {
            // Go's `NewTracer` returns its no-op tracer before looking at any other setting
            // (jaeger-client-go `config/config.go`); the queue is never used.
            let counters = Arc::new(Counters::default());
            let shared = Arc::new(Shared::new(1, None, counters.clone()));
            let inner = self.inner(shared.clone(), Sampler::never().start("", counters)?);
            return Ok((JaegerLayer::from_inner(Arc::new(inner)), ExporterGuard::disabled(shared)));
        }
        let service_name = match self.service_name.clone() {
            Some(s) if !s.trim().is_empty() => s,
            Some(s) => {
                return Err(BuildError::invalid("service_name", format!("{s:?}"), "must not be empty"))
            }
            None => return Err(BuildError::invalid("service_name", "(unset)", "a service name is required")),
        };
        check_size("queue_capacity", self.queue_capacity, 1, MAX_QUEUE_CAPACITY)?;
        check_size("max_tag_value_length", self.max_tag_value_length, 0, MAX_TAG_VALUE_LENGTH)?;
        check_size("max_logs_per_span", self.max_logs_per_span, 0, MAX_LOGS_PER_SPAN)?;
        if self.flush_interval.is_zero() {
            return Err(BuildError::invalid(
                "flush_interval",
                format!("{:?}", self.flush_interval),
                "must be positive",
            ));
        }
        if let (Some(_), Some(_)) = (&self.otlp, &self.collector) {
            return Err(BuildError::conflict("otlp_endpoint", "collector_endpoint"));
        }
        let roots = TrustRoots::load(self.tls_ca_certificates.as_ref())?;
        let counters = Arc::new(Counters::default());
        let wake_threshold = self.wake_threshold.map(|w| w.min(self.queue_capacity));
        let shared = Arc::new(Shared::new(self.queue_capacity, wake_threshold, counters.clone()));
        let (output, ip) = match (&self.otlp, &self.collector) {
            (Some(otlp), _) => (self.otlp_output(otlp, &service_name, &roots)?, None),
            (None, Some(c)) => {
                let endpoint = c.endpoint.clone().ok_or_else(|| {
                    BuildError::invalid(
                        "collector_endpoint",
                        "(unset)",
                        "collector settings need an endpoint",
                    )
                })?;
                check_size("collector_batch_size", c.batch_size, 1, MAX_COLLECTOR_BATCH_SIZE)?;
                let config = HttpConfig {
                    auth: c.auth.clone(),
                    headers: c.headers.clone(),
                    timeout: c.timeout,
                    roots: roots.clone(),
                    ..HttpConfig::new(endpoint)
                };
                let transport = HttpTransport::new(config)?;
                let output = Output::Thrift {
                    format: WireFormat::CollectorBinary,
                    max_packet_size: COLLECTOR_MAX_BODY,
                    max_spans_per_batch: c.batch_size,
                    transport: Box::new(transport),
                };
                (output, None)
            }
            (None, None) => {
                if !(MIN_PACKET_SIZE..=MAX_UDP_PAYLOAD).contains(&self.max_packet_size) {
                    return Err(BuildError::invalid(
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
                let output = Output::Thrift {
                    format,
                    max_packet_size: self.max_packet_size,
                    max_spans_per_batch: 0,
                    transport: Box::new(transport),
                };
                (output, ip)
            }
        };
        let process = Process { service_name, tags: process_tags(self.process_tags.clone(), ip) };
        match &output {
            Output::Thrift { format, max_packet_size, .. } => {
                check_room(*format, &process, *max_packet_size, self.metadata_tags)?
            }
            #[cfg(feature = "otlp")]
            Output::Otlp { max_request_size, .. } => {
                check_otlp_room(&process, *max_request_size, self.metadata_tags)?
            }
        }
        let sampler = self.sampler.start_with(&process.service_name, counters, &roots)?;
        let handle = spawn(
            shared.clone(),
            WorkerConfig {
                output,
                process,
                flush_interval: self.flush_interval,
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

impl Builder {
    /// The OTLP output for `otlp`, or why it cannot be built.
    fn otlp_output(
        &self,
        otlp: &OtlpSettings,
        service_name: &str,
        roots: &TrustRoots,
    ) -> Result<Output, BuildError> {
        let _ = (service_name, roots);
        #[cfg(not(feature = "otlp"))]
        {
            let url = otlp.endpoint.as_ref().map_or_else(|| "(unset)".to_owned(), OtlpEndpoint::url);
            Err(BuildError::invalid("otlp_endpoint", url, "OTLP export needs the `otlp` cargo feature"))
        }
        #[cfg(feature = "otlp")]
        {
            check_size("otlp_batch_size", otlp.batch_size, 1, super::otlp::MAX_OTLP_BATCH_SIZE)?;
            check_size(
                "otlp_max_request_size",
                otlp.max_request_size,
                super::otlp::MIN_OTLP_REQUEST_SIZE,
                super::otlp::MAX_OTLP_REQUEST_SIZE,
            )?;
            Ok(Output::Otlp {
                max_request_size: otlp.max_request_size,
                max_spans_per_request: otlp.batch_size,
                transport: otlp_transport(otlp, roots)?,
            })
        }
    }
}

/// The OTLP/HTTP transport for `otlp`.
#[cfg(feature = "otlp")]
fn otlp_transport(
    otlp: &OtlpSettings,
    roots: &TrustRoots,
) -> Result<Box<dyn crate::otlp::OtlpSend>, BuildError> {
    Ok(Box::new(crate::transport::otlp::OtlpTransport::new(otlp, roots)?))
}

/// Like [`check_room`] for OTLP: the resource, the request envelope and a small span must fit
/// in `limit` bytes.
#[cfg(feature = "otlp")]
fn check_otlp_room(process: &Process, limit: usize, metadata_tags: bool) -> Result<(), BuildError> {
    use crate::otlp::{batch::OtlpBatcher, encode};
    let envelope = OtlpBatcher::new(process, limit, 1, Arc::new(Counters::default())).envelope_size();
    let resource = encode::resource_field(process).len();
    let mut span = Vec::new();
    encode::span_field(&mut span, &small_span(metadata_tags), &mut Default::default());
    if envelope.saturating_add(span.len()) > limit {
        return Err(BuildError::no_room(resource, envelope - resource, span.len(), limit));
    }
    Ok(())
}

/// `value` within `min..=max`, else an [`BuildError`] for the setter `what`.
fn check_size(what: &str, value: usize, min: usize, max: usize) -> Result<(), BuildError> {
    if value < min {
        return Err(BuildError::invalid(what, value, format!("must be at least {min}")));
    }
    if value > max {
        return Err(BuildError::invalid(what, value, format!("must be at most {max}")));
    }
    Ok(())
}

/// Checks that the process, the largest batch envelope `format` can have (every number at
/// its longest encoding) and a small root span fit in `limit` bytes: otherwise every span
/// would be dropped as too large.
fn check_room(
    format: WireFormat,
    process: &Process,
    limit: usize,
    metadata_tags: bool,
) -> Result<(), BuildError> {
    let (wire, agent) = match format {
        WireFormat::AgentCompact => (Wire::Compact, true),
        WireFormat::AgentBinary => (Wire::Binary, true),
        WireFormat::CollectorBinary => (Wire::Binary, false),
    };
    let mut process_bytes = Vec::new();
    wire.process(&mut process_bytes, process);
    let stats = ClientStats {
        full_queue_dropped_spans: i64::MAX,
        too_large_dropped_spans: i64::MAX,
        failed_to_emit_spans: i64::MAX,
    };
    let env = Envelope {
        message_seqid: agent.then_some(i32::MAX),
        seq_no: agent.then_some(i64::MAX),
        stats: agent.then_some(stats),
    };
    let (mut prefix, mut suffix) = (Vec::new(), Vec::new());
    wire.batch_prefix(&mut prefix, &env, &process_bytes);
    wire.batch_suffix(&mut suffix, &env);
    let envelope_bytes = prefix.len() - process_bytes.len() + wire.struct_list_len(1) + suffix.len();
    let mut span = Vec::new();
    wire.span(&mut span, &small_span(metadata_tags), &mut Default::default());
    let (process_bytes, min_span_bytes) = (process_bytes.len(), span.len());
    if process_bytes.saturating_add(envelope_bytes).saturating_add(min_span_bytes) > limit {
        return Err(BuildError::no_room(process_bytes, envelope_bytes, min_span_bytes, limit));
    }
    Ok(())
}

/// A small sampled root span as the layer writes it: 128-bit ids, a typical operation name,
/// the sampler tags and, with `metadata_tags`, tags of the same keys, types and typical sizes
/// as the `code.*` and `level` tags the encoder writes from a span's metadata.
fn small_span(metadata_tags: bool) -> FinishedSpan {
    let tags = if metadata_tags {
        vec![
            Tag::new("code.filepath", "src/handlers/orders.rs"),
            Tag::new("code.lineno", 123i64),
            Tag::new("code.namespace", "my_service::handlers::orders"),
            Tag::new("level", "INFO"),
        ]
    } else {
        Vec::new()
    };
    FinishedSpan {
        trace_id: crate::span::id::TraceId::new(u64::MAX, u64::MAX),
        span_id: u64::MAX,
        parent_id: 0,
        flags: FLAG_SAMPLED,
        operation: TYPICAL_OPERATION.into(),
        references: Vec::new(),
        start_us: 1_700_000_000_000_000,
        duration_us: 1_000_000,
        tags,
        logs: Vec::new(),
        sampler: Some(("probabilistic", TagValue::Double(0.001))),
        metadata: None,
        error: false,
        trace_state: None,
        dropped_logs: 0,
    }
}

/// User tags, then the tags every Jaeger client adds (jaeger-client-go `tracer.go`), with
/// `jaeger.version` in their `<Lang>-<version>` form (`Go-2.30.0`, `Python-4.8.0`).
pub(crate) fn process_tags(mut tags: Vec<Tag>, ip: Option<std::net::IpAddr>) -> Vec<Tag> {
    tags.push(Tag::new("jaeger.version", format!("Rust-{}", env!("CARGO_PKG_VERSION"))));
    if let Some(host) = hostname() {
        tags.push(Tag::new("hostname", host));
    }
    if !tags.iter().any(|t| t.key == "ip") {
        if let Some(ip) = ip.filter(|ip| !ip.is_unspecified()) {
            tags.push(Tag::new("ip", ip.to_string()));
        }
    }
    // A random 63-bit number in unpadded lower-case hex, as Go's client-uuid.
    tags.push(Tag::new("client-uuid", format!("{:x}", crate::span::id::random_u64() >> 1)));
    tags
}

/// The host's name as Go's `os.Hostname()` gives it to jaeger-client-go: `uname` on Unix
/// (macOS and the BSDs included), `GetComputerNameExW` on Windows; `$HOSTNAME` and
/// `$COMPUTERNAME` only if that is empty.
fn hostname() -> Option<String> {
    let from_os = gethostname::gethostname().into_string().ok().filter(|h| !h.trim().is_empty());
    from_os
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// `host:port` with a port in 1..=65535; the host is resolved later (and again periodically).
/// Port 0 is refused as `JAEGER_AGENT_PORT=0` is: nothing listens there, and the socket would
/// report every datagram as sent.
fn validate_endpoint(endpoint: &str) -> Result<(), BuildError> {
    let port = endpoint.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
    let shown = format!("{endpoint:?}");
    match port {
        Some((host, Ok(0))) if !host.is_empty() => {
            Err(BuildError::invalid("agent_endpoint", shown, "the port must be between 1 and 65535"))
        }
        // `::1:6831` would split as host `:` and port 1.
        Some((host, Ok(_))) if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) => Err(
            BuildError::invalid("agent_endpoint", shown, "an IPv6 address needs brackets, e.g. [::1]:6831"),
        ),
        Some((host, Ok(_))) if !host.is_empty() => Ok(()),
        _ => Err(BuildError::invalid("agent_endpoint", shown, "expected host:port, e.g. localhost:6831")),
    }
}

#[cfg(all(test, feature = "receiver"))]
mod tests;
