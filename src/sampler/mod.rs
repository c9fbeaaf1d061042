//! Sampling: which new traces are recorded, as jaeger-client-go's samplers decide (`sampler.go`,
//! `sampler_remote.go`, `utils/rate_limiter.go`).
//!
//! [`Sampler`] is the configuration the user hands to the builder; [`Sampler::start`] turns it
//! into an [`ActiveSampler`], shared by all threads, whose [`ActiveSampler::decide`] the layer
//! calls once per new trace, on its local root span. Inheritance from parents, the
//! `sampling.priority` tag and debug flags are the layer's business, not ours.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::BuildError;
use crate::export::stats::Counters;
use crate::span::id::TraceId;
use crate::transport::TrustRoots;

mod per_operation;
mod probabilistic;
mod rate_limiting;
mod remote;
mod strategy;

use per_operation::PerOperationSampler;
use probabilistic::Probabilistic;
use rate_limiting::{check_rate, LimiterClock, RateLimitingSampler};

/// `sampler.type` values (jaeger-client-go `constants.go`).
pub(crate) const TYPE_CONST: &str = "const";
pub(crate) const TYPE_PROBABILISTIC: &str = "probabilistic";
pub(crate) const TYPE_RATE_LIMITING: &str = "ratelimiting";
pub(crate) const TYPE_LOWERBOUND: &str = "lowerbound";

/// Go's `DefaultSamplingServerURL` (jaeger-client-go `constants.go`).
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:5778/sampling";
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_INITIAL_RATE: f64 = 0.001;
const DEFAULT_MAX_OPERATIONS: usize = 2000;

// === impl Sampler ===

/// Which new traces to record: the sampler configuration passed to the builder's `sampler`.
///
/// The decision is taken once per trace, when its first span in this process starts (its
/// local root), and is then inherited by every child span and propagated downstream in the
/// `uber-trace-id` flags. A trace continued from a remote parent keeps the parent's decision.
///
/// # Samplers
///
/// | constructor | `sampler.type` | `sampler.param` | samples |
/// |---|---|---|---|
/// | [`Sampler::always`] / [`Sampler::never`] | `const` | `true` / `false` (bool) | every trace / none |
/// | [`Sampler::probabilistic`]`(rate)` | `probabilistic` | `rate` (double) | a share `rate` of traces |
/// | [`Sampler::rate_limiting`]`(n)` | `ratelimiting` | `n` (double) | at most `n` traces per second |
/// | [`Sampler::remote`] | any of the above, or `lowerbound` | as chosen by the server | what the Jaeger agent says |
///
/// The two tags are added to the span that took a positive decision (the trace's local
/// root) and to no other span, as the Go client does.
///
/// - **Probabilistic** sampling is computed from the trace id, not from a fresh random number:
///   a trace is sampled when the low 63 bits of its id are at most `2^63 × rate` (truncated).
///   Every Jaeger client uses the same rule, so two services configured with the same rate
///   agree on the same traces.
/// - **Rate limiting** is Jaeger's credit bucket: it starts full, holds at most
///   `max(n, 1)` credits, earns `n` credits per second, and each sampled trace costs one. So
///   `rate_limiting(0.1)` samples one trace, then one every ten seconds at most.
/// - **Remote** asks the Jaeger agent for the service's strategy (see [`RemoteSampler`]). The
///   agent can answer with a probabilistic rate, a rate limit, or a per-operation strategy:
///   each operation then gets its own rate plus a *lower bound* (traces per second
///   always sampled even when the rate says no; those traces are tagged
///   `sampler.type=lowerbound` with the operation's rate as `sampler.param`). A root's
///   operation is the name it is reported under: the value of an `otel.name` field given
///   when the span is created, else the span name (an `otel.name` recorded later renames the
///   span but does not change its decision). Operation names beyond
///   [`RemoteSampler::max_operations`] share the default rate.
///
/// An unsampled root keeps no state; if its context is asked for later (an inject), it gets
/// a trace id for which the decision holds: under a probabilistic decision (including the
/// probabilistic part of a per-operation strategy) one that Jaeger's rule rejects, so a
/// downstream service re-applying the rule to the id agrees.
///
/// ```
/// use jaeger_layer::{RemoteSampler, Sampler};
/// use std::time::Duration;
///
/// let everything = Sampler::always();
/// let one_percent = Sampler::probabilistic(0.01)?;
/// let two_per_second = Sampler::rate_limiting(2.0)?;
/// let from_agent = Sampler::remote(
///     RemoteSampler::new()
///         .endpoint("http://jaeger-agent:5778/sampling")
///         .refresh_interval(Duration::from_secs(30))
///         .initial_sampler(one_percent.clone()),
/// );
/// assert!(Sampler::probabilistic(1.5).is_err());
/// # let _ = (everything, two_per_second, from_agent);
/// # Ok::<(), jaeger_layer::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sampler {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Const(bool),
    Probabilistic(f64),
    RateLimiting(f64),
    Remote(Box<RemoteSampler>),
}

