//! A [`tracing_subscriber::Layer`] that reports the spans of any program instrumented with
//! [`tracing`] to [Jaeger](https://www.jaegertracing.io/).
//!
//! # Quick start
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_subscriber::prelude::*;
//!
//! #[tracing::instrument]
//! fn handle(order_id: u64) {
//!     tracing::info!(order_id, "handling");
//! }
//!
//! fn main() -> Result<(), jaeger_layer::Error> {
//!     let (layer, guard) = jaeger_layer::JaegerLayer::builder()
//!         .service_name("checkout")
//!         .agent_endpoint("127.0.0.1:6831")
//!         .build()?;
//!     tracing_subscriber::registry().with(layer).init();
//!     handle(42);
//!     guard.flush(Duration::from_secs(1))?;
//!     Ok(()) // dropping the guard flushes (at most 5 s) and stops the exporter thread
//! }
//! ```
//!
//! # Architecture
//!
//! ```text
//!  application threads                                     exporter thread
//!  ───────────────────                                     ───────────────
//!  on_new_span ── sampling decision (roots only) ─┐
//!     │  sampled: ids in the span's extensions,   │
//!     │  tags in a record from the pool;          │
//!     │  unsampled: nothing at all                │
//!  on_record / on_event ── tags, logs             │
//!  on_close ── Box<record> ──► ArrayQueue ────────┼──► drain ─► Thrift encode ─► UDP agent
//!              (full: drop + count, never block)  │    (batches that fit max_packet_size,
//!                      ◄── pool ◄─────────────────┤     seqNo, ClientStats, every interval,
//!                   (records cleared, buffers kept)     on flush(), on guard drop)
//! ```
//!
//! # Mapping
//!
//! | tracing | Jaeger |
//! |---|---|
//! | span name (or an `otel.name` field) | operation name |
//! | integer / float / bool / string fields | `LONG` / `DOUBLE` / `BOOL` / `STRING` tags (`u64`, `i128`, `u128` outside `i64` as `STRING`) |
//! | byte-slice (`&[u8]`) fields | `BINARY` tags |
//! | `?debug` fields, `%display` fields | `STRING` tags |
//! | `&dyn Error` fields | the message, and `error=true` |
//! | `otel.kind`, `otel.status_code = "Error"` | `span.kind`, `error=true` |
//! | events in a sampled span | logs with the event's fields and `level`; an ERROR event sets `error=true` |
//! | parent (contextual or `parent:`) | `parentSpanId` and a `CHILD_OF` reference |
//! | [`Span::follows_from`](tracing::Span::follows_from) | a `FOLLOWS_FROM` reference |
//! | metadata | `code.filepath`, `code.lineno`, `code.namespace`, `level` ([`Builder::metadata_tags`]) |
//!
//! String and byte values of tags and of log fields are cut at 256 bytes, strings on a
//! character boundary ([`Builder::max_tag_value_length`]); Jaeger's clients leave log fields
//! whole, but one huge event field would then drop its whole span as too large to send. Trace ids have 128 bits unless
//! [`Builder::trace_id_128bit`] says otherwise.
//!
//! # Sampling
//!
//! The decision is taken once, when a trace's root span is created, by the [`Sampler`]
//! given to [`Builder::sampler`]: always, never, probabilistic (Jaeger's exact rule, so
//! services in other languages decide alike), rate-limiting, or remote (strategies polled from
//! the agent, including per-operation ones, matched against the name a root is reported
//! under: its `otel.name` if given at creation, else its span name). Children inherit it; a
//! span parented to a remote context follows the upstream decision. An unsampled span stores
//! nothing and costs a few nanoseconds more than the bare registry; its context is computed
//! only if something asks for it (an inject, say), with a trace id for which the decision
//! holds (one Jaeger's probabilistic rule rejects, when the decision was probabilistic). A
//! `sampling.priority` field from 1 to 65535 on a root forces sampling (+debug), 0 forbids it;
//! other values are ignored. The sampler is consulted either way, as Jaeger's clients do: a
//! rate limiter is charged, and a forced root carries the sampler tags if the sampler said yes.
//!
//! # Propagation
//!
//! [`JaegerSpanExt`] gives every `tracing::Span` its Jaeger context: `inject` it into the
//! headers of an outgoing request, `set_parent_from` the headers of an incoming one — also
//! inside an `#[instrument]` function, after the span was entered, as long as its context
//! was not yet observed. Formats: Jaeger (`uber-trace-id`, `uberctx-*` baggage,
//! `jaeger-debug-id`), W3C Trace Context, B3, or a composite ([`Propagator`]).
//!
//! Carriers come in Jaeger's two formats ([`CarrierFormat`]): HTTP headers, whose baggage
//! values are URL-encoded (an `http::HeaderMap` with the `http` feature, or any carrier
//! wrapped in [`HttpHeaders`]), and text maps, whose values are kept verbatim (a plain
//! `HashMap`, or any carrier wrapped in [`TextMap`]).
//!
//! ```
//! use std::collections::HashMap;
//! use jaeger_layer::{HttpHeaders, JaegerSpanExt};
//!
//! #[tracing::instrument(skip(headers))]
//! fn server(headers: &HashMap<String, String>) {
//!     // HTTP headers in a HashMap: say so, so that baggage is URL-decoded.
//!     let _ = tracing::Span::current().set_parent_from(&HttpHeaders(headers)); // malformed: stays a root
//!     let mut outgoing = HashMap::new();
//!     tracing::Span::current().inject(&mut HttpHeaders(&mut outgoing)); // calls further down
//! }
//! # server(&HashMap::new());
//! ```
//!
//! # What is lost, and how to see it
//!
//! Nothing is dropped silently. [`ExporterGuard::stats`] (or a [`StatsHandle`], which outlives
//! the guard) counts every sampled span that finished in exactly one place, in every
//! snapshot, also while a request is being retried: exported; dropped because the queue was
//! full; dropped because it alone does not fit in a datagram; failed (socket error, collector
//! error or timeout); abandoned by a shutdown that timed out; finished after the exporter
//! stopped (a guard dropped too early); or still on its way. [`Stats::is_consistent`] and
//! [`Stats::is_settled`] check it. The first three loss counters are also sent to Jaeger in
//! every batch's `ClientStats`. The first queue-full drop, the first span after the exporter
//! stopped, every too-large span (rate-limited) and the shutdown's loss summary are reported
//! on stderr, never through `tracing`. The too-large report names what to fix: the process
//! (service name and process tags) when it is the larger part, else the span's largest tag,
//! log field, operation name, or its number of logs or tags. Settings under which no span could ever be sent (a
//! `max_packet_size` too small for the process and a small span, a huge service name) are
//! refused by [`Builder::build`] with [`Error::NoRoomForSpans`]; every size setting has a
//! documented maximum.
//!
//! # Migrating from tracing-opentelemetry + opentelemetry-jaeger
//!
//! Replace the OpenTelemetry pipeline and `OpenTelemetryLayer` with
//! `JaegerLayer::builder()...build()` and keep the guard alive (it flushes on drop) instead of
//! calling `shutdown_tracer_provider()`. The fields `otel.name`, `otel.kind` and
//! `otel.status_code` keep their meaning. `OpenTelemetrySpanExt::set_parent(cx)` becomes
//! [`JaegerSpanExt::set_parent`] or [`JaegerSpanExt::set_parent_from`]`(&headers)`; it works
//! inside `#[instrument]` and returns an error, instead of splitting the trace, once the
//! span's context was observed.
//!
//! # Configuration and transports
//!
//! [`Builder::from_env`] reads the `JAEGER_*` variables as Jaeger's Go client does. Spans go
//! to the agent over UDP (Thrift compact on 6831 or binary on 6832, [`AgentProtocol`]) or to
//! a collector over HTTP ([`Builder::collector_endpoint`]); [`Builder::enabled`]`(false)`
//! gives a layer that costs one branch per callback (and, as Go's no-op tracer, needs no
//! other setting, not even a service name: `JAEGER_DISABLED=true` alone builds).
//!
//! # Features
//!
//! - `receiver`: [`receiver::Receiver`], a UDP stand-in agent that decodes what it
//!   receives, for tests and local development. Not a default feature: it is the only user of
//!   the `thrift` crate.
//! - `testing`: `testing::TestAgent`, an in-process agent with span-tree assertions for
//!   users' tests.
//! - `http`: [`Injector`]/[`Extractor`] for `http::HeaderMap`.
//! - `metrics`: the [`Stats`] counters published through the `metrics` facade under
//!   Jaeger's metric names after every flush.
//!
//! # Not supported
//!
//! TLS to the collector (plain `http://` only), Jaeger's remote baggage restrictions and debug
//! throttler (every baggage key is allowed, values are cut at 2048 bytes; debug requests are
//! never throttled), Zipkin's `emitZipkinBatch`, and gRPC to the collector.
//!
//! MSRV: Rust 1.85 (declared; CI builds with the current stable toolchain).
#![deny(missing_docs, unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![cfg_attr(docsrs, deny(rustdoc::broken_intra_doc_links))]
// docs.rs builds with `--cfg docsrs` on nightly (Cargo.toml, `package.metadata.docs.rs`) to
// label feature-gated items.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod export;
mod layer;
mod propagation;
mod sampler;
mod span;
mod thrift;
mod transport;

#[cfg(feature = "receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "receiver")))]
pub mod receiver;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use config::builder::{AgentProtocol, Builder};
pub use error::Error;
pub use export::stats::Stats;
pub use export::{ExporterGuard, StatsHandle};
pub use layer::span_ext::{JaegerSpanExt, SetParentError, SetParentFromError};
pub use layer::JaegerLayer;
pub use propagation::{
    extract, CarrierFormat, ExtractError, ExtractErrorKind, Extractor, HttpHeaders, Injector, Propagator,
    TextMap,
};
pub use sampler::{RemoteSampler, Sampler};
pub use span::context::{Baggage, SpanContext};
pub use span::data::{Log, RefType, SpanRef, Tag, TagValue};
pub use span::id::TraceId;

/// The README's code blocks, compiled and run as doc tests (they use the `receiver` feature).
#[cfg(all(doctest, feature = "receiver"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Hooks for this repository's benches (feature `__bench`, unstable); not part of the API.
#[cfg(feature = "__bench")]
#[doc(hidden)]
pub use export::bench as __bench;