impl Sampler {
    /// Samples every trace (`sampler.type=const`, `sampler.param=true`).
    pub fn always() -> Sampler {
        Sampler { kind: Kind::Const(true) }
    }

    /// Samples no trace (`sampler.type=const`, `sampler.param=false`). Traces can still be
    /// forced with the `sampling.priority` tag or a `jaeger-debug-id` header.
    pub fn never() -> Sampler {
        Sampler { kind: Kind::Const(false) }
    }

    /// Samples the share `rate` of traces, decided from the trace id.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if `rate` is not within `0.0..=1.0` (or is NaN).
    pub fn probabilistic(rate: f64) -> Result<Sampler, BuildError> {
        Probabilistic::new(rate)?;
        Ok(Sampler { kind: Kind::Probabilistic(rate) })
    }

    /// Samples at most `traces_per_second` traces per second, with bursts of up to
    /// `max(traces_per_second, 1)` traces.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if `traces_per_second` is negative, NaN or infinite.
    pub fn rate_limiting(traces_per_second: f64) -> Result<Sampler, BuildError> {
        check_rate("rate limiting sampler traces per second", traces_per_second)?;
        Ok(Sampler { kind: Kind::RateLimiting(traces_per_second) })
    }

    /// Polls a Jaeger agent for the sampling strategy; see [`RemoteSampler`].
    pub fn remote(config: RemoteSampler) -> Sampler {
        Sampler { kind: Kind::Remote(Box::new(config)) }
    }

    /// Builds the running sampler. A remote sampler spawns its poller thread here, verifying
    /// an `https://` endpoint against the webpki roots.
    pub(crate) fn start(
        &self,
        service_name: &str,
        counters: Arc<Counters>,
    ) -> Result<ActiveSampler, BuildError> {
        self.start_with(service_name, counters, &TrustRoots::default())
    }

    /// [`start`](Self::start), the remote sampler's poller verifying `https://` against `roots`
    /// (the layer's [`tls_ca_certificates`](crate::Builder::tls_ca_certificates)).
    pub(crate) fn start_with(
        &self,
        service_name: &str,
        counters: Arc<Counters>,
        roots: &TrustRoots,
    ) -> Result<ActiveSampler, BuildError> {
        let active = match &self.kind {
            Kind::Remote(config) => {
                let initial = match &config.initial.kind {
                    Kind::Remote(_) => {
                        return Err(BuildError::invalid(
                            "remote sampler initial sampler",
                            "remote",
                            "must be const, probabilistic or rate limiting",
                        ))
                    }
                    _ => config.initial.local(),
                };
                Active::Remote(remote::Remote::start(config, initial, service_name, counters, roots)?)
            }
            _ => Active::Local(self.local()),
        };
        Ok(ActiveSampler { active })
    }

    /// The running form of a non-remote sampler (its values were checked by the constructors).
    fn local(&self) -> Local {
        match &self.kind {
            Kind::Const(sample) => Local::Const(*sample),
            Kind::Probabilistic(rate) => Local::Probabilistic(Probabilistic::clamped(*rate)),
            Kind::RateLimiting(rate) => {
                Local::RateLimiting(RateLimitingSampler::new(*rate, LimiterClock::monotonic()))
            }
            Kind::Remote(_) => unreachable!("remote samplers are started by `start`; this is a bug"),
        }
    }
}

// === impl RemoteSampler ===

/// Configuration of the remote sampler: polls a Jaeger agent's sampling endpoint for the
/// strategy of this service, as `GET <endpoint>?service=<service name>`.
///
/// A background thread named `jaeger-sampler` fetches the strategy **once at start-up**, then
/// every [`refresh_interval`](Self::refresh_interval). The Go client waits for the first
/// interval (one minute by default) before its first fetch, sampling meanwhile with its
/// initial sampler; we fetch immediately so that the configured strategy applies within
/// moments of start-up. Until a first good answer arrives, the
/// [`initial_sampler`](Self::initial_sampler) decides.
///
/// A failed fetch (connection refused, timeout, HTTP status 400 or more), an unreadable body
/// or an invalid strategy keeps the last good strategy and is counted in
/// [`Stats`](crate::Stats) (`sampler_queries_err`, `sampler_updates_err`). Rate limiters keep
/// their balance across updates of the same kind (pro-rated to the new rate). The request
/// runs only on the poller thread, with a timeout of 10 s (or the refresh interval if
/// shorter), so a slow agent never delays a sampling decision. Environment proxy variables
/// are not used: the agent is normally local.
///
/// ```
/// use jaeger_layer::{RemoteSampler, Sampler};
/// use std::time::Duration;
///
/// let sampler = Sampler::remote(
///     RemoteSampler::new()
///         .endpoint("http://127.0.0.1:5778/sampling")
///         .refresh_interval(Duration::from_secs(60))
///         .initial_sampler(Sampler::probabilistic(0.001)?)
///         .max_operations(2000),
/// );
/// # let _ = sampler;
/// # Ok::<(), jaeger_layer::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RemoteSampler {
    endpoint: String,
    refresh_interval: Duration,
    initial: Sampler,
    max_operations: usize,
    /// Crate-internal override of the HTTP timeout (tests).
    http_timeout: Option<Duration>,
    /// Crate-internal clock for the rate limiters of received strategies (tests).
    clock: Option<LimiterClock>,
}

impl Default for RemoteSampler {
    fn default() -> Self {
        RemoteSampler {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            initial: Sampler { kind: Kind::Probabilistic(DEFAULT_INITIAL_RATE) },
            max_operations: DEFAULT_MAX_OPERATIONS,
            http_timeout: None,
            clock: None,
        }
    }
}

impl RemoteSampler {
    /// The default configuration (same as [`RemoteSampler::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The sampling endpoint URL (Jaeger's HTTP sampling API, not its gRPC one), `http://`,
    /// or `https://` with the `tls` feature; the query `?service=<name>` is appended
    /// (with `&` if the URL already has a query). A malformed URL makes the layer's `build`
    /// fail.
    ///
    /// Defaults to `http://127.0.0.1:5778/sampling`, the Jaeger agent's endpoint.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// How often the strategy is fetched after the first fetch at start-up. A zero interval
    /// makes the layer's `build` fail.
    ///
    /// Defaults to 60 seconds.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// The sampler used until the first strategy is received. It cannot itself be remote
    /// (the layer's `build` fails).
    ///
    /// Defaults to `Sampler::probabilistic(0.001)`.
    pub fn initial_sampler(mut self, sampler: Sampler) -> Self {
        self.initial = sampler;
        self
    }

    /// With a per-operation strategy, the most operation names (`otel.name` at creation, else
    /// the span name) that get their own sampler; root spans with other names share the
    /// default rate.
    ///
    /// Defaults to 2000.
    pub fn max_operations(mut self, n: usize) -> Self {
        self.max_operations = n;
        self
    }

    #[cfg(test)]
    pub(crate) fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }

    #[cfg(test)]
    pub(crate) fn clock(mut self, clock: LimiterClock) -> Self {
        self.clock = Some(clock);
        self
    }
}

// === impl SamplingDecision ===

/// A sampler's answer for a new trace, with the tags to add to its root span if sampled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SamplingDecision {
    pub(crate) sampled: bool,
    /// The `sampler.type` tag.
    pub(crate) sampler_type: &'static str,
    /// The `sampler.param` tag.
    pub(crate) param: SamplerParam,
}

/// The `sampler.param` tag value: a bool for `const`, a double otherwise (jaeger-client-go `sampler.go`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SamplerParam {
    Bool(bool),
    Double(f64),
}

impl SamplingDecision {
    fn constant(sampled: bool) -> Self {
        SamplingDecision { sampled, sampler_type: TYPE_CONST, param: SamplerParam::Bool(sampled) }
    }

    fn probabilistic(sampled: bool, sampler: &Probabilistic) -> Self {
        SamplingDecision {
            sampled,
            sampler_type: TYPE_PROBABILISTIC,
            param: SamplerParam::Double(sampler.rate()),
        }
    }
}

// === impl ActiveSampler ===

/// The running sampler: `Send + Sync`, shared by all threads.
pub(crate) struct ActiveSampler {
    active: Active,
}

enum Active {
    Local(Local),
    Remote(remote::Remote),
}

/// A sampler that decides on its own; the remote sampler swaps between these.
#[derive(Debug)]
enum Local {
    Const(bool),
    Probabilistic(Probabilistic),
    RateLimiting(RateLimitingSampler),
    PerOperation(PerOperationSampler),
}

impl Local {
    #[inline]
    fn decide(&self, trace_id: TraceId, operation: &str) -> SamplingDecision {
        match self {
            Local::Const(sampled) => SamplingDecision::constant(*sampled),
            Local::Probabilistic(p) => SamplingDecision::probabilistic(p.sample(trace_id), p),
            Local::RateLimiting(r) => SamplingDecision {
                sampled: r.sample(),
                sampler_type: TYPE_RATE_LIMITING,
                param: SamplerParam::Double(r.max_traces_per_second()),
            },
            Local::PerOperation(p) => p.decide(trace_id, operation),
        }
    }

    /// See [`ActiveSampler::unsampled_trace_id`]: the boundary a lazily drawn id must be
    /// above, `None` when any id will do.
    fn rejecting_boundary(&self) -> Option<u64> {
        match self {
            // Their decision does not read the id (`ignores_trace_id`).
            Local::Const(_) | Local::RateLimiting(_) => None,
            Local::Probabilistic(p) => p.rejecting_boundary(),
            Local::PerOperation(p) => p.rejecting_boundary(),
        }
    }

    /// Whether the decision does not read the trace id: const and rate-limiting
    /// (jaeger-client-go `sampler.go`: `ConstSampler` and `RateLimitingSampler` ignore it).
    fn ignores_trace_id(&self) -> bool {
        matches!(self, Local::Const(_) | Local::RateLimiting(_))
    }
}

// Called by the layer, which lands in another branch.
impl ActiveSampler {
    /// The decision for a new trace whose local root span is named `operation`.
    ///
    /// Const and probabilistic: a comparison, no allocation, lock or syscall. Rate limiting:
    /// a compare-and-swap (plus a clock read when the balance runs short). Remote: one
    /// lock-free `ArcSwap` load of the current strategy first.
    #[inline]
    pub(crate) fn decide(&self, trace_id: TraceId, operation: &str) -> SamplingDecision {
        match &self.active {
            Active::Local(local) => local.decide(trace_id, operation),
            Active::Remote(remote) => remote.current().decide(trace_id, operation),
        }
    }

    /// Whether the decision for a new trace is taken without looking at its trace id (a
    /// local const or rate-limiting sampler): the layer then draws a root's id only once the
    /// root is sampled. A remote sampler may switch to a probabilistic strategy at any
    /// moment, so it always gets the id.
    #[inline]
    pub(crate) fn decides_without_trace_id(&self) -> bool {
        matches!(&self.active, Active::Local(local) if local.ignores_trace_id())
    }

    /// A trace id for an unsampled root whose id was not kept at creation (the layer stores
    /// nothing for it) and is drawn now, because something asks for its context.
    ///
    /// The id is one for which the decision holds, so that a service that re-applies
    /// Jaeger's probabilistic rule to it (jaeger-client-go `sampler.go`,
    /// `ProbabilisticSampler`) reaches the same "no": under a probabilistic sampler (local,
    /// remote, or the probabilistic part of a per-operation strategy) its low 63 bits are
    /// drawn uniformly above the sampling boundary. Const and rate-limiting decisions do not
    /// depend on the id, and at rate 1.0 nothing is rejected (such a root was forbidden by
    /// `sampling.priority`): then any random id is fine. A remote sampler answers with the
    /// strategy in force when the id is drawn.
    ///
    /// Slow path (once per observed unsampled root): two or three draws, no lock.
    pub(crate) fn unsampled_trace_id(&self, wide: bool) -> TraceId {
        let boundary = match &self.active {
            Active::Local(local) => local.rejecting_boundary(),
            Active::Remote(remote) => remote.current().rejecting_boundary(),
        };
        let high = if wide { crate::span::id::random_u64() } else { 0 };
        let low = match boundary {
            Some(b) => probabilistic::rejected_low(b),
            None => crate::span::id::random_u64(),
        };
        TraceId { high, low }
    }

    /// Stops the remote poller thread, waiting for it briefly at most (an HTTP request in
    /// flight is abandoned, not awaited). Idempotent; also done on drop. No-op for others.
    pub(crate) fn shutdown(&self) {
        if let Active::Remote(remote) = &self.active {
            remote.shutdown();
        }
    }

    /// Asks the remote poller to fetch the strategy now (no-op for other samplers).
    #[cfg(test)]
    pub(crate) fn poll_now(&self) {
        if let Active::Remote(remote) = &self.active {
            remote.poll_now();
        }
    }
}

#[cfg(test)]
impl ActiveSampler {
    /// Whether a remote sampler's poller thread has finished (`None` for other samplers).
    pub(crate) fn poller_exited(&self) -> Option<bool> {
        match &self.active {
            Active::Remote(remote) => Some(remote.poller_exited()),
            Active::Local(_) => None,
        }
    }
}

impl Drop for ActiveSampler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for ActiveSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.active {
            Active::Local(local) => f.debug_tuple("ActiveSampler").field(local).finish(),
            Active::Remote(remote) => f.debug_tuple("ActiveSampler").field(remote).finish(),
        }
    }
}

#[cfg(test)]
mod tests;
